"""MedicationRequest / MedicationStatement / MedicationAdministration -> ``treatments[]``.

Rules (docs/fhir.md):

- The agent comes from a code of codes.yaml (RxNorm ingredient or product, ATC, SNOMED product or
  substance) on the medication concept, on the referenced Medication (contained ``#id`` or in the
  Bundle) or on its ingredients; failing a known code, from the medication's text/display matched
  against the sleitp agent names and common synonyms (whole words; a text naming two agents is not
  mapped). Anything else: "medication not an ITP/SLE agent".
- One course per ``dosageInstruction`` (a taper with three steps is three courses), dated by its
  ``timing.repeat.boundsPeriod`` (start and end inclusive [FHIR-R4]); without it, ``authoredOn``.
  When the dosage text ("for 7 days") and the structured period disagree, the structured period is used
  and the conflict is noted.
- Dose from ``doseAndRate[0].doseQuantity``: mg/g/ug, mg/kg, g/kg, ug/kg, mg/m2 as such; tablets x the tablet
  strength (the Medication's ingredient strength, else the product code's strength in codes.yaml).
- Frequency from ``timing.repeat`` (1, 2, 3, 4 a day -> daily, bid, tid, qid; 1 a week -> weekly;
  count 1 -> once) or ``timing.code`` (QD, BID, TID, QID).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from sleitp.fhir._codes import agents_named_in
from sleitp.fhir._context import Context
from sleitp.fhir._parse import Res, duration_days, error_fields, fhir_date, plus_days
from sleitp.record import Treatment

# [FHIR-R4] medicationrequest-status / intent, medication-statement-status, medication-admin-status
REQUEST_USED = ("active", "completed", "stopped", "on-hold")
REQUEST_ORDER_INTENTS = ("order", "original-order", "reflex-order", "filler-order", "instance-order")
STATEMENT_USED = ("active", "completed", "stopped", "on-hold")
ADMIN_USED = ("completed", "in-progress")

_MASS_MG = {"mg": 1.0, "g": 1000.0, "ug": 0.001, "mcg": 0.001, "µg": 0.001}
_PER_KG = {"mg/kg": "mg/kg", "g/kg": "g/kg", "ug/kg": "ug/kg", "mcg/kg": "ug/kg", "µg/kg": "ug/kg",
           # per square metre of body-surface area (UCUM mg/m2; rituximab 375 mg/m2): read as such
           "mg/m2": "mg/m2", "mg/m^2": "mg/m2", "mg/m²": "mg/m2", "mg/(m2)": "mg/m2"}
_TABLET = re.compile(r"^\{?(tab|tabs|tablet|tablets|tbl)\}?$", re.IGNORECASE)
_FOR_DAYS = re.compile(r"\bfor\s+(\d+)\s+days?\b", re.IGNORECASE)
_TIMING_CODES = {"QD": "daily", "BID": "bid", "TID": "tid", "QID": "qid"}  # v3 GTSAbbreviation


# -- which agent ----------------------------------------------------------------------------------
def _concepts(med: dict[str, Any], res: Res, ctx: Context) -> tuple[list[dict[str, Any]], float | None, bool]:
    """(codeable concepts naming the medication, tablet strength in mg, reference resolved)."""
    concept = med.get("medicationCodeableConcept")
    if isinstance(concept, dict):
        return [concept], None, True
    ref = (med.get("medicationReference") or {}).get("reference")
    medication = _resolve_medication(ref, res, ctx)
    if medication is None:
        return [], None, False
    concepts = [medication.get("code") or {}]
    strength = None
    for ing in medication.get("ingredient") or []:
        item = ing.get("itemCodeableConcept")
        if item is None and ing.get("itemReference"):
            sub = _resolve_medication(ing["itemReference"].get("reference"), res, ctx, container=medication)
            item = (sub or {}).get("code")
        if item:
            concepts.append(item)
        strength = strength or _strength_mg(ing.get("strength"))
    return concepts, strength, True


def _resolve_medication(
    ref: str | None, res: Res, ctx: Context, container: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    if not ref:
        return None
    if ref.startswith("#"):
        for holder in (container, res.raw):
            for c in (holder or {}).get("contained") or []:
                if c.get("id") == ref[1:]:
                    return c
        return None
    found = ctx.index.resolve(ref)
    if found is not None:
        ctx.used_medications.add(id(found))
        return found.raw
    return None


def _strength_mg(strength: Any) -> float | None:
    """mg per tablet from an ingredient strength Ratio (numerator mg, denominator 1 tablet)."""
    if not isinstance(strength, dict):
        return None
    num, den = strength.get("numerator") or {}, strength.get("denominator") or {}
    unit = str(num.get("code") or num.get("unit") or "").lower()
    if unit not in _MASS_MG or not isinstance(num.get("value"), (int, float)):
        return None
    den_unit = str(den.get("code") or den.get("unit") or "")
    if not _TABLET.match(den_unit) or not den.get("value"):
        return None
    return num["value"] * _MASS_MG[unit] / den["value"]


def identify(med: dict[str, Any], res: Res, ctx: Context) -> tuple[str | None, float | None, str | None]:
    """(agent, tablet strength in mg, reason when not mapped)."""
    concepts, strength, resolved = _concepts(med, res, ctx)
    if not resolved:
        return None, None, "medication reference cannot be resolved in the Bundle"
    agents: set[str] = set()
    product_strength = None
    non_agent = False
    for concept in concepts:
        for c in concept.get("coding") or []:
            key = (c.get("system"), str(c.get("code")))
            hit = ctx.codes.medications.get(key)
            if hit:
                agents.add(hit.agent)
                product_strength = product_strength or hit.strength_mg
            elif key in ctx.codes.non_agents:
                non_agent = True
    if len(agents) > 1:
        return None, None, "medication codes name several agents"
    if agents:
        return agents.pop(), strength or product_strength, None
    if non_agent:
        return None, None, "medication not an ITP/SLE agent"
    texts = [concept.get("text") for concept in concepts]
    texts += [c.get("display") for concept in concepts for c in concept.get("coding") or []]
    named: set[str] = set()
    for text in texts:
        named |= agents_named_in(text, ctx.codes)
    if len(named) > 1:
        return None, None, "medication text names several agents"
    if named:
        ctx.report.note(
            f"{res.type}: medication identified by its name (no code in the sleitp vocabulary)", res.ref
        )
        return named.pop(), strength, None
    return None, None, "medication not an ITP/SLE agent"


# -- dose, frequency, route -----------------------------------------------------------------------
def _dose(dosage: dict[str, Any], strength: float | None, res: Res, ctx: Context) -> dict[str, Any]:
    """{"dose", "dose_unit"} or {} (with a note saying why no dose)."""
    quantity = None
    dose_and_rate = dosage.get("doseAndRate") or []
    if dose_and_rate:
        quantity = dose_and_rate[0].get("doseQuantity")
        if quantity is None and dose_and_rate[0].get("doseRange"):
            ctx.report.note(f"{res.type}: dose given as a range; dose not mapped", res.ref)
            return {}
    if quantity is None:
        quantity = dosage.get("dose")  # MedicationAdministration.dosage.dose
    if not isinstance(quantity, dict) or not isinstance(quantity.get("value"), (int, float)):
        return {}
    value = float(quantity["value"])
    unit = str(quantity.get("code") or quantity.get("unit") or "").strip()
    low = unit.lower()
    if low in _MASS_MG:
        return {"dose": value * _MASS_MG[low], "dose_unit": "mg"}
    if low in _PER_KG:
        return {"dose": value, "dose_unit": _PER_KG[low]}
    if _TABLET.match(unit):
        if strength is None:
            ctx.report.note(
                f"{res.type}: dose in tablets but the tablet strength is unknown; dose not mapped", res.ref
            )
            return {}
        ctx.report.note(f"{res.type}: dose in tablets x the tablet strength", res.ref)
        return {"dose": value * strength, "dose_unit": "mg"}
    if not unit:
        ctx.report.note(f"{res.type}: dose without a unit; dose not mapped", res.ref)
    else:
        ctx.report.note(
            f"{res.type}: dose unit {unit!r} not mapped "
            "(expected mg, g, ug, mg/kg, g/kg, ug/kg, mg/m2 or tablets)",
            res.ref,
        )
    return {}


def _frequency(timing: dict[str, Any], res: Res, ctx: Context) -> str | None:
    rep = timing.get("repeat") or {}
    if rep.get("count") == 1:
        return "once"
    if "frequency" in rep or "period" in rep:
        freq, period, unit = rep.get("frequency", 1), rep.get("period", 1), rep.get("periodUnit")
        if unit == "d" and period == 1 and freq in (1, 2, 3, 4):
            return {1: "daily", 2: "bid", 3: "tid", 4: "qid"}[freq]
        if unit == "wk" and period == 1 and freq == 1:
            return "weekly"
        if unit == "d" and period == 7 and freq == 1:
            return "weekly"
        text = f"{freq} per {period} {unit}"
        ctx.report.note(
            f"{res.type}: frequency not one of daily, bid, tid, qid, weekly, once; kept as text", res.ref
        )
        return text
    code = ((timing.get("code") or {}).get("coding") or [{}])[0].get("code")
    return _TIMING_CODES.get(str(code).upper()) if code else None


def _route(dosage: dict[str, Any]) -> str | None:
    route = dosage.get("route") or {}
    text = route.get("text") or next(
        (c.get("display") for c in route.get("coding") or [] if c.get("display")), None
    )
    return text.strip().lower() if isinstance(text, str) and text.strip() else None


def _course_problem(course: dict[str, Any]) -> str | None:
    """None when the course is valid for the record, else why not (no values in the text)."""
    try:
        Treatment.model_validate(course)
    except ValueError as e:
        return f"course not valid for the record ({error_fields(e)})"
    return None


def _finish(res: Res, ctx: Context, courses: list[dict[str, Any]], problems: list[str]) -> None:
    """Keep the valid courses; the resource counts as mapped if one is valid, else as not mapped."""
    if not courses:
        ctx.report.skip(f"{res.type}: {problems[0] if problems else 'no course'}", res.ref)
        return
    for why in problems:
        ctx.report.note(f"{res.type}: a dosage step not mapped: {why}", res.ref)
    for course in courses:
        ctx.treatments.append(
            {k: (v.isoformat() if isinstance(v, date) else v) for k, v in course.items() if v is not None}
        )
    ctx.report.map(res.type)
    if len(courses) > 1:
        ctx.report.note(f"{res.type}: several dosage steps (a taper) mapped as several courses", res.ref)


def _collect(course: dict[str, Any], courses: list[dict[str, Any]], problems: list[str]) -> None:
    why = _course_problem(course)
    if why:
        problems.append(why)
    else:
        courses.append(course)


# -- the three resource types ---------------------------------------------------------------------
def _status_used(res: Res, ctx: Context, used: tuple[str, ...], unused_means: str) -> bool:
    """The resource's status is one of ``used``; else it is reported as skipped, saying why."""
    status = res.raw.get("status")
    if status not in used:
        ctx.report.skip(f"{res.type}: status '{status}' ({unused_means})", res.ref)
    return status in used


