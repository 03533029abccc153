"""The model card of a Cox model (card.json and card.html): outcome, horizon, censoring rule, patients /
events / exclusions, hazard ratios with 95% CIs, Harrell's C apparent and optimism-corrected
[HARRELL1996], the proportional-hazards test [GRAMBSCH1994], calibration at the horizon (risk groups with
Kaplan-Meier, calibration slope) [ROYSTON2013], missingness, excluded predictors, recalibration, and a
synthetic-data banner when it applies [TRIPOD2015]."""

from __future__ import annotations

from html import escape
from pathlib import Path

from rich.console import Group
from rich.table import Table

from sleitp.model.base import SYNTHETIC_BANNER, SYNTHETIC_HTML_BANNER, RendersItself
from sleitp.model.card import excluded_in_words, figure_images, slope_in_words
from sleitp.text import fixed as _f

__all__ = ["SurvivalCard", "build_survival_card", "how_to_read", "render_survival_card_html"]


def _limitations(ph: dict) -> list[str]:
    if "error" in ph:
        ph_text = "proportional hazards assumed; the test could not be computed (" + ph["error"] + ")"
    elif ph["flagged"] or ph["global"]["p"] < ph["alpha"]:
        ph_text = "proportional hazards questionable (see the test): " + ph["caution"]
    else:
        ph_text = (
            "proportional hazards assumed; the Grambsch-Therneau test found no evidence against it, which "
            "is not proof"
        )
    return [
        ph_text,
        "linear terms only; no splines or interactions",
        "the interval at the bedside omits the uncertainty of the baseline hazard",
        "censoring at evaluation_end (the day before the next line starts) is informative when a "
        "line is changed because it is failing; competing events are not modelled",
        "internal validation only (bootstrap): check discrimination and calibration at the horizon on "
        "another cohort with `sleitp validate` and recalibrate if needed",
        "missing indicators can harm when missingness depends on the outcome [SISK2023]",
    ]


def how_to_read(card: dict) -> list[str]:
    """The numbers in words, for a clinician [STEYERBERG2010] [ROYSTON2013]."""
    out = []
    c = card.get("optimism_corrected_c_index")
    which = "optimism-corrected" if c is not None else "apparent (no bootstrap run)"
    c = card["apparent_c_index"] if c is None else c
    out.append(
        f"Discrimination ({which} Harrell's C {c:.2f}): of two comparable patients, the one with the "
        f"earlier event had the higher predicted risk in {c * 100:.0f} of 100 pairs (50 = chance)."
    )
    cal = card.get("calibration") or {}
    slope = cal.get("slope_optimism_corrected")
    kind = "optimism-corrected"
    if slope is None and cal.get("slope_apparent"):
        slope, kind = cal["slope_apparent"]["slope"], "apparent"
    if slope is not None:
        how = slope_in_words(slope, extreme="too far from the average")
        out.append(
            f"Calibration slope at day {card['horizon_days']} ({kind}) {slope:.2f} (1 is ideal): the "
            f"predicted probabilities are {how}."
        )
    obs, pred = cal.get("observed_by_horizon"), cal.get("mean_predicted_by_horizon")
    if obs is not None and pred is not None:
        out.append(
            f"By day {card['horizon_days']}: {obs:.0%} of patients had the event (Kaplan-Meier), the model "
            f"predicts {pred:.0%} on average; the calibration plot compares the two in risk groups."
        )
    ph = card.get("proportional_hazards") or {}
    if ph.get("statement"):
        out.append(ph["statement"])
    return out


def build_survival_card(
    model,
    ds,
    *,
    hazard_ratios: list[dict],
    optimism: dict | None,
    proportional_hazards: dict,
    calibration: dict,
) -> SurvivalCard:
    t = model.training
    card = SurvivalCard({
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
        "synthetic_reason": t.synthetic_reason,
        "trained_on": t.trained_on,
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
        "apparent_c_index": t.apparent_c_index,
        "optimism_corrected_c_index": t.optimism_corrected_c_index,
        "optimism": optimism,
        "proportional_hazards": proportional_hazards,
        "calibration": calibration,
        "not_applicable": "AUC, calibration intercept and Brier are binary-outcome measures; not reported "
        "(calibration is judged at the horizon instead)",
        "limitations": _limitations(proportional_hazards),
        "recalibration": model.meta.get("recalibration"),
        "created": t.created,
        "sleitp_version": t.sleitp_version,
    })
    card["how_to_read"] = how_to_read(card)
    return card


