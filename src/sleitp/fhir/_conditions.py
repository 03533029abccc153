"""Condition -> diagnosis dates and history flags; Procedure -> splenectomy; Patient -> sex and birth date.

Rules (docs/fhir.md):

- SLE: SNOMED 55464009, ICD-10-CM M32.1x/M32.8/M32.9 [SW-REF]; ``sle_diagnosis_date`` = the earliest
  onset. SNOMED 200936003 "Lupus erythematosus" is the broader parent (also cutaneous LE) and is not
  taken as SLE unless ``MappingOptions.lupus_erythematosus_is_sle`` [TESTDATA-REF]; drug-induced lupus
  M32.0 is not SLE.
- ITP: ICD-10-CM D69.3, SNOMED 128091003; D69.59 "other secondary thrombocytopenia" counts as ITP only
  when the patient also has an SLE code (SLE-ITP coding varies by site: software.md §3.4);
  ``itp_diagnosis_date`` = the earliest onset.
- Lupus nephritis M32.14 -> ``history.lupus_nephritis`` and a ``lupus_nephritis`` manifestation on its
  onset date; antiphospholipid syndrome D68.61 -> ``history.antiphospholipid_syndrome``; autoimmune
  haemolytic anaemia ICD-10-CM D59.1x [ICD10CM-AIHA] -> an ``autoimmune_hemolysis`` manifestation on its onset
  date (the record has no history flag for it: without a date it is counted as not mapped, not kept).
- Conditions whose verification status is refuted or entered-in-error are ignored; unconfirmed,
  provisional and differential ones are not taken as diagnoses [FHIR-R4]. Each is counted.
- Procedure (status completed) named splenectomy (display-text rule: no code was verified) -> a
  ``splenectomy`` treatment on its date and ``history.splenectomy``.
"""

from __future__ import annotations

from typing import Any

from sleitp.fhir._context import Context
from sleitp.fhir._parse import Res, fhir_date, is_partial_date

IGNORED_VERIFICATION = ("refuted", "entered-in-error")
NOT_CONFIRMED = ("unconfirmed", "provisional", "differential")
AIHA_WITHOUT_DATE = (
    "Condition: autoimmune haemolytic anaemia without an onset or recorded date "
    "(a manifestation needs its date)"
)


def _status_code(concept: Any) -> str | None:
    for c in (concept or {}).get("coding") or []:
        if c.get("code"):
            return str(c["code"])
    return None


def _dated(raw: dict[str, Any]) -> bool:
    """The Condition has a usable onset or recorded date (what ``_onset`` reads)."""
    onset = raw.get("onsetDateTime") or (raw.get("onsetPeriod") or {}).get("start")
    return fhir_date(onset) is not None or bool(raw.get("recordedDate") and fhir_date(raw["recordedDate"]))


def _onset(res: Res, ctx: Context):
    raw = res.raw
    period = raw.get("onsetPeriod") or {}
    onset = raw.get("onsetDateTime") or period.get("start")
    day = fhir_date(onset)
    if day is not None:
        return day
    if raw.get("recordedDate") and fhir_date(raw["recordedDate"]):
        ctx.report.note("Condition: no onset date; recordedDate used as the diagnosis date", res.ref)
        return fhir_date(raw["recordedDate"])
    why = (
        "a partial onset date (year or month only)" if is_partial_date(onset) else "no onset or recorded date"
    )
    ctx.report.note(f"Condition: {why}; the diagnosis is kept without a date", res.ref)
    return None


