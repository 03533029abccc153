"""Multiple imputation (``sleitp train --imputation mice``, sleitp.model.binary.imputation): Rubin's rules
by hand,
MICE against complete-case analysis on MAR data, the bedside conditional mean, the CLI, and the default
(missing-indicator) output unchanged."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pytest
from scipy.special import expit
from typer.testing import CliRunner

from sleitp.cli import app
from sleitp.errors import ModelError
from sleitp.model import load_model, train, validate
from sleitp.model.binary.imputation import ConditionalMean, mice, rubin
from sleitp.model.binary.logistic import fit_irls
from sleitp.model.dataset import load_cohort
from sleitp.model.design import fit_design
from sleitp.model.simulate import write_cohort
from sleitp.record import parse_record


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory):
    root = tmp_path_factory.mktemp("mi-cohorts")
    return write_cohort(root / "dev", 400, seed=21), write_cohort(root / "ext", 600, seed=22)


# --- Rubin's rules --------------------------------------------------------------------------------


def test_rubins_rules_on_a_hand_worked_example():
    # three imputations of (intercept, slope): the intercept identical in all three (no missing information)
    betas = [np.array([0.5, 1.0]), np.array([0.5, 1.2]), np.array([0.5, 1.4])]
    covs = [np.diag([0.01, v]) for v in (0.04, 0.05, 0.06)]
    pooled = rubin(betas, covs)
    # slope, on paper: mean 1.2; W = (0.04 + 0.05 + 0.06)/3 = 0.05;
    # B = ((-0.2)^2 + 0^2 + 0.2^2) / (3 - 1) = 0.04; T = 0.05 + (1 + 1/3) 0.04 = 0.103333...
    assert pooled.beta == pytest.approx([0.5, 1.2])
    assert pooled.within[1, 1] == pytest.approx(0.05)
    assert pooled.between[1, 1] == pytest.approx(0.04)
    assert pooled.total[1, 1] == pytest.approx(0.05 + 4 / 3 * 0.04)
    # r = (4/3 x 0.04) / 0.05 = 1.066667; df = 2 (1 + 1/r)^2 = 2 x 1.9375^2 = 7.5078125
    assert pooled.riv[1] == pytest.approx(16 / 15)
    assert pooled.df[1] == pytest.approx(7.5078125)
    # lambda = (4/3 x 0.04) / 0.103333 = 0.516129; FMI = (r + 2/(df + 3)) / (r + 1) = 0.608227
    assert pooled.lambda_[1] == pytest.approx(0.0533333 / 0.1033333, rel=1e-5)
    assert pooled.fmi[1] == pytest.approx((16 / 15 + 2 / 10.5078125) / (31 / 15))
    assert pooled.fmi[1] == pytest.approx(0.608227, abs=1e-6)
    # the intercept: no between-imputation variance, so no missing information and T = W
    assert pooled.between[0, 0] == pytest.approx(0.0)
    assert pooled.total[0, 0] == pytest.approx(0.01)
    assert pooled.fmi[0] == pytest.approx(0.0) and np.isinf(pooled.df[0])
    row = pooled.table(["x"])[1]
    assert row["term"] == "x" and row["fraction_missing_information"] == pytest.approx(0.608227, abs=1e-6)
    with pytest.raises(ValueError):
        rubin(betas[:1], covs[:1])


# --- chained equations --------------------------------------------------------------------------------


def _mar_sample(rng: np.random.Generator, n: int):
    """x1, x2 correlated; y from a logistic model with both slopes 1; x2 missing more often in responders
    with a high x1 (MAR: depends on observed y and x1). Complete-case analysis is biased when missingness
    depends on both the outcome and a predictor."""
    x1 = rng.standard_normal(n)
    x2 = 0.6 * x1 + 0.8 * rng.standard_normal(n)
    b = (rng.random(n) < 0.4).astype(float)  # a yes/no predictor, complete
    y = (rng.random(n) < expit(-0.3 + x1 + x2 - 0.5 * b)).astype(float)
    miss = rng.random(n) < expit(-2.0 + 2.5 * y * (x1 > 0) + 1.0 * x1)
    R = np.column_stack([x1, np.where(miss, np.nan, x2), b])
    return R, y, miss


def test_mice_with_the_outcome_recovers_the_coefficient_better_than_complete_cases():
    truth = np.array([1.0, 1.0])
    err_mi, err_cc, err_no_y = [], [], []
    for seed in range(8):
        rng = np.random.default_rng(1000 + seed)
        R, y, miss = _mar_sample(rng, 1500)
        assert 0.25 < miss.mean() < 0.6
        cc = fit_irls(R[~miss], y[~miss])[0]
        copies = mice(R, np.array([False, False, True]), y, m=5, seed=seed)
        for Z in copies:
            assert not np.isnan(Z).any()
            assert np.array_equal(Z[~miss], R[~miss])  # observed values never change
        fits = [fit_irls(Z, y) for Z in copies]
        pooled = rubin([b for b, _ in fits], [np.linalg.inv(info) for _, info in fits])
        err_mi.append(np.abs(pooled.beta[1:3] - truth).sum())
        err_cc.append(np.abs(cc[1:3] - truth).sum())
        no_y = [fit_irls(Z, y)[0] for Z in mice(R, np.array([False, False, True]), None, m=5, seed=seed)]
        err_no_y.append(np.abs(np.mean(no_y, axis=0)[1:3] - truth).sum())
        assert pooled.fmi[2] > pooled.fmi[1]  # x2 (incomplete) carries more missing information than x1
    mi, cc = float(np.mean(err_mi)), float(np.mean(err_cc))
    # complete cases are visibly biased here; MICE with the outcome at most half of that error
    assert cc > 0.25, (mi, cc)
    assert mi < 0.5 * cc, (mi, cc)  # measured: 0.25 against 0.80
    # and the outcome belongs in the imputation model [MOONS2006]: without it the slopes are diluted
    assert mi < 0.6 * float(np.mean(err_no_y)), (mi, err_no_y)  # measured: 0.25 against 0.62


def test_mice_imputes_yes_no_predictors_as_zero_or_one_and_is_reproducible():
    rng = np.random.default_rng(5)
    n = 600
    x = rng.standard_normal(n)
    b = (rng.random(n) < expit(1.5 * x)).astype(float)
    y = (rng.random(n) < expit(x)).astype(float)
    R = np.column_stack([x, np.where(rng.random(n) < 0.3, np.nan, b)])
    a1 = mice(R, np.array([False, True]), y, m=3, seed=9)
    a2 = mice(R, np.array([False, True]), y, m=3, seed=9)
    miss = np.isnan(R[:, 1])
    for z1, z2 in zip(a1, a2, strict=True):
        assert np.array_equal(z1, z2)
        assert set(np.unique(z1[miss, 1])) <= {0.0, 1.0}
    assert not np.array_equal(a1[0], a1[1])  # each imputation is its own draw
    # the imputed yes/no values follow x, as the observed ones do (a logistic imputation model)
    imputed = a1[0][miss, 1]
    assert imputed[x[miss] > 0.5].mean() > imputed[x[miss] < -0.5].mean() + 0.3
    with pytest.raises(ValueError, match="no observed value"):
        mice(np.column_stack([x, np.full(n, np.nan)]), np.array([False, True]), y, m=2, seed=0)


# --- the bedside conditional mean -----------------------------------------------------------------


def test_conditional_mean_imputation_by_hand_and_as_json():
    cm = ConditionalMean(("a", "b", "c"), np.array([1.0, 2.0, 0.3]),
                         np.array([[1.0, 0.5, 0.0], [0.5, 4.0, 0.0], [0.0, 0.0, 0.21]]), (False, False, True))
    R = np.array([[3.0, np.nan, np.nan], [np.nan, 6.0, 1.0], [1.5, 2.5, 0.0]])
    filled = cm.fill(R)
    # E[b | a = 3] = 2 + 0.5/1 x (3 - 1) = 3; c independent of a and b: its mean 0.3
    assert filled[0, 1] == pytest.approx(3.0) and filled[0, 2] == pytest.approx(0.3)
    # E[a | b = 6, c = 1] = 1 + 0.5/4 x (6 - 2) = 1.5
    assert filled[1, 0] == pytest.approx(1.5)
    assert np.array_equal(filled[2], R[2])  # complete rows unchanged
    back = ConditionalMean.from_json(json.loads(json.dumps(cm.to_json())))
    assert np.allclose(back.fill(R), filled)
    with pytest.raises(ValueError):
        ConditionalMean.from_json({**cm.to_json(), "mean": [0.0, 1.0]})


# --- training, saving, the bedside, the CLI ------------------------------------------------------------


@pytest.fixture(scope="module")
def mice_model(cohorts, tmp_path_factory):
    out = tmp_path_factory.mktemp("mi-model") / "m"
    runner = CliRunner()
    r = runner.invoke(app, ["train", str(cohorts[0]), "--out", str(out), "--bootstrap", "4", "--seed", "3",
                            "--imputation", "mice", "--imputations", "3"])
    assert r.exit_code == 0, r.output
    return out


def test_cli_train_mice_writes_a_loadable_model_whose_card_says_mice(mice_model, cohorts):
    card = json.loads((mice_model / "card.json").read_text())
    method = card["missing_data"]["method"]
    assert "MICE" in method and "m = 3" in method and "OUTCOME" in method
    assert "bootstrap then impute" in method and "conditional mean" in method
    mi = card["missing_data"]["multiple_imputation"]
    assert mi["imputations"] == 3 and mi["outcome_in_imputation_model"] is True
    assert mi["bootstrap_imputations"] == 2
    terms = [r["term"] for r in mi["coefficients"]]
    assert terms == ["intercept", *card["predictors"]]
    assert all(0 <= r["fraction_missing_information"] <= 1 for r in mi["coefficients"])
    # an incomplete predictor carries missing information; no indicator column in a MICE model
    fmi = {r["term"]: r["fraction_missing_information"] for r in mi["coefficients"]}
    assert fmi["megakaryocytes"] > 0
    assert not any(c["term"].startswith("missing:") for c in card["coefficients"])
    assert card["optimism_corrected_auc"] is not None
    assert "Rubin" in (mice_model / "card.html").read_text()
    model = load_model(mice_model)
    assert model.name.endswith("-mice") and model.design.conditional is not None
    assert model.meta["training"]["imputation"]["method"] == "mice"
    # the saved model predicts the external cohort (its missing values by the conditional mean)
    report = validate(model, cohorts[1])
    assert 0.5 < report.auc < 1 and np.isfinite(report.calibration_slope)


def test_predict_one_imputes_a_missing_predictor_and_says_so(mice_model):
    model = load_model(mice_model)
    rec = parse_record({
        "id": "m1", "sex": "female", "age_years": 40,
        "labs": [{"date": "2024-03-01", "test": "platelets", "value": 12, "unit": "10^9/L"}],
    })
    pred = model.predict_one(rec, date(2024, 3, 1))
    assert "c3" in pred.imputed and "c3" in pred.not_measured
    assert "Missing predictors imputed:" in pred.statement and "c3" in pred.statement
    assert pred.to_json()["imputed"] == pred.imputed
    assert pred.interval[0] <= pred.probability <= pred.interval[1]
    # the probability is the model's at the conditional means: same as filling them in by hand
    values = {p: None for p in model.design.predictors}
    values.update({"age_years": 40.0, "baseline_platelets": 12.0})
    by_hand = model.predict_features(values)
    raw = np.array([[np.nan if values[p] is None else values[p] for p in model.design.predictors]])
    filled = model.design.conditional.fill(raw)
    M = np.column_stack([t.transform(filled[:, j]) for j, t in enumerate(model.design.terms)])
    assert by_hand.probability == pytest.approx(float(expit(model.logistic.linear_predictor(M)[0])))


def test_indicator_default_is_unchanged(cohorts, tmp_path):
    default = train(cohorts[0], bootstrap=3, seed=4, out=tmp_path / "a")
    explicit = train(cohorts[0], bootstrap=3, seed=4, out=tmp_path / "b", imputation="indicator")
    a = json.loads((tmp_path / "a" / "model.json").read_text())
    b = json.loads((tmp_path / "b" / "model.json").read_text())
    for m in (a, b):
        m["training"].pop("created")
    assert a == b
    assert "imputation" not in a["training"] and "conditional_mean" not in a["design"]
    assert any(c.startswith("missing:") for c in a["design"]["columns"])  # indicators as before
    assert default.design.to_json() == fit_design(load_cohort(cohorts[0]).X).to_json()
    pred = default.predict_features({"age_years": 40})
    assert pred.imputed is None and "imputed" not in pred.to_json()
    assert "not-measured indicator" in pred.statement
    assert default.card["missing_data"]["method"] == explicit.card["missing_data"]["method"]
    assert "multiple_imputation" not in default.card["missing_data"]


def test_mice_option_errors_are_clear(cohorts):
    with pytest.raises(ModelError, match="--imputations must be 2 or more"):
        train(cohorts[0], bootstrap=0, imputation="mice", imputations=1)
    with pytest.raises(ModelError, match="--method logistic"):
        train(cohorts[0], bootstrap=0, imputation="mice", method="gbm")
    with pytest.raises(ModelError, match="not one of"):
        train(cohorts[0], bootstrap=0, imputation="hot-deck")
    with pytest.raises(ModelError, match="--imputations applies"):
        train(cohorts[0], bootstrap=0, imputations=5)
    r = CliRunner().invoke(app, ["train", str(cohorts[0]), "--out", "/tmp/mice-never", "--imputation", "em"])
    assert r.exit_code != 0 and "Traceback" not in r.output
