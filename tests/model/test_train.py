"""End to end: train on a simulated COHORT_DIR, the card contract, validate, recalibrate, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.special import expit
from typer.testing import CliRunner

from sleitp.cli import app
from sleitp.errors import ModelError
from sleitp.model import load_model, recalibrate, train, validate
from sleitp.model.performance import calibration_intercept, calibration_slope
from sleitp.model.simulate import write_cohort

CARD_CONTRACT = ("apparent_auc", "optimism_corrected_auc", "calibration_slope", "n", "events", "predictors")
VALIDATE_CONTRACT = ("auc", "auc_ci", "calibration_slope", "calibration_intercept", "brier", "n")


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory):
    root = tmp_path_factory.mktemp("cohorts")
    return write_cohort(root / "dev", 900, seed=11), write_cohort(root / "ext", 1500, seed=12)


@pytest.fixture(scope="module")
def trained(cohorts, tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "m"
    model = train(cohorts[0], bootstrap=25, seed=1, out=out)
    return model, out


def test_card_has_the_contract_fields_and_the_tripod_walk(trained):
    model, out = trained
    card = json.loads((out / "card.json").read_text())
    for key in CARD_CONTRACT:
        assert card[key] is not None, key
    assert card["optimism_corrected_auc"] < card["apparent_auc"]
    # NE patients are excluded and reported, never silently
    assert card["not_evaluable_excluded"] == card["excluded"]["not_evaluable"] > 0
    assert card["n"] + sum(card["excluded"].values()) == 900
    assert card["synthetic"] is True  # truth.parquet next to the features: generator output
    items = {t["item"] for t in card["tripod"]}
    assert {"4a", "6a", "7a", "8", "9", "16", "19b"} <= items
    assert {m["name"] for m in card["missing_data"]["per_predictor"]} >= set(card["predictors"])
    assert "message" in card["sample_size"]
    html = (out / "card.html").read_text()
    assert "SYNTHETIC" in html and "data:image/png;base64," in html and "TRIPOD" in html
    for f in ("model.json", "manifest.json", "calibration.png", "decision_curve.png", "nomogram.png"):
        assert (out / f).is_file(), f


def test_saved_model_predicts_exactly_like_the_trained_one(trained, cohorts):
    model, out = trained
    loaded = load_model(out)
    from sleitp.model.dataset import load_cohort

    ds = load_cohort(cohorts[1])
    assert np.allclose(loaded.predict_proba(ds.X), model.predict_proba(ds.X), atol=1e-12)


def test_external_validation_and_recalibration(trained, cohorts, tmp_path):
    model, out = trained
    report = validate(load_model(out), cohorts[1]).to_json()
    for key in VALIDATE_CONTRACT:
        assert key in report
    assert report["auc_ci"][0] < report["auc"] < report["auc_ci"][1]
    assert report["n"] + sum(report["excluded"].values()) == 1500

    from sleitp.model.dataset import load_cohort

    ds = load_cohort(cohorts[1])
    # intercept recalibration: calibration-in-the-large becomes 0 on the recalibration cohort
    r1 = recalibrate(model, cohorts[1], method="intercept", out=tmp_path / "r1")
    assert calibration_intercept(ds.y, r1.linear_predictor(ds.X)) == pytest.approx(0.0, abs=1e-6)
    # slope recalibration: intercept 0 and slope 1 on that cohort; AUC unchanged (monotone)
    r2 = recalibrate(load_model(tmp_path / "r1"), cohorts[1], method="slope", out=tmp_path / "r2")
    a, b = calibration_slope(ds.y, r2.linear_predictor(ds.X))
    assert a == pytest.approx(0.0, abs=1e-6) and b == pytest.approx(1.0, abs=1e-6)
    reloaded = load_model(tmp_path / "r2")
    assert reloaded.meta["recalibration"]["method"] == "slope"
    assert np.allclose(reloaded.predict_proba(ds.X), r2.predict_proba(ds.X))
    assert validate(reloaded, cohorts[1]).auc == pytest.approx(report["auc"], abs=1e-4)
    assert "Recalibrated" in (tmp_path / "r2" / "card.html").read_text()


def test_penalised_and_boosting_methods(cohorts, tmp_path):
    ridge = train(cohorts[0], method="logistic-l2", bootstrap=2, out=tmp_path / "l2")
    assert ridge.logistic.penalty > 0
    ml = train(cohorts[0], bootstrap=0)
    scale = ml.design.matrix(ml_ds(cohorts[0])).std(axis=0)
    assert np.linalg.norm(ridge.logistic.beta[1:] * scale) < np.linalg.norm(ml.logistic.beta[1:] * scale)
    gbm = train(cohorts[0], method="gbm", bootstrap=2, out=tmp_path / "gbm")
    loaded = load_model(tmp_path / "gbm")
    assert loaded.kind == "gbm" and len(loaded.gbm) >= 4
    X = ml_ds(cohorts[1])
    assert np.allclose(loaded.predict_proba(X), gbm.predict_proba(X))
    assert json.loads((tmp_path / "gbm" / "card.json").read_text())["coefficients"] is None
    from datetime import date

    from sleitp.record import parse_record

    rec = parse_record(
        {
            "id": "g1",
            "sex": "female",
            "age_years": 40,
            "labs": [{"date": "2024-03-01", "test": "platelets", "value": 12, "unit": "10^9/L"}],
        }
    )
    pred = loaded.predict_one(rec, date(2024, 3, 1))
    assert pred.interval[0] <= pred.probability <= pred.interval[1]
    assert "bootstrap refits" in pred.interval_method
    assert {c.name for c in pred.contributions} == set(loaded.design.predictors)
    assert pred.to_json()["model"]["synthetic"] is True and "trained on synthetic data" in pred.statement


def ml_ds(d):
    from sleitp.model.dataset import load_cohort

    return load_cohort(d).X


def test_too_few_events_is_a_clear_error(tmp_path):
    import pyarrow.parquet as pq

    d = write_cohort(tmp_path / "tiny", 30, seed=3)
    resp = pq.read_table(d / "responses.parquet").to_pandas()
    resp["category"] = ["NR"] * 25 + ["R"] * 5
    resp.to_parquet(d / "responses.parquet")
    with pytest.raises(ModelError, match=r"5 responders .*at least 10 of each"):
        train(d, bootstrap=0)
    with pytest.raises(ModelError, match="method 'forest'"):
        train(d, method="forest")


# --- CLI --------------------------------------------------------------------------------------------


def test_cli_train_and_validate_json(cohorts, tmp_path):
    runner = CliRunner()
    out = tmp_path / "cli-model"
    r = runner.invoke(
        app,
        [
            "train",
            str(cohorts[0]),
            "--outcome",
            "first_line_response",
            "--out",
            str(out),
            "--bootstrap",
            "5",
            "--seed",
            "2",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "trained on synthetic data" in r.output
    card = json.loads((out / "card.json").read_text())
    assert all(k in card for k in CARD_CONTRACT)
    r = runner.invoke(app, ["validate", str(out), str(cohorts[1]), "--json"])
    assert r.exit_code == 0, r.output
    result = json.loads(r.output)
    assert all(k in result for k in VALIDATE_CONTRACT)
    assert len(result["auc_ci"]) == 2
    r = runner.invoke(
        app,
        [
            "validate",
            str(out),
            str(cohorts[1]),
            "--recalibrate",
            "intercept",
            "--out",
            str(tmp_path / "recal"),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["recalibrated"]["method"] == "intercept"
    assert (tmp_path / "recal" / "manifest.json").is_file()


def _main(argv, monkeypatch, capsys):
    from sleitp.cli import main

    monkeypatch.setattr(sys, "argv", ["sleitp", *argv])
    with pytest.raises(SystemExit) as e:
        main()
    return e.value.code, capsys.readouterr().err


def test_cli_errors_are_one_paragraph_without_traceback(cohorts, tmp_path, monkeypatch, capsys):
    code, err = _main(["validate", str(tmp_path / "no-model"), str(cohorts[1])], monkeypatch, capsys)
    assert code == 2 and "not a directory" in err and "Traceback" not in err
    code, err = _main(
        ["train", str(tmp_path / "no-cohort"), "--out", str(tmp_path / "x")], monkeypatch, capsys
    )
    assert code == 2 and "no-cohort" in err and "Traceback" not in err
    code, err = _main(
        ["validate", str(tmp_path), str(cohorts[1]), "--recalibrate", "slope"], monkeypatch, capsys
    )
    assert code == 2 and "--out" in err


def test_the_installed_command_exits_2_on_a_bad_model(tmp_path):
    exe = Path(sys.executable).with_name("sleitp")
    (tmp_path / "m").mkdir()
    r = subprocess.run(
        [str(exe), "validate", str(tmp_path / "m"), str(tmp_path)], capture_output=True, text=True
    )
    assert r.returncode == 2
    assert "manifest.json" in r.stderr and "Traceback" not in r.stderr


def test_probabilities_are_probabilities(trained, cohorts):
    model, _ = trained
    p = model.predict_proba(ml_ds(cohorts[1]))
    assert np.all((p > 0) & (p < 1))
    assert np.allclose(p, expit(model.linear_predictor(ml_ds(cohorts[1]))))


def test_synthetic_unless_declared_real_and_truth_always_means_synthetic(cohorts, tmp_path):
    import shutil

    d = shutil.copytree(cohorts[0], tmp_path / "site")
    (d / "truth.parquet").unlink()
    assert train(d, bootstrap=0).synthetic is True  # not declared: labelled synthetic (the safe mistake)
    real = train(d, bootstrap=0, synthetic=False)
    assert real.synthetic is False and real.card["synthetic"] is False
    assert train(cohorts[0], bootstrap=0, synthetic=False).synthetic is True  # generator truth next to it


def test_validation_cohort_without_a_model_predictor_is_a_clear_error(trained, tmp_path):
    import pyarrow.parquet as pq

    from sleitp.errors import SourceError

    model, _ = trained
    d = write_cohort(tmp_path / "other", 200, seed=5)
    pq.write_table(pq.read_table(d / "features.parquet").drop_columns(["hemoglobin"]), d / "features.parquet")
    with pytest.raises(SourceError, match="missing column.*hemoglobin"):
        validate(model, d)
