"""One patient in: a record file, a parsed JSON document (a record or a FHIR R4 Bundle) or the FHIR resources
of a CDS Hooks prefetch, read the same way by every face (CLI, REST, web page, CDS Hooks).

``read_patient`` is the one dispatcher; ``assessment_date`` is the one rule for the date an assessment is
made on (the one asked for, else the record's; never after today). Errors name the file or the request, the
field and what was expected (:class:`~sleitp.errors.RecordError`, :class:`~sleitp.errors.InputFileError`).
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sleitp.errors import RecordError
from sleitp.fhir import MappingOptions, MappingReport, bundle_to_record_dict, resources_to_record_dict
from sleitp.record import PatientRecord, parse_record, read_json_file

log = logging.getLogger("sleitp.inputs")

__all__ = ["Patient", "assessment_date", "error_location", "future_date_problem", "read_patient"]

WRONG_TYPE = ("a field holds a JSON value of the wrong type (an object or a list where a text or a number is "
              "expected)")


@dataclass(frozen=True)
class Patient:
    """The record read, and for FHIR input the mapping report (what was mapped and what was not, per reason),
    which every face shows so that nothing is dropped unseen. Unpacks as ``record, mapping``."""

    record: PatientRecord
    mapping: MappingReport | None = None

    def __iter__(self):
        return iter((self.record, self.mapping))

    @property
    def notes(self) -> list[str]:
        """Counts of FHIR resources the mapping could not use, by reason (counts only, no content)."""
        if self.mapping is None:
            return []
        unmapped = self.mapping.to_json().get("unmapped") or []
        return [f"{u['count']} FHIR resource(s) not used: {u['reason']}" for u in unmapped if u.get("count")]


def read_patient(data: str | Path | list[dict[str, Any]] | Any, *, source: str | None = None,
                 lenient: bool = False, patient_id: str | None = None, today: date | None = None,
                 from_path: bool = True) -> Patient:
    """One patient from ``data``:

    * a path (``str`` or ``Path``): a JSON file holding a record or a Bundle (named in every error);
    * a parsed JSON document: a record (spec/record.md) or a FHIR R4 Bundle;
    * a list of FHIR resources (a CDS Hooks prefetch) of ``patient_id``: at the point of care the assessment
      date is ``today``, not the date of the last result on file.

    ``lenient``: unknown record fields become warnings instead of errors (docs/record.md). A ``TypeError``
    raised while validating (a JSON object or list where the record layer expects text, which a validator did
    not anticipate) is a bad input, not a fault: a RecordError, with its location (file:line, never the
    message) logged so the validator can be fixed.
    """
    # a request body is never a path: a JSON string sent to the service is a bad record, not a file to read
    if isinstance(data, Path) or (from_path and isinstance(data, str)):
        source = source or str(data)
        data = read_json_file(data)
    try:
        if isinstance(data, list):
            return _from_resources(data, patient_id=patient_id, today=today or date.today(),
                                   source=source or "CDS Hooks prefetch")
        if isinstance(data, dict) and data.get("resourceType") == "Bundle":
            rec, mapping = bundle_to_record_dict(data, source=source)
            return Patient(_parse(rec, source, lenient), mapping)
        return Patient(_parse(data, source, lenient))
    except TypeError as e:
        log.warning("record validation raised TypeError at=%s", error_location(e))
        raise RecordError(None, [WRONG_TYPE], source=source) from None


def _from_resources(resources: list[dict[str, Any]], *, patient_id: str | None, today: date, source: str
                    ) -> Patient:
    options = MappingOptions(as_of=today)
    data, mapping = resources_to_record_dict(resources, patient_id=patient_id, options=options)
    # at the point of care the assessment is made today: not on the last result on file, nor on the last
    # contact (an Encounter the EHR sends), which would measure the data's age from an earlier day
    data["assessment_date"] = today.isoformat()
    return Patient(parse_record(data, source=source), mapping)


def _parse(data: Any, source: str | None, lenient: bool) -> PatientRecord:
    if not lenient:
        return parse_record(data, source=source)
    return parse_record(data, source=source, lenient=True)  # the record layer's keyword (docs/record.md)


def error_location(exc: BaseException) -> str:
    """Where ``exc`` was raised, as the last three file:line (innermost first): a location to fix, logged
    without the message (which may quote patient data)."""
    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    return " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}" for f in reversed(frames))


def assessment_date(record: PatientRecord, at: date | None, today: date, *, option: str = "at",
                    source: str | None = None, name_record: bool = False) -> date:
    """The date of the assessment: ``at``, else the record's; a date after ``today`` is a RecordError naming
    it (with ``option``, the face's name for ``at``: ``--at`` on the command line)."""
    day = at or record.effective_assessment_date
    problem = future_date_problem(day, today)
    if problem:
        named = problem if at is None else f"{option}: {problem}"
        raise RecordError(record.id if name_record else None, [named], source=source)
    return day


def future_date_problem(assessment_date: date, today: date) -> str | None:
    """A message naming ``assessment_date`` when it lies after ``today`` (an error at every face)."""
    if assessment_date > today:
        return (f"assessment_date: {assessment_date.isoformat()} is in the future (today is "
                f"{today.isoformat()}); an assessment is made on data up to today or an earlier date")
    return None