def map_condition(res: Res, ctx: Context) -> None:
    raw, report = res.raw, ctx.report
    verification = _status_code(raw.get("verificationStatus"))
    if verification in IGNORED_VERIFICATION:
        report.skip(f"Condition: verificationStatus '{verification}' (ignored)", res.ref)
        return
    if verification in NOT_CONFIRMED:
        report.skip(f"Condition: verificationStatus '{verification}' (not a confirmed diagnosis)", res.ref)
        return
    concepts: set[str] = set()
    for c in (raw.get("code") or {}).get("coding") or []:
        hit = ctx.codes.condition(c.get("system"), c.get("code"))
        if hit:
            concepts.update(hit.concepts)
    if not concepts:
        report.skip("Condition: code not in the sleitp vocabulary", res.ref)
        return
    if concepts == {"lupus_erythematosus"}:
        if not ctx.options.lupus_erythematosus_is_sle:
            # [TESTDATA-REF] 200936003 is broader than SLE 55464009 (it also covers cutaneous lupus)
            report.skip(
                "Condition: SNOMED 200936003 'Lupus erythematosus' is broader than SLE (55464009); "
                "not taken as SLE",
                res.ref,
            )
            return
        report.note("Condition: SNOMED 200936003 'Lupus erythematosus' taken as SLE (option)", res.ref)
        concepts = {"sle"}
    if concepts == {"drug_induced_lupus"}:
        report.skip("Condition: drug-induced lupus (ICD-10-CM M32.0) is not counted as SLE", res.ref)
        return
    if concepts == {"autoimmune_hemolysis"} and not _dated(res.raw):
        report.skip(AIHA_WITHOUT_DATE, res.ref)
        return
    day = _onset(res, ctx)
    if "sle" in concepts:
        ctx.sle_coded = True  # [SW-REF] SNOMED 55464009 / ICD-10-CM M32.*
        if day:
            ctx.sle_dates.append(day)
    if "itp" in concepts and day:  # [SW-REF] D69.3, SNOMED 128091003
        ctx.itp_dates.append(day)
    if (
        "secondary_thrombocytopenia" in concepts
    ):  # [SW-REF] D69.59: ITP only with an SLE code (resolved later)
        ctx.secondary_tp_refs.append(res.ref)
        if day:
            ctx.secondary_tp_dates.append(day)
    if "lupus_nephritis" in concepts:  # [SW-REF] M32.14 glomerular disease in SLE
        ctx.history["lupus_nephritis"] = True
        if day:
            ctx.manifestations.append({"date": day.isoformat(), "name": "lupus_nephritis"})
    if "autoimmune_hemolysis" in concepts and day:  # [ICD10CM-AIHA] D59.10-D59.19
        ctx.manifestations.append({"date": day.isoformat(), "name": "autoimmune_hemolysis"})
    if "antiphospholipid_syndrome" in concepts:  # [ICD10CM-LISTS] D68.61
        ctx.history["antiphospholipid_syndrome"] = True
    report.map("Condition")


def map_procedure(res: Res, ctx: Context) -> None:
    raw, report = res.raw, ctx.report
    concept = raw.get("code") or {}
    texts = [concept.get("text")] + [c.get("display") for c in concept.get("coding") or []]
    names = {name for pattern, name in ctx.codes.procedure_names for t in texts if t and pattern.search(t)}
    if "splenectomy" not in names:
        report.skip("Procedure: not a procedure sleitp uses", res.ref)
        return
    status = raw.get("status")
    if status != "completed":  # [FHIR-R4] event-status: only a completed procedure happened
        report.skip(f"Procedure: status '{status}' (not a completed procedure)", res.ref)
        return
    period = raw.get("performedPeriod") or {}
    day = fhir_date(raw.get("performedDateTime") or period.get("start"))
    ctx.history["splenectomy"] = True
    if day is None:
        report.note(
            "Procedure: splenectomy without a date; history.splenectomy set, no treatment course", res.ref
        )
    else:
        ctx.treatments.append(
            {"agent": "splenectomy", "start": day.isoformat(), "end": day.isoformat(), "frequency": "once"}
        )
    report.note("Procedure: splenectomy identified by its name (no procedure code verified)", res.ref)
    report.map("Procedure")


def map_patient(res: Res, ctx: Context, record: dict[str, Any]) -> None:
    raw = res.raw
    gender = raw.get("gender")
    record["sex"] = gender if gender in ("female", "male", "other", "unknown") else "unknown"
    birth = raw.get("birthDate")
    day = fhir_date(birth)
    if day is not None:
        record["birth_date"] = day.isoformat()
    elif birth:
        ctx.report.note("Patient: partial birthDate (year or month only) not used; age unknown", res.ref)
    else:
        ctx.report.note("Patient: no birthDate; age unknown", res.ref)
    ctx.report.map("Patient")


__all__ = ["map_condition", "map_patient", "map_procedure"]
