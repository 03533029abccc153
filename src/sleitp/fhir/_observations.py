"""Observation -> ``labs[]`` (and pregnancy status); DiagnosticReport gives its results a time.

Rules (docs/fhir.md):

- Tests by LOINC code only (codes.yaml ``labs``), never by display text: "Platelet" also names MPV
  32623-1 and PDW 32207-3 (software.md §3.2, testdata.md §1.1).
- Only results with status final, amended or corrected are used [FHIR-R4]; entered-in-error and
  cancelled are ignored, preliminary/registered are not final: each is counted in the report.
- Time: ``effectiveDateTime`` / ``effectiveInstant`` / ``effectivePeriod.start``, else the effective time
  of the DiagnosticReport that lists the Observation among its results (Bundle-101: the Observations
  have no time of their own, testdata.md §2), else the Observation's ``issued``; else not mapped.
- Units: the UCUM code when the system is UCUM (spelling aliases in codes.yaml ``ucum_units``), else the
  unit text, both read by :mod:`sleitp.units` ("K/ul" is 10^3/uL = 10^9/L, case-insensitive).
- Qualitative results: valueCodeableConcept / interpretation codes of codes.yaml, or the words
  positive/negative in valueString or the concept text. A qualitative test sent as a value: read against
  the laboratory's upper limit (``referenceRange.high``), unless the Observation also says positive or
  negative itself, which wins.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sleitp.fhir._context import Context, LabCandidate
from sleitp.fhir._parse import Res, error_fields, fhir_date, is_partial_date, reference_of
from sleitp.record import Lab
from sleitp.units import TESTS, UnitError, to_canonical

FINAL = ("final", "amended", "corrected")  # [FHIR-R4] observation-status codes of a released result
IGNORED = ("entered-in-error", "cancelled")


def instant_of(value: str) -> Any:
    """A comparable instant: an aware datetime when a time is given, else the date."""
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return dt if len(value) > 10 else dt.date()


def map_diagnostic_report(res: Res, ctx: Context) -> None:
    """Remember each result's report, for Observations with no time or subject of their own."""
    for ref in ctx_results(res):
        obs = ctx.index.resolve(ref)
        if obs is not None and obs.type == "Observation":
            ctx.report_of[id(obs)] = res
    ctx.report.map("DiagnosticReport")


def ctx_results(res: Res) -> list[str]:
    return [r for r in (reference_of(x) for x in res.raw.get("result") or []) if r]


def effective_time(raw: dict[str, Any]) -> str | None:
    period = raw.get("effectivePeriod") or {}
    return raw.get("effectiveDateTime") or raw.get("effectiveInstant") or period.get("start")


def _time(res: Res, ctx: Context) -> tuple[str | None, str]:
    """(time string, how it was found). The clinically relevant time is when the specimen was taken
    (effective[x]); a report's effective time is that of all its results, so it comes before the
    Observation's own ``issued`` (the release time)."""
    raw = res.raw
    own = effective_time(raw)
    if own:
        return own, "own"
    report = ctx.report_of.get(id(res))
    rtime = effective_time(report.raw) if report is not None else None
    if rtime:
        ctx.report.note(
            "Observation: no effective time; the DiagnosticReport's effective time is used", res.ref
        )
        return rtime, "report"
    if raw.get("issued"):
        ctx.report.note("Observation: no effective time; its issued time is used", res.ref)
        return raw["issued"], "issued"
    return None, "none"


def _loinc_codes(raw: dict[str, Any], ctx: Context) -> list[str]:
    codings = (raw.get("code") or {}).get("coding") or []
    return [c.get("code") for c in codings if c.get("system") == ctx.codes.loinc and c.get("code")]


def map_observation(res: Res, ctx: Context) -> None:
    raw, report = res.raw, ctx.report
    status = raw.get("status")
    if status in IGNORED:
        report.skip(f"Observation: status '{status}' (ignored)", res.ref)
        return
    if status not in FINAL:
        report.skip(f"Observation: status '{status}' is not a final result", res.ref)
        return
    loincs = _loinc_codes(raw, ctx)
    if ctx.codes.pregnancy_code in loincs:
        _map_pregnancy(res, ctx)
        return
    code = next((c for c in loincs if c in ctx.codes.labs), None)
    test = ctx.codes.labs[code] if code is not None else None
    if test is None:
        if raw.get("hasMember") and not _has_value(raw):
            report.skip("Observation: panel (its member results are mapped one by one)", res.ref)
        elif not loincs:
            report.skip("Observation: no LOINC code", res.ref)
        else:
            report.skip("Observation: LOINC code not in the sleitp vocabulary", res.ref)
        return
    when, _how = _time(res, ctx)
    if when is None:
        report.skip("Observation: no effective time", res.ref)
        return
    day = fhir_date(when)
    if day is None:
        why = "a partial date (year or month only)" if is_partial_date(when) else "not a date"
        report.skip(f"Observation: effective time is {why}", res.ref)
        return
    lab = _lab(res, test, ctx, ctx.codes.lab_annotations.get(code or ""))
    if lab is None:
        return
    lab["date"] = day.isoformat()
    ctx.labs.append(LabCandidate(lab, instant_of(when), res))


