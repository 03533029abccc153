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
from typing import TYPE_CHECKING

from jinja2 import Environment, select_autoescape
from rich.console import Group
from rich.table import Table

from sleitp.features import FEATURES
from sleitp.model.base import SYNTHETIC_BANNER, SYNTHETIC_HTML_BANNER, RendersItself
from sleitp.model.dataset import OUTCOMES, Dataset
from sleitp.model.design import CLIP_QUANTILES
from sleitp.model.samplesize import SampleSize
from sleitp.text import fixed

if TYPE_CHECKING:
    from sleitp.model.predict import TrainedModel

__all__ = [
    "INTENDED_USE", "ModelCard", "build_card", "excluded_in_words", "figure_images", "render_card_html",
]

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
    t = model.training
    opt = performance.get("optimism")
    corrected = (opt or {}).get("corrected") or {}
    apparent = (opt or {}).get("apparent") or {}
    feature = {f.name: f for f in FEATURES}
    predictors = model.design.predictors
    coefficients = model.logistic.coefficient_table() if model.logistic is not None else None
    missing = ds.missingness()
    card = ModelCard({
        # contract fields (spec/cli.md)
        "apparent_auc": t.apparent_auc,
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
            "created": t.created,
            "sleitp_version": t.sleitp_version,
        },
        "synthetic": model.synthetic,
        "synthetic_reason": t.synthetic_reason,
        "trained_on": t.trained_on,
        "excluded": ds.excluded,
        "not_evaluable_excluded": ds.excluded.get("not_evaluable", 0),
        "excluded_predictors": list(model.design.excluded),
        "missing_data": {
            "method": _mice_method(model.training.imputation) if pooled is not None
            else _MISSING_METHOD["gbm" if model.kind == "gbm" else "logistic"],
            "per_predictor": missing,
        },
        "sample_size": sample_size.to_json(),
        "performance": {
            "apparent": apparent or {"auc": t.apparent_auc},
            "apparent_auc_ci": performance.get("apparent_auc_ci"),
            "optimism_correction": opt,
            "apparent_brier": performance.get("apparent_brier"),
            "apparent_cox_snell_r2": performance.get("apparent_cox_snell_r2"),
            "calibration_table_apparent": performance.get("calibration_table"),
            "decision_curve_apparent": performance.get("decision_curve"),
        },
        "coefficients": coefficients,
        "penalty": None if model.logistic is None else model.logistic.penalty,
        "how_to_read": _reading(corrected, t.apparent_auc, ds.events / max(ds.n, 1), sample_size),
        "intended_use": INTENDED_USE,
        "limitations": _limitations(model, sample_size)
        + ([] if prior is None else _prior_limitations(prior)),
        "recalibration": model.meta.get("recalibration"),
        # --prior literature: each coefficient's prior, data-only (ML) estimate and posterior
        "prior": None if prior is None else prior.to_json(),
    })
    if pooled is not None:  # Rubin's rules per coefficient, fraction of missing information [RUBIN1987]
        card["missing_data"]["multiple_imputation"] = {
            **model.training.imputation, "pooling": "Rubin's rules (Rubin 1987)",
            "coefficients": pooled.table(list(model.design.columns)),
        }
    card["tripod"] = [
        {
            "item": "1-2",
            "topic": "Title / summary",
            "text": f"Development of a {model.kind} model predicting {OUTCOMES[model.outcome]}, "
            "with internal "
            f"validation by {t.bootstrap} bootstrap replicates.",
        },
        {
            "item": "4a",
            "topic": "Source of data",
            "text": f"Derived cohort {t.source} "
            "(IWG outcomes and predictors from `sleitp cohort derive`). "
            + (
                "SYNTHETIC data (" + t.synthetic_reason + ")."
                if model.synthetic
                else "Declared real patient data by the user."
            ),
        },
        {
            "item": "4b",
            "topic": "Key dates",
            "text": f"First-line start dates from {t.index_dates[0]} to {t.index_dates[1]}."
            if t.index_dates[0]
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
            + f" Internal validation: Harrell's bootstrap optimism correction, {t.bootstrap} replicates, "
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
            + excluded_in_words(ds.excluded)
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
            "text": f"Apparent AUC {t.apparent_auc:.3f}"
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
    images = figure_images(card.get("figures"), model_dir)
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    return env.from_string(_TEMPLATE.read_text(encoding="utf-8")).render(
        c=card,
        fmt=fixed,
        images=images,
        synthetic_notice=SYNTHETIC_HTML_BANNER,
        outcome=OUTCOMES.get(card["model"]["outcome"], card["model"]["outcome"]),
    )


def excluded_in_words(excluded: dict) -> str:
    """``{"not_evaluable": 3}`` -> ``not evaluable 3``: the exclusions as the card and the CLI list them."""
    return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in excluded.items())


class ModelCard(dict, RendersItself):
    """The card of a binary model: the JSON of ``card.json`` (a dict, the public contract), that draws
    itself: ``__rich__`` (what `sleitp train` prints), ``summary()`` and ``to_html()`` (card.html)."""

    def to_json(self) -> dict:
        return dict(self)

    def to_html(self, model_dir: str | Path | None = None) -> str:
        return render_card_html(self, model_dir)

    def __rich__(self) -> Group:
        parts: list = [SYNTHETIC_BANNER] if self["synthetic"] else []
        t = Table(title=f"{self['model']['name']}  ({self['n']} patients, {self['events']} responders)",
                  title_justify="left")
        t.add_column("measure")
        t.add_column("apparent", justify="right")
        t.add_column("optimism-corrected", justify="right")
        perf = self["performance"].get("optimism_correction") or {}
        apparent, corrected = perf.get("apparent", {}), perf.get("corrected", {})
        for key, label, d in (("auc", "AUC", 3), ("calibration_slope", "calibration slope", 3),
                              ("calibration_intercept", "calibration intercept", 3), ("brier", "Brier", 4)):
            shown = apparent.get(key, self["apparent_auc"] if key == "auc" else None)
            t.add_row(label, fixed(shown, d), fixed(corrected.get(key), d))
        parts.append(t)
        if self.get("prior"):
            parts.append(_prior_table(self["prior"]))
        ss = self["sample_size"]
        parts.append(("[green]" if ss["adequate"] else "[yellow]") + ss["message"] + "[/]")
        mi = self["missing_data"].get("multiple_imputation")
        if mi:  # --imputation mice (docs/imputation.md)
            fmi = max(mi["coefficients"], key=lambda r: r["fraction_missing_information"])
            parts.append(
                f"Missing predictors: multiple imputation (MICE with the outcome, m = {mi['imputations']}, "
                f"Rubin's rules; bootstrap re-imputes, m = {mi['bootstrap_imputations'] or '-'} per "
                f"replicate); largest fraction of missing information "
                f"{fmi['fraction_missing_information']:.2f} ({fmi['term']}); at the bedside: conditional "
                "mean without the outcome"
            )
        if self["excluded"]:
            parts.append("Excluded patients: " + excluded_in_words(self["excluded"]))
        parts.extend(f"[dim]predictor {e['name']} not used: {e['reason']}[/dim]"
                     for e in self["excluded_predictors"])
        return Group(*parts)


def _prior_table(prior: dict) -> Table:
    """The published priors of a --prior literature model: prior, data only, posterior (card `prior`)."""
    t = Table(
        title=f"Literature prior (between-site SD {prior['heterogeneity']:g}, an assumption; other "
        f"coefficients: {'cross-validated ridge' if prior['weak_prior'] == 'cv' else prior['weak_prior']})",
        title_justify="left",
    )
    for col in ("term", "prior mean (SD)", "data only (SE)", "posterior (SD)", "conflict", "source"):
        t.add_column(col, justify="left" if col in ("term", "source") else "right")
    for r in prior["coefficients"]:
        if r["prior_kind"] != "published":
            continue
        t.add_row(
            r["term"],
            f"{r['prior_mean']:.3f} ({r['prior_sd']:.3f})",
            f"{r['data_only']:.3f} ({r['data_only_se']:.3f})",
            f"{r['posterior']:.3f} ({r['posterior_sd']:.3f})",
            "yes" if r["prior_data_conflict"] else "",
            r["source"],
        )
    return t
