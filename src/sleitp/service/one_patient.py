"""One patient in, one result out: the thin bridge from request bodies to ``sleitp.score`` /
``sleitp.decision.assess`` shared by the REST API and the web page. No clinical logic here."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from sleitp.decision import Assessment, assess
from sleitp.decision.data_age import with_scope_and_data_age
from sleitp.errors import RecordError
from sleitp.inputs import Patient, assessment_date, read_patient
from sleitp.record import PatientRecord, parse_date
from sleitp.score import score
from sleitp.service.problems import Problem

__all__ = ["OnePatient", "assess_json", "check_assessment_date", "decode_json", "input_from_json", "parse_at",
           "run_assess", "score_json"]


def decode_json(raw: bytes, *, what: str = "the request body") -> Any:
    """Parse JSON bytes or raise a 400 problem saying where the JSON is broken."""
    if not raw.strip():
        raise Problem(400, f"{what} is empty; expected a patient record or a FHIR Bundle as JSON")
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise Problem(400, f"{what} is not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise Problem(400, f"{what} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    except RecursionError:
        raise Problem(400, f"{what} nests too deeply to be a patient record") from None


# a request's patient: the record and, for a FHIR Bundle, the mapping report (sleitp.inputs)
OnePatient = Patient


def input_from_json(data: Any, *, source: str | None = None, lenient: bool = False) -> OnePatient:
    """The record (strict; ``lenient``: unknown fields become warnings) and the FHIR mapping report."""
    return read_patient(data, source=source, lenient=lenient, from_path=False)


def check_assessment_date(record: PatientRecord, at: date | None, today: date) -> date:
    """The assessment date (``at``, else the record's); one after ``today`` is a RecordError naming it."""
    return assessment_date(record, at, today)


def parse_at(at: str | None) -> date | None:
    if at is None or at == "":
        return None
    try:
        return parse_date(at)
    except ValueError as e:
        raise RecordError(None, [f"at: {e}"]) from None


def score_json(record: PatientRecord, at: date | None) -> dict[str, Any]:
    return score(record, at).to_json()


def run_assess(record: PatientRecord, at: date | None, model: Any = None) -> Assessment:
    return assess(record, at, model=model)


def assess_json(record: PatientRecord, at: date | None, model: Any = None, mapping: Any = None
                ) -> dict[str, Any]:
    """The ``sleitp assess --json`` document (with ``scope``, ``data_age``; ``fhir_mapping`` for a Bundle)."""
    a = run_assess(record, at, model)
    body = with_scope_and_data_age(a, a.to_json())
    if mapping is not None:
        body["fhir_mapping"] = mapping.to_json()
    return body
