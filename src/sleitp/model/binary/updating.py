"""Model updating on a new site's data (``sleitp validate MODEL DERIVED --update METHOD --out NEW``).

Methods, from the least to the most extensive [STEYERBERG2019] [VERGOUWE2017]:

- ``intercept``: recalibration in the large (the intercept re-estimated, the linear predictor as offset);
- ``slope``: logistic recalibration (intercept and one slope on the linear predictor);
- ``refit``: model revision, every coefficient re-estimated by maximum likelihood on the new data, with the
  original model's design (transformations, imputation values, missing indicators) kept as is, so that
  the bedside rule does not change;
- ``prior``: the original model as the prior for the new data [DEBRAY2012]: each
  coefficient gets N(original coefficient, its variance + tau^2), tau the between-site heterogeneity of
  :data:`sleitp.model.binary.prior.PRIOR_HETEROGENEITY` (per 0->1 of a yes/no column, per SD of a numeric
  one),
  the intercept flat; the covariance between coefficients is dropped (a diagonal prior, an approximation);
- ``closed-test``: Vergouwe et al.'s closed testing procedure chooses among the original model,
  ``intercept``, ``slope`` and ``refit``: each candidate, least extensive first, is compared with model
  revision by a likelihood-ratio test (df = the number of parameters revision adds: p + 1, p, p - 1); the
  first candidate not rejected at level ``alpha`` (default 0.05) is chosen, revision if all are
  rejected. When revision separates in the update cohort (no maximum likelihood: common below ~10 events
  per coefficient) its tests are not valid, and the procedure runs among the recalibrations, against
  ``slope`` (df 2 and 1), saying so in its steps. Starting from the original model keeps the overall
  type I error near alpha, and a small cohort, where the tests have little power, keeps the simpler update
  (the procedure's point).

``intercept`` and ``slope`` are :func:`sleitp.model.train.recalibrate` (unchanged); ``refit`` and ``prior``
write new coefficients, and record the update in the model's ``recalibration`` entry (method, cohort, n,
events, date) as the recalibrations do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import expit
from scipy.stats import chi2

from sleitp.errors import ModelError
from sleitp.model.binary.external import figures, validation_data
from sleitp.model.binary.logistic import LogisticFit, fit_irls
from sleitp.model.binary.prior import PRIOR_HETEROGENEITY
from sleitp.model.performance import calibration_intercept, calibration_slope
from sleitp.model.provenance import now

if TYPE_CHECKING:
    from sleitp.model.predict import TrainedModel

__all__ = ["UPDATES", "UpdateResult", "closed_test", "update"]

UPDATES = ("intercept", "slope", "refit", "prior", "closed-test")
ALPHA = 0.05  # [VERGOUWE2017] the chosen type I error of the closed test


def _loglik(y: np.ndarray, lp: np.ndarray) -> float:
    return float(np.sum(y * lp - np.logaddexp(0, lp)))


@dataclass(frozen=True)
class UpdateResult:
    """What was chosen and why (the closed test's steps), for the terminal and the card."""

    method: str  # the update applied: original | intercept | slope | refit | prior
    requested: str
    n: int
    events: int
    loglik: dict[str, float] = field(default_factory=dict)  # per candidate, on the update cohort
    tests: list[dict] = field(default_factory=list)  # closed-test steps

    def to_json(self) -> dict:
        return {
            "method": self.method,
            "requested": self.requested,
            "n": self.n,
            "events": self.events,
            "loglik": {k: round(v, 4) for k, v in self.loglik.items()},
            "closed_test": self.tests or None,
        }


SEPARATED = 15.0  # |log-odds| of a revision fit beyond this on its own data: (quasi-)separation


def _candidates(y: np.ndarray, M: np.ndarray, lp: np.ndarray) -> tuple[dict[str, float], bool]:
    """Log-likelihood on the update cohort of the original model, the two recalibrations and revision, and
    whether revision is estimable (no separation: its maximum likelihood exists)."""
    a = calibration_intercept(y, lp)
    a2, b2 = calibration_slope(y, lp)
    beta, _ = fit_irls(M, y)
    lp_refit = beta[0] + M @ beta[1:]
    estimable = bool(np.all(np.isfinite(beta)) and np.max(np.abs(lp_refit)) < SEPARATED)
    return {
        "original": _loglik(y, lp),
        "intercept": _loglik(y, lp + a),
        "slope": _loglik(y, a2 + b2 * lp),
        "refit": _loglik(y, np.clip(lp_refit, -50, 50)),
    }, estimable


def closed_test(
    loglik: dict[str, float], p: int, alpha: float = ALPHA, *, revision_estimable: bool = True
) -> tuple[str, list[dict]]:
    """[VERGOUWE2017] The least extensive update not rejected against model revision (p coefficients).
    When revision separates in the update cohort its likelihood-ratio tests are not valid (the maximum
    likelihood does not exist): the procedure then runs among the recalibrations, against ``slope``."""
    top, steps = ("refit", [("original", p + 1), ("intercept", p), ("slope", p - 1)])
    if not revision_estimable:
        top, steps = ("slope", [("original", 2), ("intercept", 1)])
    out = []
    for name, df in steps:
        stat = max(0.0, 2 * (loglik[top] - loglik[name]))
        pval = float(chi2.sf(stat, df)) if df > 0 else (0.0 if stat > 0 else 1.0)
        rejected = pval < alpha
        out.append({"candidate": name, "against": top, "lr_statistic": round(stat, 4), "df": df,
                    "p_value": round(pval, 6), "rejected": rejected})
        if not rejected:
            return name, out
    return top, out


def _prior_from_model(model: TrainedModel, M: np.ndarray, heterogeneity: float):
    """(means, precisions) of the diagonal prior built from the model's effective coefficients."""
    a0, b0 = model.recalibration
    beta = b0 * model.logistic.beta[1:]
    var = b0**2 * np.diag(model.logistic.covariance)[1:]
    sd = M.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    numeric = {t.name for t in model.design.terms if t.kind == "numeric"}
    tau = np.array([heterogeneity / s if c in numeric else heterogeneity
                    for c, s in zip(model.design.columns, sd, strict=True)])
    return beta, 1.0 / (var + tau**2)


def update(
    model: TrainedModel,
    cohort_dir: str | Path,
    *,
    method: str,
    out: str | Path | None = None,
    alpha: float = ALPHA,
    heterogeneity: float = PRIOR_HETEROGENEITY,
) -> tuple[TrainedModel, UpdateResult]:
    """Update ``model`` on COHORT_DIR with ``method`` (one of :data:`UPDATES`); save it to ``out``."""
    if method not in UPDATES:
        raise ModelError(f"--update must be one of {', '.join(UPDATES)}, got {method!r}")
    if model.logistic is None:
        raise ModelError(f"--update applies to logistic models; {model.name} is a {model.kind} model "
                         "(use --recalibrate intercept|slope)")
    if not (0 < alpha < 1):
        raise ModelError(f"alpha must lie between 0 and 1, got {alpha}")
    ds, lp = validation_data(model, cohort_dir)
    y = ds.y.astype(float)
    M = model.design.matrix(ds.X)
    loglik, estimable = _candidates(y, M, lp)
    chosen, tests = method, []
    if method == "closed-test":
        chosen, tests = closed_test(loglik, M.shape[1], alpha, revision_estimable=estimable)
    if method == "prior":
        mean, prec = _prior_from_model(model, M, heterogeneity)
        beta, _ = fit_irls(M, y, prior_mean=mean, prior_precision=prec)
        loglik["prior"] = _loglik(y, beta[0] + M @ beta[1:])
    result = UpdateResult(chosen, method, ds.n, ds.events, loglik, tests)
    if chosen == "original":
        return model, result
    if chosen in ("intercept", "slope"):
        return model.recalibrate(cohort_dir, method=chosen, out=out), result

    if chosen == "refit":
        beta, info = fit_irls(M, y)
        kind = "logistic"
    else:
        beta, info = fit_irls(M, y, prior_mean=mean, prior_precision=prec)
        kind = "logistic-prior"
    if not np.all(np.isfinite(beta)) or np.max(np.abs(beta[0] + M @ beta[1:])) > SEPARATED:
        raise ModelError(f"{cohort_dir}: the {chosen} update does not converge (separation in {ds.n} "
                         "patients?); use --update intercept, slope or prior")
    fit = LogisticFit(model.logistic.columns, beta, np.linalg.inv(info), 0.0, None)
    meta = json.loads(json.dumps(model.meta, default=float))
    meta["kind"] = kind
    meta["recalibration"] = {"intercept": 0.0, "slope": 1.0, "method": chosen, "cohort": str(cohort_dir),
                             "n": ds.n, "events": ds.events, "date": now()}
    if chosen == "prior":
        meta["recalibration"]["heterogeneity"] = heterogeneity
    meta["name"] = model.name if model.name.endswith("-updated") else model.name + "-updated"
    meta["reference"] = {c: float(v) for c, v in zip(model.design.columns, M.mean(axis=0), strict=True)}
    updated = type(model)(meta, model.design, logistic=fit, card=dict(model.card))
    updated.card["recalibration"] = meta["recalibration"]
    updated.card["updating"] = result.to_json()
    updated.card["model"] = {**updated.card.get("model", {}), "name": meta["name"], "kind": kind}
    updated.card["coefficients"] = fit.coefficient_table()
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        p = expit(updated.linear_predictor(ds.X))
        updated.card["figures"] = {**figures(updated, out, ds.y, p, "recalibration-")}
        updated.save_with_card(out)
    return updated, result
