"""The model card: what the model is, how well it did and on what data, item by item of TRIPOD.

The card is plain JSON (``card.json``; the contract fields of spec/cli.md at the top level) and a
self-contained HTML page (``card.html``, figures embedded) for a clinician. Its ``tripod`` section
follows the items of the TRIPOD statement for model development [TRIPOD2015] that software can fill in:
source of data (4a), key dates (4b), participants (5b, 13a, 14a), outcome (6a), predictors (7a),
sample size (8), missing data (9), analysis (10a, 10b, 10d), full model (15a), performance (16),
updating (17), limitations (18), intended use (19b); the others (setting, blinding, funding...) are
the study's to report and are listed as such.
"""

from __future__ import annotations

import base64
from pathlib import Path

from sleitp.features import FEATURES
from sleitp.model.dataset import OUTCOMES, Dataset
from sleitp.model.design import CLIP_QUANTILES
from sleitp.model.predict import TrainedModel
from sleitp.model.samplesize import SampleSize

__all__ = ["INTENDED_USE", "build_card", "figure_images", "render_card_html"]

INTENDED_USE = (
    "Estimate, at the start of the first treatment line, the probability that a patient with immune "
    "thrombocytopenia in systemic lupus erythematosus reaches an IWG response (R or CR) with that line, "
    "to inform - not replace - the clinician's choice and the conversation with the patient. "
    "Decision support, not a medical device and not a prescription."
)

_MISSING_METHOD = {
    "logistic": "missing-indicator + median/most-common-value imputation (one indicator per missingness "
    "pattern); "
    "the same rule is applied at the bedside (Sperrin 2020; Sisk 2023). No patient is dropped for a "
    "missing predictor.",
    "gbm": "native missing-value handling of the gradient-boosted trees (each split learns where missing "
    "values "
    "go); no imputation, no patient dropped for a missing predictor.",
}


def _mice_method(mi: dict) -> str:
    """The card's missing-data method of an ``--imputation mice`` model (sleitp.model.binary.imputation)."""
    boot = mi.get("bootstrap_imputations")
    return (
        f"multiple imputation by chained equations (MICE; van Buuren 2011): m = {mi['imputations']} "
        f"imputations, {mi['iterations']} iterations each (per predictor a Bayesian linear regression, "
        "or a logistic regression for yes/no predictors, imputing draws from the posterior predictive), the "
        "OUTCOME included in the imputation model (Moons 2006); the logistic model fitted on each imputed "
        "dataset and pooled by Rubin's rules "
        "(fraction of missing information per coefficient in `missing_data.multiple_imputation`); "
        + (f"bootstrap then impute: every bootstrap replicate re-imputes its sample ({boot} imputations per "
           "replicate; Schomaker 2018, Wahl 2016); " if boot else "no bootstrap run; ")
        + "at the bedside (outcome unknown) a missing predictor takes its conditional mean given the "
        "observed ones under the multivariate normal of the development predictors, without the outcome "
        "(Hoogland 2020); performance is measured with that same rule. No missing indicators; no patient "
        "dropped for a missing predictor."
    )


def slope_in_words(slope: float, *, extreme: str) -> str:
    """What a calibration slope says of the predictions, for the card's "how to read" lines."""
    if slope < 0.9:
        return f"too extreme ({extreme}) for new patients: the model is overfitted"
    if slope > 1.1:
        return "too modest (too close to the average) for new patients"
    return "about as spread out as the outcomes in new patients"


