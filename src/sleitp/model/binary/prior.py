"""Literature-informed priors for the logistic model (``sleitp train --prior literature``).

docs/model-prior.md has the method, the citations and the benchmark figures.

A site with 150 patients cannot estimate 20+ coefficients alone, but the evidence base
(``sleitp/evidence/predictors.yaml``) holds a few published odds ratios with confidence intervals. Each
becomes a Gaussian prior on the matching coefficient, N(log OR, SE^2 + tau^2): the SE read from the
published 95% CI, widened by a between-study heterogeneity term tau, because a published effect from one
centre is not the effect at another [DEBRAY2012] [TURNER2015]. Coefficients without a published effect
get a weakly informative prior centred at 0 on the standardised scale [GELMAN2008]. The model is fitted
by penalised likelihood: a Gaussian prior is the quadratic penalty sum((b - m)^2 / (2 s^2)) added to the
negative log-likelihood, so the fit is the posterior mode, and the inverse penalised information its
normal (Laplace) approximation [DEBRAY2012]; :func:`sleitp.model.binary.logistic.fit_irls` does it in a few
Newton steps, fast enough to repeat in every bootstrap replicate. Why not PyMC/bambi/numpyro: with
Gaussian priors on a logistic model the posterior is close to normal (one mode, no hierarchy to sample),
MCMC would add a heavy dependency and minutes per bootstrap replicate for nearly the same numbers.

The mapping from evidence to design column is written out below (:data:`PUBLISHED_EFFECTS`), one entry a
published effect, with the predictors.yaml entry it comes from, the unit of the published OR and the
unit of the design column (all four are per unit of the same quantity, so no conversion is needed except
where stated). Evidence NOT used: the AHN2024 odds ratios are for chronic ITP, another outcome; the other
entries of predictors.yaml give a direction but no odds ratio (a direction alone does not give a prior
mean and SD; those predictors get the weakly informative prior).

Scales: tau is on the log-odds scale of the effect's natural contrast, as the synthetic world's
``--heterogeneity`` (sleitp.cohort.synth.truth): 0 -> 1 for a yes/no predictor, one SD of the predictor
in the training data for a numeric one (per unit: tau / SD). The weak prior N(0, WEAK_SD^2) is likewise
per SD of the column (per unit: WEAK_SD / SD), intercept flat.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from sleitp.model.binary.logistic import LogisticFit, choose_penalty, fit_irls

__all__ = [
    "PRIORS",
    "PRIOR_HETEROGENEITY",
    "PUBLISHED_EFFECTS",
    "WEAK_DEFAULT",
    "WEAK_SD",
    "ColumnPrior",
    "PriorFit",
    "PublishedEffect",
    "build_priors",
    "fit_with_prior",
]

PRIORS = ("literature",)
Z95 = 1.959963984540054  # the 97.5th normal percentile: a 95% CI spans 2 x 1.96 SE on the log scale

# ASSUMPTION, stated on every card: between-site SD of a log odds ratio of 0.5 (OR varying by a factor
# exp(1.96 x 0.5) = 2.7 either way across 95% of sites). Every published effect used here comes from one
# retrospective single-centre Chinese cohort of 35-72 patients, in another multivariable model, so the
# between-study variance cannot be estimated from them; empirical predictive distributions of between-study
# variance for log odds ratios exist [TURNER2015] but were not read for a value, hence an assumption. Set
# it with --prior-heterogeneity; it is never chosen from the data or the benchmark (docs/model-prior.md).
PRIOR_HETEROGENEITY = 0.5
# A coefficient without a published effect, two options (--prior-weak):
# - "cv" (the default): centred at no effect with a common variance chosen by the data, i.e. ridge with a
#   5-fold cross-validated penalty for these columns only (as --method logistic-l2 does for all columns; an
#   empirical-Bayes estimate of the spread of the unpublished effects); the bootstrap repeats the choice,
#   whose variability at small n is a known weakness [MARTIN2021];
# - a number s: the fixed weakly informative prior N(0, s^2) per SD of the column; GELMAN2008 recommend a
#   Cauchy(0, 2.5) on inputs scaled to SD 0.5 (scale 1.25 per SD), so s = 1 is of that order.
# Why "cv" is the default: a fixed weak prior is there to stop separation, not overfitting; with ~30
# columns and 150 patients it leaves the unpublished block almost unpenalised (the benchmark's first run,
# benchmarks/bench_small_cohort.py, gave a fresh-cohort calibration slope of 0.5-0.6 with s = 1). That
# choice of default was made after that run and is reported as such (docs/model-prior.md); the SDs of the
# published priors were not touched.
WEAK_SD = 1.0
WEAK_DEFAULT: float | str = "cv"


@dataclass(frozen=True)
class PublishedEffect:
    """One published odds ratio, the design column it informs and how the prior is derived from it."""

    column: str  # the design column (sleitp.features name)
    evidence: str  # the `name` of its entry in sleitp/evidence/predictors.yaml
    odds_ratio: float
    ci: tuple[float, float] | None  # published 95% CI of the OR (None when derived from counts)
    se_log: float | None  # SE of the log OR when derived from counts (Woolf)
    contrast: str  # "binary" (yes vs no) or "per_unit" (per unit of the column)
    unit: str
    derivation: str
    source: str  # reference key(s), space separated

    @property
    def log_or(self) -> float:
        return math.log(self.odds_ratio)

    @property
    def se(self) -> float:
        """SE of the log OR: from the 95% CI, (log high - log low) / (2 x 1.96), or from counts."""
        if self.ci is not None:
            return (math.log(self.ci[1]) - math.log(self.ci[0])) / (2 * Z95)
        assert self.se_log is not None
        return self.se_log


# ZHAO2016 2x2 table, derived: 35 patients, 25 responders (CR 17 + PR 8) and 10 non-responders; the cut-off
# BM-MK < 20/slide "sens 88%, spec 70%" for response reads as 22 of 25 responders with >= 20 and 7 of 10
# non-responders with < 20 (88% = 22/25, 70% = 7/10 exactly), which reproduces the published response
# rates 3/10 = 30% (29%) below 20 and 22/25 = 88% above. OR = (3/7) / (22/3) = 9/154; Woolf's SE of the
# log OR = sqrt(1/3 + 1/7 + 1/22 + 1/3) [WOOLF1955].
_MK = (3, 7, 22, 3)  # responders < 20, non-responders < 20, responders >= 20, non-responders >= 20

PUBLISHED_EFFECTS: tuple[PublishedEffect, ...] = (
    PublishedEffect(
        "megakaryocytes_below_20",
        "megakaryocytes_below_20",
        (_MK[0] / _MK[1]) / (_MK[2] / _MK[3]),
        None,
        math.sqrt(sum(1 / k for k in _MK)),
        "binary",
        "< 20 vs >= 20 megakaryocytes per slide",
        "2x2 table from the published sensitivity 88% and specificity 70% on 25 responders and 10 "
        "non-responders: OR (3/7)/(22/3) = 0.058, Woolf SE 0.92",
        "ZHAO2016 WOOLF1955",
    ),
    # [ZHENG2025] multivariable ORs of NLR, SII and C3 for response, read as per unit of the measure and
    # for response (the coding direction of the outcome is ambiguous in the abstract: predictors.yaml says
    # so; the synthetic world reads them the same way, docs/model-prior.md "Honesty").
    PublishedEffect(
        "c3",
        "low_c3",
        0.045,
        (0.002, 0.919),
        None,
        "per_unit",
        "per g/L of C3",
        "OR 0.045 (0.002-0.919) per g/L, as published; outcome coding read as response",
        "ZHENG2025",
    ),
    PublishedEffect(
        "nlr",
        "nlr",
        1.982,
        (1.18, 3.33),
        None,
        "per_unit",
        "per unit of the neutrophil/lymphocyte ratio",
        "OR 1.982 (1.18-3.33) per unit, as published; read as favouring response",
        "ZHENG2025",
    ),
    PublishedEffect(
        "sii",
        "sii",
        0.991,
        (0.984, 0.998),
        None,
        "per_unit",
        "per 10^9/L of the systemic immune-inflammation index",
        "OR 0.991 (0.984-0.998) per unit, as published; read as for response",
        "ZHENG2025",
    ),
)
_BY_COLUMN = {e.column: e for e in PUBLISHED_EFFECTS}


@dataclass(frozen=True)
class ColumnPrior:
    """The prior of one design column's coefficient, per unit of the column: N(mean, sd^2)."""

    column: str
    mean: float
    sd: float | None  # None: ridge with the cross-validated penalty (weak="cv")
    kind: str  # "published" | "weak" | "cv"
    column_sd: float  # SD of the column in the training data (the scale of tau and of the weak prior)
    derivation: str
    source: str

    def to_json(self) -> dict:
        return asdict(self)  # every field, in their order


