"""One patient in, one result out: the thin bridge from request bodies to ``sleitp.score`` /
``sleitp.decision.assess`` shared by the REST API and the web page. No clinical logic here."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

from sleitp.errors import RecordError
from sleitp.record import PatientRecord, parse_date, parse_record
from sleitp.service.problems import where

log = logging.getLogger("sleitp.service")

__all__ = ["OnePatient", "assess_json", "check_assessment_date", "decode_json", "input_from_json", "parse_at",
           "record_from_json", "run_assess", "score_json"]


def decode_json(raw: bytes, *, what: str = "the request body") -> Any:
    """Parse JSON bytes or raise a 400 problem saying where the JSON is broken."""
    from sleitp.service.problems import Problem

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


@dataclass(frozen=True)
class OnePatient:
    """A request's patient: the record and, for a FHIR Bundle, the mapping report (what was not mapped)."""

    record: PatientRecord
    mapping: Any = None  # sleitp.fhir MappingReport, or None for a sleitp record


def input_from_json(data: Any, *, source: str | None = None, lenient: bool = False) -> OnePatient:
    """The record (strict; ``lenient``: unknown fields become warnings) and the FHIR mapping report."""
    try:
        if isinstance(data, dict) and data.get("resourceType") == "Bundle":
            from sleitp.fhir import bundle_to_record_dict

            rec, mapping = bundle_to_record_dict(data, source=source)
            return OnePatient(_parse(rec, source, lenient), mapping)
        return OnePatient(_record_from_json(data, source=source, lenient=lenient))
    except TypeError as e:
        log.warning("record validation raised TypeError at=%s", where(e))
        raise RecordError(None, ["a field holds a JSON value of the wrong type (an object or a list where "
                                 "a text or a number is expected)"], source=source) from None


def _parse(data: Any, source: str | None, lenient: bool) -> PatientRecord:
    if not lenient:
        return parse_record(data, source=source)
    return parse_record(data, source=source, lenient=True)  # the record layer's keyword (docs/record.md)


def check_assessment_date(record: PatientRecord, at: date | None, today: date) -> date:
    """The assessment date (``at``, else the record's); one after ``today`` is a RecordError naming it."""
    from sleitp.decision.data_age import future_date_problem

    day = at or record.effective_assessment_date
    problem = future_date_problem(day, today)
    if problem:
        raise RecordError(None, [problem if at is None else f"at: {problem}"])
    return day


def record_from_json(data: Any, *, source: str | None = None) -> PatientRecord:
    """A record (spec/record.md) or a FHIR R4 Bundle, as ``sleitp score``/``assess`` accept them.

    A ``TypeError`` raised while validating (a JSON object or list where the record layer expects text,
    which a validator did not anticipate) is a bad input, not a server fault: it is answered 422 and its
    location (file:line, never the message) logged so the validator can be fixed.
    """
    try:
        return _record_from_json(data, source=source)
    except TypeError as e:
        log.warning("record validation raised TypeError at=%s", where(e))
        raise RecordError(None, ["a field holds a JSON value of the wrong type (an object or a list where "
                                 "a text or a number is expected)"], source=source) from None


def _record_from_json(data: Any, *, source: str | None = None, lenient: bool = False) -> PatientRecord:
    if isinstance(data, dict) and data.get("resourceType") == "Bundle":
        from sleitp.fhir import bundle_to_record

        return bundle_to_record(data, source=source)
    if isinstance(data, dict) and isinstance(data.get("resourceType"), str):
        raise RecordError(None, [f"resourceType: a FHIR {data['resourceType']!r} was sent; expected a "
                                 "patient record or a FHIR Bundle"], source=source)
    return _parse(data, source, lenient)


def parse_at(at: str | None) -> date | None:
    if at is None or at == "":
        return None
    try:
        return parse_date(at)
    except ValueError as e:
        raise RecordError(None, [f"at: {e}"]) from None


def score_json(record: PatientRecord, at: date | None) -> dict[str, Any]:
    from sleitp.score import score

    return score(record, at).to_json()


def run_assess(record: PatientRecord, at: date | None, model: Any = None) -> Any:
    from sleitp.decision import assess

    return assess(record, at, model=model)


def assess_json(record: PatientRecord, at: date | None, model: Any = None, mapping: Any = None
                ) -> dict[str, Any]:
    """The ``sleitp assess --json`` document (with ``scope``, ``data_age``; ``fhir_mapping`` for a Bundle)."""
    from sleitp.decision.data_age import with_scope_and_data_age

    a = run_assess(record, at, model)
    body = with_scope_and_data_age(a, a.to_json())
    if mapping is not None:
        body["fhir_mapping"] = mapping.to_json()
    return body
