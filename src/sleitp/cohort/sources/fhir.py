"""FHIR R4 as a cohort source: Bundles or bulk-export NDJSON -> validated records, via ``sleitp.fhir``.

The mapping itself (codes, units, duplicates, choices) is ``sleitp.fhir``'s (docs/fhir.md); this module only
walks the files and folds every :class:`~sleitp.fhir.MappingReport` into the cohort's unmapped report, so a
resource that was not mapped is counted under its reason, never dropped in silence.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from sleitp.cohort.sources._base import Unmapped, with_seq
from sleitp.cohort.tables import records_to_tables
from sleitp.errors import RecordError, SourceError
from sleitp.fhir import MappingReport, bundle_to_record_dict, iter_bundle_files, iter_ndjson_patients
from sleitp.fhir._record import bundle_resources, patient_ids
from sleitp.record import PatientRecord, parse_record


def _pairs(path: Path, report: Any) -> Iterator[tuple[dict, Any, str]]:
    if path.is_file():
        if path.suffix.lower() == ".ndjson":
            raise SourceError(f"{path}: give the folder of the bulk export, not one NDJSON file")
        try:
            bundle = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise SourceError(f"{path}: not a readable JSON file ({e})") from None
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            raise SourceError(
                f"{path}: not a FHIR Bundle (resourceType {bundle.get('resourceType')!r})"
                if isinstance(bundle, dict)
                else f"{path}: not a FHIR Bundle"
            )
        try:
            resources, urls = bundle_resources(bundle, source=path.name)
            pids = patient_ids(resources, urls) or [None]
            mapped = [bundle_to_record_dict(bundle, source=path.name, patient_id=pid) for pid in pids]
            if len(pids) > 1:
                mapped = _once_per_resource(mapped, resources)
            for rec, rep in mapped:
                yield rec, rep, path.name
        except RecordError as e:
            raise SourceError(str(e)) from None
        return
    if any(p.name.lower().endswith((".ndjson", ".ndjson.gz")) for p in path.iterdir()):
        for rec, rep in iter_ndjson_patients(path, unattributed=report):
            yield rec, rep, path.name
    else:
        for rec, rep in iter_bundle_files(path):
            yield rec, rep, path.name


# What a Bundle of several patients is mapped once per patient for: each resource of one patient is mapped
# (or not, for its reason) in that patient's pass and is "another patient's" in every other pass, and what
# belongs to no patient is reported alike in every pass. Counted once, as the bulk reader and the views do.
_NO_PATIENTS = (": resource type not used by sleitp", ": subject is not a Patient", ": names no patient",
                ": fails FHIR R4 validation")


def _once_per_resource(mapped: list[tuple[dict, MappingReport]], resources: list[dict]
                       ) -> list[tuple[dict, MappingReport]]:
    used: set[str] = set().union(*(rep.medications_used for _, rep in mapped))
    medications = sum(1 for r in resources if isinstance(r, dict) and r.get("resourceType") == "Medication")
    out = []
    for k, (rec, report) in enumerate(mapped):
        folded = MappingReport(mapped=report.mapped, notes=report.notes, examples=report.examples)
        for reason, n in report.unmapped.items():
            if reason.endswith("belongs to another patient"):
                continue  # counted in its own patient's pass
            if reason.startswith("Medication: not referenced"):
                n = medications - len(used)  # unused by every patient's orders
            if k > 0 and (reason.endswith(_NO_PATIENTS) or reason.startswith(("Bundle:", "Medication:"))):
                continue  # the first pass counted it
            if n:
                folded.unmapped[reason] = n
        out.append((rec, folded))
    return out


def fhir_records(path: Path, unmapped: Unmapped) -> list[PatientRecord]:
    """Every patient of the FHIR source as a validated record; invalid ones are reported and skipped."""
    total = MappingReport()
    records: list[PatientRecord] = []
    seen: set[str] = set()
    for rec, rep, where in _pairs(path, total):
        total.merge(rep)
        try:
            r = parse_record(rec, source=where)
            r.effective_assessment_date  # noqa: B018 - a record without any date cannot be evaluated
        except RecordError as e:
            unmapped.add("record: invalid after FHIR mapping", detail=str(e))
            continue
        if r.id in seen:
            unmapped.add("record: duplicate patient id (later one skipped)", detail=f"{where}: {r.id!r}")
            continue
        seen.add(r.id)
        records.append(r)
    for reason, n in total.unmapped.items():
        unmapped.add(f"FHIR {reason}", n)
    return records


def read_fhir(path: Path, unmapped: Unmapped) -> dict[str, pa.Table]:
    """FHIR R4 Bundles (``*.json``) or bulk NDJSON (``*.ndjson``) -> tables, via ``sleitp.fhir``."""
    records = fhir_records(path, unmapped)
    return {name: with_seq(t) for name, t in records_to_tables(records).items()}


__all__ = ["fhir_records", "read_fhir"]
