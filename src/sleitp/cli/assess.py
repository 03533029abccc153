"""`sleitp assess`: scores, predictor profile, prediction, ranked cited options and alerts for one patient;
optionally the printable HTML/PDF report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

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
    emit(body, mapping, as_json, result)


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


__all__ = ["ReportError", "assess_cmd"]
