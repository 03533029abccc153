"""The TRUE model of first-line response of the synthetic cohort.

A logistic model over patient characteristics that are the predictors of :mod:`sleitp.features`
(same names, same units), with effect sizes taken or derived from published figures, or labelled
ASSUMPTION where the reference gives a direction but no size (docs/synthetic-cohort.md explains each).
The model acts on the patient's *latent* characteristics: a megakaryocyte count or an anti-TPO-receptor
status exists for everyone even when the synthetic record does not show it (not measured), as in life.

    logit P(R or CR on line 1) = INTERCEPT + sum(coefficient x term)

Numeric terms are centred (age at 35 years, C3 at 0.9 g/L, NLR at 2.5) so the intercept is the
log-odds of a reference patient. The intercept is calibrated (once, by :func:`calibrate_intercept`
on 400,000 simulated patients, seed 0) so that the mean probability is the published first-line
response rate, 70.8% [ZHENG2025]; tests/cohort/synth/test_synth.py re-checks it.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from sleitp.cohort.synth import params as P


@dataclass(frozen=True)
class Term:
    feature: str  # the name in sleitp.features.FEATURES
    coefficient: float  # log odds ratio of first-line response, per unit of (feature - centre)
    centre: float
    derivation: str
    source: str  # reference key(s); "ASSUMPTION" when only a direction was read


TERMS: tuple[Term, ...] = (
    # [ZHAO2016] response 29% with BM-MK <= 20/slide vs 88% above:
    # OR = (0.29/0.71) / (0.88/0.12) = 0.0557 -> log OR -2.888 (derived)
    Term(
        "megakaryocytes_below_20",
        math.log((0.29 / 0.71) / (0.88 / 0.12)),
        0.0,
        "response 29% vs 88%: OR (0.29/0.71)/(0.88/0.12) = 0.056",
        "ZHAO2016",
    ),
    # [ZHENG2025] C3 OR 0.045 per g/L for response ("C3 levels were significantly lower in the CR group");
    # SU2022's opposite direction (low C3 -> refractory) is marked "presumed, UNVERIFIED" and not used.
    Term("c3", math.log(0.045), 0.9, "OR 0.045 per g/L as published", "ZHENG2025"),
    # [ZHENG2025] NLR OR 1.982; the abstract says NLR is "positively correlated with therapeutic
    # efficacy", so the OR is read as per unit of NLR for response (direction ambiguity: docs).
    Term("nlr", math.log(1.982), 2.5, "OR 1.982 per unit NLR, read as favouring response", "ZHENG2025"),
    # Directions read, sizes not read: modest documented assumptions
    Term(
        "anti_tpo_receptor",
        math.log(0.4),
        0.0,
        "poorer response to corticosteroids and IVIG (no OR given): ASSUMPTION OR 0.4",
        "KUWANA2006",
    ),
    Term(
        "platelets_below_20",
        math.log(0.6),
        0.0,
        "severity of TP predicts refractoriness (OR not read): ASSUMPTION OR 0.6",
        "SU2022",
    ),
    Term(
        "autoimmune_hemolysis",
        math.log(0.6),
        0.0,
        "AIHA predicts refractoriness (OR not read): ASSUMPTION OR 0.6",
        "SU2022",
    ),
    Term(
        "pregnant",
        math.log(0.6),
        0.0,
        "pregnancy predicts refractoriness (OR not read): ASSUMPTION OR 0.6",
        "SU2022",
    ),
    Term(
        "anticardiolipin",
        math.log(0.8),
        0.0,
        "aCL-IgG in the refractoriness model; not related in an 82-patient cohort: ASSUMPTION OR 0.8",
        "SU2022",
    ),
    Term("male", math.log(0.6), 0.0, "male sex -> no response (OR not read): ASSUMPTION OR 0.6", "LIU2021"),
    Term(
        "age_years",
        math.log(0.8) / 10,
        35.0,
        "older age -> no response (OR not read): ASSUMPTION OR 0.8 per 10 years",
        "LIU2021",
    ),
)

# Calibrated with calibrate_intercept(400_000, seed=0) -> mean probability 0.708 [ZHENG2025]
INTERCEPT = 2.474


# --- site heterogeneity (docs/model-prior.md "Sites") ------------------------------------------------
# A site's TRUE model: every coefficient (and the intercept) drawn around the values above, with SD TAU on
# the log-odds scale of the term's natural contrast: 0 -> 1 for a yes/no term, one population SD of the
# generator's distribution for a numeric term (so that one TAU means the same for age in years and C3 in
# g/L), the intercept on its own scale. TAU = 0 is the model above exactly (no random number is drawn).
# The draws come from their own stream, seeded by the site number only: two cohorts of one site (any
# --seed) share their effects, and a site keeps the direction of its deviations when TAU changes.
SITE_STREAM = 0x51E  # the site stream is SeedSequence([SITE_STREAM, site]), apart from the patients' stream


def _nlr_sd() -> float:
    """SD of the generator's log-normal NLR (median m, log-SD s): m exp(s^2/2) sqrt(exp(s^2) - 1)."""
    s = P.NLR_LOG_SD
    return P.NLR_MEDIAN * math.exp(s * s / 2) * math.sqrt(math.exp(s * s) - 1)