def _limitations(model: TrainedModel, sample_size: SampleSize) -> list[str]:
    out = []
    if model.synthetic:
        out.append(
            "Trained on SYNTHETIC data: the model demonstrates the method; its coefficients and "
            "performance say nothing about real patients."
        )
    out.append(
        "Internal validation only (bootstrap): performance in another centre, country or period must be "
        "checked with `sleitp validate` before use, and the model recalibrated if needed."
    )
    if sample_size.adequate is False:
        out.append(
            "The cohort is smaller than the Riley minimum sample size: expect overfitting (see sample size)."
        )
    elif sample_size.adequate is None:
        out.append("The Riley sample-size criteria could not be evaluated (no signal beyond noise).")
    if model.design.conditional is not None:  # --imputation mice (sleitp.model.binary.imputation)
        out.append(
            "Multiple imputation assumes the values are missing at random given the other predictors and "
            "the outcome; at the bedside a missing predictor takes its conditional mean given the observed "
            "ones (a single imputation: the interval does not widen for what was not measured)."
        )
    elif model.kind != "gbm":
        out.append(
            "Missing indicators assume that tests are missing for the same reasons at the bedside as in the "
            "development data; they can harm when missingness depends on the outcome (Sisk 2023)."
        )
        out.append(
            f"Numeric predictors enter linearly, clipped to the {CLIP_QUANTILES[0]:.1%}-"
            f"{CLIP_QUANTILES[1]:.1%} training percentiles; no splines or interactions."
        )
    out.append(
        "The first-line agents differ between patients and are not a predictor: the probability is that of "
        "responding to the first line as treated in the development cohort."
    )
    out.append(
        "The outcome is derived from platelet counts by the IWG rules; too few counts make a line "
        "not evaluable (NE), and NE patients are excluded (counted in the card)."
    )
    return out


def _reading(corrected: dict, apparent_auc: float, prevalence: float, sample_size: SampleSize) -> list[str]:
    """The performance in words, for a clinician [STEYERBERG2010]."""
    out = []
    auc = corrected.get("auc", apparent_auc)
    which = "optimism-corrected" if "auc" in corrected else "apparent (no bootstrap run)"
    out.append(f"Discrimination ({which} AUC {auc:.2f}): for {auc * 100:.0f} of 100 pairs of one responder "
               "and "
               "one non-responder, the model gives the responder the higher probability (50 = chance).")
    slope = corrected.get("calibration_slope")
    if slope is not None:
        how = slope_in_words(slope, extreme="too close to 0% and 100%")
        out.append(f"Calibration slope {slope:.2f} (1 is ideal): the probabilities are {how}.")
    intercept = corrected.get("calibration_intercept")
    if intercept is not None:
        level = ("about right on average" if abs(intercept) < 0.1 else
                 "too low on average" if intercept > 0 else "too high on average")
        out.append(f"Calibration-in-the-large {intercept:+.2f} (0 is ideal): the probabilities are {level}.")
    brier = corrected.get("brier")
    if brier is not None:
        out.append(f"Brier score {brier:.3f} (lower is better); a model giving everyone the average "
                   "probability "
                   f"({prevalence:.0%}) would score {prevalence * (1 - prevalence):.3f}.")
    out.append(sample_size.message)
    return out


def _prior_limitations(prior) -> list[str]:
    """What the literature prior assumes (``prior``: a :class:`sleitp.model.binary.prior.PriorFit`)."""
    conflicts = [r["term"] for r in prior.table() if r["prior_data_conflict"]]
    out = [
        f"Literature prior: published effects from small single-centre studies, widened by an ASSUMED "
        f"between-site SD of {prior.heterogeneity:g} on the log-odds scale; the published odds ratios come "
        "from other multivariable models and outcome codings (Zheng 2025's direction is ambiguous), so a "
        "prior can be wrong: check the prior-data conflicts in the prior table."
    ]
    if conflicts:
        out.append("Prior-data conflict (the data-only estimate lies outside the prior's 95% predictive "
                   "range) for: " + ", ".join(conflicts) + ".")
    return out


