"""Train, validate and recalibrate: the three things a site does with a model (docs/model.md).

- :func:`train` — COHORT_DIR -> a fitted model with bootstrap optimism correction [HARRELL1996], the
  Riley sample-size check [RILEY2019], calibration plot, decision curve [VICKERS2006], nomogram (logistic)
  and a model card walking through TRIPOD [TRIPOD2015]; optionally saved to MODEL_DIR without pickle.
- :func:`validate` — a saved model on another cohort: AUC with 95% CI [DELONG1988], calibration
  intercept and slope, Brier [STEYERBERG2010], net benefit.
- :func:`recalibrate` — update the intercept, or intercept and slope, on a new cohort and save the
  updated model (the original coefficients stay; the recalibration is applied on top and recorded).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import expit

from sleitp.errors import ModelError
from sleitp.model._threads import single_threaded
from sleitp.model.base import Model, figure_note
from sleitp.model.binary.boosting import GBM_PARAMS, fit_gbm, gbm_logit
from sleitp.model.binary.external import ValidationReport, figures
from sleitp.model.binary.imputation import (
    BOOTSTRAP_IMPUTATIONS,
    DEFAULT_IMPUTATIONS,
    IMPUTATION_METHODS,
    MICE_ITERATIONS,
    bootstrap_refit,
    fit_pooled,
)
from sleitp.model.binary.logistic import choose_penalty, fit_irls, fit_logistic
from sleitp.model.binary.prior import (
    PRIOR_HETEROGENEITY,
    PRIORS,
    WEAK_DEFAULT,
    fit_prior_beta,
    fit_with_prior,
)
from sleitp.model.calibration import calibration_table
from sleitp.model.card import build_card
from sleitp.model.dataset import Dataset, load_cohort
from sleitp.model.decision_curve import decision_curve
from sleitp.model.design import Design, usable_design
from sleitp.model.nomogram import plot_nomogram
from sleitp.model.performance import auc_with_ci, brier, cox_snell_r2
from sleitp.model.persist import model_class
from sleitp.model.provenance import training_provenance
from sleitp.model.samplesize import riley_binary, shrunk_r2_from_fit
from sleitp.model.survival.cox import train_survival
from sleitp.model.survival.data import SURVIVAL_OUTCOMES
from sleitp.model.validation import optimism_correction

if TYPE_CHECKING:
    from sleitp.model.predict import TrainedModel

__all__ = ["METHODS", "ValidationReport", "recalibrate", "train", "train_binary", "validate"]

METHODS = ("logistic", "logistic-l2", "gbm")
MIN_PER_CLASS = 10  # below this, no model and no bootstrap is meaningful (a floor, not a sample size rule)
GBM_INTERVAL_MODELS = 20  # bootstrap refits kept with a boosting model for its prediction interval


def _check_classes(ds: Dataset) -> None:
    events, non = ds.events, ds.n - ds.events
    if min(events, non) < MIN_PER_CLASS:
        raise ModelError(
            f"{ds.source}: {ds.n} evaluable patients with {events} responders and {non} "
            f"non-responders; at least {MIN_PER_CLASS} of each are needed to fit and validate a model "
            f"(excluded: {ds.excluded})"
        )


# the options of the binary models (:func:`train_binary`) at their defaults: what a time-to-event outcome
# accepts of them (``sleitp train`` always passes them all)
_BINARY_DEFAULTS = {"method": "logistic", "anticipated_r2_cs": None, "prior": None,
                    "prior_heterogeneity": None, "prior_weak": None, "imputation": "indicator",
                    "imputations": None}


def train(cohort_dir: str | Path, *, outcome: str = "first_line_response", **options) -> Model:
    """Develop a model of ``outcome`` on COHORT_DIR; save it (with card and figures) to ``out`` when given.
    ``first_line_response``: :func:`train_binary` (``method``, ``prior="literature"``: priors from the
    evidence base (:mod:`.prior`), ``imputation`` ...). Time-to-event outcomes (``time_to_response``,
    ``loss_of_response``): the Cox model of :func:`sleitp.model.survival.cox.train_survival`
    (``horizon_days``; ``method`` and ``anticipated_r2_cs`` do not apply). Both take ``bootstrap``, ``seed``,
    ``synthetic``, ``predictors``, ``out`` and ``progress``."""
    if outcome in SURVIVAL_OUTCOMES:
        binary = {k: options.pop(k, default) for k, default in _BINARY_DEFAULTS.items()}
        if binary["method"] != "logistic":
            raise ModelError(
                f"method {binary['method']!r} (--method) applies to first_line_response; {outcome} uses a "
                "Cox model"
            )
        if binary["anticipated_r2_cs"] is not None:
            raise ModelError(
                "anticipated_r2_cs (--anticipated-r2) applies to first_line_response (the binary Riley check)"
            )
        if binary["prior"] is not None:
            raise ModelError(f"--prior applies to first_line_response; {outcome} uses a Cox model")
        if binary["imputation"] != "indicator" or binary["imputations"] is not None:
            raise ModelError(f"--imputation mice applies to first_line_response; {outcome} uses a Cox model")
        return train_survival(cohort_dir, outcome=outcome, **options)
    if options.pop("horizon_days", None) is not None:
        raise ModelError(
            "horizon_days (--horizon) applies to the time-to-event outcomes "
            "(time_to_response, loss_of_response)"
        )
    return train_binary(cohort_dir, outcome=outcome, **options)


def train_binary(
    cohort_dir: str | Path,
    *,
    outcome: str = "first_line_response",
    method: str = "logistic",
    bootstrap: int = 200,
    seed: int = 0,
    synthetic: bool | None = None,
    predictors: list[str] | None = None,
    anticipated_r2_cs: float | None = None,
    out: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
    prior: str | None = None,
    prior_heterogeneity: float | None = None,
    prior_weak: float | str | None = None,
    imputation: str = "indicator",
    imputations: int | None = None,
) -> TrainedModel:
    """A binary model (logistic, ridge, literature prior, multiple imputation or gradient boosting) of
    ``outcome`` on COHORT_DIR (``TrainedModel.fit``); the options as :func:`train`'s."""
    prior_settings = _prior_settings(method, prior, prior_heterogeneity, prior_weak)
    mi = _imputation_settings(outcome, method, prior, imputation, imputations)
    if method == "gbm":
        # lazy: scikit-learn only for boosting; load OpenMP first, or the thread limit cannot apply to it
        import sklearn.ensemble  # noqa: F401
    return _train(
        prior_settings,
        cohort_dir,
        outcome=outcome,
        method=method,
        bootstrap=bootstrap,
        seed=seed,
        synthetic=synthetic,
        predictors=predictors,
        anticipated_r2_cs=anticipated_r2_cs,
        out=out,
        progress=progress,
        mi=mi,
    )


