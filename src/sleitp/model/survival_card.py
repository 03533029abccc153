"""The model card of a Cox model (card.json and card.html): outcome, horizon, censoring rule, patients /
events / exclusions, hazard ratios with 95% CIs, Harrell's C apparent and optimism-corrected
[HARRELL1996], missingness, excluded predictors, and a synthetic-data banner when it applies [TRIPOD2015]."""

from __future__ import annotations

from html import escape

__all__ = ["build_survival_card", "render_survival_card_html"]


def build_survival_card(model, ds, *, hazard_ratios: list[dict], optimism: dict | None) -> dict:
    t = model.meta["training"]
    return {
        "model": {
            "name": model.name,
            "kind": "cox",
            "method": "Cox proportional hazards (lifelines CoxPHFitter, Efron ties) [COX1972] [LIFELINES]",
        },
        "outcome": model.outcome,
        "outcome_definition": model.meta["outcome_definition"],
        "censoring": model.meta["censoring"],
        "horizon_days": model.horizon_days,
        "prediction": f"P(event by day {model.horizon_days}) = 1 - exp(-H0({model.horizon_days}) x exp(lp))",
        "synthetic": model.synthetic,
        "synthetic_reason": t["synthetic_reason"],
        "trained_on": t["trained_on"],
        "n": ds.n,
        "events": ds.events,
        "censored": ds.censored,
        "excluded": ds.excluded,
        "predictors": model.design.predictors,
        "columns": model.design.columns,
        "excluded_predictors": [dict(e) for e in model.design.excluded],
        "missing_data": "median / most common value + a not-measured indicator, as the binary model "
        "(docs/model.md)",
        "missingness": ds.missingness(),
        "hazard_ratios": hazard_ratios,
        "apparent_c_index": t["apparent_c_index"],
        "optimism_corrected_c_index": t["optimism_corrected_c_index"],
        "optimism": optimism,
        "not_applicable": "AUC, calibration intercept/slope and Brier are binary-outcome measures; "
        "not reported",
        "limitations": [
            "proportional hazards assumed, not tested here; linear terms only",
            "the interval at the bedside omits the uncertainty of the baseline hazard",
            "censoring at evaluation_end (the day before the next line starts) is informative when a "
            "line is changed because it is failing; competing events are not modelled",
            "missing indicators can harm when missingness depends on the outcome [SISK2023]",
        ],
        "created": t["created"],
        "sleitp_version": t["sleitp_version"],
    }


def _f(v, d=3) -> str:
    return "-" if v is None else f"{float(v):.{d}f}"


def render_survival_card_html(card: dict) -> str:
    e = escape
    banner = (
        '<p style="background:#b00;color:#fff;padding:8px;font-weight:bold">SYNTHETIC DATA - a demonstration '
        "model; says nothing about real patients.</p>"
        if card["synthetic"]
        else ""
    )
    rows = "".join(
        f"<tr><td>{e(h['name'])}</td><td>{_f(h['hazard_ratio'])}</td>"
        f"<td>{_f(h['ci95'][0])}-{_f(h['ci95'][1])}</td><td>{_f(h['p'], 4)}</td></tr>"
        for h in card["hazard_ratios"]
    )
    excl = "".join(f"<li>{e(k.replace('_', ' '))}: {v}</li>" for k, v in card["excluded"].items())
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Model card: {e(card["model"]["name"])}</title></head><body>
{banner}<h1>Model card: {e(card["model"]["name"])}</h1>
<p><b>Outcome:</b> {e(card["outcome"])} - {e(card["outcome_definition"])}</p>
<p><b>Censoring:</b> {e(card["censoring"])}</p>
<p><b>Horizon of the bedside probability:</b> {card["horizon_days"]} days ({e(card["prediction"])})</p>
<p><b>Method:</b> {e(card["model"]["method"])}; missing data: {e(card["missing_data"])}</p>
<p><b>Patients:</b> {card["n"]} ({card["events"]} events, {card["censored"]} censored), trained on
{e(card["trained_on"])}</p><p>Excluded:</p><ul>{excl}</ul>
<p><b>Harrell's C:</b> apparent {_f(card["apparent_c_index"])}, optimism-corrected
{_f(card["optimism_corrected_c_index"])}</p>
<table border="1"><tr><th>column</th><th>hazard ratio</th><th>95% CI</th><th>p</th></tr>{rows}</table>
<p>{e(card["not_applicable"])}</p>
<ul>{"".join(f"<li>{e(x)}</li>" for x in card["limitations"])}</ul>
</body></html>
"""
