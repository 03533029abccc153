"""The time-to-event branch of `sleitp train` / `sleitp validate` (Cox models; docs/model.md
"Time-to-event outcomes"). Called from cli/models.py; no clinical logic here."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

__all__ = ["print_survival_card", "validate_survival_cmd"]


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
    t = Table(title="Hazard ratios", title_justify="left")
    for col in ("column", "HR", "95% CI", "p"):
        t.add_column(col, justify="left" if col == "column" else "right")
    for h in card["hazard_ratios"]:
        t.add_row(
            h["name"], f"{h['hazard_ratio']:.3f}", f"{h['ci95'][0]:.3f}-{h['ci95'][1]:.3f}", f"{h['p']:.4f}"
        )
    c.print(t)
    c.print(
        "Excluded patients: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in card["excluded"].items())
    )
    for e in card["excluded_predictors"]:
        c.print(f"[dim]predictor {e['name']} not used: {e['reason']}[/dim]")
    c.print(f"Model, card (card.html) written to {out}; manifest SHA-256 {card.get('manifest_sha256', '-')}")


def validate_survival_cmd(model, cohort_dir: Path, *, as_json: bool) -> None:
    from ..model.survival import validate_survival

    report = validate_survival(model, cohort_dir)
    if as_json:
        print(json.dumps(report.to_json(), indent=2, default=float))
        return
    c = Console()
    if report.synthetic_model:
        c.print("[bold red]This model was trained on SYNTHETIC data: a demonstration model.[/bold red]")
    t = Table(
        title=f"{report.model} on {cohort_dir} ({report.n} patients, {report.events} events)",
        show_header=False,
        title_justify="left",
    )
    t.add_row(
        "Harrell's C (95% CI)",
        f"{report.c_index:.3f} ({report.c_index_ci[0]:.3f}-{report.c_index_ci[1]:.3f})",
    )
    obs = "-" if report.observed_by_horizon is None else f"{report.observed_by_horizon:.3f}"
    t.add_row(
        f"observed (KM) / mean predicted by day {report.horizon_days}",
        f"{obs} / {report.mean_predicted_by_horizon:.3f}",
    )
    t.add_row("AUC, calibration, Brier", "not applicable (binary-outcome measures)")
    c.print(t)