def _imputation_settings(outcome, method, prior, imputation, imputations) -> dict | None:
    """Checked settings of ``--imputation``/``--imputations`` (None: the missing-indicator method)."""
    if imputation not in IMPUTATION_METHODS:
        raise ModelError(f"--imputation {imputation!r} is not one of {', '.join(IMPUTATION_METHODS)}")
    if imputation == "indicator":
        if imputations is not None:
            raise ModelError("--imputations applies to --imputation mice")
        return None
    if outcome != "first_line_response" or method != "logistic" or prior is not None:
        raise ModelError("--imputation mice applies to the maximum-likelihood logistic model of "
                         "first_line_response (--method logistic, no --prior)")
    m = DEFAULT_IMPUTATIONS if imputations is None else int(imputations)
    if m < 2:
        raise ModelError(f"--imputations must be 2 or more (Rubin's rules need a between-imputation "
                         f"variance), got {imputations}")
    return {"m": m}


def _prior_settings(method, prior, heterogeneity, weak) -> dict | None:
    """Checked settings of ``--prior`` (None without it)."""
    if prior is None:
        if heterogeneity is not None or weak is not None:
            raise ModelError("--prior-heterogeneity and --prior-weak need --prior literature")
        return None
    if prior not in PRIORS:
        raise ModelError(f"--prior {prior!r} is not one of {', '.join(PRIORS)}")
    if method != "logistic":
        raise ModelError(f"--prior {prior} fits its own penalised logistic model; it cannot be combined "
                         f"with --method {method} (leave --method at logistic)")
    h = PRIOR_HETEROGENEITY if heterogeneity is None else float(heterogeneity)
    if not (np.isfinite(h) and h >= 0):
        raise ModelError(f"--prior-heterogeneity must be a number >= 0, got {heterogeneity}")
    w: float | str = WEAK_DEFAULT if weak is None else weak
    if w != "cv":
        try:
            w = float(w)
        except ValueError:
            raise ModelError(f"--prior-weak must be 'cv' or a positive number, got {weak!r}") from None
        if not (np.isfinite(w) and w > 0):
            raise ModelError(f"--prior-weak must be 'cv' or a positive number, got {weak!r}")
    return {"heterogeneity": h, "weak": w}