def _agent(res: Res, ctx: Context) -> tuple[str, float | None] | None:
    """The agent (and product strength) of a medication resource, or None, reported as skipped."""
    agent, strength, why = identify(res.raw, res, ctx)
    if agent is None:
        ctx.report.skip(f"{res.type}: {why}", res.ref)
        return None
    return agent, strength


def _taken(res: Res, ctx: Context, used: tuple[str, ...], unused_means: str
           ) -> tuple[str, float | None, date | None, date | None] | None:
    """What a statement or administration whose status is one of ``used`` says was taken or given: the
    agent, the product strength, and the start and end of its effective[x] (a dateTime: the start only).
    None when the status or the medication rules it out, reported as skipped (the status first)."""
    if not _status_used(res, ctx, used, unused_means):
        return None
    if (found := _agent(res, ctx)) is None:
        return None
    agent, strength = found
    period = res.raw.get("effectivePeriod") or {}
    start = fhir_date(res.raw.get("effectiveDateTime") or period.get("start"))
    return agent, strength, start, fhir_date(period.get("end"))


def map_medication_request(res: Res, ctx: Context) -> None:
    raw, report = res.raw, ctx.report
    if not _status_used(res, ctx, REQUEST_USED, "not a treatment given"):
        return
    status, intent = raw.get("status"), raw.get("intent")
    if intent not in REQUEST_ORDER_INTENTS:
        report.skip(f"MedicationRequest: intent '{intent}' (not an order)", res.ref)
        return
    if (found := _agent(res, ctx)) is None:
        return
    agent, strength = found
    authored = fhir_date(raw.get("authoredOn"))
    supply = duration_days(((raw.get("dispenseRequest") or {}).get("expectedSupplyDuration")))
    dosages = raw.get("dosageInstruction") or [{}]
    courses: list[dict[str, Any]] = []
    problems: list[str] = []
    for dosage in dosages:
        timing = dosage.get("timing") or {}
        rep = timing.get("repeat") or {}
        bounds = rep.get("boundsPeriod") or {}
        start = fhir_date(bounds.get("start"))
        if start is None:
            start = authored
            if start is not None and len(dosages) > 1:
                report.note("MedicationRequest: dosage step without its own start; authoredOn used", res.ref)
        if start is None:
            problems.append("no start date (no boundsPeriod.start, no authoredOn)")
            continue
        end = fhir_date(bounds.get("end"))
        bounded = duration_days(rep.get("boundsDuration"))
        if end is None and bounded:
            end = plus_days(start, bounded - 1)  # [FHIR-R4] end inclusive: N days from start end on day N
        if end is None and status in ("completed", "stopped") and supply:
            end = plus_days(start, supply - 1)
            report.note(
                "MedicationRequest: ended without an end date; start + expected supply duration used", res.ref
            )
        if end is None and status in ("completed", "stopped"):
            report.note(
                f"MedicationRequest: status '{status}' but no end date; the course is treated as ongoing",
                res.ref,
            )
        _text_conflict(dosage, start, end, res, ctx)
        _collect(_course(agent, start, end, dosage, strength, timing, res, ctx), courses, problems)
    _finish(res, ctx, courses, problems)