def _has_value(raw: dict[str, Any]) -> bool:
    return any(k.startswith("value") for k in raw)


# -- values ---------------------------------------------------------------------------------------
_POS = re.compile(r"^\s*(positive|pos|detected|reactive)\b", re.IGNORECASE)
_NEG = re.compile(r"^\s*(negative|neg|not detected|non-?reactive)\b", re.IGNORECASE)
_TITRE = re.compile(r"^\s*1\s*:\s*(\d+(?:\.\d+)?)\s*$")


def _unit(quantity: dict[str, Any], ctx: Context) -> tuple[str | None, str | None]:
    """(unit as sleitp.units reads it, the unit text to try if that fails)."""
    code, text = quantity.get("code"), quantity.get("unit")
    if code and quantity.get("system") == ctx.codes.systems["ucum"]:
        return ctx.codes.ucum_units.get(code, code), text
    return text or code, None


def _qualitative(raw: dict[str, Any], ctx: Context) -> str | None:
    concept = raw.get("valueCodeableConcept")
    if isinstance(concept, dict):
        for c in concept.get("coding") or []:
            hit = ctx.codes.qualitative.get((c.get("system"), c.get("code")))
            if hit:
                return hit
        for text in [concept.get("text")] + [c.get("display") for c in concept.get("coding") or []]:
            if isinstance(text, str) and (_POS.match(text) or _NEG.match(text)):
                return "positive" if _POS.match(text) else "negative"
    text = raw.get("valueString")
    if isinstance(text, str):
        if _NEG.match(text):
            return "negative"
        if _POS.match(text):
            return "positive"
    for concept in raw.get("interpretation") or []:
        for c in concept.get("coding") or []:
            hit = ctx.codes.qualitative.get((c.get("system"), c.get("code")))
            if hit:
                return hit
    return None


def _reference_range(raw: dict[str, Any], unit: str | None, ctx: Context) -> dict[str, float]:
    out: dict[str, float] = {}
    ranges = raw.get("referenceRange") or []
    if not ranges:
        return out
    rng = ranges[0]
    for side, key in (("low", "reference_low"), ("high", "reference_high")):
        q = rng.get(side)
        if isinstance(q, dict) and isinstance(q.get("value"), (int, float)):
            q_unit, _ = _unit(q, ctx)
            if (
                q_unit is None
                or unit is None
                or q_unit.replace(" ", "").lower() == unit.replace(" ", "").lower()
            ):
                out[key] = float(q["value"])
    return out


def _annotated(unit: str | None, annotation: str | None) -> str | None:
    """A bare mass unit of a code that fixes the unit basis (D-dimer 48065-7 is FEU by its LOINC name)
    gets that annotation: "ug/mL" of 48065-7 is "ug/mL FEU". A unit already saying FEU or DDU is kept."""
    if unit is None or annotation is None:
        return unit
    if any(tag in unit.upper() for tag in ("FEU", "DDU")):
        return unit
    return f"{unit} {annotation}"


