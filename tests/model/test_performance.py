"""Performance measures, net benefit and Riley sample size: hand-worked cases and laws."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit, logit

from sleitp.model.decision_curve import decision_curve, net_benefit
from sleitp.model.performance import (
    auc,
    auc_with_ci,
    brier,
    calibration_intercept,
    calibration_slope,
    cox_snell_r2,
    performance,
)
from sleitp.model.samplesize import max_cox_snell_r2, riley_binary, shrunk_r2_from_fit

# --- AUC ------------------------------------------------------------------------------------------


def test_auc_hand_worked():
    # cases 0.35, 0.8; non-cases 0.1, 0.4: pairs (0.35>0.1 yes, 0.35>0.4 no, 0.8>0.1, 0.8>0.4) = 3/4
    assert auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)


def test_auc_tie_between_case_and_non_case_counts_half():
    # one case, one non-case, equal scores: 1/2
    assert auc(np.array([1, 0]), np.array([0.5, 0.5])) == pytest.approx(0.5)
    # cases 0.6, 0.5; non-case 0.5: 1 + 1/2 over 2 pairs
    assert auc(np.array([1, 1, 0]), np.array([0.6, 0.5, 0.5])) == pytest.approx(0.75)


def test_auc_one_class_is_undefined():
    assert math.isnan(auc(np.array([1, 1]), np.array([0.2, 0.3])))


def _auc_pairs(y, s):
    pos, neg = s[y == 1], s[y == 0]
    cmp = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    return cmp.mean(), cmp.mean(axis=1), cmp.mean(axis=0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 6)), min_size=4, max_size=40))
def test_auc_and_delong_components_equal_the_pairwise_definition(rows):
    y = np.array([int(a) for a, _ in rows])
    s = np.array([float(b) for _, b in rows])
    if y.sum() < 2 or (1 - y).sum() < 2:
        return
    a_pairs, v10, v01 = _auc_pairs(y, s)
    assert auc(y, s) == pytest.approx(a_pairs)
    a, lo, hi = auc_with_ci(y, s)
    assert a == pytest.approx(a_pairs)
    # [DELONG1988] variance from the structural components, computed by brute force here
    var = v10.var(ddof=1) / v10.size + (1 - v01).var(ddof=1) / v01.size
    if 0 < a < 1 and var > 0:
        assert lo < a < hi
        se_logit = math.sqrt(var) / (a * (1 - a))
        assert lo == pytest.approx(expit(logit(a) - 1.959964 * se_logit), rel=1e-5)
    assert 0 <= lo <= hi <= 1


def test_auc_is_invariant_to_monotone_transformations():
    rng = np.random.default_rng(1)
    s = rng.normal(size=300)
    y = (rng.random(300) < expit(s)).astype(int)
    assert auc(y, s) == pytest.approx(auc(y, np.exp(3 * s)))


# --- calibration and Brier -------------------------------------------------------------------------


def test_brier_hand_worked():
    assert brier(np.array([1, 0]), np.array([0.8, 0.4])) == pytest.approx((0.04 + 0.16) / 2)


def test_calibration_intercept_with_a_constant_prediction_is_the_observed_log_odds():
    y = np.array([1, 1, 1, 0])
    # lp = 0 for all: a solves mean(expit(a)) = 3/4, a = logit(0.75)
    assert calibration_intercept(y, np.zeros(4)) == pytest.approx(math.log(3))
    # lp = logit(0.75) already: nothing to correct
    assert calibration_intercept(y, np.full(4, math.log(3))) == pytest.approx(0.0, abs=1e-9)


def test_calibration_slope_recovers_the_generating_slope():
    rng = np.random.default_rng(7)
    lp = rng.normal(0, 1.2, 200_000)
    y = (rng.random(lp.size) < expit(0.3 + 0.5 * lp)).astype(int)
    a, b = calibration_slope(y, lp)
    assert a == pytest.approx(0.3, abs=0.03)
    assert b == pytest.approx(0.5, abs=0.03)  # predictions too extreme -> slope < 1


def test_performance_of_true_probabilities_is_well_calibrated():
    rng = np.random.default_rng(3)
    p = expit(rng.normal(0, 1, 100_000))
    y = (rng.random(p.size) < p).astype(int)
    perf = performance(y, p)
    assert perf.calibration_slope == pytest.approx(1.0, abs=0.04)
    assert perf.calibration_intercept == pytest.approx(0.0, abs=0.03)


def test_cox_snell_r2_of_the_null_model_is_zero():
    y = np.array([1, 0, 0, 1, 1])
    assert cox_snell_r2(y, np.full(5, 0.6)) == pytest.approx(0.0, abs=1e-12)


# --- net benefit [VICKERS2006] ------------------------------------------------------------------------

Y = np.array([1, 1, 0, 0, 1])
P = np.array([0.9, 0.6, 0.7, 0.2, 0.1])


def test_net_benefit_hand_worked():
    # pt 0.5: positives 0.9 (case), 0.6 (case), 0.7 (non-case): NB = 2/5 - 1/5 * 1 = 0.2
    assert net_benefit(Y, P, 0.5) == pytest.approx(0.2)


def test_net_benefit_a_prediction_equal_to_the_threshold_is_positive():
    # pt 0.6 exactly: 0.6 >= 0.6 counts; NB = 2/5 - 1/5 * 0.6/0.4 = 0.1
    assert net_benefit(Y, P, 0.6) == pytest.approx(0.1)
    # just above: 0.6 no longer positive: NB = 1/5 - 1/5 * odds(0.61)
    assert net_benefit(Y, P, 0.61) == pytest.approx(0.2 - 0.2 * 0.61 / 0.39)


def test_treat_all_and_none():
    rows = {r["threshold"]: r for r in decision_curve(Y, P, thresholds=(0.5, 0.25))}
    assert rows[0.5]["treat_all"] == pytest.approx(0.6 - 0.4 * 1.0)  # prevalence 3/5
    assert rows[0.25]["treat_all"] == pytest.approx(0.6 - 0.4 / 3, abs=1e-5)  # rounded to 5 places
    assert rows[0.5]["treat_none"] == 0.0


# --- Riley [RILEY2019] -------------------------------------------------------------------------------


def test_riley_worked_example_24_parameters_prevalence_0174_r2_0288():
    # criterion 1: n = 24 / ((0.9 - 1) ln(1 - 0.288/0.9)) = 24 / 0.038566 = 622.3 -> 623
    # criterion 2: max R2cs = 1 - exp(2(0.174 ln 0.174 + 0.826 ln 0.826)) = 0.6032;
    #              S = 0.288 / (0.288 + 0.05 * 0.6032) = 0.9052; n = 24 / (0.0948 * 0.38296) -> 662
    # criterion 3: n = (1.96/0.05)^2 * 0.174 * 0.826 = 220.9 -> 221
    ss = riley_binary(parameters=24, prevalence=0.174, r2_cs=0.288, available_n=700, available_events=120)
    assert max_cox_snell_r2(0.174) == pytest.approx(0.6032, abs=1e-4)
    assert ss.n_shrinkage == 623
    assert ss.n_optimism == 662
    assert ss.n_risk == 221
    assert ss.required_n == 662
    assert ss.required_events == math.ceil(662 * 0.174)
    assert ss.adequate is True
    assert riley_binary(parameters=24, prevalence=0.174, r2_cs=0.288, available_n=661).adequate is False
    assert riley_binary(parameters=24, prevalence=0.174, r2_cs=0.288, available_n=662).adequate is True


def test_riley_without_signal_cannot_be_evaluated():
    ss = riley_binary(parameters=10, prevalence=0.5, r2_cs=0.0, available_n=100)
    assert ss.required_n is None and ss.adequate is None
    assert "cannot be evaluated" in ss.message


def test_shrunk_r2_hand_worked():
    # LR 100, n 1000, p 10: S_VH = 0.9, R2app = 1 - exp(-0.1) = 0.0951626
    assert shrunk_r2_from_fit(100.0, 1000, 10) == pytest.approx(0.9 * (1 - math.exp(-0.1)))
    assert shrunk_r2_from_fit(10.0, 1000, 10) == 0.0  # LR = p: S_VH = 0


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 60), st.floats(0.05, 0.95), st.floats(0.01, 0.3))
def test_more_parameters_never_need_fewer_patients(p, prev, frac):
    r2 = frac * max_cox_snell_r2(prev)
    a = riley_binary(parameters=p, prevalence=prev, r2_cs=r2)
    b = riley_binary(parameters=p + 1, prevalence=prev, r2_cs=r2)
    assert b.required_n >= a.required_n


# --- calibration plot data --------------------------------------------------------------------------

def test_calibration_curve_of_calibrated_predictions_follows_the_diagonal():
    from sleitp.model.calibration import calibration_table, smoothed_calibration

    rng = np.random.default_rng(11)
    p = expit(rng.normal(1.0, 1.2, 4000))  # mostly responders, as in ITP cohorts
    y = (rng.random(p.size) < p).astype(int)
    curve = smoothed_calibration(y, p)
    inner = (curve[:, 0] > 0.1) & (curve[:, 0] < 0.95)
    assert np.max(np.abs(curve[inner, 1] - curve[inner, 0])) < 0.08  # no collapse onto 0 or 1
    table = calibration_table(y, p)
    assert sum(r["n"] for r in table) == 4000 and len(table) == 10
    for r in table:
        assert r["observed_ci"][0] <= r["observed"] <= r["observed_ci"][1]
    assert smoothed_calibration(y[:10], p[:10]) is None
