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
from sleitp.model.survival.cox import CoxFit, save_survival_model, train_survival
from sleitp.model.survival.data import load_survival_cohort
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
    assert "trained on synthetic data" in (out / "card.html").read_text()


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
    assert "auc" in rep["not_applicable"] and "brier" in rep["not_applicable"]
    assert "calibration_slope" not in rep["not_applicable"]  # reported at the horizon now
    assert rep["calibration_slope_ci"][0] <= rep["calibration_slope"] <= rep["calibration_slope_ci"][1]
    assert sum(g["n"] for g in rep["calibration"]) == 400
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
    assert "trained on synthetic data" in r.output
    assert "Hazard ratios" in r.output and "not evaluable" in r.output
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


# --- the fast numerical kernels equal lifelines ------------------------------------------------------


def tied_data(seed: int, n: int = 300, p: int = 4):
    """Integer days (many tied event times, and censorings on event days), a binary and a constant-free
    design: the cases where Efron's tie handling and the C-index tie rules matter."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    X[:, 1] = rng.integers(0, 2, n)
    t_event = np.ceil(rng.exponential(30 * np.exp(-X @ np.array([0.5, 0.8, -0.3, 0.0][:p]))))
    t_cens = np.ceil(rng.uniform(5, 80, n))
    return X, np.minimum(t_event, t_cens), (t_event <= t_cens).astype(int)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_numpy_cox_fit_equals_lifelines(seed):
    from lifelines import CoxPHFitter

    from sleitp.model.survival.fit import breslow_cumhaz, cox_newton

    X, t, e = tied_data(seed)
    df = pd.DataFrame(X, columns=[f"c{j}" for j in range(X.shape[1])])
    df["T"], df["E"] = t, e
    # lifelines stops at a step norm of 1e-7 in standardised units by default, which leaves up to ~1e-5 on
    # the coefficients; asked to converge fully, it must agree with the numpy fit to 1e-6
    cph = CoxPHFitter().fit(df, "T", "E", fit_options={"precision": 1e-12, "r_precision": 1e-14})
    fit = cox_newton(X, t, e)
    assert np.max(np.abs(fit.beta - cph.params_.to_numpy())) < 1e-6
    assert np.max(np.abs(fit.cov - cph.variance_matrix_.to_numpy())) < 1e-8
    assert fit.loglik == pytest.approx(cph.log_likelihood_, abs=1e-6)
    # Breslow's baseline with the coefficients held fixed = lifelines' baseline cumulative hazard
    lp = (X - cph._norm_mean.to_numpy()) @ fit.beta
    times, h0 = breslow_cumhaz(t, e, lp)
    expected = cph.baseline_cumulative_hazard_.iloc[:, 0].reindex(times).to_numpy()
    assert np.max(np.abs(h0 - expected)) < 1e-6


def test_numpy_cox_fit_equals_lifelines_on_the_real_design(obvious):
    """The refit the bootstrap runs (warm start at the full-data coefficients), on the model's own design
    matrix with its missing indicator, against the lifelines fit the model was trained with."""
    from sleitp.model.survival.cox import lifelines_cox
    from sleitp.model.survival.fit import cox_newton

    cohort, model, _ = obvious
    ds = load_survival_cohort(cohort, outcome="time_to_response", predictors=PREDS)
    M = model.design.matrix(ds.X)
    fit = cox_newton(M, ds.time, ds.event, beta0=model.cox.beta)
    assert np.max(np.abs(fit.beta - model.cox.beta)) < 1e-5  # lifelines' default stopping rule
    cph, _ = lifelines_cox(M, ds.time, ds.event)
    assert np.allclose(fit.beta, cph.params_.to_numpy(), atol=1e-5)


@given(
    seed=st.integers(0, 10_000),
    n=st.integers(2, 60),
    lp_levels=st.integers(1, 6),
    t_levels=st.integers(1, 8),
)
def test_harrell_c_equals_lifelines_concordance_index(seed, n, lp_levels, t_levels):
    """Few distinct times and predictions: ties everywhere (tied events, an event and a censoring on the same
    day, tied predictions), and the O(n log^2 n) count must still equal lifelines."""
    from lifelines.utils import concordance_index

    from sleitp.model.survival.fit import harrell_c

    rng = np.random.default_rng(seed)
    t = rng.integers(1, t_levels + 1, n).astype(float)
    lp = rng.integers(0, lp_levels, n).astype(float)
    e = rng.integers(0, 2, n)
    e[0] = 1
    try:
        expected = concordance_index(t, -lp, e)
    except ZeroDivisionError:  # lifelines: no admissible pairs
        assert np.isnan(harrell_c(t, lp, e))
        return
    assert harrell_c(t, lp, e) == pytest.approx(expected, abs=1e-12)


# --- proportional hazards ----------------------------------------------------------------------------


def piecewise_cohort(seed: int, *, flip: bool, n: int = 600):
    """x (0/1) has HR 3 throughout (flip=False), or HR 3 up to day 20 and HR 1/3 after it (flip=True);
    z (normal) has HR 1.5 per unit throughout. Baseline hazard 1/30 a day, censoring uniform on 10-120."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, n).astype(float)
    z = rng.normal(size=n)
    base = np.exp(np.log(1.5) * z) / 30
    before = base * np.where(x == 1, 3.0, 1.0)
    after = base * np.where(x == 1, 1 / 3 if flip else 3.0, 1.0)
    t1 = rng.exponential(1 / before)
    t = np.where(t1 < 20, t1, 20 + rng.exponential(1 / after))
    c = rng.uniform(10, 120, n)
    return np.column_stack([x, z]), np.minimum(t, c), (t <= c).astype(int)


