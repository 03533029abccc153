"""Time-to-event outcomes (Cox): outcome definitions worked by hand, hazard-ratio signs on a cohort where
they are obvious, bedside probability by hand, save/load round trip, tamper refusal, validation, CLI."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from sleitp.cli import app
from sleitp.errors import ModelError, SourceError
from sleitp.model import CoxModel, load_model, train, validate
from sleitp.model.design import Design, IndicatorGroup, Term
from sleitp.model.survival import CoxFit, save_survival_model, train_survival
from sleitp.model.survival_data import load_survival_cohort
from sleitp.record import parse_record

START = date(2020, 1, 1)
PREDS = ["baseline_platelets", "low_c3"]


def d(days: int | None) -> str | None:
    return None if days is None else (START + timedelta(days=days)).isoformat()


def write_cohort(folder: Path, rows: list[dict], features: list[dict]) -> Path:
    """rows: patient_id, category, ttr (days), loss (days from start), end (days from start), line=1."""
    folder.mkdir(parents=True, exist_ok=True)
    resp = pd.DataFrame(
        {
            "patient_id": [r["patient_id"] for r in rows],
            "line": [r.get("line", 1) for r in rows],
            "start": [START.isoformat()] * len(rows),
            "category": [r["category"] for r in rows],
            "time_to_response_days": [r.get("ttr") for r in rows],
            "loss_of_response_date": [d(r.get("loss")) for r in rows],
            "evaluation_end": [d(r.get("end")) for r in rows],
        }
    )
    resp["time_to_response_days"] = resp["time_to_response_days"].astype(float)
    resp.to_parquet(folder / "responses.parquet")
    feats = pd.DataFrame(features)
    feats["index_date"] = START.isoformat()
    feats.to_parquet(folder / "features.parquet")
    return folder


# --- outcome definitions, worked by hand ------------------------------------------------------------

HAND_ROWS = [
    {"patient_id": "a", "category": "CR", "ttr": 14, "loss": 100, "end": 365},  # responds d14, loses d100
    {"patient_id": "b", "category": "R", "ttr": 30, "end": 200},  # responds d30, never loses
    {"patient_id": "c", "category": "NR", "end": 90},  # no response: censored at d90
    {"patient_id": "d", "category": "NE", "end": 90},  # not evaluable: excluded
    {"patient_id": "e", "category": "R", "ttr": None, "end": 90},  # responder without a day: excluded
    {"patient_id": "f", "category": "NR", "end": None},  # no evaluation end: excluded
    {"patient_id": "g", "category": "NR", "end": -3},  # end before start: excluded (negative time)
    {"patient_id": "h", "category": "R", "ttr": 7, "end": 7},  # responds d7, follow-up ends that day
    {"patient_id": "z", "category": "NR", "end": 50},  # no features row
    {"patient_id": "y", "category": "R", "ttr": 5, "end": 50, "line": 2},  # line 2 only: no first line
]
HAND_FEATURES = [{"patient_id": p, "baseline_platelets": 10.0, "low_c3": 0.0} for p in "abcdefghy"]


def test_time_to_response_definition_by_hand(tmp_path):
    ds = load_survival_cohort(
        write_cohort(tmp_path, HAND_ROWS, HAND_FEATURES), outcome="time_to_response", predictors=PREDS
    )
    got = dict(zip(ds.patient_ids, zip(ds.time.tolist(), ds.event.tolist(), strict=True), strict=True))
    # [IWG2009] start -> R/CR; NR censored at evaluation_end - start
    assert got == {"a": (14.0, 1), "b": (30.0, 1), "c": (90.0, 0), "h": (7.0, 1)}
    assert ds.events == 3 and ds.censored == 1
    assert ds.excluded == {
        "no_first_line": 1,
        "no_features_row": 1,
        "not_evaluable": 1,
        "responder_without_time_to_response": 1,
        "no_evaluation_end": 1,
        "negative_time": 1,
    }


def test_loss_of_response_definition_by_hand(tmp_path):
    ds = load_survival_cohort(
        write_cohort(tmp_path, HAND_ROWS, HAND_FEATURES), outcome="loss_of_response", predictors=PREDS
    )
    got = dict(zip(ds.patient_ids, zip(ds.time.tolist(), ds.event.tolist(), strict=True), strict=True))
    # origin = start + ttr: a loses at d100 -> 100 - 14 = 86; b censored at 200 - 30 = 170;
    # h censored on the very day of response (0 days of follow-up after response)
    assert got == {"a": (86.0, 1), "b": (170.0, 0), "h": (0.0, 0)}
    # c, f and g are NR: not at risk of losing a response, counted as such before their dates are looked at
    assert ds.excluded["not_responders"] == 3
    assert ds.excluded["no_evaluation_end"] == 0 and ds.excluded["negative_time"] == 0
    assert ds.excluded["not_evaluable"] == 1 and ds.excluded["responder_without_time_to_response"] == 1
    assert sum(ds.excluded.values()) + ds.n == len(HAND_ROWS)  # nobody silently dropped


def test_a_bad_category_is_a_clear_error(tmp_path):
    rows = [{"patient_id": "a", "category": "PR", "end": 10}]
    with pytest.raises(SourceError, match="'category'.*'PR'"):
        load_survival_cohort(
            write_cohort(tmp_path, rows, HAND_FEATURES[:1]), outcome="time_to_response", predictors=PREDS
        )


# --- a cohort where the hazard ratio's sign is obvious ----------------------------------------------


def obvious_cohort(folder: Path, n: int = 300, seed: int = 0) -> Path:
    """low_c3 = 1 responds 3x faster (HR 3); baseline_platelets has no effect; 20% of platelets missing."""
    rng = np.random.default_rng(seed)
    low = rng.integers(0, 2, n)
    t = rng.exponential(40 / np.where(low == 1, 3.0, 1.0))
    end = rng.uniform(20, 120, n)
    rows, feats = [], []
    for i in range(n):
        resp = t[i] <= end[i]
        ttr = int(math.ceil(t[i])) if resp else None
        lost = resp and rng.random() < (0.7 if low[i] else 0.2)
        rows.append(
            {
                "patient_id": f"p{i}",
                "category": "R" if resp else "NR",
                "ttr": ttr,
                "loss": ttr + int(rng.integers(1, 60)) if lost else None,
                "end": int(end[i]) + 200 * bool(resp),
            }
        )
        plt = float(rng.uniform(1, 30)) if rng.random() > 0.2 else None
        feats.append({"patient_id": f"p{i}", "baseline_platelets": plt, "low_c3": float(low[i])})
    return write_cohort(folder, rows, feats)


@pytest.fixture(scope="module")
def obvious(tmp_path_factory):
    root = tmp_path_factory.mktemp("surv")
    cohort = obvious_cohort(root / "dev")
    model = train_survival(
        cohort, outcome="time_to_response", predictors=PREDS, bootstrap=10, seed=1, out=root / "model"
    )
    return cohort, model, root / "model"


def hr(model: CoxModel, name: str) -> dict:
    return next(h for h in model.card["hazard_ratios"] if h["name"] == name)


def test_hazard_ratio_sign_is_obvious_and_the_card_counts_everyone(obvious):
    cohort, model, out = obvious
    h = hr(model, "low_c3")
    assert h["hazard_ratio"] > 1.8 and h["ci95"][0] > 1  # true HR 3
    assert h["ci95"][0] < h["hazard_ratio"] < h["ci95"][1]
    card = json.loads((out / "card.json").read_text())
    assert card["outcome"] == "time_to_response" and card["horizon_days"] == 30
    assert "censored at evaluation_end" in card["censoring"]
    assert card["synthetic"] is True  # not declared real
    assert card["n"] == 300 and card["events"] + card["censored"] == 300
    assert 0.5 < card["optimism_corrected_c_index"] <= card["apparent_c_index"] + 0.02
    assert card["missingness"][0] == {
        "name": "baseline_platelets",
        "missing_n": pytest.approx(60, abs=25),
        "missing_fraction": pytest.approx(0.2, abs=0.08),
    }
    assert "missing:baseline_platelets" in card["columns"]
    assert "SYNTHETIC DATA" in (out / "card.html").read_text()


def test_loss_of_response_hazard_ratio_sign(obvious, tmp_path):
    cohort, _, _ = obvious
    model = train_survival(cohort, outcome="loss_of_response", predictors=PREDS, bootstrap=0)
    assert hr(model, "low_c3")["hazard_ratio"] > 1.5
    assert model.horizon_days == 180
    assert model.card["excluded"]["not_responders"] == model.card["excluded"]["not_responders"] >= 1


def test_probability_equals_lifelines_survival_function(obvious):
    from lifelines import CoxPHFitter

    cohort, model, _ = obvious
    ds = load_survival_cohort(cohort, outcome="time_to_response", predictors=PREDS)
    M = model.design.matrix(ds.X)
    df = pd.DataFrame(M, columns=[f"c{j}" for j in range(M.shape[1])])
    df["T"], df["E"] = ds.time, ds.event
    cph = CoxPHFitter().fit(df, "T", "E")
    expected = (
        1 - cph.predict_survival_function(df.drop(columns=["T", "E"]).iloc[:5], times=[30]).to_numpy()[0]
    )
    got = model.probability_by(model.linear_predictor(ds.X.iloc[:5]))
    assert np.allclose(got, expected, atol=1e-6)


# --- the bedside prediction, by hand ----------------------------------------------------------------


def hand_model(horizon=30, synthetic=True) -> CoxModel:
    design = Design(
        terms=(Term("baseline_platelets", "numeric", 20.0, 1.0, 200.0), Term("low_c3", "binary", 0.0)),
        indicators=(IndicatorGroup(("low_c3",)),),
    )
    cox = CoxFit(
        tuple(design.columns),
        np.array([0.01, 0.7, -0.2]),
        np.diag([0.0001, 0.04, 0.09]),
        np.array([20.0, 0.4, 0.3]),
        np.array([7.0, 14.0, 30.0, 60.0]),
        np.array([0.1, 0.3, 0.5, 0.9]),
    )
    meta = {
        "name": "hand-cox",
        "kind": "cox",
        "outcome": "time_to_response",
        "horizon_days": horizon,
        "outcome_definition": "x",
        "censoring": "y",
        "training": {
            "trained_on": "demo",
            "synthetic": synthetic,
            "n": 100,
            "events": 60,
            "created": "2026-01-01T00:00:00+00:00",
            "sleitp_version": "0.1.0",
            "optimism_corrected_c_index": 0.66,
        },
    }
    return CoxModel(meta, design, cox, card={"outcome": "time_to_response"})


def record(with_c3=True, platelets=15):
    labs = [{"date": "2024-03-01", "test": "platelets", "value": platelets, "unit": "10^9/L"}]
    if with_c3:
        labs.append({"date": "2024-02-20", "test": "c3", "value": 0.6, "unit": "g/L"})  # low
    return parse_record({"id": "p1", "sex": "female", "age_years": 30, "labs": labs})


def test_probability_interval_and_contributions_by_hand():
    pred = hand_model().predict_features({"baseline_platelets": 15.0, "low_c3": True})
    # lp = 0.01 (15 - 20) + 0.7 (1 - 0.4) - 0.2 (0 - 0.3) = -0.05 + 0.42 + 0.06 = 0.43; H0(30) = 0.5
    lp = 0.43
    assert pred.probability == pytest.approx(1 - math.exp(-0.5 * math.exp(lp)))
    se = math.sqrt(0.0001 * 25 + 0.04 * 0.36 + 0.09 * 0.09)
    assert pred.interval[0] == pytest.approx(
        1 - math.exp(-0.5 * math.exp(lp - 1.959963984540054 * se)), abs=1e-9
    )
    assert sum(c.contribution for c in pred.contributions) == pytest.approx(lp, abs=1e-4)
    j = pred.to_json()
    assert j["outcome"] == "time_to_response" and j["horizon_days"] == 30
    assert "within 30 days" in j["statement"] and j["statement"].startswith("DEMONSTRATION ONLY")


def test_horizon_on_and_just_before_a_step_of_the_baseline_hazard():
    # exactly day 30 uses H0(30) = 0.5; day 29 still the value from day 14 (0.3); day 6: before any event
    assert hand_model(30).probability_by(0.0) == pytest.approx(1 - math.exp(-0.5))
    assert hand_model(29).probability_by(0.0) == pytest.approx(1 - math.exp(-0.3))
    assert hand_model(6).probability_by(0.0) == 0.0


def test_predict_one_reads_the_record():
    pred = hand_model(synthetic=False).predict_one(record(with_c3=False), date(2024, 3, 1))
    assert pred.not_measured == ["low_c3"] and "Decision support" in pred.statement
    assert "low_c3" in pred.statement


@given(lp=st.floats(-4, 4), se=st.floats(0, 2), h1=st.integers(1, 100), h2=st.integers(1, 100))
def test_probability_is_monotone_in_lp_and_horizon(lp, se, h1, h2):
    m = hand_model()
    lo, hi = sorted((h1, h2))
    assert m.probability_by(lp, lo) <= m.probability_by(lp, hi)
    assert m.probability_by(lp - se) <= m.probability_by(lp) <= m.probability_by(lp + se)


# --- saving, loading, tampering ---------------------------------------------------------------------


def test_save_load_round_trip_predicts_the_same(obvious, tmp_path):
    _, model, out = obvious
    loaded = load_model(out)
    assert isinstance(loaded, CoxModel) and loaded.kind == "cox"
    for values in (
        {"baseline_platelets": 12.0, "low_c3": True},
        {"baseline_platelets": None, "low_c3": None},
    ):
        assert loaded.predict_features(values).to_json() == model.predict_features(values).to_json()
    assert b"pickle" not in (out / "model.json").read_bytes()
    saved = json.loads((out / "model.json").read_text())
    assert saved["cox"]["baseline_cumulative_hazard"]["times"][0] > 0
    assert saved["design"]["columns"] == saved["cox"]["columns"]
    # the hand model survives a round trip too
    save_survival_model(hand_model(), tmp_path / "hand")
    assert load_model(tmp_path / "hand").predict_one(record(), date(2024, 3, 1)).probability == pytest.approx(
        hand_model().predict_one(record(), date(2024, 3, 1)).probability
    )


@pytest.mark.parametrize("name", ["model.json", "card.json"])
def test_a_tampered_file_is_refused(obvious, tmp_path, name):
    import shutil

    copy = tmp_path / "m"
    shutil.copytree(obvious[2], copy)
    text = (copy / name).read_text()
    (copy / name).write_text(text.replace("0", "1", 1))
    with pytest.raises(ModelError, match="SHA-256 does not match"):
        load_model(copy)


def test_an_incomplete_cox_model_is_refused(tmp_path):
    out = tmp_path / "m"
    save_survival_model(hand_model(), out)
    meta = json.loads((out / "model.json").read_text())
    meta["cox"]["coefficients"] = meta["cox"]["coefficients"][:-1]
    (out / "model.json").write_text(json.dumps(meta))
    from sleitp.model.persist import write_manifest

    write_manifest(out)
    with pytest.raises(ModelError, match="incompatible or incomplete"):
        load_model(out)


# --- validation and errors --------------------------------------------------------------------------


def test_validation_reports_c_index_with_ci_and_says_auc_does_not_apply(obvious, tmp_path):
    _, _, out = obvious
    ext = obvious_cohort(tmp_path / "ext", n=400, seed=5)
    rep = validate(load_model(out), ext).to_json()
    assert rep["n"] == 400 and rep["events"] + rep["censored"] == 400
    assert rep["c_index_ci"][0] <= rep["c_index"] <= rep["c_index_ci"][1]
    assert rep["c_index"] > 0.55
    assert "auc" in rep["not_applicable"] and "calibration_slope" in rep["not_applicable"]
    assert 0 <= rep["observed_by_horizon"] <= 1


def test_errors_are_clear(obvious, tmp_path):
    cohort = obvious[0]
    with pytest.raises(ModelError, match="beyond the longest follow-up"):
        train_survival(cohort, outcome="time_to_response", predictors=PREDS, bootstrap=0, horizon_days=10_000)
    with pytest.raises(ModelError, match="Cox"):
        train(cohort, outcome="time_to_response", method="gbm", bootstrap=0)
    few = write_cohort(tmp_path / "few", HAND_ROWS, HAND_FEATURES)
    with pytest.raises(ModelError, match="at least 10 events"):
        train_survival(few, outcome="time_to_response", predictors=PREDS, bootstrap=0)


# --- CLI end to end on the synthetic pipeline -------------------------------------------------------


@pytest.fixture(scope="module")
def synth_cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    exe = Path(sys.executable).with_name("sleitp")
    for argv in (
        ["synth", "--patients", "800", "--seed", "3", "--out", str(root / "X")],
        ["cohort", "derive", str(root / "X" / "tables"), "--out", str(root / "Y")],
    ):
        r = subprocess.run([str(exe), *argv], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    return root


@pytest.mark.parametrize(("outcome", "horizon"), [("time_to_response", None), ("loss_of_response", 90)])
def test_cli_train_validate_and_bedside_prediction(synth_cohort, tmp_path, outcome, horizon):
    runner = CliRunner()
    out = tmp_path / "m"
    r = runner.invoke(
        app,
        [
            "train",
            str(synth_cohort / "Y"),
            "--outcome",
            outcome,
            "--out",
            str(out),
            "--bootstrap",
            "3",
            "--seed",
            "1",
            *([] if horizon is None else ["--horizon", str(horizon)]),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "SYNTHETIC" in r.output and "Hazard ratios" in r.output and "not evaluable" in r.output
    card = json.loads((out / "card.json").read_text())
    assert card["synthetic"] is True and card["outcome"] == outcome and card["events"] > 10
    assert card["horizon_days"] == (horizon or 30)
    r = runner.invoke(app, ["validate", str(out), str(synth_cohort / "Y"), "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    assert rep["n"] == card["n"] and rep["events"] == card["events"]
    assert rep["c_index"] == pytest.approx(card["apparent_c_index"], abs=1e-4)
    line = (synth_cohort / "X" / "records.jsonl").read_text().splitlines()[0]
    pred = load_model(out).predict_one(parse_record(json.loads(line)))
    j = pred.to_json()
    assert j["outcome"] == outcome and j["horizon_days"] == card["horizon_days"]
    assert j["interval"][0] <= j["probability"] <= j["interval"][1]
    assert f"within {card['horizon_days']} days" in j["statement"]
    assert j["model"]["synthetic"] is True


def test_cli_rejects_options_that_do_not_apply(synth_cohort, tmp_path):
    runner = CliRunner()
    r = runner.invoke(
        app,
        [
            "train",
            str(synth_cohort / "Y"),
            "--outcome",
            "time_to_response",
            "--method",
            "gbm",
            "--out",
            str(tmp_path / "m"),
        ],
    )
    assert r.exit_code != 0
    assert isinstance(r.exception, ModelError) and "Cox" in str(r.exception)
    base = ["train", str(synth_cohort / "Y"), "--out", str(tmp_path / "m")]
    r = runner.invoke(app, [*base, "--outcome", "first_line_response", "--horizon", "30"])
    assert isinstance(r.exception, ModelError) and "--horizon" in str(r.exception)
    r = runner.invoke(app, [*base, "--outcome", "loss_of_response", "--anticipated-r2", "0.2"])
    assert isinstance(r.exception, ModelError) and "--anticipated-r2" in str(r.exception)