# The per-unit scale of TAU for each numeric term: its population SD in synth_params (derived)
TERM_SD = {"c3": P.C3_SD, "nlr": _nlr_sd(), "age_years": P.AGE_SD}


@dataclass(frozen=True)
class SiteEffects:
    """One site's TRUE intercept and coefficients (log-odds per unit of (feature - centre))."""

    site: int | None
    heterogeneity: float
    intercept: float
    coefficients: dict[str, float]

    def to_json(self) -> dict:
        return {
            "site": self.site,
            "heterogeneity": self.heterogeneity,
            "heterogeneity_scale": "log-odds per 0->1 of a yes/no term, per population SD of a numeric term "
            f"({', '.join(f'{k} {v:.4g}' for k, v in TERM_SD.items())}), and of the intercept",
            "intercept": self.intercept,
            "coefficients": dict(self.coefficients),
            "published": {"intercept": INTERCEPT, **{t.feature: t.coefficient for t in TERMS}},
        }


def site_effects(site: int | None = None, heterogeneity: float = 0.0) -> SiteEffects:
    """The TRUE model of ``site`` when sites differ with SD ``heterogeneity`` (see above)."""
    if not (math.isfinite(heterogeneity) and heterogeneity >= 0):
        raise ValueError(f"heterogeneity: expected a number >= 0, got {heterogeneity}")
    if heterogeneity > 0 and site is None:
        raise ValueError("heterogeneity > 0 needs a site number (--site): the site seeds its effects")
    if site is not None and site < 0:
        raise ValueError(f"site: expected a non-negative integer, got {site}")
    coefficients = {t.feature: t.coefficient for t in TERMS}
    intercept = INTERCEPT
    if heterogeneity > 0:
        z = np.random.default_rng(np.random.SeedSequence([SITE_STREAM, int(site)])).standard_normal(
            1 + len(TERMS)
        )
        intercept = INTERCEPT + heterogeneity * float(z[0])
        for t, zk in zip(TERMS, z[1:], strict=True):
            coefficients[t.feature] = t.coefficient + heterogeneity * float(zk) / TERM_SD.get(t.feature, 1.0)
    return SiteEffects(site, float(heterogeneity), intercept, coefficients)


def linear_predictor(values: dict[str, np.ndarray], effects: SiteEffects | None = None) -> np.ndarray:
    """Log-odds of first-line response for arrays of latent characteristics keyed by feature name
    (the published model, or a site's ``effects``)."""
    intercept = INTERCEPT if effects is None else effects.intercept
    eta = np.full(len(next(iter(values.values()))), intercept, dtype=np.float64)
    for t in TERMS:
        b = t.coefficient if effects is None else effects.coefficients[t.feature]
        eta += b * (np.asarray(values[t.feature], dtype=np.float64) - t.centre)
    return eta


