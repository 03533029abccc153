"""Glucocorticoid exposure in prednisone equivalents (current daily and cumulative).

Every glucocorticoid course of the record is turned into prednisone-equivalent milligrams with the
equivalence of spec/record.md and clinical.md §1.8 [GC-EQUIV]:

    prednisone 5 mg = prednisolone 5 mg = methylprednisolone 4 mg = dexamethasone 0.75 mg
    = hydrocortisone 20 mg

(dexamethasone 0.6 mg in the formulary table: a parameter, see docs/iwg-response.md).

How a course's amount is read (docs/iwg-response.md, "Glucocorticoid exposure"):

- ``dose`` with ``dose_unit`` ``mg`` is the amount of one administration; ``mg/kg``, ``g/kg`` and ``ug/kg``
  are multiplied by the record's ``weight_kg``; without a weight the amount is unknown, and said so in
  ``unknown_amounts`` (never guessed, never silently dropped). ``mg/m2`` is multiplied by the body-surface
  area from ``weight_kg`` and ``height_cm`` (Mosteller formula [MOSTELLER1987]); without either the amount
  is unknown, and said so.
- ``frequency``: ``daily`` (also ``qd``, ``od``, ``once daily``), ``bid``, ``tid``, ``qid``, ``weekly`` (one
  administration on the start day and every 7 days after), ``once`` (a single administration on the start
  day). A missing frequency is read as ``daily``: a glucocorticoid course in an ITP record is a daily
  course unless said otherwise (the regimens of clinical.md §1.8 are all daily). A frequency not in this
  list makes the amount unknown (and says which words are understood).
- A course without a dose has an unknown amount.
- A course counts from its start through ``min(end, at)`` inclusive; a course with no end runs through
  ``at`` (spec/record.md "A treatment's end"). Courses starting after ``at`` are not exposure yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sleitp.instruments._base import Result
from sleitp.record import GLUCOCORTICOIDS, PatientRecord, Treatment, body_surface_area_m2
from sleitp.timeline import SINGLE_DOSE_WORDS as _ONCE
from sleitp.timeline import is_running

# [GC-EQUIV] milligrams of each agent equivalent to 5 mg prednisone (dexamethasone: a parameter)
MG_EQUIVALENT_TO_5MG_PREDNISONE: dict[str, float] = {
    "prednisone": 5.0,  # [GC-EQUIV]
    "prednisolone": 5.0,  # [GC-EQUIV]
    "methylprednisolone": 4.0,  # [GC-EQUIV]
    "hydrocortisone": 20.0,  # [GC-EQUIV]
}
# [GC-EQUIV] dexamethasone 0.75 mg in most sources; 0.6 mg in the formulary table (clinical.md §1.8)
DEXAMETHASONE_MG_PER_5MG_PREDNISONE = 0.75
_DEX = DEXAMETHASONE_MG_PER_5MG_PREDNISONE

# administrations a day for each understood frequency word; "weekly" and "once" are handled apart
_PER_DAY = {"daily": 1.0, "qd": 1.0, "od": 1.0, "once daily": 1.0, "once a day": 1.0,
            "bid": 2.0, "twice daily": 2.0, "tid": 3.0, "qid": 4.0}
_WEEKLY = {"weekly", "once weekly", "once a week", "qw", "qwk"}
UNDERSTOOD_FREQUENCIES = ("daily", "bid", "tid", "qid", "weekly", "once")


class GlucocorticoidCourse(Result):
    agent: str
    start: date
    end: date | None
    daily_prednisone_equivalent_mg: float | None  # None: amount unknown (no dose, or mg/kg without weight)
    cumulative_prednisone_equivalent_mg: float | None
    note: str = ""
    frequency: str = "daily"  # as understood: daily | bid | tid | qid | weekly | once
    administration_prednisone_equivalent_mg: float | None = None  # one administration, prednisone-eq mg


class Glucocorticoids(Result):
    prednisone_equivalent_mg_day: float | None  # at the assessment date; 0.0 when none is running
    cumulative_prednisone_equivalent_mg: float
    courses: list[GlucocorticoidCourse]
    unknown_amounts: list[str]  # courses whose amount could not be computed, and why
    dexamethasone_mg_per_5mg_prednisone: float
    source: str = "GC-EQUIV"


@dataclass(frozen=True)
class _Reading:
    """One course read into prednisone-equivalent numbers (internal)."""

    frequency: str | None  # daily | bid | tid | qid | weekly | once; None: not understood
    per_day: float  # administrations a day for daily-type frequencies
    administration_mg: float | None  # prednisone-eq mg of one administration; None: unknown
    why_unknown: str  # empty when the amount is known
    note: str


def prednisone_factor(agent: str, dexamethasone_mg_per_5mg_prednisone: float = _DEX) -> float:
    """Prednisone-equivalent mg per mg of ``agent`` [GC-EQUIV] (dexamethasone 5/0.75 = 6.667 by default)."""
    if agent == "dexamethasone":
        _check_dexamethasone(dexamethasone_mg_per_5mg_prednisone)
        return 5.0 / dexamethasone_mg_per_5mg_prednisone  # [GC-EQUIV]
    if agent not in MG_EQUIVALENT_TO_5MG_PREDNISONE:
        raise ValueError(f"agent: {agent!r} is not a glucocorticoid "
                         f"(expected one of {', '.join(GLUCOCORTICOIDS)})")
    return 5.0 / MG_EQUIVALENT_TO_5MG_PREDNISONE[agent]  # [GC-EQUIV]


def _check_dexamethasone(mg: float) -> None:
    if not (isinstance(mg, (int, float)) and mg > 0):
        raise ValueError(f"dexamethasone_mg_per_5mg_prednisone: expected a positive number of mg "
                         f"(0.75 or 0.6 per clinical.md §1.8), got {mg!r}")


def _read(course: Treatment, weight_kg: float | None, dex: float,
          height_cm: float | None = None) -> _Reading:
    freq_text = (course.frequency or "").strip().lower()
    notes: list[str] = []
    if not freq_text:
        frequency, per_day = "daily", 1.0
        notes.append("no frequency given: daily assumed")
    elif freq_text in _PER_DAY:
        per_day = _PER_DAY[freq_text]
        frequency = {1.0: "daily", 2.0: "bid", 3.0: "tid", 4.0: "qid"}[per_day]
    elif freq_text in _WEEKLY:
        frequency, per_day = "weekly", 1.0 / 7.0
    elif freq_text in _ONCE:
        frequency, per_day = "once", 1.0
    else:
        return _Reading(None, 0.0, None,
                        f"frequency {course.frequency!r} is not understood (expected one of "
                        f"{', '.join(UNDERSTOOD_FREQUENCIES)})", "")
    if course.dose is None:
        return _Reading(frequency, per_day, None, "no dose given", "; ".join(notes))
    unit = course.dose_unit
    if unit == "mg":
        mg = course.dose
    elif unit == "mg/m2":
        bsa = body_surface_area_m2(weight_kg, height_cm)  # [MOSTELLER1987]
        if bsa is None:
            needed = (("weight_kg", weight_kg), ("height_cm", height_cm))
            lacking = " and ".join(n for n, v in needed if v is None)
            return _Reading(frequency, per_day, None,
                            f"dose {course.dose:g} mg/m2 needs the body-surface area, i.e. the patient's "
                            f"weight_kg and height_cm; the record lacks {lacking}",
                            "; ".join(notes))
        mg = course.dose * bsa
        notes.append(f"{course.dose:g} mg/m2 x {bsa:.2f} m2 (Mosteller, {height_cm:g} cm, {weight_kg:g} kg) "
                     f"= {mg:g} mg")
    else:
        if weight_kg is None:
            return _Reading(frequency, per_day, None,
                            f"dose {course.dose:g} {unit} needs the patient's weight_kg, "
                            "which the record lacks",
                            "; ".join(notes))
        per_kg_mg = {"mg/kg": 1.0, "g/kg": 1000.0, "ug/kg": 0.001}[unit]  # unit arithmetic
        mg = course.dose * per_kg_mg * weight_kg
        notes.append(f"{course.dose:g} {unit} x {weight_kg:g} kg = {mg:g} mg")
    administration = mg * prednisone_factor(course.agent, dex)  # [GC-EQUIV]
    return _Reading(frequency, per_day, administration, "", "; ".join(notes))


def _last_day(course: Treatment, at: date) -> date:
    """Last day the course counts: its end (inclusive), else ``at``; never after ``at`` (spec/record.md)."""
    return at if course.end is None or course.end > at else course.end


def _administrations(reading: _Reading, course: Treatment, at: date) -> float:
    """Number of administrations from the start through min(end, at) inclusive."""
    last = _last_day(course, at)
    if last < course.start:
        return 0.0
    days = (last - course.start).days + 1
    if reading.frequency == "once":
        return 1.0  # a single dose on the start day
    if reading.frequency == "weekly":
        return float((days - 1) // 7 + 1)  # start day, then every 7 days
    return days * reading.per_day


def course_daily_prednisone_equivalent(course: Treatment, weight_kg: float | None, *,
                                       dexamethasone_mg_per_5mg_prednisone: float = _DEX,
                                       height_cm: float | None = None) -> float | None:
    """Prednisone-equivalent mg a day of one glucocorticoid course while it runs (None: amount unknown).

    Daily-type frequencies: one administration x administrations a day; weekly: one administration / 7
    (the average day); once: the single administration (on its start day).
    """
    r = _read(course, weight_kg, dexamethasone_mg_per_5mg_prednisone, height_cm)
    if r.administration_mg is None:
        return None
    return r.administration_mg * r.per_day


def glucocorticoid_exposure(record: PatientRecord, at: date, *,
                            dexamethasone_mg_per_5mg_prednisone: float = _DEX) -> Glucocorticoids:
    """Current (at ``at``) and cumulative (through ``at``) glucocorticoid exposure, prednisone-equivalent mg.

    ``prednisone_equivalent_mg_day`` is the sum of the daily equivalents of the courses running at ``at``
    (0.0 when none runs; None when a running course's amount is unknown). The cumulative sum leaves out
    courses of unknown amount, and ``unknown_amounts`` names each of them with the reason.
    """
    _check_dexamethasone(dexamethasone_mg_per_5mg_prednisone)
    dex = dexamethasone_mg_per_5mg_prednisone
    courses: list[GlucocorticoidCourse] = []
    unknown: list[str] = []
    current: float | None = 0.0
    cumulative = 0.0
    for c in record.treatments:
        if c.agent not in GLUCOCORTICOIDS or c.start > at:
            continue
        r = _read(c, record.weight_kg, dex, record.height_cm)
        daily = None if r.administration_mg is None else r.administration_mg * r.per_day
        total = None if r.administration_mg is None else r.administration_mg * _administrations(r, c, at)
        if r.why_unknown:
            unknown.append(f"{c.agent} course starting {c.start.isoformat()}: {r.why_unknown}")
        else:
            cumulative += total
        if is_running(c, at):
            current = None if (current is None or daily is None) else current + daily
        courses.append(GlucocorticoidCourse(
            agent=c.agent, start=c.start, end=c.end, daily_prednisone_equivalent_mg=daily,
            cumulative_prednisone_equivalent_mg=total,
            note="; ".join(x for x in (r.note, r.why_unknown) if x),
            frequency=r.frequency or (c.frequency or ""),
            administration_prednisone_equivalent_mg=r.administration_mg,
        ))
    return Glucocorticoids(
        prednisone_equivalent_mg_day=current, cumulative_prednisone_equivalent_mg=cumulative, courses=courses,
        unknown_amounts=unknown, dexamethasone_mg_per_5mg_prednisone=dex,
    )


__all__ = ["DEXAMETHASONE_MG_PER_5MG_PREDNISONE", "MG_EQUIVALENT_TO_5MG_PREDNISONE", "UNDERSTOOD_FREQUENCIES",
           "GlucocorticoidCourse", "Glucocorticoids", "course_daily_prednisone_equivalent",
           "glucocorticoid_exposure", "is_running", "prednisone_factor"]
