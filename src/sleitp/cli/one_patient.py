"""One patient: `sleitp score`, `sleitp schema` (and `sleitp assess`, registered by the decision layer)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from sleitp.cli import app
from sleitp.errors import RecordError
from sleitp.inputs import Patient, assessment_date, read_patient
from sleitp.record import PatientRecord, parse_date, record_json_schema
from sleitp.score import ScoreReport, score
from sleitp.text import value

RecordArg = Annotated[
    Path, typer.Argument(help="A patient record (.json, spec/record.md) or a FHIR R4 Bundle.")
]
AtOpt = Annotated[
    str | None, typer.Option("--at", help="Assessment date YYYY-MM-DD (default: the record's).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (docs/record.md) instead of tables.")]
LenientOpt = Annotated[bool, typer.Option(
    "--lenient", help="Accept unknown fields in the record as warnings (shown in every output) instead of "
    "refusing the record.")]


def parse_at(at: str | None) -> date | None:
    if at is None:
        return None
    try:
        return parse_date(at)
    except ValueError as e:
        raise RecordError(None, [f"--at: {e}"]) from None


def load_input(path: Path, *, lenient: bool = False) -> Patient:
    """A record file or a FHIR R4 Bundle -> the record, and for a Bundle the FHIR mapping report (what was
    mapped and what was not, per reason), which the commands show so nothing is dropped unseen."""
    return read_patient(path, lenient=lenient)


def check_assessment_date(record: PatientRecord, at: date | None, path: Path) -> date:
    """The assessment date (``--at``, else the record's); a date after today is an error naming it."""
    return assessment_date(record, at, date.today(), option="--at", source=str(path), name_record=True)


def emit(result: dict, mapping, as_json: bool, print_tables) -> None:
    """Print a result as JSON (with the FHIR mapping report under ``fhir_mapping`` when the input was a
    Bundle) or as tables (the mapping report first)."""
    if as_json:
        if mapping is not None:
            result = {**result, "fhir_mapping": mapping.to_json()}
        print(json.dumps(result, indent=2))
        return
    console = Console()
    if mapping is not None:
        console.print(mapping)
    print_tables(console)


DATE_COLUMNS = frozenset({"date", "start", "end", "lost on"})


def wrapping_table(*columns: str, **kw) -> Table:
    """A table whose cells wrap (never cut with an ellipsis), so agents and counts stay whole at 80 columns
    and when piped; a date column keeps its 10 characters on one line."""
    t = Table(title_justify="left", **kw)
    for col in columns:
        if col in DATE_COLUMNS:
            t.add_column(col, min_width=10, no_wrap=True)
        else:
            t.add_column(col, overflow="fold")
    return t


@app.command("score")
def score_cmd(record: RecordArg, at: AtOpt = None, as_json: JsonOpt = False, lenient: LenientOpt = False
              ) -> None:
    """Clinical instruments for one patient: platelets, ITP phase, SLEDAI-2K, EULAR/ACR 2019, SLICC 2012,
    WHO bleeding, glucocorticoid exposure, treatment lines and their IWG responses."""
    rec, mapping = load_input(record, lenient=lenient)
    report = score(rec, check_assessment_date(rec, parse_at(at), record))
    emit(report.to_json(), mapping, as_json, lambda console: print_score(report, console))


@app.command("schema")
def schema_cmd() -> None:
    """Print the JSON Schema of the patient record."""
    print(json.dumps(record_json_schema(), indent=2))


def _dash(x: object) -> str:
    return "-" if x is None else str(x)


def _yes_no(x: bool | None) -> str:
    """A boolean in words (never Python's True/False)."""
    return "[dim]unknown[/dim]" if x is None else ("yes" if x else "no")




def _fmt(x: object, unit: str = "") -> str:
    return value(x, unit, missing="[dim]unknown[/dim]")  # dimmed in the terminal


def print_score(report: ScoreReport, console: Console) -> None:
    """The readable form of ``sleitp score``: one table per instrument, with what counted and why."""
    r = report
    age = r.record.age_at(r.assessment_date)
    console.print(f"[bold]Patient {r.record.id}[/bold]  assessed at {r.assessment_date}"
                  f"  ({r.record.sex}, age {_fmt(age and round(age))})")
    for w in r.record.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}")

    t = Table(title="Platelets and ITP", show_header=False, title_justify="left")
    t.add_column(overflow="fold")
    t.add_column(overflow="fold")
    p = r.platelets
    t.add_row("latest", f"{_fmt(p.latest, ' x10^9/L')} on {_fmt(p.latest_date)}")
    t.add_row("nadir", f"{_fmt(p.nadir, ' x10^9/L')} on {_fmt(p.nadir_date)}")
    t.add_row("grade", f"{_fmt(r.thrombocytopenia.grade)}  [dim]{r.thrombocytopenia.detail} "
                       f"[{r.thrombocytopenia.source}][/dim]")
    t.add_row("ITP phase", f"{_fmt(r.itp.phase)}  [dim]{_fmt(r.itp.months_since_diagnosis)} months since "
                           f"diagnosis ({r.itp.diagnosis_basis}) [{r.itp.source}][/dim]")
    t.add_row("WHO bleeding", f"{_fmt(r.bleeding.who_grade)}  [dim]worst in the last "
                              f"{r.bleeding.window_days} days"
                              f"{' (' + r.bleeding.site + ')' if r.bleeding.site else ''} "
                              f"[{r.bleeding.source}][/dim]")
    gc = r.glucocorticoids
    t.add_row("glucocorticoids", f"{_fmt(gc.prednisone_equivalent_mg_day, ' mg/day')} "
                                 "prednisone-equivalent now; "
                                 f"{_fmt(gc.cumulative_prednisone_equivalent_mg, ' mg')} cumulative "
                                 f"[dim][{gc.source}][/dim]")
    for u in gc.unknown_amounts:
        t.add_row("", f"[yellow]{u}[/yellow]")
    cd = r.corticosteroid_dependence
    t.add_row("steroid dependence", f"{_yes_no(cd.dependent)}  [dim]{cd.detail}[/dim]")
    console.print(t)

    for title, res, extra in (
        (f"SLEDAI-2K = {r.sledai.score} (window {r.sledai.window_days} days)", r.sledai, ""),
        (f"2019 EULAR/ACR: {r.eular_acr.points} points, "
         f"{'classified' if r.eular_acr.classified else 'not classified'}"
         f"{'' if r.eular_acr.entry_criterion else ' (entry criterion ANA >= 1:80 not met)'}",
         r.eular_acr, ""),
        (f"SLICC 2012: {'classified' if r.slicc.classified else 'not classified'}", r.slicc, r.slicc.rule),
    ):
        t = wrapping_table("item", "points", "date", "from", title=title, caption=extra or None)
        for f in res.findings:
            t.add_row(f.name, "—" if f.points is None else _fmt(f.points), _fmt(f.date),
                      f"{f.detail} [dim][{f.source or res.source}][/dim]")
        console.print(t)

    # a narrow layout (no outer edge, times to R and CR in one column): whole at 80 columns
    t = wrapping_table("line", "agents", "start", "baseline", "days to R/CR", "IWG and state",
                       title="Treatment lines and IWG response [IWG2009]", box=box.SIMPLE_HEAD,
                       show_edge=False)
    # agent names stay whole (the longest name is the column's minimum width)
    t.columns[1].min_width = max((len(a) for x in r.responses for a in x.agents), default=6)
    for x in r.responses:
        t.add_row(str(x.line), ", ".join(x.agents), str(x.start), _fmt(x.baseline_platelets),
                  f"{_dash(x.time_to_response_days)}/{_dash(x.time_to_complete_response_days)}",
                  x.status_text)
    if not r.responses:
        t.add_row("-", "no ITP-directed treatment recorded", "", "", "", "")
    t.caption = ("days to R/CR: days to response / complete response; '-': not reached or not evaluable; "
                 "state: the IWG category on its agents' clock (docs/iwg-response.md)")
    console.print(t)
    other = [c for c in r.courses if c.role != "itp_line"]
    if other:
        t = wrapping_table("agent", "start", "end", "read as", "why", title="Courses that are not ITP lines",
                           box=box.SIMPLE_HEAD, show_edge=False)
        for c in other:
            t.add_row(c.agent, str(c.start), _dash(c.end), c.role.replace("_", " "), c.reason)
        console.print(t)
