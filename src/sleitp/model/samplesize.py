"""Minimum sample size for developing a prediction model with a binary outcome (Riley criteria).

Re-implemented from the published formulas [RILEY2019] [RILEY2020] rather than depending on the
GPL-3 ``pmsampsize`` package (software.md §5: keep it optional or re-implement with citation); the
equations follow the paper and the reference R code it links (pmsampsize_bin.R):

1. expected uniform shrinkage S >= 0.9:      n1 = p / ((S - 1) ln(1 - R2cs / S))
2. apparent minus adjusted Nagelkerke R^2 <= delta (0.05): the same formula with
   S = R2cs / (R2cs + delta * max(R2cs)),   max(R2cs) = 1 - exp(2 lnL_null / n)
3. overall risk estimated within +/- 0.05:   n3 = (1.96 / 0.05)^2 phi (1 - phi)

p = candidate predictor parameters (every design column: a predictor's value and each missing
indicator), phi = outcome prevalence, R2cs = the anticipated Cox-Snell R^2 of the model. When no
anticipated value is given, R2cs is taken from the development data itself, shrunk by the heuristic
factor of van Houwelingen and le Cessie, S_VH = 1 - p / LR [RILEY2019] (a post-hoc check, said so in
the card: the criteria are meant to be computed before data collection).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

__all__ = ["SampleSize", "max_cox_snell_r2", "riley_binary", "shrunk_r2_from_fit"]

# [RILEY2019] defaults: target shrinkage 0.9, Nagelkerke optimism 0.05, risk margin 0.05 (95%)
TARGET_SHRINKAGE = 0.9
NAGELKERKE_DELTA = 0.05
RISK_MARGIN = 0.05
Z95 = 1.96


def max_cox_snell_r2(prevalence: float) -> float:
    """max(R2cs) = 1 - exp(2 lnL_null / n) with lnL_null/n = phi ln phi + (1-phi) ln(1-phi) [RILEY2019]."""
    phi = prevalence
    return 1 - math.exp(2 * (phi * math.log(phi) + (1 - phi) * math.log(1 - phi)))


def shrunk_r2_from_fit(lr_statistic: float, n: int, parameters: int) -> float:
    """Anticipated R2cs from a fitted model: S_VH * (1 - exp(-LR/n)), S_VH = 1 - p/LR [RILEY2019]."""
    if lr_statistic <= parameters:
        return 0.0  # S_VH <= 0: the fit carries no more signal than its parameters' noise
    s_vh = 1 - parameters / lr_statistic
    return s_vh * (1 - math.exp(-lr_statistic / n))


@dataclass(frozen=True)
class SampleSize:
    parameters: int
    prevalence: float
    anticipated_r2_cs: float
    r2_source: str
    n_shrinkage: int | None
    n_optimism: int | None
    n_risk: int
    required_n: int | None
    required_events: int | None
    required_events_per_parameter: float | None
    available_n: int
    available_events: int
    adequate: bool | None

    @property
    def message(self) -> str:
        if self.required_n is None:
            return (
                "Riley criteria cannot be evaluated: the anticipated Cox-Snell R2 is 0 (the data carry no "
                "signal beyond the parameters' noise); the cohort is too small or the predictors "
                "uninformative."
            )
        verdict = "meets" if self.adequate else "does NOT meet"
        return (
            f"{self.available_n} patients ({self.available_events} events) {verdict} the Riley minimum of "
            f"{self.required_n} patients ({self.required_events} events, "
            f"{self.required_events_per_parameter:.1f} per parameter) for {self.parameters} parameters."
        )

    def to_json(self) -> dict:
        d = asdict(self)
        d["message"] = self.message
        d["criteria"] = {
            "target_shrinkage": TARGET_SHRINKAGE,
            "nagelkerke_delta": NAGELKERKE_DELTA,
            "risk_margin": RISK_MARGIN,
        }
        return d


def _n_for_shrinkage(p: int, r2: float, s: float) -> int:
    return math.ceil(p / ((s - 1) * math.log(1 - r2 / s)))


def riley_binary(
    *,
    parameters: int,
    prevalence: float,
    r2_cs: float,
    available_n: int = 0,
    available_events: int = 0,
    r2_source: str = "given",
) -> SampleSize:
    """The three Riley criteria for a binary outcome [RILEY2019]; the required n is their maximum."""
    if not 0 < prevalence < 1:
        raise ValueError(f"prevalence must be strictly between 0 and 1, got {prevalence}")
    if parameters < 1:
        raise ValueError(f"parameters must be at least 1, got {parameters}")
    n_risk = math.ceil((Z95 / RISK_MARGIN) ** 2 * prevalence * (1 - prevalence))  # criterion 3
    r2_max = max_cox_snell_r2(prevalence)
    if not 0 < r2_cs < r2_max:
        return SampleSize(
            parameters,
            prevalence,
            r2_cs,
            r2_source,
            None,
            None,
            n_risk,
            None,
            None,
            None,
            available_n,
            available_events,
            None,
        )
    if r2_cs >= TARGET_SHRINKAGE:
        raise ValueError("anticipated R2cs must be below the target shrinkage")
    n1 = _n_for_shrinkage(parameters, r2_cs, TARGET_SHRINKAGE)  # criterion 1: shrinkage >= 0.9
    s2 = r2_cs / (r2_cs + NAGELKERKE_DELTA * r2_max)  # criterion 2: Nagelkerke optimism <= 0.05
    n2 = _n_for_shrinkage(parameters, r2_cs, s2)
    required = max(n1, n2, n_risk)
    events = math.ceil(required * prevalence)
    return SampleSize(
        parameters,
        prevalence,
        r2_cs,
        r2_source,
        n1,
        n2,
        n_risk,
        required,
        events,
        round(required * prevalence / parameters, 2),
        available_n,
        available_events,
        available_n >= required,
    )
