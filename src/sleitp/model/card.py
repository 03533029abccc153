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

from ..features import FEATURES
from .dataset import OUTCOMES, Dataset
from .design import CLIP_QUANTILES
from .predict import TrainedModel
from .samplesize import SampleSize

__all__ = ["INTENDED_USE", "build_card", "render_card_html"]

INTENDED_USE = (
    "Estimate, at the start of the first treatment line, the probability that a patient with immune "
    "thrombocytopenia in systemic lupus erythematosus reaches an IWG response (R or CR) with that line, "
    "to inform - not replace - the clinician's choice and the conversation with the patient. "
    "Decision support, not a medical device and not a prescription."
)

_MISSING_METHOD = {
    "logistic": "missing-indicator + median/most-common-value imputation (one indicator per missingness pattern); "
                "the same rule is applied at the bedside (Sperrin 2020; Sisk 2023). No patient is dropped for a "
                "missing predictor.",
    "gbm": "native missing-value handling of the gradient-boosted trees (each split learns where missing values "
           "go); no imputation, no patient dropped for a missing predictor.",
}


def _limitations(model: TrainedModel, sample_size: SampleSize) -> list[str]:
    out = []
    if model.synthetic:
        out.append("Trained on SYNTHETIC data: the model demonstrates the method; its coefficients and "
                   "performance say nothing about real patients.")
    out.append("Internal validation only (bootstrap): performance in another centre, country or period must be "
               "checked with `sleitp validate` before use, and the model recalibrated if needed.")
    if sample_size.adequate is False:
        out.append("The cohort is smaller than the Riley minimum sample size: expect overfitting "
                   "(see sample size).")
    elif sample_size.adequate is None:
        out.append("The Riley sample-size criteria could not be evaluated (no signal beyond noise).")
    if model.kind != "gbm":
        out.append("Missing indicators assume that tests are missing for the same reasons at the bedside as in the "
                   "development data; they can harm when missingness depends on the outcome (Sisk 2023).")
        out.append(f"Numeric predictors enter linearly, clipped to the {CLIP_QUANTILES[0]:.1%}-"
                   f"{CLIP_QUANTILES[1]:.1%} training percentiles; no splines or interactions.")
    out.append("The first-line agents differ between patients and are not a predictor: the probability is that of "
               "responding to the first line as treated in the development cohort.")
    out.append("The outcome is derived from platelet counts by the IWG rules; too few counts make a line "
               "not evaluable (NE), and NE patients are excluded (counted in the card).")
    return out