@single_threaded
def _train(
    prior_settings,
    cohort_dir,
    *,
    outcome,
    method,
    bootstrap,
    seed,
    synthetic,
    predictors,
    anticipated_r2_cs,
    out,
    progress,
    mi=None,
) -> TrainedModel:
    if method not in METHODS:
        raise ModelError(f"method {method!r} is not one of {', '.join(METHODS)}")
    if bootstrap < 0:
        raise ModelError(f"--bootstrap must be 0 or more, got {bootstrap}")
    cohort_dir = Path(cohort_dir)
    ds = load_cohort(cohort_dir, outcome=outcome, predictors=predictors)
    _check_classes(ds)
    y = ds.y.astype(float)
    design = usable_design(ds.X, ds.source, indicators=mi is None)  # mice: no indicators (.imputation)
    if method == "gbm":
        design = Design(design.terms, (), design.excluded)  # trees route missing values themselves
    R = design.raw(ds.X)

    logistic = None
    prior_fit = None
    gbm_models: list = []
    pooled = None
    if mi is not None:  # multiple imputation, Rubin's rules, bootstrap then impute (model.binary.imputation)
        try:
            logistic, pooled, design_mi = fit_pooled(design, R, y, m=mi["m"], seed=seed)
        except Exception as e:  # noqa: BLE001  statsmodels: singular matrix, perfect separation ...
            raise ModelError(
                f"{ds.source}: the logistic model cannot be fitted on the imputed data "
                f"({type(e).__name__}: {e})"
            ) from None
        refit = bootstrap_refit(design, R, y, beta0=logistic.beta, m=min(BOOTSTRAP_IMPUTATIONS, mi["m"]),
                                seed=seed)
        design = design_mi  # carries the bedside conditional-mean imputation
        lp = logistic.linear_predictor(design.matrix_from_raw(R))
    elif prior_settings is not None:
        M = design.matrix_from_raw(R)
        logistic, prior_fit = fit_with_prior(M, y, design.columns, seed=seed, **prior_settings)
        lp = logistic.linear_predictor(M)
        beta_full = logistic.beta

        def refit(idx: np.ndarray) -> np.ndarray:
            d_b = design.refit_values(R[idx])  # the whole procedure again: imputation, priors, CV penalty
            M_b = d_b.matrix_from_raw(R)
            beta, *_ = fit_prior_beta(M_b[idx], y[idx], design.columns, seed=seed, beta0=beta_full,
                                      **prior_settings)
            return beta[0] + M_b @ beta[1:]
    elif method == "gbm":
        main = fit_gbm(R, ds.y, seed=seed)
        lp = gbm_logit(main, R)

        def refit(idx: np.ndarray) -> np.ndarray:
            m = fit_gbm(R[idx], ds.y[idx], seed=seed)
            if len(gbm_models) < GBM_INTERVAL_MODELS:
                gbm_models.append(m)
            return gbm_logit(m, R)
    else:
        M = design.matrix_from_raw(R)
        penalised = method == "logistic-l2"
        try:
            logistic = fit_logistic(M, y, design.columns, penalised=penalised, seed=seed)
        except Exception as e:  # noqa: BLE001  statsmodels: singular matrix, perfect separation ...
            raise ModelError(
                f"{ds.source}: the logistic model cannot be fitted ({type(e).__name__}: {e})"
            ) from None
        lp = logistic.linear_predictor(M)
        beta_full = logistic.beta

        def refit(idx: np.ndarray) -> np.ndarray:
            d_b = design.refit_values(R[idx])  # imputation values and clipping re-estimated: whole procedure
            M_b = d_b.matrix_from_raw(R)
            scale = None
            lam = 0.0
            if penalised:
                scale = M_b[idx].std(axis=0)
                scale = np.where(scale > 0, scale, 1.0)
                lam = choose_penalty(M_b[idx], y[idx], seed=seed)
            beta, _ = fit_irls(M_b[idx], y[idx], penalty=lam, scale=scale, beta0=beta_full)
            return beta[0] + M_b @ beta[1:]

    if not np.all(np.isfinite(lp)):
        raise ModelError(f"{ds.source}: the fitted model gives non-finite predictions (perfect separation?)")
    p = expit(lp)
    opt = optimism_correction(ds.y, lp, refit, replicates=bootstrap, seed=seed, progress=progress,
                              where=ds.source)
    if method == "gbm":
        while len(gbm_models) < min(GBM_INTERVAL_MODELS, 5):  # with --bootstrap 0/small, still some refits
            idx = np.random.default_rng(seed + len(gbm_models) + 1).integers(0, ds.n, ds.n)
            gbm_models.append(fit_gbm(R[idx], ds.y[idx], seed=seed))

    # Riley criteria [RILEY2019], with R2cs anticipated from this fit unless the user gives one
    n_params = len(design.columns) if method != "gbm" else len(design.terms)
    phi = float(y.mean())
    ll_null = ds.n * (phi * np.log(phi) + (1 - phi) * np.log(1 - phi))
    ll_model = float(np.sum(y * np.log(np.clip(p, 1e-12, 1)) + (1 - y) * np.log(np.clip(1 - p, 1e-12, 1))))
    lr = 2 * (ll_model - ll_null)
    if anticipated_r2_cs is not None:
        r2, r2_source = anticipated_r2_cs, "given by the user"
    else:
        r2 = shrunk_r2_from_fit(lr, ds.n, n_params)
        r2_source = (
            "development data: apparent Cox-Snell R2 x heuristic shrinkage 1 - p/LR (post hoc; Riley 2019)"
        )
    if method == "gbm":
        r2_source += (
            "; boosting: parameters counted as the number of predictors, a lower bound "
            "(the criteria are derived for regression models)"
        )
    sample_size = riley_binary(
        parameters=n_params,
        prevalence=phi,
        r2_cs=r2,
        available_n=ds.n,
        available_events=ds.events,
        r2_source=r2_source,
    )

    a_auc, a_lo, a_hi = auc_with_ci(ds.y, lp)
    M_ref = design.matrix_from_raw(R) if logistic is not None else None
    reference = (
        {c: float(v) for c, v in zip(design.columns, M_ref.mean(axis=0), strict=False)}
        if M_ref is not None
        else {t.name: t.impute for t in design.terms}
    )
    training = {
        **training_provenance(cohort_dir, ds, synthetic),
        "seed": seed,
        "bootstrap": bootstrap,
        "apparent_auc": a_auc,
        "optimism_corrected_auc": None if opt is None else opt.corrected.auc,
    }
    if mi is not None:  # --imputation mice: what the card and the bedside statement say (.imputation)
        training["imputation"] = {
            "method": "mice", "imputations": mi["m"], "iterations": MICE_ITERATIONS,
            "outcome_in_imputation_model": True,
            "bootstrap_imputations": min(BOOTSTRAP_IMPUTATIONS, mi["m"]) if bootstrap > 0 else None,
            "bedside": "conditional mean given the observed predictors (multivariate normal, no outcome)",
        }
    if method == "gbm":
        import sklearn  # lazy: scikit-learn only for boosting (already loaded by the fit)

        training["sklearn_version"] = sklearn.__version__
        training["gbm_params"] = GBM_PARAMS
    kind = "logistic-prior" if prior_fit is not None else method
    meta = {
        "name": f"{outcome}-{kind}" + ("" if mi is None else "-mice"),
        "kind": kind,
        "outcome": outcome,
        "reference": reference,
        "recalibration": {"intercept": 0.0, "slope": 1.0, "method": None},
        "training": training,
    }
    model = model_class(kind)(
        meta, design, logistic=logistic, gbm=[main, *gbm_models] if method == "gbm" else None
    )
    performance = {
        "apparent_auc_ci": [a_lo, a_hi],
        "apparent_brier": brier(ds.y, p),
        "apparent_cox_snell_r2": cox_snell_r2(ds.y, p),
        "optimism": None if opt is None else opt.to_json(),
        "calibration_table": calibration_table(ds.y, p),
        "decision_curve": decision_curve(ds.y, p),
    }
    card = build_card(model, ds, performance=performance, sample_size=sample_size, prior=prior_fit,
                      pooled=pooled)
    model.card = card
    if out is not None:
        _write(model, Path(out), ds.y, p)
    return model


def _write(model: TrainedModel, out: Path, y: np.ndarray, p: np.ndarray) -> None:
    out.mkdir(parents=True, exist_ok=True)
    model.card["figures"] = figures(model, out, y, p, "")
    if model.logistic is not None:
        model.card["figures"]["nomogram"] = plot_nomogram(
            model.design, model.logistic, out / "nomogram.png", title=f"Nomogram: {model.name}",
            note=figure_note(model.synthetic),
        ).name
    model.save_with_card(out)


# --- external validation and recalibration: the models' own methods (model.binary.external for the binary
# models, model.survival.validation for Cox) ------------------------------------------------------------


def validate(model: Model, cohort_dir: str | Path, *, plots: str | Path | None = None):
    """External validation of ``model`` on COHORT_DIR (``model.validate``): a report that renders itself."""
    return model.validate(cohort_dir, plots=plots)


def recalibrate(model: Model, cohort_dir: str | Path, *, method: str, out: str | Path | None = None) -> Model:
    """``model`` updated on COHORT_DIR (``model.recalibrate``): ``intercept`` or ``slope`` [STEYERBERG2010];
    saved to ``out`` when given."""
    return model.recalibrate(cohort_dir, method=method, out=out)
