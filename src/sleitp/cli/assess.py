"""`sleitp assess`: scores, predictor profile, prediction, ranked cited options and alerts for one patient;
optionally the printable HTML/PDF report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.panel import Panel

from sleitp.cli import app
from sleitp.cli.one_patient import (
    AtOpt,
    JsonOpt,
    LenientOpt,
    RecordArg,
    check_assessment_date,
    emit,
    load_input,
    parse_at,
    print_score,
    wrapping_table,
)
from sleitp.errors import ReportError

if TYPE_CHECKING:
    from sleitp.decision import Assessment

ModelOpt = Annotated[
    Path | None, typer.Option("--model", help="A model directory written by `sleitp train`.")
]
HtmlOpt = Annotated[Path | None, typer.Option("--html", help="Write the printable report as HTML to FILE.")]
PdfOpt = Annotated[Path | None, typer.Option("--pdf", help="Write the printable report as PDF to FILE.")]


@app.command("assess")
def assess_cmd(
    record: RecordArg,
    at: AtOpt = None,
    model: ModelOpt = None,
    as_json: JsonOpt = False,
    html: HtmlOpt = None,
    pdf: PdfOpt = None,
    lenient: LenientOpt = False,
) -> None:
    """Decision support for one patient: everything `score` gives, the predictor profile, the prediction
    (with --model), ranked treatment options with cautions and references, and alerts. A record that is
    not an SLE patient with thrombocytopenia gets no options and no prediction, with the reason.
    Decision support, not a prescription."""
    # lazy: the decision layer imports the model layer (scipy, pandas: seconds): loaded only by this
    # command, so that every other command (cohort derive on a million patients among them) starts fast
    from sleitp.decision import assess

    rec, mapping = load_input(record, lenient=lenient)
    day = check_assessment_date(rec, parse_at(at), record)
    trained = None
    if model is not None:
        from sleitp.model import load_model  # lazy: the prediction layer is loaded only when asked for

        trained = load_model(model)
    result = assess(rec, day, model=trained)
    if html is not None or pdf is not None:
        _write_reports(result, html, pdf, mapping)
    body = result.to_json()
    emit(body, mapping, as_json, lambda console: print_assessment(result, console))


def _write_reports(result: Assessment, html: Path | None, pdf: Path | None, mapping=None) -> None:
    from sleitp.report import render_html, render_pdf  # lazy: matplotlib and WeasyPrint, only for a report

    try:
        if html is not None:
            html.write_text(render_html(result, mapping=mapping), encoding="utf-8")
        if pdf is not None:
            render_pdf(result, pdf, mapping=mapping)
    except OSError as e:
        raise ReportError(f"cannot write the report to {e.filename or 'the file'}: "
                          f"{(e.strerror or type(e).__name__).lower()}") from None


def print_scope_and_data_age(a: Assessment, console: Console) -> bool:
    """The out-of-scope banner and the data age; True when the patient is in scope."""
    scope, age = a.scope, a.data_age
    if not scope.in_scope:
        console.print(Panel("\n".join(["This record is OUT OF SCOPE for sleitp (immune thrombocytopenia in "
                                       "SLE): no SLE-ITP options and no prediction are given.",
                                       *(f"- {r}" for r in scope.reasons)]),
                            title="OUT OF SCOPE", style="bold yellow", expand=False))
    style = "bold red" if age.stale else "dim"
    console.print(f"[{style}]data age: {age.message}[/{style}]")
    return scope.in_scope


def print_assessment(a: Assessment, console: Console) -> None:
    """The readable form of ``sleitp assess``."""
    in_scope = print_scope_and_data_age(a, console)
    for alert in a.alerts:
        console.print(Panel(alert.render(), title="ALERT", style="bold red", expand=False))
    print_score(a.report, console)
    if not in_scope:
        console.print(f"[dim]{a.to_json()['statement']}[/dim]")
        return

    t = wrapping_table("predictor", "status", "direction", "effect", "population", "sources",
                       title="Predictor profile (published predictors; read at the first line's start)")
    for p in a.predictors:
        value = "" if p.value is None or isinstance(p.value, bool) else f" ({p.value:.3g})"
        t.add_row(
            p.predictor.label,
            p.status + value,
            p.predictor.direction,
            p.predictor.effect,
            f"{p.predictor.population}, {p.predictor.evidence_level}",
            ", ".join(p.predictor.source),
        )
    console.print(t)

    console.print(f"[bold]Prediction:[/bold] {a.prediction_statement}")
    if a.prediction is not None:
        p = a.prediction_json or {}
        lo, hi = (p.get("interval") or [None, None])[:2]
        console.print(
            f"  {p.get('outcome')}: probability {p.get('probability'):.2f} (interval {lo} to {hi}); "
            f"model {(p.get('model') or {}).get('name')}"
        )

    reason = a.plan.setting_reason
    t = wrapping_table(
        "rank", "therapy", "rationale", "cautions / contraindications", "references",
        title=f"Options - setting: {a.plan.setting.name.replace('_', ' ')} ({a.plan.setting.reason}) "
        f"[{', '.join(reason.references)}]",
        show_lines=True,
    )
    for o in a.recommendations:
        notes = [f"[red]CONTRAINDICATED: {c.render()}[/red]" for c in o.contraindications]
        notes += [c.render() for c in o.cautions]
        if o.demoted:
            notes.append(f"ranked lower: {o.demoted}")
        name = f"[strike]{o.therapy}[/strike]" if o.contraindicated else f"[bold]{o.therapy}[/bold]"
        t.add_row(str(o.rank), name, o.rationale, "\n".join(notes), ", ".join(o.all_references))
    if not a.recommendations:
        t.add_row("-", "none", "no ITP-directed treatment is indicated now (see advice)", "", "")
    console.print(t)
    for n in a.plan.advice:
        console.print(f"[cyan]advice:[/cyan] {n.render()}")
    console.print(f"[dim]{a.to_json()['statement']}[/dim]")


__all__ = ["ReportError", "assess_cmd", "print_assessment", "print_scope_and_data_age"]