def _lab(res: Res, test: str, ctx: Context, annotation: str | None = None) -> dict[str, Any] | None:
    """The lab dict of one Observation, checked against the record's rules; None (and counted) if it
    cannot be used."""
    raw, report, spec = res.raw, ctx.report, TESTS[test]
    quantity = raw.get("valueQuantity")
    ratio = raw.get("valueRatio")
    value: float | None = None
    unit: str | None = None
    if isinstance(quantity, dict) and isinstance(quantity.get("value"), (int, float)):
        value = float(quantity["value"])
        given, fallback = _unit(quantity, ctx)
        unit, fallback = _annotated(given, annotation), _annotated(fallback, annotation)
        if unit != given:
            report.note(f"Observation: {test} unit read in {annotation} (the LOINC code is {annotation})",
                        res.ref)
        if test == "ana" and unit is None and fallback is None:
            unit = "titer"  # LOINC 29953-7 is "Nuclear Ab [Titer]": a bare number is the titre
            report.note(
                "Observation: ANA titre without a unit read as a titre (LOINC 29953-7 is a titer)", res.ref
            )
        if spec.canonical_unit is not None:
            unit = _accepted_unit(test, value, unit, fallback, res, ctx)
            if unit is _REJECTED:
                return None
    elif test == "ana" and isinstance(ratio, dict):
        num = (ratio.get("numerator") or {}).get("value")
        den = (ratio.get("denominator") or {}).get("value")
        if num == 1 and isinstance(den, (int, float)):  # 1:160 is a titre of 160
            value, unit = float(den), "titer"
    elif test == "ana" and isinstance(raw.get("valueString"), str) and _TITRE.match(raw["valueString"]):
        value, unit = float(_TITRE.match(raw["valueString"]).group(1)), "titer"
    lab: dict[str, Any] = {"test": test}
    if value is not None:
        lab["value"], lab["unit"] = value, unit
        lab.update(_reference_range(raw, unit, ctx))
        if spec.canonical_unit is None:  # qualitative test measured against the lab's upper limit
            lab.pop("unit", None)
            # the laboratory's own interpretation (a coded or written positive/negative) wins over the value
            # read against the limit: [FHIR-R4] referenceRange.high is inclusive, so a lab whose negative is
            # "< 1.0 U" and that sends high 1.0 has 1.0 U read as negative by the limit alone (Mayo SM / SSA,
            # codes.yaml); the value and the limit stay in the record
            said = _qualitative(raw, ctx)
            if said is not None and "reference_high" in lab:
                lab["result"] = said
            if "reference_high" not in lab:
                result = said
                if result is None:
                    report.skip(
                        f"Observation: measured {test} without the laboratory's upper limit "
                        f"(referenceRange.high) or an interpretation",
                        res.ref,
                    )
                    return None
                lab = {"test": test, "result": result}
    else:
        result = _qualitative(raw, ctx)
        if result is None:
            if _has_value(raw) or raw.get("interpretation"):
                report.skip(
                    f"Observation: {test} value not readable (expected a quantity or positive/negative)",
                    res.ref,
                )
            else:
                report.skip("Observation: no value", res.ref)
            return None
        if not spec.qualitative:
            report.skip(
                f"Observation: {test} is a measured test but only a qualitative result is given", res.ref
            )
            return None
        lab["result"] = result
    return _checked(lab, res, ctx)


_REJECTED: Any = object()


def _accepted_unit(
    test: str, value: float, unit: str | None, fallback: str | None, res: Res, ctx: Context
) -> Any:
    if unit is None and fallback is None and TESTS[test].unitless:
        return None  # a ratio (INR) without a unit is in its canonical unit
    for n, candidate in enumerate((unit, fallback)):
        if candidate is None:
            continue
        try:
            to_canonical(test, value, candidate)
        except UnitError:
            continue
        if n == 1 or not _is_ucum(res, ctx):  # the unit text, not a UCUM code, was read
            ctx.report.note(
                f"Observation: unit {candidate!r} (not a UCUM code) read as a unit of {test}", res.ref
            )
        return candidate
    if unit is None and fallback is None:
        ctx.report.skip(f"Observation: {test} value without a unit", res.ref)
    else:
        ctx.report.skip(f"Observation: unit {unit or fallback!r} not accepted for {test}", res.ref)
    return _REJECTED


def _is_ucum(res: Res, ctx: Context) -> bool:
    q = res.raw.get("valueQuantity") or {}
    return q.get("system") == ctx.codes.systems["ucum"] and bool(q.get("code"))


def _checked(lab: dict[str, Any], res: Res, ctx: Context) -> dict[str, Any] | None:
    """Check the result against the record's own rules now, so one bad result is counted as not mapped
    instead of failing the whole record."""
    spec = TESTS[lab["test"]]
    if "value" in lab and spec.canonical_unit is not None and spec.bounds:
        canonical = to_canonical(lab["test"], lab["value"], lab["unit"])
        lo, hi = spec.bounds
        if not lo <= canonical <= hi:
            ctx.report.skip(
                f"Observation: {lab['test']} value outside the plausible range "
                f"({lo:g} to {hi:g} {spec.canonical_unit})",
                res.ref,
            )
            return None
    try:
        Lab.model_validate({**lab, "date": "2000-01-01"})
    except ValueError as e:  # pydantic ValidationError is a ValueError; name fields, never values
        ctx.report.skip(
            f"Observation: {lab['test']} result not valid for the record ({error_fields(e)})", res.ref
        )
        return None
    return lab


# -- pregnancy status -----------------------------------------------------------------------------
def _map_pregnancy(res: Res, ctx: Context) -> None:
    raw = res.raw
    answer = None
    for c in (raw.get("valueCodeableConcept") or {}).get("coding") or []:
        key = (c.get("system"), c.get("code"))
        if key in ctx.codes.pregnancy_answers:
            answer = ctx.codes.pregnancy_answers[key]
            break
    if answer is None:
        ctx.report.skip("Observation: pregnancy status answer not in the sleitp vocabulary", res.ref)
        return
    when, _ = _time(res, ctx)
    if when is None or fhir_date(when) is None:
        ctx.report.skip("Observation: pregnancy status without a usable date", res.ref)
        return
    ctx.pregnancy.append((instant_of(when), answer))
    ctx.report.map("Observation")


__all__ = ["FINAL", "effective_time", "instant_of", "map_diagnostic_report", "map_observation"]