def test_ph_test_flags_an_effect_that_flips_sign_halfway():
    from sleitp.model.survival.checks import ph_test
    from sleitp.model.survival.cox import lifelines_cox

    M, t, e = piecewise_cohort(1, flip=True)
    cph, df = lifelines_cox(M, t, e)
    ph = ph_test(cph, df, ["x", "z"])
    by = {r["name"]: r for r in ph["per_predictor"]}
    assert by["x"]["flagged"] and by["x"]["p"] < 0.05  # HR 3 then 1/3: the residuals trend with time
    assert not by["z"]["flagged"]  # a constant effect
    assert ph["flagged"] == ["x"] and ph["global"]["p"] < 0.05 and ph["global"]["df"] == 2
    assert ph["statement"].startswith("Proportional hazards questionable") and "average" in ph["statement"]
    # not a lucky draw: flagged in every one of five cohorts
    for seed in range(2, 7):
        M, t, e = piecewise_cohort(seed, flip=True)
        assert "x" in ph_test(*lifelines_cox(M, t, e), ["x", "z"])["flagged"], seed


def test_ph_test_does_not_flag_constant_effects():
    """One cohort with constant hazard ratios: nothing flagged. A test at alpha 0.05 still flags a constant
    effect in about 5% of cohorts (two columns: ~10% of cohorts have some flag), so over 20 cohorts at
    most 4 may show one (the binomial probability of 5 or more at 10% is 4%); seen when written: 3 of 20."""
    from sleitp.model.survival.checks import ph_test
    from sleitp.model.survival.cox import lifelines_cox

    M, t, e = piecewise_cohort(0, flip=False)
    cph, df = lifelines_cox(M, t, e)
    ph = ph_test(cph, df, ["x", "z"])
    assert ph["flagged"] == [] and ph["global"]["p"] > 0.05
    assert ph["statement"].startswith("No evidence against proportional hazards")
    flagged = [
        ph_test(*lifelines_cox(*piecewise_cohort(s, flip=False)), ["x", "z"])["flagged"] for s in range(20)
    ]
    assert sum(bool(f) for f in flagged) <= 4, flagged