def _course(agent: str, start: date, end: date | None, dosage: dict[str, Any], strength: Any,
            timing: dict[str, Any], res: Res, ctx: Context) -> dict[str, Any]:
    """One record course from one dosage step (MedicationRequest or MedicationStatement)."""
    return {
        "agent": agent,
        "start": start,
        "end": end,
        **_dose(dosage, strength, res, ctx),
        "frequency": _frequency(timing, res, ctx),
        "route": _route(dosage),
    }


def _text_conflict(dosage: dict[str, Any], start: date, end: date | None, res: Res, ctx: Context) -> None:
    m = _FOR_DAYS.search(dosage.get("text") or "")
    if m and end is not None:
        text_days, structured_days = int(m.group(1)), (end - start).days + 1
        if text_days != structured_days:
            ctx.report.note(
                f"{res.type}: dosage text and structured timing disagree on the duration; "
                f"the structured boundsPeriod is used",
                res.ref,
            )


def map_medication_statement(res: Res, ctx: Context) -> None:
    raw, report = res.raw, ctx.report
    if (taken := _taken(res, ctx, STATEMENT_USED, "not a treatment taken")) is None:
        return
    agent, strength, eff_start, eff_end = taken
    courses: list[dict[str, Any]] = []
    problems: list[str] = []
    for dosage in raw.get("dosage") or [{}]:
        timing = dosage.get("timing") or {}
        bounds = (timing.get("repeat") or {}).get("boundsPeriod") or {}
        start = fhir_date(bounds.get("start")) or eff_start
        if start is None:
            start = fhir_date(raw.get("dateAsserted"))
            if start is not None:
                report.note("MedicationStatement: no effective time; dateAsserted used as the start", res.ref)
        if start is None:
            problems.append("no start date (no effective time, no dateAsserted)")
            continue
        end = fhir_date(bounds.get("end")) or eff_end
        _text_conflict(dosage, start, end, res, ctx)
        _collect(_course(agent, start, end, dosage, strength, timing, res, ctx), courses, problems)
    _finish(res, ctx, courses, problems)


def map_medication_administration(res: Res, ctx: Context) -> None:
    raw, report = res.raw, ctx.report
    if (taken := _taken(res, ctx, ADMIN_USED, "not given")) is None:
        return
    agent, strength, start, end = taken
    if start is None:
        report.skip("MedicationAdministration: no effective time", res.ref)
        return
    end = end or start
    dosage = raw.get("dosage") or {}
    courses: list[dict[str, Any]] = []
    problems: list[str] = []
    _collect(
        {
            "agent": agent,
            "start": start,
            "end": end,
            **_dose(dosage, strength, res, ctx),
            "frequency": "once",
            "route": _route(dosage),
        },
        courses,
        problems,
    )
    _finish(res, ctx, courses, problems)


__all__ = ["identify", "map_medication_administration", "map_medication_request", "map_medication_statement"]
