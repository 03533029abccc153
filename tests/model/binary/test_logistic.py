"""The Newton-Raphson engine against statsmodels; ridge; the optimism bootstrap on a known case."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from scipy.special import expit

from sleitp.model.binary.logistic import LogisticFit, choose_penalty, fit_irls, fit_logistic
from sleitp.model.validation import bootstrap_optimism, performance_from_lp


def _data(n=1500, p=6, seed=0):
    rng = np.random.default_rng(seed)
    M = rng.normal(size=(n, p)) * np.arange(1, p + 1)
    beta = np.linspace(-0.5, 0.5, p) / np.arange(1, p + 1)
    y = (rng.random(n) < expit(0.3 + M @ beta)).astype(float)
    return M, y


def test_irls_equals_statsmodels_ml():
    M, y = _data()
    beta, info = fit_irls(M, y)
    res = sm.Logit(y, sm.add_constant(M)).fit(disp=0)
    assert np.allclose(beta, res.params, atol=1e-6)
    assert np.allclose(np.linalg.inv(info), res.cov_params(), rtol=1e-4, atol=1e-8)


def test_warm_start_reaches_the_same_solution():
    M, y = _data(seed=1)
    cold, _ = fit_irls(M, y)
    warm, _ = fit_irls(M, y, beta0=cold + 0.3)
    assert np.allclose(cold, warm, atol=1e-7)


def test_constant_column_does_not_crash_a_refit():
    M, y = _data(seed=2)
    M[:, 0] = 1.0  # e.g. a rare binary predictor that is all-0 in one bootstrap sample
    beta, _ = fit_irls(M, y)
    assert np.all(np.isfinite(beta))


def test_ridge_shrinks_and_the_penalty_comes_from_the_grid():
    M, y = _data(n=300, p=8, seed=3)
    ml, _ = fit_irls(M, y)
    scale = M.std(axis=0)
    ridge, _ = fit_irls(M, y, penalty=50.0, scale=scale)
    assert np.linalg.norm(ridge[1:] * scale) < np.linalg.norm(ml[1:] * scale)
    grid = np.array([0.1, 1.0, 10.0])
    assert choose_penalty(M, y, grid=grid) in grid


def test_fit_logistic_reports_odds_ratios_with_wald_intervals():
    M, y = _data(seed=4)
    fit = fit_logistic(M, y, [f"x{i}" for i in range(M.shape[1])])
    table = fit.coefficient_table()
    row = table[1]
    assert row["odds_ratio"] == pytest.approx(np.exp(row["coefficient"]))
    assert row["or_ci_low"] == pytest.approx(np.exp(row["coefficient"] - 1.959964 * row["se"]), rel=1e-5)
    assert table[0]["odds_ratio"] is None  # the intercept has no odds ratio
    again = LogisticFit.from_json(fit.to_json())
    assert np.allclose(again.beta, fit.beta) and np.allclose(again.covariance, fit.covariance)


def test_bootstrap_optimism_of_a_model_without_refitting_is_zero():
    # a "model" that ignores the sample (refit returns the same predictions) has no optimism [HARRELL1996]
    M, y = _data(seed=5)
    lp = 0.3 + M @ (np.linspace(-0.5, 0.5, 6) / np.arange(1, 7))
    res = bootstrap_optimism(y.astype(int), lp, lambda idx: lp, replicates=30, seed=1)
    for v in res.optimism.values():
        assert abs(v) < 0.02
    assert res.replicates == 30


def test_bootstrap_optimism_is_positive_for_an_overfitted_model():
    rng = np.random.default_rng(6)
    n, p = 200, 30  # noise predictors only: apparent AUC > 0.5, true AUC 0.5
    M = rng.normal(size=(n, p))
    y = (rng.random(n) < 0.5).astype(float)
    beta, _ = fit_irls(M, y)
    lp = beta[0] + M @ beta[1:]

    def refit(idx):
        b, _ = fit_irls(M[idx], y[idx], beta0=beta)
        return b[0] + M @ b[1:]

    res = bootstrap_optimism(y.astype(int), lp, refit, replicates=40, seed=2)
    assert res.apparent.auc > 0.65
    assert res.optimism["auc"] > 0.08
    assert res.corrected.calibration_slope < 0.8  # overfitted: predictions too extreme
    assert res.corrected.auc < res.apparent.auc
    assert performance_from_lp(y, lp).calibration_slope == pytest.approx(
        1.0, abs=1e-6
    )  # ML apparent slope is 1