def probability(values: dict[str, np.ndarray], effects: SiteEffects | None = None) -> np.ndarray:
    """P(first line reaches R or CR) for each patient."""
    return 1.0 / (1.0 + np.exp(-linear_predictor(values, effects)))


def probability_given_record(
    values: dict[str, np.ndarray],
    measured: dict[str, np.ndarray],
    priors: dict[str, float],
    effects: SiteEffects | None = None,
) -> np.ndarray:
    """P(first line reaches R or CR | what the synthetic record shows).

    Some latent characteristics of the TRUE model are not in every record (a bone-marrow aspirate or an
    anti-TPO-receptor assay was not done). Given the record, the probability of response is the TRUE model
    averaged over the generator's own prior of each characteristic the record does not show (the tower
    property, E[p | record]); where it is shown, its value is used. The characteristics are drawn
    independently of everything else and measured completely at random, so the prior is the right weight.
    This is the best any model of the recorded data can reach; ``probability`` is the latent truth.
    """
    names = list(measured)
    n = len(next(iter(values.values())))
    total = np.zeros(n, dtype=np.float64)
    for combo in itertools.product((False, True), repeat=len(names)):
        weight = np.ones(n, dtype=np.float64)
        scenario = dict(values)
        for name, z in zip(names, combo, strict=True):
            prior = priors[name] if z else 1.0 - priors[name]
            shown = np.asarray(measured[name], dtype=bool)
            weight *= np.where(shown, np.asarray(values[name], dtype=bool) == z, prior)
            scenario[name] = np.full(n, z)
        total += weight * probability(scenario, effects)
    return total


# --- chronic ITP (thrombocytopenia lasting > 12 months [IWG2009]) ---------------------------------------
# [AHN2024] 27 of 121 SLE-ITP became chronic (22.3%); adjusted ORs: baseline platelets < 20 x10^9/L
# aOR 13.628, no response within 1 month aOR 9.171. The intercept is calibrated (once, 400,000 patients,
# seed 0) so that 22.3% of the evaluable patients are chronic; tests/cohort/synth/test_synth.py re-checks it.
CHRONIC_OR_BELOW_20 = 13.628  # [AHN2024]
CHRONIC_OR_NO_RESPONSE_1_MONTH = 9.171  # [AHN2024]
CHRONIC_SHARE = 27 / 121  # [AHN2024]
CHRONIC_INTERCEPT = -4.095


def chronic_probability(
    below_20: np.ndarray, no_response_1_month: np.ndarray, intercept: float | None = None
) -> np.ndarray:
    """P(chronic ITP) from the two predictors of AHN2024 (its adjusted odds ratios)."""
    eta = (
        (CHRONIC_INTERCEPT if intercept is None else intercept)
        + math.log(CHRONIC_OR_BELOW_20) * np.asarray(below_20, dtype=np.float64)
        + math.log(CHRONIC_OR_NO_RESPONSE_1_MONTH) * np.asarray(no_response_1_month, dtype=np.float64)
    )
    return 1.0 / (1.0 + np.exp(-eta))


def calibrate_chronic_intercept(
    below_20: np.ndarray, no_response_1_month: np.ndarray, target: float
) -> float:
    lo, hi = -15.0, 5.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if chronic_probability(below_20, no_response_1_month, mid).mean() < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def calibrate_intercept(values: dict[str, np.ndarray], target: float) -> float:
    """The intercept that makes the mean probability equal ``target`` (bisection; monotone)."""
    base = linear_predictor(values) - INTERCEPT
    lo, hi = -10.0, 10.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if np.mean(1 / (1 + np.exp(-(base + mid)))) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


__all__ = [
    "CHRONIC_INTERCEPT",
    "CHRONIC_OR_BELOW_20",
    "CHRONIC_OR_NO_RESPONSE_1_MONTH",
    "CHRONIC_SHARE",
    "INTERCEPT",
    "SITE_STREAM",
    "TERMS",
    "TERM_SD",
    "SiteEffects",
    "Term",
    "calibrate_chronic_intercept",
    "calibrate_intercept",
    "chronic_probability",
    "linear_predictor",
    "probability",
    "probability_given_record",
    "site_effects",
]