def test_ph_global_statistic_with_one_column_is_the_column_statistic():
    """Grambsch-Therneau's global statistic reduces to the per-covariate one with a single covariate: a check
    that the global formula computed here is on the same scale and in the same row order as lifelines'."""
    from sleitp.model.survival.checks import ph_test
    from sleitp.model.survival.cox import lifelines_cox

    M, t, e = piecewise_cohort(2, flip=True)
    cph, df = lifelines_cox(M[:, :1], t, e)
    ph = ph_test(cph, df, ["x"])
    assert ph["global"]["statistic"] == pytest.approx(ph["per_predictor"][0]["statistic"], rel=1e-3)
    assert ph["global"]["p"] == pytest.approx(ph["per_predictor"][0]["p"], rel=1e-2)


# --- calibration at the horizon on cohorts from a known Cox model ------------------------------------

TRUE_BETA = {"baseline_platelets": 0.03, "low_c3": 0.7}  # log HR per 10^9/L, and for low C3


def known_cox_cohort(folder: Path, *, n: int, seed: int, base_rate: float = 1 / 40) -> Path:
    """time_to_response from a known Cox model: hazard base_rate * exp(0.03 platelets + 0.7 low_c3),
    exponential baseline; follow-up (evaluation end) uniform on 20-150 days; days rounded up."""
    rng = np.random.default_rng(seed)
    plt = rng.uniform(1, 60, n)
    low = rng.integers(0, 2, n).astype(float)
    rate = base_rate * np.exp(TRUE_BETA["baseline_platelets"] * plt + TRUE_BETA["low_c3"] * low)
    t = np.ceil(rng.exponential(1 / rate))
    end = np.ceil(rng.uniform(20, 150, n))
    rows = [
        {"patient_id": f"p{i}", "category": "R", "ttr": int(t[i]), "end": int(end[i])}
        if t[i] <= end[i]
        else {"patient_id": f"p{i}", "category": "NR", "end": int(end[i])}
        for i in range(n)
    ]
    feats = [{"patient_id": f"p{i}", "baseline_platelets": plt[i], "low_c3": low[i]} for i in range(n)]
    return write_cohort(folder, rows, feats)


@pytest.fixture(scope="module")
def known(tmp_path_factory):
    root = tmp_path_factory.mktemp("known")
    dev = known_cox_cohort(root / "dev", n=2000, seed=21)
    model = train_survival(
        dev,
        outcome="time_to_response",
        predictors=PREDS,
        bootstrap=20,
        seed=2,
        out=root / "m",
        horizon_days=10,
    )  # day 10: P(event) about 0.5, far from saturating (by day 30 it is ~0.9)
    return root, model


def test_slope_of_the_true_linear_predictor_is_one(tmp_path):
    """The slope function itself: on data generated from lp, the Cox regression on lp must return ~1.
    4,000 patients (~2,600 events by day 30): SE about 0.04, so 1 +/- 0.12 is three standard errors."""
    from sleitp.model.survival.checks import calibration_slope_at

    ds = load_survival_cohort(
        known_cox_cohort(tmp_path / "v", n=4000, seed=5), outcome="time_to_response", predictors=PREDS
    )
    lp = TRUE_BETA["baseline_platelets"] * ds.X["baseline_platelets"] + TRUE_BETA["low_c3"] * ds.X["low_c3"]
    got = calibration_slope_at(ds.time, ds.event, lp.to_numpy(), 30)
    assert got["se"] < 0.05
    assert abs(got["slope"] - 1) < 0.12 and got["ci95"][0] < 1 < got["ci95"][1]
    # the same data scaled: a linear predictor twice too extreme has slope 1/2
    half = calibration_slope_at(ds.time, ds.event, 2 * lp.to_numpy(), 30)
    assert half["slope"] == pytest.approx(got["slope"] / 2, rel=1e-6)