def _column_sd(M: np.ndarray) -> np.ndarray:
    sd = M.std(axis=0)
    return np.where(sd > 0, sd, 1.0)


def build_priors(
    columns: list[str] | tuple[str, ...],
    M: np.ndarray,
    *,
    heterogeneity: float = PRIOR_HETEROGENEITY,
    weak: float | str = WEAK_DEFAULT,
) -> list[ColumnPrior]:
    """One prior per design column (the intercept is not included: it gets a flat prior)."""
    if not (math.isfinite(heterogeneity) and heterogeneity >= 0):
        raise ValueError(f"prior heterogeneity must be a number >= 0, got {heterogeneity}")
    if weak != "cv" and not (isinstance(weak, (int, float)) and math.isfinite(weak) and weak > 0):
        raise ValueError(f"weak prior SD must be a positive number or 'cv', got {weak!r}")
    sds = _column_sd(M)
    out = []
    for j, col in enumerate(columns):
        sd_x = float(sds[j])
        e = _BY_COLUMN.get(col)
        if e is not None:
            tau_unit = heterogeneity if e.contrast == "binary" else heterogeneity / sd_x
            out.append(
                ColumnPrior(
                    col,
                    e.log_or,
                    math.sqrt(e.se**2 + tau_unit**2),
                    "published",
                    sd_x,
                    f"{e.derivation}; prior SD sqrt(SE {e.se:.4g}^2 + tau {tau_unit:.4g}^2)"
                    + ("" if e.contrast == "binary" else f" (tau {heterogeneity:g} per SD {sd_x:.4g})"),
                    e.source,
                )
            )
        elif weak == "cv":
            out.append(ColumnPrior(col, 0.0, None, "cv", sd_x, "no published effect: ridge, "
                                   "penalty by 5-fold cross-validated deviance", "MARTIN2021"))
        else:
            out.append(
                ColumnPrior(
                    col,
                    0.0,
                    float(weak) / sd_x,
                    "weak",
                    sd_x,
                    f"no published effect: N(0, {float(weak):g}^2) per SD of the column",
                    "GELMAN2008",
                )
            )
    return out