def _ph_html(ph: dict) -> str:
    e = escape
    if not ph:
        return ""
    if "error" in ph:
        return f"<h2>Proportional hazards</h2><p>{e(ph['error'])}</p>"
    rows = "".join(
        f"<tr><td>{e(r['name'])}</td><td>{_f(r['statistic'], 2)}</td><td>{_f(r['p'], 4)}</td>"
        f"<td>{'yes' if r['flagged'] else ''}</td></tr>"
        for r in ph["per_predictor"]
    )
    g = ph["global"]
    return (
        f"<h2>Proportional hazards</h2><p>{e(ph['statement'])}</p><p>Method: {e(ph['method'])}. "
        f"Global: chi-squared {_f(g['statistic'], 2)} on {g['df']} df, p = {_f(g['p'], 4)}. "
        f"{e(ph['multiplicity'])}.</p>"
        f'<table border="1"><tr><th>column</th><th>chi-squared (1 df)</th><th>p</th>'
        f"<th>p &lt; {ph['alpha']}</th></tr>{rows}</table>"
    )


def _calibration_html(cal: dict, title: str) -> str:
    e = escape
    if not cal:
        return ""
    rows = "".join(
        f"<tr><td>{r['n']}</td><td>{r['events_by_horizon']}</td><td>{_f(r['predicted'])}</td>"
        f"<td>{_f(r['observed'])}</td><td>"
        + ("-" if r["observed_ci"] is None else f"{_f(r['observed_ci'][0])}-{_f(r['observed_ci'][1])}")
        + "</td></tr>"
        for r in cal["groups"]
    )
    slope = cal.get("slope_apparent")
    slope_txt = (
        "-" if slope is None else f"{_f(slope['slope'])} ({_f(slope['ci95'][0])}-{_f(slope['ci95'][1])})"
    )
    corrected = cal.get("slope_optimism_corrected")
    corr_txt = "" if corrected is None else f"; optimism-corrected {_f(corrected)}"
    return (
        f"<h2>{e(title)}</h2><p>Observed (Kaplan-Meier) {_f(cal.get('observed_by_horizon'))} vs mean "
        f"predicted {_f(cal.get('mean_predicted_by_horizon'))} by day {cal['horizon_days']}. Calibration "
        f"slope at the horizon: apparent {slope_txt}{corr_txt}.</p>"
        f'<table border="1"><tr><th>patients</th><th>events by the horizon</th><th>mean predicted</th>'
        f"<th>observed (KM)</th><th>95% CI</th></tr>{rows}</table>"
    )


