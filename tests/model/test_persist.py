"""Saving without pickle: a tampered or incompatible file is refused; loading never executes code."""

from __future__ import annotations

import json
import pickle
import shutil

import numpy as np
import pytest

from sleitp.errors import ModelError
from sleitp.model import load_model, train
from sleitp.model.persist import write_manifest
from sleitp.model.simulate import write_cohort


class Gadget:
    """Stands for a malicious object: its restore hook would run code if it were ever loaded."""

    ran = False

    def __setstate__(self, state):
        Gadget.ran = True
        self.__dict__.update(state)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("persist")
    cohort = write_cohort(root / "c", 400, seed=21)
    train(cohort, bootstrap=0, out=root / "logistic")
    train(cohort, method="gbm", bootstrap=0, out=root / "gbm")
    return root


def _copy(models, name, tmp_path):
    return shutil.copytree(models / name, tmp_path / name)


def _flip_byte(path, offset=None):
    data = bytearray(path.read_bytes())
    i = len(data) // 2 if offset is None else offset
    data[i] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "name,file",
    [("logistic", "model.json"), ("gbm", "gbm.skops"), ("gbm", "model.json"), ("logistic", "card.json")],
)
def test_one_flipped_byte_is_refused(models, tmp_path, name, file):
    d = _copy(models, name, tmp_path)
    load_model(d)  # intact: loads
    _flip_byte(d / file)
    with pytest.raises(ModelError, match=rf"{file}: SHA-256 does not match the manifest"):
        load_model(d)


def test_pinned_manifest_checksum_catches_a_rewritten_manifest(models, tmp_path):
    d = _copy(models, "logistic", tmp_path)
    pinned = __import__("hashlib").sha256((d / "manifest.json").read_bytes()).hexdigest()
    load_model(d, expected_manifest_sha256=pinned)
    meta = json.loads((d / "model.json").read_text())
    meta["logistic"]["intercept"] += 1.0  # an edit that also updates the manifest
    (d / "model.json").write_text(json.dumps(meta))
    write_manifest(d)
    load_model(d)  # the manifest alone cannot tell ...
    with pytest.raises(ModelError, match="differs from the expected"):
        load_model(d, expected_manifest_sha256=pinned)  # ... the pinned checksum can


def test_a_skops_file_with_an_untrusted_type_is_refused_before_loading(models, tmp_path):
    import skops.io as sio

    d = _copy(models, "gbm", tmp_path)
    (d / "gbm.skops").write_bytes(sio.dumps([Gadget()]))
    write_manifest(d)  # checksums consistent: the trust list is what must refuse it
    Gadget.ran = False
    with pytest.raises(ModelError, match=r"not on the trust list \(.*Gadget\)"):
        load_model(d)
    assert Gadget.ran is False  # refused before any of its code could run


def test_a_skops_file_with_the_wrong_content_is_refused(models, tmp_path):
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    d = _copy(models, "gbm", tmp_path)
    (d / "gbm.skops").write_bytes(sio.dumps([LogisticRegression()]))
    write_manifest(d)
    with pytest.raises(ModelError, match="expected a list of HistGradientBoostingClassifier"):
        load_model(d)


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda m: m.update(format_version=99), "not a sleitp-model version 1"),
        (lambda m: m.update(kind="neural-net"), "kind 'neural-net'"),
        (
            lambda m: m["logistic"]["coefficients"].pop(next(iter(m["logistic"]["coefficients"]))),
            "incompatible",
        ),
        (lambda m: m.pop("design"), "incompatible or incomplete"),
        (lambda m: m["logistic"].update(covariance=[[1.0]]), "covariance"),
    ],
)
def test_an_incompatible_model_file_is_refused_clearly(models, tmp_path, edit, message):
    d = _copy(models, "logistic", tmp_path)
    meta = json.loads((d / "model.json").read_text())
    edit(meta)
    (d / "model.json").write_text(json.dumps(meta))
    write_manifest(d)
    with pytest.raises(ModelError, match=message):
        load_model(d)


def test_manifest_problems(models, tmp_path):
    d = _copy(models, "logistic", tmp_path)
    man = json.loads((d / "manifest.json").read_text())
    man["format_version"] = 2
    (d / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(ModelError, match="format version 2 is not supported"):
        load_model(d)
    man["format_version"] = 1
    man["files"]["../outside.json"] = "0" * 64
    (d / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(ModelError, match="not a plain file name"):
        load_model(d)
    (d / "manifest.json").write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        load_model(d)
    (d / "manifest.json").unlink()
    with pytest.raises(ModelError, match="no manifest.json"):
        load_model(d)


def test_loading_never_unpickles(models, monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("pickle used while loading a model")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    for name in ("logistic", "gbm"):
        m = load_model(models / name)
        X = __import__("pandas").DataFrame({p: [np.nan] for p in m.design.predictors})
        assert 0 < m.predict_proba(X)[0] < 1


def test_no_pickle_file_is_written(models):
    for name in ("logistic", "gbm"):
        for f in (models / name).iterdir():
            assert f.suffix in {".json", ".skops", ".png", ".html"}, f
            assert not f.read_bytes().startswith(b"\x80"), f  # pickle protocol header


def test_text_in_a_model_file_is_data_not_code(models, tmp_path, monkeypatch):
    d = _copy(models, "logistic", tmp_path)
    meta = json.loads((d / "model.json").read_text())
    meta["name"] = "__import__('os').system('touch PWNED')"
    (d / "model.json").write_text(json.dumps(meta))
    write_manifest(d)
    monkeypatch.chdir(tmp_path)
    m = load_model(d)
    assert m.name.startswith("__import__")
    assert not (tmp_path / "PWNED").exists()
