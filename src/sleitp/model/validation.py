"""Internal validation by bootstrap optimism correction (Harrell's enhanced bootstrap) [HARRELL1996].

For b = 1..B: draw n patients with replacement, repeat the *whole* fitting procedure on the sample
(imputation values, clipping limits, the penalty when there is one, the coefficients), and measure
performance twice: on the bootstrap sample (apparent_b) and on the original data (test_b). The mean of
apparent_b - test_b estimates the optimism; optimism-corrected performance = apparent - optimism
[HARRELL1996] [STEYERBERG2010]. The spread of the test measures across replicates is kept as well:
at minimum sample size, the variability of overfitting matters, not only its average [MARTIN2021].

Speed: the refit is a warm-started Newton-Raphson in numpy (a few iterations); AUC is rank based.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import expit
from threadpoolctl import threadpool_limits

from sleitp.errors import ModelError
from sleitp.model.performance import Performance, auc, brier, calibration_intercept, calibration_slope

__all__ = ["OptimismCorrection", "bootstrap_optimism", "optimism_correction", "performance_from_lp"]

MEASURES = ("auc", "calibration_intercept", "calibration_slope", "brier")


def performance_from_lp(y: np.ndarray, lp: np.ndarray) -> Performance:
    """Performance of linear predictor ``lp`` (log-odds) for outcomes ``y``."""
    p = expit(lp)
    return Performance(
        auc=auc(y, lp),
        calibration_intercept=calibration_intercept(y, lp),
        calibration_slope=calibration_slope(y, lp)[1],
        brier=brier(y, p),
    )


@dataclass(frozen=True)
class OptimismCorrection:
    apparent: Performance
    optimism: dict[str, float]
    corrected: Performance
    replicates: int
    failed: int
    test_spread: dict[str, tuple[float, float]]  # 2.5th and 97.5th percentiles of test_b per measure

    def to_json(self) -> dict:
        return {
            "method": "bootstrap optimism correction (Harrell 1996), whole fitting procedure repeated",
            "replicates": self.replicates,
            "failed_replicates": self.failed,
            "apparent": self.apparent.to_json(),
            "optimism": {k: round(v, 6) for k, v in self.optimism.items()},
            "corrected": self.corrected.to_json(),
            "test_percentiles_2.5_97.5": {
                k: [round(a, 6), round(b, 6)] for k, (a, b) in self.test_spread.items()
            },
        }


def bootstrap_optimism(
    y: np.ndarray,
    apparent_lp: np.ndarray,
    refit: Callable[[np.ndarray], np.ndarray],
    *,
    replicates: int = 200,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> OptimismCorrection:
    """Harrell's optimism correction.

    ``refit(idx)`` fits the model on the rows ``idx`` (a bootstrap sample, with repeats) and returns
    its linear predictor for *every* original row; rows ``idx`` of it are the bootstrap sample's own
    predictions.
    """
    y = np.asarray(y, dtype=int)
    apparent = performance_from_lp(y, apparent_lp)
    rng = np.random.default_rng(seed)
    diffs: list[np.ndarray] = []
    tests: list[np.ndarray] = []
    failures = [0]
    with threadpool_limits(limits=1):  # small matrices and trees: BLAS/OpenMP threads only contend
        _replicates(y, refit, replicates, rng, progress, diffs, tests, failures)
    failed = failures[0]
    if not diffs:
        raise ValueError("every bootstrap replicate failed; the cohort is too small or has no variation")
    opt = np.mean(diffs, axis=0)
    spread = np.percentile(np.array(tests), [2.5, 97.5], axis=0)
    optimism = dict(zip(MEASURES, map(float, opt), strict=False))
    corrected = Performance(**{m: float(getattr(apparent, m) - optimism[m]) for m in MEASURES})
    return OptimismCorrection(
        apparent=apparent,
        optimism=optimism,
        corrected=corrected,
        replicates=len(diffs),
        failed=failed,
        test_spread={m: (float(spread[0, i]), float(spread[1, i])) for i, m in enumerate(MEASURES)},
    )


def optimism_correction(
    y: np.ndarray,
    apparent_lp: np.ndarray,
    refit: Callable[[np.ndarray], np.ndarray],
    *,
    replicates: int,
    seed: int,
    progress: Callable[[int], None] | None,
    where: str,
) -> OptimismCorrection | None:
    """:func:`bootstrap_optimism` as a trainer runs it: None with no replicates (``--bootstrap 0``); a
    cohort where every replicate fails is a ModelError of ``where``."""
    if replicates <= 0:
        return None
    try:
        return bootstrap_optimism(y, apparent_lp, refit, replicates=replicates, seed=seed, progress=progress)
    except ValueError as e:
        raise ModelError(f"{where}: {e}") from None


def _replicates(y, refit, replicates, rng, progress, diffs, tests, failures) -> None:
    n = y.size
    for b in range(replicates):
        if progress:
            progress(b + 1)
        idx = rng.integers(0, n, n)
        yb = y[idx]
        if yb.min() == yb.max():
            failures[0] += 1
            continue
        try:
            lp = refit(idx)
        except (np.linalg.LinAlgError, ValueError, FloatingPointError):
            failures[0] += 1
            continue
        app_b = performance_from_lp(yb, lp[idx])
        test_b = performance_from_lp(y, lp)
        a = np.array([getattr(app_b, m) for m in MEASURES])
        t = np.array([getattr(test_b, m) for m in MEASURES])
        if not (np.all(np.isfinite(a)) and np.all(np.isfinite(t))):
            failures[0] += 1
            continue
        diffs.append(a - t)
        tests.append(t)