def test_calibration_at_the_horizon_on_a_fresh_cohort_from_the_same_model(known, tmp_path):
    """A model developed on 2,000 patients from a known Cox model (2 columns: overfitting negligible) and
    validated on 3,000 fresh ones: slope within 0.15 of 1 (about 3 SE: ~1,500 events by day 10) and the
    Kaplan-Meier probability by day 10 within 0.08 of the mean prediction in every risk group (each of
    ~300 patients: a KM standard error of about 0.03)."""
    root, model = known
    # log HR of low C3 within 4 standard errors (SE ~0.05) of the truth; this draw is 2 SE low (0.59)
    assert abs(hr(model, "low_c3")["coefficient"] - TRUE_BETA["low_c3"]) < 0.2
    card = model.card
    assert abs(card["calibration"]["slope_apparent"]["slope"] - 1) < 0.1
    assert card["calibration"]["slope_optimism_corrected"] == pytest.approx(
        card["calibration"]["slope_apparent"]["slope"], abs=0.05
    )  # two parameters, ~1,300 events: almost no optimism
    assert len(card["calibration"]["groups"]) == 10  # deciles: many events
    rep = validate(load_model(root / "m"), known_cox_cohort(tmp_path / "fresh", n=3000, seed=99)).to_json()
    assert abs(rep["calibration_slope"] - 1) < 0.15
    assert rep["calibration_slope_ci"][0] < 1 < rep["calibration_slope_ci"][1]
    for g in rep["calibration"]:
        assert abs(g["observed"] - g["predicted"]) < 0.08, g
    assert abs(rep["observed_expected_ratio"] - 1) < 0.05


def test_fewer_groups_when_events_by_the_horizon_are_few():
    from sleitp.model.survival.checks import calibration_groups

    assert calibration_groups(500, 2000) == 10
    assert calibration_groups(45, 300) == 4  # ~10 events a group
    assert calibration_groups(12, 300) == 2  # never fewer than 2
    assert calibration_groups(12, 1) == 1


def test_recalibration_fixes_a_doubled_baseline_hazard(known, tmp_path):
    """Validation cohort from the same coefficients but twice the baseline hazard: the ranking and spread
    are right (slope ~1) but every probability is too low; re-estimating the baseline cumulative hazard
    (coefficients kept) brings the mean prediction to the observed probability."""
    from sleitp.model import recalibrate

    root, _ = known
    model = load_model(root / "m")
    doubled = known_cox_cohort(tmp_path / "double", n=3000, seed=7, base_rate=2 / 40)
    before = validate(model, doubled)
    assert abs(before.calibration_slope["slope"] - 1) < 0.15  # the same coefficients
    assert before.observed_by_horizon - before.mean_predicted_by_horizon > 0.15  # far off (0.22): too low
    updated = recalibrate(model, doubled, method="intercept", out=tmp_path / "recal")
    saved = load_model(tmp_path / "recal")  # the manifest verifies
    after = validate(saved, doubled)
    # close after (0.025 when written): not 0, because the mean of the individual probabilities and the
    # Kaplan-Meier of the whole cohort differ by the model's own error (its low C3 log HR is 0.59, truth 0.7)
    assert abs(after.observed_by_horizon - after.mean_predicted_by_horizon) < 0.04
    # what Breslow's re-estimate guarantees exactly: expected events by the horizon = observed events
    ds = load_survival_cohort(doubled, outcome="time_to_response", predictors=PREDS)
    h = saved.horizon_days
    cumhaz = np.array([saved.cox.baseline_at(min(t, h)) for t in ds.time]) * np.exp(
        saved.linear_predictor(ds.X)
    )
    assert cumhaz.sum() == pytest.approx(((ds.time <= h) & (ds.event == 1)).sum(), rel=1e-9)
    r = updated.meta["recalibration"]
    # H0 roughly doubles (the truth: exactly 2x); the coefficients are untouched
    assert 1.7 < r["baseline_at_horizon_after"] / r["baseline_at_horizon_before"] < 2.3
    assert r["slope"] == 1.0 and np.array_equal(updated.cox.beta, model.cox.beta)
    assert saved.name.endswith("-recalibrated") and saved.info().recalibrated.startswith("intercept on")
    pred = saved.predict_features({"baseline_platelets": 20.0, "low_c3": True})
    assert "Recalibrated (intercept)" in pred.statement
    assert pred.probability > model.predict_features({"baseline_platelets": 20.0, "low_c3": True}).probability
    files = set(json.loads((tmp_path / "recal" / "manifest.json").read_text())["files"])
    assert {
        "model.json",
        "card.json",
        "card.html",
        "calibration.png",
        "recalibration-calibration.png",
    } <= files
    # slope recalibration on a cohort where the model is too extreme: lp multiplied by the slope
    slope_model = recalibrate(model, doubled, method="slope")
    b = slope_model.meta["recalibration"]["slope"]
    assert b == pytest.approx(before.calibration_slope["slope"])
    assert np.allclose(slope_model.cox.beta, b * model.cox.beta)