def build_card(model: TrainedModel, ds: Dataset, *, performance: dict, sample_size: SampleSize) -> dict:
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
        "model": {"name": model.name, "kind": model.kind, "outcome": model.outcome,
                  "created": t["created"], "sleitp_version": t["sleitp_version"]},
        "synthetic": model.synthetic,
        "synthetic_reason": t["synthetic_reason"],
        "trained_on": t["trained_on"],
        "excluded": ds.excluded,
        "not_evaluable_excluded": ds.excluded.get("not_evaluable", 0),
        "excluded_predictors": list(model.design.excluded),
        "missing_data": {"method": _MISSING_METHOD["gbm" if model.kind == "gbm" else "logistic"],
                         "per_predictor": missing},
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
        "intended_use": INTENDED_USE,
        "limitations": _limitations(model, sample_size),
        "recalibration": model.meta.get("recalibration"),
    }
    card["tripod"] = [
        {"item": "1-2", "topic": "Title / summary",
         "text": f"Development of a {model.kind} model predicting {OUTCOMES[model.outcome]}, with internal "
                 f"validation by {t['bootstrap']} bootstrap replicates."},
        {"item": "4a", "topic": "Source of data",
         "text": f"Derived cohort {t['source']} (IWG outcomes and predictors from `sleitp cohort derive`). "
                 + ("SYNTHETIC data (" + t["synthetic_reason"] + ")." if model.synthetic else
                    "Declared real patient data by the user.")},
        {"item": "4b", "topic": "Key dates",
         "text": f"First-line start dates from {t['index_dates'][0]} to {t['index_dates'][1]}."
         if t["index_dates"][0] else "Index dates not available in the features table."},
        {"item": "5b", "topic": "Participants",
         "text": "Patients of the cohort with a first ITP-directed treatment line and an evaluable IWG response."},
        {"item": "6a", "topic": "Outcome",
         "text": OUTCOMES[model.outcome] + "; assessed from the platelet counts after the line's start until the "
                 "next line (spec/record.md)."},
        {"item": "7a", "topic": "Predictors",
         "text": "; ".join(f"{p}: {feature[p].description}" + (f" ({feature[p].unit})" if feature[p].unit else "")
                           + f" [{feature[p].source}]" for p in predictors if p in feature)
                 + ". All candidate predictors from the evidence base were kept (no data-driven selection)."},
        {"item": "8", "topic": "Sample size", "text": sample_size.message},
        {"item": "9", "topic": "Missing data",
         "text": card["missing_data"]["method"] + " Missing per predictor: " +
                 ", ".join(f"{m['name']} {m['missing_fraction']:.0%}" for m in missing) + "."},
        {"item": "10a-b", "topic": "Analysis",
         "text": {"logistic": "Logistic regression by maximum likelihood (statsmodels), numeric predictors linear "
                              "and clipped at training percentiles.",
                  "logistic-l2": "Ridge-penalised logistic regression, penalty by 5-fold cross-validated "
                                 "deviance, repeated in every bootstrap replicate.",
                  "gbm": "Gradient-boosted trees (scikit-learn HistGradientBoostingClassifier), fixed "
                         "hyper-parameters."}[model.kind]
                 + f" Internal validation: Harrell's bootstrap optimism correction, {t['bootstrap']} replicates, "
                   "every fitting step repeated."},
        {"item": "10d", "topic": "Performance measures",
         "text": "AUC (c-statistic) with DeLong 95% CI, calibration intercept and slope, Brier score, calibration "
                 "plot, decision curve (net benefit)."},
        {"item": "13a/14a", "topic": "Participants and events",
         "text": f"{ds.n} patients analysed, {ds.events} responders; excluded: "
                 + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in ds.excluded.items()) + "."},
        {"item": "15a", "topic": "Full model",
         "text": "Coefficients with odds ratios and 95% CIs in `coefficients`; saved as plain JSON (model.json)."
         if coefficients else "Gradient-boosted trees saved with skops (gbm.skops); no closed-form equation."},
        {"item": "16", "topic": "Model performance",
         "text": f"Apparent AUC {t['apparent_auc']:.3f}" + (
             f"; optimism-corrected AUC {corrected['auc']:.3f}, calibration slope "
             f"{corrected['calibration_slope']:.3f}, intercept {corrected['calibration_intercept']:.3f}, "
             f"Brier {corrected['brier']:.4f}." if corrected else "; no bootstrap was run.")},
        {"item": "17", "topic": "Model updating",
         "text": "None." if not (model.meta.get("recalibration") or {}).get("method") else
                 f"Recalibrated: {model.meta['recalibration']}"},
        {"item": "18", "topic": "Limitations", "text": " ".join(card["limitations"])},
        {"item": "19b", "topic": "Intended use", "text": INTENDED_USE},
        {"item": "3, 5a, 5c, 6b, 7b, 11-12, 19a-22", "topic": "For the study report",
         "text": "Setting and centres, treatments received, blinding, risk groups, discussion, funding: reported "
                 "by the study that uses this model, not derivable by software."},
    ]
    return card


