"""The time-to-event branch of `sleitp train` / `sleitp validate` (Cox models; docs/model.md
"Time-to-event outcomes"). Called from cli/models.py; no clinical logic here."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

SYNTHETIC_MODEL_BANNER = (
    "[bold red]This model was trained on SYNTHETIC data: a demonstration model.[/bold red]"
)

__all__ = ["print_survival_card", "validate_survival_cmd"]


def _f(v, d: int = 3) -> str:
    return "-" if v is None else f"{float(v):.{d}f}"


def _print_ph(ph: dict, c: Console) -> None:
    if not ph:
        return
    if "error" in ph:
        c.print(f"[yellow]Proportional hazards: {ph['error']}[/yellow]")
        return
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
    c.print(t)
    if len(shown) < len(rows):
        c.print(f"[dim]{len(rows) - len(shown)} columns with p >= {ph['alpha']} not shown (card.json)[/dim]")
    c.print(("[yellow]" if flagged else "[green]") + ph["statement"] + "[/]")
    c.print(f"[dim]{ph['multiplicity']}[/dim]")


def _print_calibration(cal: dict, c: Console, label: str) -> None:
    if not cal:
        return
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
    c.print(text + " [dim](slope 1 is ideal)[/dim]")


def print_survival_card(model, out: Path, c: Console) -> None:
    """The readable summary of a trained Cox model (`sleitp train --outcome time_to_response ...`)."""
    card = model.card
    c.print(
        f"{model.name}: {card['n']} patients, {card['events']} events, {card['censored']} censored; "
        f"censoring: {card['censoring']}"
    )
    corrected = card["optimism_corrected_c_index"]
    c.print(
        f"Harrell's C: apparent {card['apparent_c_index']:.3f}, optimism-corrected "
        f"{'-' if corrected is None else f'{corrected:.3f}'}; bedside horizon {card['horizon_days']} days"
    )
    _print_calibration(card.get("calibration") or {}, c, "Calibration")
    t = Table(title="Hazard ratios", title_justify="left")
    for col in ("column", "HR", "95% CI", "p"):
        t.add_column(col, justify="left" if col == "column" else "right")
    for h in card["hazard_ratios"]:
        t.add_row(
            h["name"], f"{h['hazard_ratio']:.3f}", f"{h['ci95'][0]:.3f}-{h['ci95'][1]:.3f}", f"{h['p']:.4f}"
        )
    c.print(t)
    _print_ph(card.get("proportional_hazards") or {}, c)
    c.print(
        "Excluded patients: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in card["excluded"].items())
    )
    for e in card["excluded_predictors"]:
        c.print(f"[dim]predictor {e['name']} not used: {e['reason']}[/dim]")
    c.print(
        f"Model, card (card.html) and calibration plot written to {out}; manifest SHA-256 "
        f"{card.get('manifest_sha256', '-')}"
    )


def validate_survival_cmd(
    model,
    cohort_dir: Path,
    *,
    as_json: bool,
    plots: Path | None = None,
    recalibrate: str | None = None,
    out: Path | None = None,
) -> None:
    from sleitp.model.survival.cox import recalibrate_survival, validate_survival

    report = validate_survival(model, cohort_dir, plots=plots)
    result = report.to_json()
    updated = None
    if recalibrate is not None:
        updated = recalibrate_survival(model, cohort_dir, method=recalibrate, out=out)
        after = updated.card["recalibration_calibration"]
        result["recalibrated"] = {
            **updated.meta["recalibration"],
            "model_dir": str(out),
            "mean_predicted_by_horizon_after": round(after["mean_predicted_by_horizon"], 4),
            "calibration_after": after["groups"],
        }
    if as_json:
        print(json.dumps(result, indent=2, default=float))
        return
    c = Console()
    if report.synthetic_model:
        c.print(SYNTHETIC_MODEL_BANNER)
    t = Table(
        title=f"{report.model} on {cohort_dir} ({report.n} patients, {report.events} events)",
        show_header=False,
        title_justify="left",
    )
    t.add_row(
        "Harrell's C (95% CI)",
        f"{report.c_index:.3f} ({report.c_index_ci[0]:.3f}-{report.c_index_ci[1]:.3f})",
    )
    t.add_row(
        f"observed (KM) / mean predicted by day {report.horizon_days}",
        f"{_f(report.observed_by_horizon)} / {report.mean_predicted_by_horizon:.3f}",
    )
    slope = report.calibration_slope
    t.add_row(
        f"calibration slope at day {report.horizon_days} (95% CI)",
        "-"
        if slope is None
        else f"{slope['slope']:.3f} ({slope['ci95'][0]:.3f}-{slope['ci95'][1]:.3f})  [dim]1 is ideal[/dim]",
    )
    t.add_row("AUC, calibration intercept, Brier", "not applicable (binary-outcome measures)")
    c.print(t)
    g = Table(title=f"Calibration by day {report.horizon_days}, risk groups", title_justify="left")
    for col in ("patients", "events by horizon", "mean predicted", "observed (KM)", "95% CI"):
        g.add_column(col, justify="right")
    for r in report.calibration or []:
        ci = r["observed_ci"]
        g.add_row(
            str(r["n"]),
            str(r["events_by_horizon"]),
            f"{r['predicted']:.3f}",
            _f(r["observed"]),
            "-" if ci is None else f"{ci[0]:.3f}-{ci[1]:.3f}",
        )
    c.print(g)
    if report.figures:
        c.print(f"Calibration plot: {report.figures['calibration']}")
    if updated is not None:
        r = updated.meta["recalibration"]
        c.print(
            f"Recalibrated ({recalibrate}): slope {r['slope']:.3f}, baseline cumulative hazard at day "
            f"{report.horizon_days} {r['baseline_at_horizon_before']:.4f} -> "
            f"{r['baseline_at_horizon_after']:.4f};"
            f" mean predicted by day {report.horizon_days} {report.mean_predicted_by_horizon:.3f} -> "
            f"{updated.card['recalibration_calibration']['mean_predicted_by_horizon']:.3f} (observed "
            f"{_f(report.observed_by_horizon)}); saved to {out}"
        )