def render_survival_card_html(card: dict, model_dir: str | Path | None = None) -> str:
    """The card as one self-contained HTML page (figures found in ``model_dir`` embedded)."""

    e = escape
    banner = (
        f'<p style="background:#b00;color:#fff;padding:8px;font-weight:bold">{e(SYNTHETIC_HTML_BANNER)}</p>'
        if card["synthetic"]
        else ""
    )
    rows = "".join(
        f"<tr><td>{e(h['name'])}</td><td>{_f(h['hazard_ratio'])}</td>"
        f"<td>{_f(h['ci95'][0])}-{_f(h['ci95'][1])}</td><td>{_f(h['p'], 4)}</td></tr>"
        for h in card["hazard_ratios"]
    )
    hr_note = f"<p>{e(card['hazard_ratios_note'])}</p>" if card.get("hazard_ratios_note") else ""
    excl = "".join(f"<li>{e(k.replace('_', ' '))}: {v}</li>" for k, v in card["excluded"].items())
    recal = card.get("recalibration") or {}
    recal_html = (
        f'<p style="background:#fff3cd;padding:6px">Recalibrated ({e(str(recal["method"]))}) on '
        f"{e(str(recal.get('cohort')))}, n={recal.get('n')}: slope {_f(recal.get('slope'))}, "
        f"H0(horizon) {_f(recal.get('baseline_at_horizon_before'), 4)} -&gt; "
        f"{_f(recal.get('baseline_at_horizon_after'), 4)}.</p>"
        if recal.get("method")
        else ""
    )
    images = "".join(
        f'<h3>{e(name)}</h3><img alt="{e(name)}" src="{src}" style="max-width:100%">'
        for name, src in figure_images(card.get("figures"), model_dir)
    )
    reading = "".join(f"<li>{e(x)}</li>" for x in card.get("how_to_read", []))
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Model card: {e(card["model"]["name"])}</title></head><body>
{banner}<h1>Model card: {e(card["model"]["name"])}</h1>{recal_html}
<p><b>Outcome:</b> {e(card["outcome"])} - {e(card["outcome_definition"])}</p>
<p><b>Censoring:</b> {e(card["censoring"])}</p>
<p><b>Horizon of the bedside probability:</b> {card["horizon_days"]} days ({e(card["prediction"])})</p>
<p><b>Method:</b> {e(card["model"]["method"])}; missing data: {e(card["missing_data"])}</p>
<p><b>Patients:</b> {card["n"]} ({card["events"]} events, {card["censored"]} censored), trained on
{e(card["trained_on"])}</p><p>Excluded:</p><ul>{excl}</ul>
<p><b>Harrell's C:</b> apparent {_f(card["apparent_c_index"])}, optimism-corrected
{_f(card["optimism_corrected_c_index"])}</p>
<h2>How to read these numbers</h2><ul>{reading}</ul>
<h2>Hazard ratios</h2>
<table border="1"><tr><th>column</th><th>hazard ratio</th><th>95% CI</th><th>p</th></tr>{rows}</table>
{hr_note}{_ph_html(card.get("proportional_hazards") or {})}
{_calibration_html(card.get("calibration") or {}, "Calibration at the horizon (development data)")}
{_calibration_html(card.get("recalibration_calibration") or {}, "Calibration after recalibration")}
<h2>Figures</h2>{images}
<p>{e(card["not_applicable"])}</p>
<h2>Limitations</h2><ul>{"".join(f"<li>{e(x)}</li>" for x in card["limitations"])}</ul>
</body></html>
"""


class SurvivalCard(dict, RendersItself):
    """The card of a Cox model: the JSON of ``card.json`` (a dict, the public contract), that draws itself:
    ``__rich__`` (what `sleitp train --outcome time_to_response ...` prints), ``summary()``, ``to_html()``
    (card.html)."""

    def to_json(self) -> dict:
        return dict(self)

    def to_html(self, model_dir: str | Path | None = None) -> str:
        return render_survival_card_html(self, model_dir)

    def __rich__(self) -> Group:
        corrected = self["optimism_corrected_c_index"]
        parts: list = [
            *([SYNTHETIC_BANNER] if self["synthetic"] else []),
            f"{self['model']['name']}: {self['n']} patients, {self['events']} events, {self['censored']} "
            f"censored; censoring: {self['censoring']}",
            f"Harrell's C: apparent {self['apparent_c_index']:.3f}, optimism-corrected "
            f"{_f(corrected)}; bedside horizon {self['horizon_days']} days",
        ]
        cal = self.get("calibration") or {}
        if cal:
            parts.append(_calibration_line(cal, "Calibration"))
        t = Table(title="Hazard ratios", title_justify="left")
        for col in ("column", "HR", "95% CI", "p"):
            t.add_column(col, justify="left" if col == "column" else "right")
        for h in self["hazard_ratios"]:
            t.add_row(h["name"], f"{h['hazard_ratio']:.3f}", f"{h['ci95'][0]:.3f}-{h['ci95'][1]:.3f}",
                      f"{h['p']:.4f}")
        parts.append(t)
        parts.extend(_ph_rich(self.get("proportional_hazards") or {}))
        parts.append("Excluded patients: " + excluded_in_words(self["excluded"]))
        parts.extend(f"[dim]predictor {e['name']} not used: {e['reason']}[/dim]"
                     for e in self["excluded_predictors"])
        return Group(*parts)


def _calibration_line(cal: dict, label: str) -> str:
    slope = cal.get("slope_apparent")
    corrected = cal.get("slope_optimism_corrected")
    text = (
        f"{label} at day {cal['horizon_days']}: observed (Kaplan-Meier) {_f(cal.get('observed_by_horizon'))}"
        f" / mean predicted {_f(cal.get('mean_predicted_by_horizon'))}; calibration slope "
    )
    if slope is None:
        text += "-"
    else:
        text += f"{slope['slope']:.3f} ({slope['ci95'][0]:.3f}-{slope['ci95'][1]:.3f})"
    if corrected is not None:
        text += f", optimism-corrected {corrected:.3f}"
    return text + " [dim](slope 1 is ideal)[/dim]"


def _ph_rich(ph: dict) -> list:
    if not ph:
        return []
    if "error" in ph:
        return [f"[yellow]Proportional hazards: {ph['error']}[/yellow]"]
    flagged = ph["flagged"] or ph["global"]["p"] < ph["alpha"]
    t = Table(
        title=f"Proportional hazards (Grambsch-Therneau, rank of time): global p = {ph['global']['p']:.4f}",
        title_justify="left",
    )
    for col in ("column", "chi-squared", "p", f"p < {ph['alpha']}"):
        t.add_column(col, justify="left" if col == "column" else "right")
    rows = ph["per_predictor"]
    shown = [r for r in rows if r["flagged"]] if len(rows) > 12 else rows
    for r in shown:
        t.add_row(r["name"], f"{r['statistic']:.2f}", f"{r['p']:.4f}", "yes" if r["flagged"] else "")
    parts: list = [t]
    if len(shown) < len(rows):
        hidden = len(rows) - len(shown)
        parts.append(f"[dim]{hidden} columns with p >= {ph['alpha']} not shown (card.json)[/dim]")
    parts.append(("[yellow]" if flagged else "[green]") + ph["statement"] + "[/]")
    parts.append(f"[dim]{ph['multiplicity']}[/dim]")
    return parts