_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Model card: {{ c.model.name }}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.2rem .5rem;font-size:.9rem}
th{background:#f4f4f4;text-align:left}.banner{background:#b00020;color:#fff;padding:1rem;font-weight:bold}
.warn{background:#fff3cd;padding:.6rem}img{max-width:100%}dt{font-weight:bold;margin-top:.6rem}
</style></head><body>
{% if c.synthetic %}<div class="banner">DEMONSTRATION MODEL - trained on SYNTHETIC data. It says nothing about
real patients and must not be used for treatment decisions.</div>{% endif %}
<h1>Model card: {{ c.model.name }}</h1>
<p>{{ c.intended_use }}</p>
<h2>At a glance</h2>
<table>
<tr><th>Outcome</th><td>{{ outcome }}</td></tr>
<tr><th>Model</th><td>{{ c.model.kind }} (sleitp {{ c.model.sleitp_version }}, {{ c.model.created }})</td></tr>
<tr><th>Data</th><td>{{ c.trained_on }} - {{ "SYNTHETIC" if c.synthetic else "real (declared)" }}</td></tr>
<tr><th>Patients / responders</th><td>{{ c.n }} / {{ c.events }}</td></tr>
<tr><th>AUC apparent</th><td>{{ fmt(c.apparent_auc) }}</td></tr>
<tr><th>AUC optimism-corrected</th><td>{{ fmt(c.optimism_corrected_auc) }}</td></tr>
<tr><th>Calibration slope (corrected)</th><td>{{ fmt(c.calibration_slope) }}</td></tr>
<tr><th>Calibration intercept (corrected)</th><td>{{ fmt(c.calibration_intercept) }}</td></tr>
<tr><th>Brier (corrected)</th><td>{{ fmt(c.brier, 4) }}</td></tr>
</table>
{% if c.sample_size.adequate is not none and not c.sample_size.adequate %}<p class="warn">{{ c.sample_size.message }}</p>{% endif %}
{% if c.recalibration and c.recalibration.method %}<p class="warn">Recalibrated ({{ c.recalibration.method }}) on
{{ c.recalibration.cohort }}, n={{ c.recalibration.n }}: intercept {{ fmt(c.recalibration.intercept) }},
slope {{ fmt(c.recalibration.slope) }}.</p>{% endif %}
<h2>TRIPOD items</h2>
<dl>{% for t in c.tripod %}<dt>{{ t.item }} {{ t.topic }}</dt><dd>{{ t.text }}</dd>{% endfor %}</dl>
{% if c.coefficients %}<h2>Coefficients</h2>
<table><tr><th>term</th><th>coefficient</th><th>odds ratio (95% CI)</th><th>p</th></tr>
{% for r in c.coefficients %}<tr><td>{{ r.term }}</td><td>{{ fmt(r.coefficient, 4) }}</td>
<td>{% if r.odds_ratio is not none %}{{ fmt(r.odds_ratio) }} ({{ fmt(r.or_ci_low) }}-{{ fmt(r.or_ci_high) }}){% endif %}</td>
<td>{{ fmt(r.p_value, 4) }}</td></tr>{% endfor %}</table>
{% if c.penalty %}<p>Ridge penalty {{ fmt(c.penalty, 4) }}: intervals are approximate (penalised information).</p>{% endif %}
{% endif %}
<h2>Missing data</h2><p>{{ c.missing_data.method }}</p>
<table><tr><th>predictor</th><th>missing</th></tr>{% for m in c.missing_data.per_predictor %}
<tr><td>{{ m.name }}</td><td>{{ m.missing_n }} ({{ "%.0f"|format(100*m.missing_fraction) }}%)</td></tr>{% endfor %}</table>
{% if c.excluded_predictors %}<h3>Predictors not in the model</h3><ul>{% for e in c.excluded_predictors %}
<li>{{ e.name }}: {{ e.reason }}</li>{% endfor %}</ul>{% endif %}
<h2>Figures</h2>
{% for name, src in images %}<h3>{{ name }}</h3><img alt="{{ name }}" src="{{ src }}">{% endfor %}
<h2>Limitations</h2><ul>{% for l in c.limitations %}<li>{{ l }}</li>{% endfor %}</ul>
</body></html>
"""


def _fmt(v, digits: int = 3) -> str:
    if v is None:
        return "-"
    try:
        return f"{float(v):.{digits}f}"
    except (TypeError, ValueError):
        return str(v)


def render_card_html(card: dict, model_dir: str | Path | None = None) -> str:
    """The card as one self-contained HTML page (figures from ``model_dir`` embedded as data URIs)."""
    from jinja2 import Environment, select_autoescape

    images = []
    if model_dir is not None:
        for name, file in (card.get("figures") or {}).items():
            path = Path(model_dir) / file
            if path.is_file():
                images.append((name.replace("_", " "),
                               "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()))
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    return env.from_string(_TEMPLATE).render(c=card, fmt=_fmt, images=images,
                                             outcome=OUTCOMES.get(card["model"]["outcome"], card["model"]["outcome"]))
