"""One patient's FHIR resources -> a record dict (spec/record.md) and a :class:`MappingReport`."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from sleitp.errors import PatientChoiceError, RecordError
from sleitp.fhir._codes import load_codes
from sleitp.fhir._conditions import map_condition, map_patient, map_procedure
from sleitp.fhir._context import Context, LabCandidate, MappingOptions
from sleitp.fhir._encounters import map_encounter
from sleitp.fhir._medications import (
    map_medication_administration,
    map_medication_request,
    map_medication_statement,
)
from sleitp.fhir._observations import map_diagnostic_report, map_observation
from sleitp.fhir._parse import USED_TYPES, FhirInvalid, Index, Res, reference_of, relative, validate
from sleitp.fhir._report import MappingReport
from sleitp.record import PatientRecord, parse_record
from sleitp.units import to_canonical

BUNDLE_TYPES = ("collection", "transaction", "searchset", "document", "batch")

_SUBJECT = {  # where each resource type names its patient
    "Observation": "subject",
    "DiagnosticReport": "subject",
    "Condition": "subject",
    "Procedure": "subject",
    "MedicationRequest": "subject",
    "MedicationStatement": "subject",
    "MedicationAdministration": "subject",
    "Encounter": "subject",
}
_MAPPERS = {
    "Observation": map_observation,
    "Condition": map_condition,
    "Procedure": map_procedure,
    "MedicationRequest": map_medication_request,
    "MedicationStatement": map_medication_statement,
    "MedicationAdministration": map_medication_administration,
    "Encounter": map_encounter,
}


NOT_A_PATIENT = "\x00not-a-patient"  # owner of a resource whose subject is a Group, Device, Location ...


def _patient_key(reference: str | None, index: Index) -> str | None:
    """The patient id a subject reference points to (Patient/x, an absolute URL, or a urn:uuid fullUrl)."""
    if not reference:
        return None
    target = index.resolve(reference)
    if target is not None:
        return target.id if target.type == "Patient" else None
    rel = relative(reference)
    if rel and rel.startswith("Patient/"):
        return rel.split("/", 1)[1]
    if reference.startswith("urn:uuid:"):
        return reference.removeprefix("urn:uuid:")  # Synthea: Patient.id is the uuid of its fullUrl
    return None


def _owners(items: list[Res], index: Index) -> dict[int, str | None]:
    """id(resource) -> the patient it belongs to (own subject, else its DiagnosticReport's subject)."""
    owner: dict[int, str | None] = {}
    for res in items:
        if res.type == "Patient":
            owner[id(res)] = res.id
        elif res.type in _SUBJECT:
            ref = reference_of(res.raw.get(_SUBJECT[res.type]))
            owner[id(res)] = _patient_key(ref, index) or (NOT_A_PATIENT if ref else None)
    for res in items:  # results without a subject inherit the report's
        if res.type == "DiagnosticReport" and owner.get(id(res)):
            for ref in res.raw.get("result") or []:
                obs = index.resolve(reference_of(ref))
                if obs is not None and owner.get(id(obs)) is None:
                    owner[id(obs)] = owner[id(res)]
    return owner


def _choose_patient(items: list[Res], owner: dict[int, str | None], patient_id: str | None) -> str:
    if patient_id is not None:
        return patient_id
    ids = sorted({o for o in owner.values() if o and o != NOT_A_PATIENT})
    if len(ids) == 1:
        return ids[0]
    if not ids:
        raise PatientChoiceError("no Patient resource and no subject reference to a Patient; give patient_id")
    shown = ", ".join(f"Patient/{i}" for i in ids[:10]) + (" ..." if len(ids) > 10 else "")
    raise PatientChoiceError(f"resources of {len(ids)} patients ({shown}); give patient_id to choose one")


def _resolve_duplicates(labs: list[LabCandidate], ctx: Context) -> list[dict[str, Any]]:
    """One result per test and instant when values differ at the identical instant (MappingOptions)."""
    groups: dict[tuple[str, Any], list[LabCandidate]] = defaultdict(list)
    out: list[dict[str, Any]] = []
    for cand in labs:
        if "unit" in cand.lab and ctx.options.same_instant == "lowest":  # measured, canonical unit
            groups[(cand.lab["test"], cand.instant)].append(cand)
        else:
            out.append(cand.lab)
            ctx.report.map("Observation")
    for (test, _instant), cands in groups.items():
        kept = min(cands, key=lambda c: (_canonical(c.lab), c.res.where))  # the lower value, documented rule
        out.append(kept.lab)
        ctx.report.map("Observation")
        for c in cands:
            if c is kept:
                continue
            same = _canonical(c.lab) == _canonical(kept.lab)
            ctx.report.skip(
                f"Observation: duplicate {test} result at the same instant "
                f"({'same value' if same else 'different value; the lower value is kept'})",
                c.res.ref,
            )
    return out


def _canonical(lab: dict[str, Any]) -> float:
    return to_canonical(lab["test"], lab["value"], lab["unit"])


def resources_to_record_dict(
    resources: list[dict[str, Any]],
    *,
    patient_id: str | None = None,
    options: MappingOptions | None = None,
    where: str = "resource",
    full_urls: list[str | None] | None = None,
    locations: list[str] | None = None,
) -> tuple[dict[str, Any], MappingReport]:
    """Map one patient's FHIR R4 resources to a record dict (spec/record.md) and a report.

    ``resources``: Patient, Observation, DiagnosticReport, Condition, Procedure, Encounter, Medication,
    MedicationRequest/MedicationStatement/MedicationAdministration (others are counted as not used).
    ``patient_id``: the patient to map when the resources hold several; resources of other patients are
    counted as not mapped. Raises :class:`RecordError` when a resource fails FHIR validation (naming
    the entry and field; ``options.on_invalid="report"`` counts it instead) or when the patient cannot
    be determined.
    """
    options = options or MappingOptions()
    codes = load_codes()
    report = MappingReport()
    index = Index()
    items: list[Res] = []
    for i, raw in enumerate(resources):
        loc = locations[i] if locations and i < len(locations) else f"{where}[{i}]"
        res = Res(
            raw if isinstance(raw, dict) else {},
            loc,
            full_urls[i] if full_urls and i < len(full_urls) else None,
        )
        try:
            validate(raw, res.where)
        except FhirInvalid as e:
            if options.on_invalid == "raise":
                raise RecordError(patient_id, [str(e)]) from None
            report.skip(
                f"{res.type or 'resource'}: fails FHIR R4 validation", res.ref if res.type else res.where
            )
            continue
        items.append(res)
        index.add(res)

    owner = _owners(items, index)
    try:
        pid = _choose_patient(items, owner, patient_id)
    except PatientChoiceError as e:
        raise RecordError(patient_id, [str(e)]) from None

    ctx = Context(codes=codes, index=index, report=report, options=options)
    record: dict[str, Any] = {"id": pid}
    subject_less = 0
    # A resource without a subject is the patient's only when the Bundle is one patient's: among several
    # patients nothing says whose it is, and giving it to the one chosen would put (say) a platelet count
    # into every patient of the Bundle mapped in turn (as bulk NDJSON, _bulk: it names no patient)
    several = len({o for o in owner.values() if o and o != NOT_A_PATIENT} | {pid}) > 1
    for res in items:  # reports first: their results need them
        if res.type == "DiagnosticReport" and owner.get(id(res)) in (pid, None):
            map_diagnostic_report(res, ctx)
    for res in items:
        rtype = res.type
        if rtype == "DiagnosticReport":
            if owner.get(id(res)) not in (pid, None):
                report.skip("DiagnosticReport: belongs to another patient", res.ref)
            continue
        if rtype == "Medication":
            continue  # counted below, once we know which were referenced
        if rtype not in USED_TYPES:
            report.skip(f"{rtype}: resource type not used by sleitp", res.ref)
            continue
        who = owner.get(id(res))
        if who == NOT_A_PATIENT:
            report.skip(f"{rtype}: subject is not a Patient", res.ref)
            continue
        if who is not None and who != pid:
            report.skip(f"{rtype}: belongs to another patient", res.ref)
            continue
        if rtype == "Patient":
            map_patient(res, ctx, record)
            continue
        if who is None and several:
            report.skip(f"{rtype}: names no patient", res.ref)
            continue
        if who is None:
            subject_less += 1
            report.note(f"{rtype}: no subject; taken as the patient's", res.ref)
        _MAPPERS[rtype](res, ctx)
    for res in items:
        if res.type == "Medication":
            if id(res) in ctx.used_medications:
                report.map("Medication")
                report.medications_used.add(res.where)
            else:
                report.skip("Medication: not referenced by a mapped medication order or statement", res.ref)

    record["labs"] = _resolve_duplicates(ctx.labs, ctx)
    record["treatments"] = ctx.treatments
    if ctx.manifestations:
        record["manifestations"] = ctx.manifestations
    history = {k: v for k, v in ctx.history.items() if v}
    if history:
        record["history"] = history
    if ctx.sle_dates:
        record["sle_diagnosis_date"] = min(ctx.sle_dates).isoformat()
    itp_dates = list(ctx.itp_dates)
    if ctx.secondary_tp_refs:
        if ctx.sle_coded:  # [SW-REF] D69.59 with an SLE code is SLE-associated ITP
            itp_dates += ctx.secondary_tp_dates
            for ref in ctx.secondary_tp_refs:
                report.note(
                    "Condition: secondary thrombocytopenia (D69.59) with an SLE code taken as ITP", ref
                )
        else:
            for ref in ctx.secondary_tp_refs:
                report.note(
                    "Condition: secondary thrombocytopenia (D69.59) without an SLE code; not taken as ITP",
                    ref,
                )
    if itp_dates:
        record["itp_diagnosis_date"] = min(itp_dates).isoformat()
    if ctx.pregnancy:
        latest = max(ctx.pregnancy, key=lambda p: _sortable(p[0]))
        record["pregnant"] = latest[1]
        if len(ctx.pregnancy) > 1:
            report.note("Observation: several pregnancy statuses; the latest is used")
    _assessment_date(record, ctx)
    return record, report


def _assessment_date(record: dict[str, Any], ctx: Context) -> None:
    """The last in-person contact (``_encounters``) as the assessment date, when it is later than every
    other date of the record (spec/record.md: without an assessment date, the latest date in the record is
    used, so an earlier contact changes nothing). The report says where the date came from."""
    if not ctx.contacts:
        return
    day, ref = max(ctx.contacts)
    dates = [record.get("sle_diagnosis_date"), record.get("itp_diagnosis_date")]
    dates += [x["date"] for key in ("labs", "manifestations") for x in record.get(key) or []]
    dates += [t.get(k) for t in record["treatments"] for k in ("start", "end")]
    if all(d is None or date.fromisoformat(d) < day for d in dates):
        record["assessment_date"] = day.isoformat()
        ctx.report.note("Encounter: the last in-person contact taken as the assessment date", ref)


def _sortable(instant: Any) -> str:
    return instant.isoformat() if hasattr(instant, "isoformat") else str(instant)


def _not_a_bundle(data: dict[str, Any]) -> str:
    """What was given instead of a Bundle, and what sleitp expected (never "resourceType None")."""
    import difflib

    rtype = data.get("resourceType")
    if "resourceType" not in data:
        near = next((k for k in data if k.replace("_", "").lower() == "resourcetype"), None)
        if near is not None:
            return f"{near}: FHIR spells it 'resourceType' (capital T); expected resourceType 'Bundle'"
        return ("resourceType: missing; expected a FHIR R4 Bundle (\"resourceType\": \"Bundle\") holding one "
                "patient's resources")
    if isinstance(rtype, str) and difflib.get_close_matches(rtype, ["Bundle"], n=1, cutoff=0.7):
        return (f"resourceType: {rtype!r} is not a FHIR type (names are case-sensitive); "
                "did you mean 'Bundle'?")
    if isinstance(rtype, str) and rtype:
        return (f"resourceType: a single FHIR {rtype} resource was given; expected a FHIR R4 Bundle "
                f"(resourceType 'Bundle') holding the patient's resources (e.g. a searchset or collection)")
    return "resourceType: expected the text 'Bundle' (a FHIR R4 Bundle of one patient's resources)"


def bundle_resources(
    bundle: Any, *, source: str | None = None
) -> tuple[list[dict[str, Any]], list[str | None]]:
    """The entry resources of a Bundle and their fullUrls; RecordError when it is not a usable Bundle."""
    if not isinstance(bundle, dict):
        raise RecordError(
            None, [f"expected a FHIR Bundle (a JSON object), got {type(bundle).__name__}"], source=source
        )
    if bundle.get("resourceType") != "Bundle":
        raise RecordError(None, [_not_a_bundle(bundle)], source=source)
    btype = bundle.get("type")
    if btype not in BUNDLE_TYPES:
        raise RecordError(
            None,
            [f"type: Bundle type {btype!r} is not supported (expected one of {', '.join(BUNDLE_TYPES)})"],
            source=source,
        )
    entries = bundle.get("entry", [])  # absent: no entries; present, it must be a list (an empty {} too)
    if not isinstance(entries, list):
        raise RecordError(None, ["entry: expected a list of Bundle entries, got a JSON "
                                 f"{_json_kind(entries)}"], source=source)
    resources, urls = [], []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise RecordError(None, [f"entry[{i}]: expected a JSON object"], source=source)
        if "resource" not in entry:
            continue  # e.g. a transaction DELETE: nothing to map (counted by bundle_to_record)
        resources.append(entry["resource"])
        urls.append(entry.get("fullUrl"))
    return resources, urls


def bundle_to_record_dict(
    bundle: Any,
    *,
    source: str | None = None,
    patient_id: str | None = None,
    options: MappingOptions | None = None,
) -> tuple[dict[str, Any], MappingReport]:
    resources, urls = bundle_resources(bundle, source=source)
    try:
        record, report = resources_to_record_dict(
            resources, patient_id=patient_id, options=options, where="entry", full_urls=urls
        )
    except RecordError as e:
        raise RecordError(e.record_id, [f"Bundle: {p}" for p in e.problems], source=source) from None
    empty = len(bundle.get("entry") or []) - len(resources)
    for _ in range(empty):
        report.skip("Bundle: entry without a resource")
    if patient_id is not None and not _has_patient_data(report):
        raise RecordError(
            patient_id, [f"the Bundle holds no resources of patient {patient_id!r}"], source=source
        )
    return record, report


def _has_patient_data(report: MappingReport) -> bool:
    return bool(sum(report.mapped.values())) or any(
        not r.endswith("belongs to another patient") and not r.startswith("Bundle:") for r in report.unmapped
    )


def bundle_to_record(
    bundle: dict[str, Any],
    *,
    source: str | None = None,
    patient_id: str | None = None,
    options: MappingOptions | None = None,
) -> PatientRecord:
    """A FHIR R4 Bundle (collection, transaction, searchset, document, batch) of one patient -> a
    validated :class:`PatientRecord`. RecordError when it is not a usable Bundle (not a Bundle, a resource
    failing FHIR validation, no patient, several patients without ``patient_id``). The mapping report is
    not part of the record contract: :func:`bundle_to_record_dict` returns it."""
    record, _report = bundle_to_record_dict(bundle, source=source, patient_id=patient_id, options=options)
    return parse_record(record, source=source)


def prefetch_to_resources(prefetch: Any) -> list[dict[str, Any]]:
    """CDS Hooks prefetch (``{"patient": {...}, "platelets": {Bundle searchset}, ...}``) -> a flat list of
    resources; missing (null) prefetch items are skipped."""
    out: list[dict[str, Any]] = []

    def add(item: Any) -> None:
        if isinstance(item, dict) and item.get("resourceType") == "Bundle":
            for entry in item.get("entry") or []:
                if isinstance(entry, dict) and "resource" in entry:
                    add(entry["resource"])
        elif item is not None:
            out.append(item)

    for value in (prefetch or {}).values() if isinstance(prefetch, dict) else []:
        add(value)
    return out


def patient_ids(resources: list[dict[str, Any]], full_urls: list[str | None] | None = None) -> list[str]:
    """The ids of the patients the resources belong to (Patient resources and subject references)."""
    index = Index()
    items = []
    for i, raw in enumerate(resources):
        if isinstance(raw, dict):
            res = Res(raw, f"resource[{i}]", full_urls[i] if full_urls and i < len(full_urls) else None)
            items.append(res)
            index.add(res)
    return sorted({o for o in _owners(items, index).values() if o and o != NOT_A_PATIENT})


def _json_kind(x: Any) -> str:
    return {dict: "object", str: "string", bool: "boolean", type(None): "null"}.get(type(x), "number")


__all__ = [
    "BUNDLE_TYPES",
    "bundle_resources",
    "bundle_to_record",
    "bundle_to_record_dict",
    "patient_ids",
    "prefetch_to_resources",
    "resources_to_record_dict",
]
