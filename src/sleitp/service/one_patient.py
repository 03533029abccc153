"""One patient in, one result out: the thin bridge from request bodies to ``sleitp.score`` /
``sleitp.decision.assess`` shared by the REST API and the web page. No clinical logic here."""

from __future__ import annotations

from datetime import date
from typing import Any

from sleitp.decision import Assessment, assess
from sleitp.errors import RecordError
from sleitp.inputs import Patient, assessment_date, read_patient
from sleitp.record import PatientRecord, parse_date
from sleitp.score import score

__all__ = ["OnePatient", "assess_json", "check_assessment_date", "input_from_json", "parse_at",
           "run_assess", "score_json"]


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
    body = a.to_json()
    if mapping is not None:
        body["fhir_mapping"] = mapping.to_json()
    return body
