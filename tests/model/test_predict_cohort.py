"""`sleitp predict`: the set-based scorer gives, for every row, the numbers predict_one's path gives one
patient (logistic, boosting, Cox), the rows a model applies to, the Parquet contract, and clear errors."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from sleitp.cli import app
from sleitp.model import load_model, train
from sleitp.model.predict_cohort import PREDICTIONS_SCHEMA, score_cohort


@pytest.fixture(scope="module")
def derived(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    runner = CliRunner()
    for args in (["synth", "--patients", "300", "--seed", "4", "--out", str(root / "c")],
                 ["cohort", "derive", str(root / "c" / "tables"), "--out", str(root / "d")]):
        r = runner.invoke(app, args)
        assert r.exit_code == 0, r.output
    return root / "d"


@pytest.fixture(scope="module")
def models(derived, tmp_path_factory):
    root = tmp_path_factory.mktemp("predict-models")
    out = {}
    for name, kw in {"logistic": {}, "gbm": {"method": "gbm"}, "ttr": {"outcome": "time_to_response"},
                     "loss": {"outcome": "loss_of_response"}}.items():
        train(derived, bootstrap=0, out=root / name, **kw)
        out[name] = load_model(root / name)
    return out


def _features(derived) -> pd.DataFrame:
    return pd.read_parquet(derived / "features.parquet").set_index("patient_id")


def _one(model, feats: pd.DataFrame, pid: str):
    row = feats.loc[pid]
    values = {n: (None if pd.isna(row[n]) else float(row[n])) for n in model.design.predictors}
    return model.predict_features(values)


@pytest.mark.parametrize("name", ["logistic", "gbm", "ttr"])
def test_set_based_equals_one_patient(models, derived, name):
    model = models[name]
    scored = score_cohort(model, derived).frame
    feats = _features(derived)
    resp = pd.read_parquet(derived / "responses.parquet")
    assert len(scored) == int((resp["line"] == 1).sum())  # every patient with a line 1
    assert set(scored["line"]) == {1} and scored["landmark_day"].isna().all()
    for _, r in scored.sample(25, random_state=0).iterrows():
        p = _one(model, feats, r["patient_id"])
        assert r["probability"] == pytest.approx(p.probability, rel=1e-9, abs=1e-12)
        assert (r["ci_low"], r["ci_high"]) == pytest.approx(p.interval, rel=1e-9, abs=1e-12)
        assert r["interval_method"] == p.interval_method
        assert r["not_measured"] == len(p.not_measured)
    assert (scored["ci_low"] <= scored["probability"] + 1e-12).all()
    assert (scored["probability"] <= scored["ci_high"] + 1e-12).all()
    if name == "ttr":
        assert set(scored["horizon_days"]) == {30} and scored["observed"].isna().all()
    else:
        first = resp[resp["line"] == 1].set_index("patient_id")["category"]
        want = first.map({"CR": 1, "R": 1, "NR": 0}).reindex(scored["patient_id"]).to_numpy()
        got = scored["observed"].to_numpy(dtype=float, na_value=np.nan)
        assert np.array_equal(np.isnan(got), pd.isna(want))
        assert np.nansum(got) == np.nansum(want.astype(float))


def test_loss_of_response_scores_responders_only(models, derived):
    scored = score_cohort(models["loss"], derived)
    resp = pd.read_parquet(derived / "responses.parquet")
    first = resp[resp["line"] == 1]
    responders = first["category"].isin(["R", "CR"]) & first["time_to_response_days"].notna()
    assert len(scored.frame) == int(responders.sum())
    assert scored.excluded["not_responders"] == int((~responders).sum())
    assert set(scored.frame["horizon_days"]) == {180}


def test_boosting_without_refits_says_why(models, derived):
    model = models["gbm"]
    kept = model.gbm
    try:
        model.gbm = kept[:1]
        f = score_cohort(model, derived).frame
    finally:
        model.gbm = kept
    assert f["ci_low"].isna().all() and f["interval_missing_reason"].str.contains("at least 2").all()


def test_cli_writes_the_parquet_contract(models, derived, tmp_path, monkeypatch, capsys):
    from sleitp.cli import main

    model_dir = models["logistic"].source_dir
    out = tmp_path / "scores.parquet"
    runner = CliRunner()
    r = runner.invoke(app, ["predict", str(model_dir), str(derived), "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    t = pq.read_table(out)
    assert t.schema.remove_metadata() == PREDICTIONS_SCHEMA
    meta = json.loads(t.schema.metadata[b"sleitp"])
    assert meta["model"] == "first_line_response-logistic" and meta["synthetic"] is True
    assert summary["rows"] == t.num_rows and summary["summary"][0]["auc"]["estimate"] > 0.5
    # an existing file is not replaced without --overwrite; a bad folder is a clear error
    nowhere = tmp_path / "nowhere"
    for argv in (["predict", str(model_dir), str(derived), "--out", str(out)],
                 ["predict", str(model_dir), str(nowhere), "--out", str(tmp_path / "x.parquet")]):
        monkeypatch.setattr(sys, "argv", ["sleitp", *argv])
        with pytest.raises(SystemExit) as e:
            main()
        err = capsys.readouterr().err
        assert e.value.code == 2 and "Traceback" not in err and ("exists" in err or "not a directory" in err)
    assert runner.invoke(app, ["predict", str(model_dir), str(derived), "--out", str(out),
                               "--overwrite"]).exit_code == 0
