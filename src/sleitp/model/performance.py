"""Measures of predictive performance for a binary outcome: discrimination, calibration, overall accuracy.

Which measures, and why these: a prediction model is judged on discrimination (the c-statistic / area
under the ROC curve), calibration (calibration-in-the-large and the calibration slope) and overall
performance (the Brier score) [STEYERBERG2010]; TRIPOD item 16 asks for all of them [TRIPOD2015].

All functions take plain numpy arrays and are vectorised: the bootstrap calls them hundreds of times.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.special import expit, logit
from scipy.stats import rankdata

__all__ = [
    "Performance",
    "auc",
    "auc_with_ci",
    "brier",
    "calibration_intercept",
    "calibration_slope",
    "cox_snell_r2",
    "performance",
    "to_logit",
]

_EPS = 1e-12


def to_logit(p: np.ndarray) -> np.ndarray:
    """Probabilities -> linear predictor (log-odds), kept finite at 0 and 1."""
    return logit(np.clip(p, _EPS, 1 - _EPS))


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (= the c-statistic) by the Mann-Whitney rank formula, ties counted 1/2."""
    y = np.asarray(y, dtype=bool)
    n1 = int(y.sum())
    n0 = y.size - n1
    if n1 == 0 or n0 == 0:
        return float("nan")  # undefined with one class only
    ranks = rankdata(score)  # mid-ranks: a tie between a case and a non-case counts 1/2
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def auc_with_ci(y: np.ndarray, score: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """AUC and its confidence interval from DeLong's variance [DELONG1988].

    DeLong's structural components are computed from ranks (no n1 x n0 comparison matrix): for a
    case, the fraction of non-cases it outranks; for a non-case, the fraction of cases
    that outrank it. The interval is on the logit scale and transformed back, so that it stays inside
    (0, 1) near the boundaries (a documented choice; the plain Wald interval can leave [0, 1]).
    """
    from scipy.stats import norm

    y = np.asarray(y, dtype=bool)
    score = np.asarray(score, dtype=float)
    pos, neg = score[y], score[~y]
    m, n = pos.size, neg.size
    if m < 2 or n < 2:
        return float("nan"), float("nan"), float("nan")
    r_all = rankdata(np.concatenate([pos, neg]))
    r_pos, r_neg = rankdata(pos), rankdata(neg)
    v10 = (r_all[:m] - r_pos) / n  # [DELONG1988] V10(X_i): share of non-cases below case i
    v01 = 1.0 - (r_all[m:] - r_neg) / m  # V01(Y_j): share of cases above non-case j
    a = float(v10.mean())
    var = v10.var(ddof=1) / m + v01.var(ddof=1) / n
    z = norm.ppf(0.5 + level / 2)
    if a <= 0.0 or a >= 1.0 or var <= 0:
        return a, a, a
    la = np.log(a / (1 - a))
    se_logit = np.sqrt(var) / (a * (1 - a))  # delta method
    return a, float(expit(la - z * se_logit)), float(expit(la + z * se_logit))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    """Mean squared difference between predicted probability and outcome [STEYERBERG2010]."""
    y = np.asarray(y, dtype=float)
    return float(np.mean((np.asarray(p, dtype=float) - y) ** 2))


def _newton_1d_offset(y: np.ndarray, offset: np.ndarray, iters: int = 50) -> float:
    """ML intercept a of logit P(y) = a + offset (the linear predictor as a fixed offset)."""
    a = 0.0
    for _ in range(iters):
        p = expit(a + offset)
        g = float(np.sum(y - p))
        h = float(np.sum(p * (1 - p)))
        if h <= 0:
            break
        step = g / h
        a += step
        if abs(step) < 1e-10:
            break
    return a


def calibration_intercept(y: np.ndarray, lp: np.ndarray) -> float:
    """Calibration-in-the-large: a in logit P(y=1) = a + lp, the slope fixed at 1 [STEYERBERG2010].

    0 is ideal; a positive value means the model under-predicts on average.
    """
    return _newton_1d_offset(np.asarray(y, dtype=float), np.asarray(lp, dtype=float))


def calibration_slope(y: np.ndarray, lp: np.ndarray, iters: int = 50) -> tuple[float, float]:
    """(a, b) of logit P(y=1) = a + b * lp [STEYERBERG2010]; b = 1 ideal, b < 1 predictions too extreme."""
    y = np.asarray(y, dtype=float)
    lp = np.asarray(lp, dtype=float)
    beta = np.array([0.0, 1.0])
    X = np.column_stack([np.ones_like(lp), lp])
    for _ in range(iters):
        p = expit(X @ beta)
        w = p * (1 - p)
        h = X.T @ (X * w[:, None])
        g = X.T @ (y - p)
        try:
            step = np.linalg.solve(h, g)
        except np.linalg.LinAlgError:
            return float("nan"), float("nan")
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    return float(beta[0]), float(beta[1])


def cox_snell_r2(y: np.ndarray, p: np.ndarray) -> float:
    """Cox-Snell R^2 = 1 - exp(-LR/n), LR = likelihood-ratio statistic against the null [RILEY2019]."""
    y = np.asarray(y, dtype=float)
    p = np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS)
    n = y.size
    phi = y.mean()
    if phi in (0.0, 1.0):
        return float("nan")
    ll_model = np.sum(y * np.log(p) + (1 - y) * np.log(1 - p))
    ll_null = n * (phi * np.log(phi) + (1 - phi) * np.log(1 - phi))
    return float(1 - np.exp(-2 * (ll_model - ll_null) / n))


@dataclass(frozen=True)
class Performance:
    """The four measures that the bootstrap corrects for optimism [HARRELL1996]."""

    auc: float
    calibration_intercept: float
    calibration_slope: float
    brier: float

    def to_json(self) -> dict[str, float]:
        return {k: (None if v != v else round(float(v), 6)) for k, v in asdict(self).items()}


def performance(y: np.ndarray, p: np.ndarray) -> Performance:
    """AUC, calibration intercept and slope, and Brier score of predictions ``p`` for outcomes ``y``."""
    lp = to_logit(np.asarray(p, dtype=float))
    return Performance(
        auc=auc(y, p),
        calibration_intercept=calibration_intercept(y, lp),
        calibration_slope=calibration_slope(y, lp)[1],
        brier=brier(y, p),
    )