def build_card(
    model: TrainedModel, ds: Dataset, *, performance: dict, sample_size: SampleSize, prior=None, pooled=None
) -> dict:
    """The card; ``prior``: the :class:`sleitp.model.binary.prior.PriorFit` of a ``--prior literature`` model;
    ``pooled``: the :class:`sleitp.model.binary.imputation.Pooled` of an ``--imputation mice`` model."""
    t = model.meta["training"]
    opt = performance.get("optimism")
    corrected = (opt or {}).get("corrected") or {}
    apparent = (opt or {}).get("apparent") or {}
    feature = {f.name: f for f in FEATURES}
    predictors = model.design.predictors
    coefficients = model.logistic.coefficient_table() if model.logistic is not None else None
    missing = ds.missingness()
    card = {
        # contract fields (spec/cli.md)
        "apparent_auc": t["apparent_auc"],
        "optimism_corrected_auc": corrected.get("auc"),
        "calibration_slope": corrected.get("calibration_slope"),
        "calibration_intercept": corrected.get("calibration_intercept"),
        "brier": corrected.get("brier"),
        "n": ds.n,
        "events": ds.events,
        "predictors": predictors,
        # what it is
        "model": {
            "name": model.name,
            "kind": model.kind,
            "outcome": model.outcome,
            "created": t["created"],
            "sleitp_version": t["sleitp_version"],
        },
        "synthetic": model.synthetic,
        "synthetic_reason": t["synthetic_reason"],
        "trained_on": t["trained_on"],
        "excluded": ds.excluded,
        "not_evaluable_excluded": ds.excluded.get("not_evaluable", 0),
        "excluded_predictors": list(model.design.excluded),
        "missing_data": {
            "method": _mice_method(model.meta["training"]["imputation"]) if pooled is not None
            else _MISSING_METHOD["gbm" if model.kind == "gbm" else "logistic"],
            "per_predictor": missing,
        },
        "sample_size": sample_size.to_json(),
        "performance": {
            "apparent": apparent or {"auc": t["apparent_auc"]},
            "apparent_auc_ci": performance.get("apparent_auc_ci"),
            "optimism_correction": opt,
            "apparent_brier": performance.get("apparent_brier"),
            "apparent_cox_snell_r2": performance.get("apparent_cox_snell_r2"),
            "calibration_table_apparent": performance.get("calibration_table"),
            "decision_curve_apparent": performance.get("decision_curve"),
        },
        "coefficients": coefficients,
        "penalty": None if model.logistic is None else model.logistic.penalty,
        "how_to_read": _reading(corrected, t["apparent_auc"], ds.events / max(ds.n, 1), sample_size),
        "intended_use": INTENDED_USE,
        "limitations": _limitations(model, sample_size)
        + ([] if prior is None else _prior_limitations(prior)),
        "recalibration": model.meta.get("recalibration"),
        # --prior literature: each coefficient's prior, data-only (ML) estimate and posterior
        "prior": None if prior is None else prior.to_json(),
    }
    if pooled is not None:  # Rubin's rules per coefficient, fraction of missing information [RUBIN1987]
        card["missing_data"]["multiple_imputation"] = {
            **model.meta["training"]["imputation"], "pooling": "Rubin's rules (Rubin 1987)",
            "coefficients": pooled.table(list(model.design.columns)),
        }
    card["tripod"] = [
        {
            "item": "1-2",
            "topic": "Title / summary",
            "text": f"Development of a {model.kind} model predicting {OUTCOMES[model.outcome]}, "
            "with internal "
            f"validation by {t['bootstrap']} bootstrap replicates.",
        },
        {
            "item": "4a",
            "topic": "Source of data",
            "text": f"Derived cohort {t['source']} "
            "(IWG outcomes and predictors from `sleitp cohort derive`). "
            + (
                "SYNTHETIC data (" + t["synthetic_reason"] + ")."
                if model.synthetic
                else "Declared real patient data by the user."
            ),
        },
        {
            "item": "4b",
            "topic": "Key dates",
            "text": f"First-line start dates from {t['index_dates'][0]} to {t['index_dates'][1]}."
            if t["index_dates"][0]
            else "Index dates not available in the features table.",
        },
        {
            "item": "5b",
            "topic": "Participants",
            "text": "Patients of the cohort with a first ITP-directed treatment line and an evaluable "
            "IWG response.",
        },
        {
            "item": "6a",
            "topic": "Outcome",
            "text": OUTCOMES[model.outcome]
            + "; assessed from the platelet counts after the line's start until the "
            "next line (spec/record.md).",
        },
        {
            "item": "7a",
            "topic": "Predictors",
            "text": "; ".join(
                f"{p}: {feature[p].description}"
                + (f" ({feature[p].unit})" if feature[p].unit else "")
                + f" [{feature[p].source}]"
                for p in predictors
                if p in feature
            )
            + ". All candidate predictors from the evidence base were kept (no data-driven selection).",
        },
        {"item": "8", "topic": "Sample size", "text": sample_size.message},
        {
            "item": "9",
            "topic": "Missing data",
            "text": card["missing_data"]["method"]
            + " Missing per predictor: "
            + ", ".join(f"{m['name']} {m['missing_fraction']:.0%}" for m in missing)
            + ".",
        },
        {
            "item": "10a-b",
            "topic": "Analysis",
            "text": {
                "logistic": "Logistic regression by maximum likelihood (statsmodels), numeric predictors "
                "linear "
                "and clipped at training percentiles.",
                "logistic-l2": "Ridge-penalised logistic regression, penalty by 5-fold cross-validated "
                "deviance, repeated in every bootstrap replicate.",
                "logistic-prior": "Logistic regression with literature-informed Gaussian priors (posterior "
                "mode by penalised likelihood; Debray 2012): published log odds ratios with "
                "SDs from their 95% CIs widened by a between-site heterogeneity term, a flat intercept, and "
                + (
                    "a cross-validated ridge for the coefficients without a published effect"
                    if prior is not None and prior.weak == "cv"
                    else "a weakly informative N(0, s^2) per SD for the coefficients without a published "
                    "effect"
                )
                + " (table `prior`); priors and penalty re-derived in every bootstrap replicate.",
                "gbm": "Gradient-boosted trees (scikit-learn HistGradientBoostingClassifier), fixed "
                "hyper-parameters.",
            }[model.kind]
            + f" Internal validation: Harrell's bootstrap optimism correction, {t['bootstrap']} replicates, "
            "every fitting step repeated.",
        },
        {
            "item": "10d",
            "topic": "Performance measures",
            "text": "AUC (c-statistic) with DeLong 95% CI, calibration intercept and slope, Brier score, "
            "calibration "
            "plot, decision curve (net benefit).",
        },
        {
            "item": "13a/14a",
            "topic": "Participants and events",
            "text": f"{ds.n} patients analysed, {ds.events} responders; excluded: "
            + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in ds.excluded.items())
            + ".",
        },
        {
            "item": "15a",
            "topic": "Full model",
            "text": "Coefficients with odds ratios and 95% CIs in `coefficients`; saved as plain JSON "
            "(model.json)."
            if coefficients
            else "Gradient-boosted trees saved with skops (gbm.skops); no closed-form equation.",
        },
        {
            "item": "16",
            "topic": "Model performance",
            "text": f"Apparent AUC {t['apparent_auc']:.3f}"
            + (
                f"; optimism-corrected AUC {corrected['auc']:.3f}, calibration slope "
                f"{corrected['calibration_slope']:.3f}, intercept {corrected['calibration_intercept']:.3f}, "
                f"Brier {corrected['brier']:.4f}."
                if corrected
                else "; no bootstrap was run."
            ),
        },
        {
            "item": "17",
            "topic": "Model updating",
            "text": "None."
            if not (model.meta.get("recalibration") or {}).get("method")
            else f"Recalibrated: {model.meta['recalibration']}",
        },
        {"item": "18", "topic": "Limitations", "text": " ".join(card["limitations"])},
        {"item": "19b", "topic": "Intended use", "text": INTENDED_USE},
        {
            "item": "3, 5a, 5c, 6b, 7b, 11-12, 19a-22",
            "topic": "For the study report",
            "text": "Setting and centres, treatments received, blinding, risk groups, discussion, funding: "
            "reported "
            "by the study that uses this model, not derivable by software.",
        },
    ]
    return card


_TEMPLATE = Path(__file__).with_name("templates") / "card.html.j2"


def _fmt(v, digits: int = 3) -> str:
    if v is None:
        return "-"
    try:
        return f"{float(v):.{digits}f}"
    except (TypeError, ValueError):
        return str(v)


def figure_images(figures: dict | None, model_dir: str | Path | None) -> list[tuple[str, str]]:
    """(caption, data URI) of each PNG of a card's ``figures`` found in ``model_dir``, to embed in HTML."""
    images = []
    if model_dir is not None:
        for name, file in (figures or {}).items():
            path = Path(model_dir) / file
            if path.is_file():
                images.append(
                    (
                        name.replace("_", " "),
                        "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode(),
                    )
                )
    return images


def render_card_html(card: dict, model_dir: str | Path | None = None) -> str:
    """The card as one self-contained HTML page (figures from ``model_dir`` embedded as data URIs)."""
    from jinja2 import Environment, select_autoescape

    images = figure_images(card.get("figures"), model_dir)
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    return env.from_string(_TEMPLATE.read_text(encoding="utf-8")).render(
        c=card,
        fmt=_fmt,
        images=images,
        outcome=OUTCOMES.get(card["model"]["outcome"], card["model"]["outcome"]),
    )
