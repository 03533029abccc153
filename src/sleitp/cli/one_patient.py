"""One patient: `sleitp score`, `sleitp schema` (and `sleitp assess`, registered by the decision layer)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console, RenderableType

from sleitp.cli import app
from sleitp.errors import RecordError
from sleitp.inputs import Patient, assessment_date, read_patient
from sleitp.record import PatientRecord, parse_date, record_json_schema
from sleitp.score import score

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


def emit(result: dict, mapping, as_json: bool, view: RenderableType) -> None:
    """Print a result as JSON (with the FHIR mapping report under ``fhir_mapping`` when the input was a
    Bundle) or as the result object's own view (the mapping report first)."""
    if as_json:
        if mapping is not None:
            result = {**result, "fhir_mapping": mapping.to_json()}
        print(json.dumps(result, indent=2))
        return
    console = Console()
    if mapping is not None:
        console.print(mapping)
    console.print(view)


@app.command("score")
def score_cmd(record: RecordArg, at: AtOpt = None, as_json: JsonOpt = False, lenient: LenientOpt = False
              ) -> None:
    """Clinical instruments for one patient: platelets, ITP phase, SLEDAI-2K, EULAR/ACR 2019, SLICC 2012,
    WHO bleeding, glucocorticoid exposure, treatment lines and their IWG responses."""
    rec, mapping = load_input(record, lenient=lenient)
    report = score(rec, check_assessment_date(rec, parse_at(at), record))
    emit(report.to_json(), mapping, as_json, report)


@app.command("schema")
def schema_cmd() -> None:
    """Print the JSON Schema of the patient record."""
    print(json.dumps(record_json_schema(), indent=2))