@dataclass(frozen=True)
class PriorFit:
    """A literature-prior fit: each coefficient's prior, data-only (maximum likelihood) estimate and
    posterior (mode and normal-approximation SD), plus the settings, for the model card."""

    priors: tuple[ColumnPrior, ...]
    heterogeneity: float
    weak: float | str
    penalty: float  # the cross-validated ridge penalty of the "cv" columns (0 when none)
    data_only: np.ndarray  # ML coefficients, intercept first (may be huge or inf under separation)
    data_only_se: np.ndarray
    posterior: LogisticFit

    def table(self) -> list[dict]:
        post_se = np.sqrt(np.maximum(np.diag(self.posterior.covariance), 0))
        rows = []
        for j, pr in enumerate(self.priors, start=1):
            d, dse = float(self.data_only[j]), float(self.data_only_se[j])
            sd = pr.sd
            if sd is None and self.penalty > 0:  # the ridge's implied prior: precision penalty x SD_x^2
                sd = 1.0 / (pr.column_sd * math.sqrt(self.penalty))
            conflict = None
            if sd is not None and np.isfinite(d) and np.isfinite(dse):
                # prior-data conflict: the data-only estimate outside the 95% predictive range of the prior
                conflict = bool(abs(d - pr.mean) > Z95 * math.sqrt(sd**2 + dse**2))
            rows.append(
                {
                    "term": pr.column,
                    "prior_kind": pr.kind,
                    "prior_mean": pr.mean,
                    "prior_sd": sd,
                    "data_only": d,
                    "data_only_se": dse,
                    "posterior": float(self.posterior.beta[j]),
                    "posterior_sd": float(post_se[j]),
                    "prior_data_conflict": conflict,
                    "source": pr.source,
                    "derivation": pr.derivation,
                }
            )
        return rows

    def to_json(self) -> dict:
        return {
            "prior": "literature",
            "heterogeneity": self.heterogeneity,
            "heterogeneity_note": "ASSUMPTION: between-site SD of a log odds ratio, per 0->1 of a yes/no "
            "predictor and per SD of a numeric one (docs/model-prior.md)",
            "weak_prior": self.weak,
            "penalty_cv_columns": self.penalty,
            "intercept": "flat (not penalised)",
            "coefficients": self.table(),
        }


