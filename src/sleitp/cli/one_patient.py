"""One patient: `sleitp score`, `sleitp schema` (and `sleitp assess`, registered by the decision layer)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ..errors import RecordError
from ..record import PatientRecord, parse_date, parse_record, read_json_file, record_json_schema
from ..score import ScoreReport, score
from . import app

RecordArg = Annotated[
    Path, typer.Argument(help="A patient record (.json, spec/record.md) or a FHIR R4 Bundle.")
]
AtOpt = Annotated[
    str | None, typer.Option("--at", help="Assessment date YYYY-MM-DD (default: the record's).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (spec/record.md) instead of tables.")]


def parse_at(at: str | None) -> date | None:
    if at is None:
        return None
    try:
        return parse_date(at)
    except ValueError as e:
        raise RecordError(None, [f"--at: {e}"]) from None


def load_input(path: Path) -> tuple[PatientRecord, dict | None]:
    """A record file or a FHIR R4 Bundle -> the record, and for a Bundle the FHIR mapping report (what was
    mapped and what was not, per reason), which the commands show so nothing is dropped unseen."""
    data = read_json_file(path)
    if isinstance(data, dict) and data.get("resourceType") == "Bundle":
        from ..fhir import bundle_to_record_dict

        rec, report = bundle_to_record_dict(data, source=str(path))
        return parse_record(rec, source=str(path)), report
    return parse_record(data, source=str(path)), None


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


@app.command("score")
def score_cmd(record: RecordArg, at: AtOpt = None, as_json: JsonOpt = False) -> None:
    """Clinical instruments for one patient: platelets, ITP phase, SLEDAI-2K, EULAR/ACR 2019, SLICC 2012,
    WHO bleeding, glucocorticoid exposure, treatment lines and their IWG responses."""
    rec, mapping = load_input(record)
    report = score(rec, parse_at(at))
    emit(report.to_json(), mapping, as_json, lambda console: print_score(report, console))


@app.command("schema")
def schema_cmd() -> None:
    """Print the JSON Schema of the patient record."""
    print(json.dumps(record_json_schema(), indent=2))


def _fmt(x: object, unit: str = "") -> str:
    if x is None:
        return "[dim]unknown[/dim]"
    if isinstance(x, float):
        x = f"{x:.1f}".rstrip("0").rstrip(".")
    return f"{x}{unit}"


def print_score(report: ScoreReport, console: Console) -> None:
    """The readable form of ``sleitp score``: one table per instrument, with what counted and why."""
    r = report
    age = r.record.age_at(r.assessment_date)
    console.print(f"[bold]Patient {r.record.id}[/bold]  assessed at {r.assessment_date}"
                  f"  ({r.record.sex}, age {_fmt(age and round(age))})")
    for w in r.record.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}")

    t = Table(title="Platelets and ITP", show_header=False, title_justify="left")
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
    t.add_row("steroid dependence", f"{_fmt(cd.dependent)}  [dim]{cd.detail}[/dim]")
    console.print(t)

    for title, res, extra in (
        (f"SLEDAI-2K = {r.sledai.score} (window {r.sledai.window_days} days)", r.sledai, ""),
        (f"2019 EULAR/ACR: {r.eular_acr.points} points, "
         f"{'classified' if r.eular_acr.classified else 'not classified'}"
         f"{'' if r.eular_acr.entry_criterion else ' (entry criterion ANA >= 1:80 not met)'}",
         r.eular_acr, ""),
        (f"SLICC 2012: {'classified' if r.slicc.classified else 'not classified'}", r.slicc, r.slicc.rule),
    ):
        t = Table(title=title, title_justify="left", caption=extra or None)
        for col in ("item", "points", "date", "from"):
            t.add_column(col)
        for f in res.findings:
            t.add_row(f.name, "—" if f.points is None else _fmt(f.points), _fmt(f.date),
                      f"{f.detail} [dim][{f.source or res.source}][/dim]")
        console.print(t)

    t = Table(title="Treatment lines and IWG response [IWG2009]", title_justify="left")
    for col in ("line", "agents", "start", "baseline", "response", "time to R", "time to CR",
                "loss of response"):
        t.add_column(col)
    for x in r.responses:
        t.add_row(str(x.line), ", ".join(x.agents), str(x.start), _fmt(x.baseline_platelets), x.category,
                  _fmt(x.time_to_response_days, " d"), _fmt(x.time_to_complete_response_days, " d"),
                  _fmt(x.loss_of_response_date))
    if not r.responses:
        t.add_row("-", "no ITP-directed treatment recorded", "", "", "", "", "", "")
    console.print(t)
