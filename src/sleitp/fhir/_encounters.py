"""Encounter -> the patient's last contact, which becomes the record's assessment date.

A FHIR export has no "assessment date": the record's ``assessment_date`` (spec/record.md: the day the
responses are judged and the data are "as of") would otherwise be the latest date of a lab, diagnosis or
treatment, usually the last platelet count, days to months before the patient was last seen. The last
contact is what a cohort's follow-up ends on, and what the bedside data-age warnings are measured from
(docs/fhir.md "Assessment date"). Which Encounters are a contact:

- ``status`` one that says the patient was there [FHIR-R4-ENCOUNTER] encounter-status: arrived, triaged,
  in-progress, onleave, finished. planned, cancelled, entered-in-error and unknown are not contacts.
- ``class`` (v3 ActCode, ActEncounterCode [FHIR-R4-ENCOUNTER]) an in-person contact at a facility, where a
  count is drawn and bleeding examined: AMB, EMER, IMP, ACUTE, NONAC, OBSENC, SS. Virtual (VR), home health
  (HH), field (FLD) and pre-admission (PRENC) contacts are not (clinical review of 2026-12-04: a follow-up
  end that no blood count could have been taken at would let a line's time run without a count).
- its day: a finished contact's ``period.end`` (else its start); one still going on, its ``period.start``
  (an end there is a forecast). A day after the day the data are as of (a bulk export's transactionTime,
  else today, UTC) plus one (a contact written in a time zone east of UTC may be a day ahead) is not a
  contact that took place: it is counted as not mapped and never moves the assessment date into the future
  (hazard log, section 4).

The line statuses still need a current platelet count to call a failure (docs/iwg-response.md §11), so a
late contact without a count leaves a line under evaluation, never failed by the calendar.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sleitp.fhir._context import Context
from sleitp.fhir._parse import Res, fhir_date

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CONTACT_STATUSES = ("arrived", "triaged", "in-progress", "onleave", "finished")  # [FHIR-R4-ENCOUNTER]
IN_PERSON_CLASSES = ("AMB", "EMER", "IMP", "ACUTE", "NONAC", "OBSENC", "SS")  # [FHIR-R4-ENCOUNTER]
# reasons an Encounter is not a contact (the SQL mapping, sleitp.cohort.sources.fhir_views, says the same)
NOT_A_CONTACT = "Encounter: status '{}' (not a contact that took place)"
NOT_IN_PERSON = "Encounter: class {} (not an in-person contact at a facility)"
OTHER_SYSTEM = "not of the v3 ActCode system"
NO_DATE = "Encounter: no period start or end date"
IN_THE_FUTURE = "Encounter: dated after the data (not a contact that took place)"


def latest_possible_day(as_of: date | None = None) -> date:
    """The last day a contact can be on: the day after ``as_of`` (default today, UTC; module docstring)."""
    return (as_of or datetime.now(UTC).date()) + timedelta(days=1)


def contact_day(status: str | None, start: str | None, end: str | None) -> date | None:
    """The day of a contact: a finished one's end, else its start (FHIR dates as written)."""
    if status == "finished":
        return fhir_date(end) or fhir_date(start)
    return fhir_date(start)


def map_encounter(res: Res, ctx: Context) -> None:
    raw, report = res.raw, ctx.report
    status = raw.get("status")
    if status not in CONTACT_STATUSES:
        report.skip(NOT_A_CONTACT.format(status), res.ref)
        return
    klass = raw.get("class") or {}
    code = klass.get("code") if klass.get("system") == ACT_CODE else None
    if code not in IN_PERSON_CLASSES:
        shown = f"'{klass.get('code')}'" if klass.get("system") == ACT_CODE else OTHER_SYSTEM
        report.skip(NOT_IN_PERSON.format(shown), res.ref)
        return
    period = raw.get("period") or {}
    day = contact_day(status, period.get("start"), period.get("end"))
    if day is None:
        report.skip(NO_DATE, res.ref)
        return
    if day > latest_possible_day(ctx.options.as_of):
        report.skip(IN_THE_FUTURE, res.ref)
        return
    ctx.contacts.append((day, res.ref))
    report.map("Encounter")


__all__ = ["contact_day", "latest_possible_day", "map_encounter"]