def _arrays(
    priors: list[ColumnPrior], penalty_scale: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(prior means, prior precisions, ridge scale): ridge scale 0 except for the "cv" columns."""
    mean = np.array([p.mean for p in priors], dtype=float)
    prec = np.array([0.0 if p.sd is None else 1.0 / p.sd**2 for p in priors], dtype=float)
    scale = np.array([s if p.sd is None else 0.0 for p, s in zip(priors, penalty_scale, strict=True)])
    return mean, prec, scale


def fit_prior_beta(
    M: np.ndarray,
    y: np.ndarray,
    columns: list[str] | tuple[str, ...],
    *,
    heterogeneity: float = PRIOR_HETEROGENEITY,
    weak: float | str = WEAK_DEFAULT,
    seed: int = 0,
    beta0: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, list[ColumnPrior], float]:
    """The whole fitting procedure (priors from this sample's column SDs, the CV penalty if any):
    (posterior mode, penalised information, priors, penalty). Repeated as is in each bootstrap sample."""
    priors = build_priors(columns, M, heterogeneity=heterogeneity, weak=weak)
    mean, prec, scale = _arrays(priors, _column_sd(M))
    lam = 0.0
    if np.any(scale > 0):
        lam = choose_penalty(M, y, seed=seed, scale=scale, prior_mean=mean, prior_precision=prec)
    beta, info = fit_irls(M, y, penalty=lam, scale=scale, prior_mean=mean, prior_precision=prec, beta0=beta0)
    return beta, info, priors, lam


def fit_with_prior(
    M: np.ndarray,
    y: np.ndarray,
    columns: list[str] | tuple[str, ...],
    *,
    heterogeneity: float = PRIOR_HETEROGENEITY,
    weak: float | str = WEAK_DEFAULT,
    seed: int = 0,
) -> tuple[LogisticFit, PriorFit]:
    """The reported literature-prior fit and its prior/data/posterior summary."""
    beta, info, priors, lam = fit_prior_beta(M, y, columns, heterogeneity=heterogeneity, weak=weak, seed=seed)
    post = LogisticFit(tuple(columns), beta, np.linalg.inv(info), lam, None)
    ml, ml_info = fit_irls(M, y)  # data only: maximum likelihood, no prior (diverges under separation)
    try:
        ml_se = np.sqrt(np.maximum(np.diag(np.linalg.inv(ml_info)), 0))
    except np.linalg.LinAlgError:
        ml_se = np.full(len(ml), np.inf)
    summary = PriorFit(tuple(priors), float(heterogeneity), weak, lam, ml, ml_se, post)
    return post, summary