def test_cli_train_reports_ph_and_calibration_and_validate_recalibrates(synth_cohort, tmp_path):
    """`sleitp train --outcome time_to_response` on the synthetic pipeline, then `sleitp validate` with
    --plots and --recalibrate: the card (JSON and HTML), the CLI output and the saved models."""
    runner = CliRunner()
    cohort, out = str(synth_cohort / "Y"), tmp_path / "m"
    r = runner.invoke(
        app, ["train", cohort, "--outcome", "time_to_response", "--out", str(out), "--bootstrap", "5"]
    )
    assert r.exit_code == 0, r.output
    assert "Proportional hazards" in r.output and "global p" in r.output
    assert "Calibration at day 30" in r.output and "optimism-corrected" in r.output
    card = json.loads((out / "card.json").read_text())
    ph = card["proportional_hazards"]
    assert len(ph["per_predictor"]) == len(card["columns"]) and 0 <= ph["global"]["p"] <= 1
    assert ph["global"]["df"] == len(card["columns"]) and "GRAMBSCH1994" in ph["method"]
    cal = card["calibration"]
    assert cal["horizon_days"] == 30 and 2 <= len(cal["groups"]) <= 10
    assert sum(g["n"] for g in cal["groups"]) == card["n"]
    assert cal["slope_apparent"]["slope"] > 0 and cal["slope_optimism_corrected"] is not None
    assert card["figures"] == {"calibration": "calibration.png"} and (out / "calibration.png").is_file()
    html = (out / "card.html").read_text()
    assert "Proportional hazards" in html and "data:image/png;base64," in html
    assert not any("not tested" in x for x in card["limitations"])
    # validate: calibration at the horizon, plot, recalibration to a new model folder
    plots, recal = tmp_path / "plots", tmp_path / "recal"
    r = runner.invoke(
        app,
        [
            "validate",
            str(out),
            cohort,
            "--plots",
            str(plots),
            "--recalibrate",
            "intercept",
            "--out",
            str(recal),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "calibration slope at day 30" in r.output and "Recalibrated (intercept)" in r.output
    assert (plots / "validation-calibration.png").is_file()
    r = runner.invoke(app, ["validate", str(recal), cohort, "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    # recalibrated on the development cohort itself: the Breslow baseline is the one lifelines estimated
    assert rep["mean_predicted_by_horizon"] == pytest.approx(
        card["calibration"]["mean_predicted_by_horizon"], abs=1e-3
    )
    assert rep["model"] == "time_to_response-cox-recalibrated"
    saved = json.loads((recal / "card.json").read_text())
    assert saved["recalibration"]["method"] == "intercept" and saved["recalibration"]["slope"] == 1.0
    assert (recal / "recalibration-calibration.png").is_file() and (recal / "calibration.png").is_file()
    assert load_model(recal).card["recalibration"]["cohort"] == cohort
