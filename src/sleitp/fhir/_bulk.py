"""Many patients: FHIR bulk-export NDJSON folders and folders of Bundle files.

NDJSON (``Patient.ndjson``, ``Observation.ndjson``, ``Observation.2.ndjson``, ``*.ndjson.gz`` ...): the
resource type is read from each line, not from the file name. Lines are streamed into an on-disk SQLite
table keyed by patient (a temporary file), then read back one patient at a time, so memory holds one
patient's resources plus SQLite's page cache, never the whole export. Limits: the temporary file needs
about the size of the uncompressed export on disk; Medication resources (shared, no subject) are kept in
a second table and looked up by reference; resources that name no patient are counted in
``unattributed`` and not mapped. Throughput is bound by FHIR validation (software.md §5: about 7,000
resources a second on one core).
"""

from __future__ import annotations

import gzip
import json
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from sleitp.errors import RecordError, SourceError
from sleitp.fhir._context import MappingOptions
from sleitp.fhir._parse import fhir_date, reference_of, relative
from sleitp.fhir._record import (
    _SUBJECT,
    bundle_resources,
    bundle_to_record_dict,
    patient_ids,
    resources_to_record_dict,
)
from sleitp.fhir._report import MappingReport

_BATCH = 5000


def _open(path: Path):
    # utf-8-sig: a byte-order mark (written by some Windows tools) is accepted and dropped
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig")
    return path.open(encoding="utf-8-sig")


def _ndjson_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise SourceError(f"{folder}: not a folder (expected a folder of FHIR bulk-export .ndjson files)")
    files = sorted(p for p in folder.iterdir() if p.name.endswith((".ndjson", ".ndjson.gz")))
    if not files:
        raise SourceError(
            f"{folder}: no .ndjson files (expected FHIR bulk-export files such as Patient.ndjson)"
        )
    return files


def export_day(folder: Path) -> date | None:
    """The day of the export's ``transactionTime``, from the ``manifest.json`` beside the NDJSON files (the
    body of the Bulk Data Access IG's status response: the export holds what the server had at that time,
    so an Encounter after it did not take place yet, ``_encounters``). None without a manifest; a manifest
    whose transactionTime is missing or not a FHIR instant is a SourceError (it would move that limit)."""
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        return None
    try:
        body = json.loads(manifest.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SourceError(f"{manifest}: not valid JSON ({e})") from None
    value = body.get("transactionTime") if isinstance(body, dict) else None
    day = fhir_date(value)
    if day is None:
        raise SourceError(f"{manifest}: transactionTime: expected a FHIR instant such as "
                          f"2024-05-01T00:00:00Z, got {value!r}")
    return day


def _owner(resource: dict[str, Any]) -> str | None:
    rtype = resource.get("resourceType")
    if rtype == "Patient":
        rid = resource.get("id")
        return str(rid) if rid is not None else None
    field = _SUBJECT.get(str(rtype)) or ("subject" if "subject" in resource else "patient")
    ref = reference_of(resource.get(field)) or ""
    rel = relative(ref)
    if rel and rel.startswith("Patient/"):
        return rel.split("/", 1)[1]
    if ref.startswith("urn:uuid:"):  # Synthea-style: Patient.id is the uuid
        return ref.removeprefix("urn:uuid:")
    return None


def iter_ndjson_patients(
    folder: str | Path, *, options: MappingOptions | None = None, unattributed: MappingReport | None = None
) -> Iterator[tuple[dict[str, Any], MappingReport]]:
    """Yield ``(record dict, MappingReport)`` per patient of a bulk-export NDJSON folder, in patient id
    order. ``options.on_invalid`` defaults to ``"report"`` here (one bad resource does not stop a cohort);
    resources naming no patient are counted in ``unattributed`` (if given). SourceError on a line that is
    not JSON or not a FHIR resource, naming the file and line."""
    folder = Path(folder)
    files = _ndjson_files(folder)
    options = options or MappingOptions(on_invalid="report")
    if options.as_of is None:
        options = replace(options, as_of=export_day(folder))
    with tempfile.TemporaryDirectory(prefix="sleitp-ndjson-") as tmp:
        db = sqlite3.connect(Path(tmp) / "resources.sqlite")
        try:
            db.execute("CREATE TABLE res (patient TEXT, seq INTEGER, loc TEXT, line TEXT)")
            db.execute("CREATE TABLE med (ref TEXT PRIMARY KEY, loc TEXT, line TEXT)")
            seq = 0
            for path in files:
                rows: list[tuple[str, int, str, str]] = []
                with _open(path) as fh:
                    for n, line in enumerate(fh, start=1):
                        if not line.strip():
                            continue
                        try:
                            resource = json.loads(line)
                        except json.JSONDecodeError as e:
                            raise SourceError(
                                f"{path.name}: line {n}: not valid JSON ({e.msg}, column {e.colno})"
                            ) from None
                        if not isinstance(resource, dict) or not resource.get("resourceType"):
                            raise SourceError(f"{path.name}: line {n}: not a FHIR resource (no resourceType)")
                        loc = f"{path.name} line {n}"
                        if resource["resourceType"] == "Medication" and resource.get("id") is not None:
                            db.execute(
                                "INSERT OR IGNORE INTO med VALUES (?, ?, ?)",
                                (f"Medication/{resource['id']}", loc, line),
                            )
                            continue
                        who = _owner(resource)
                        if who is None:
                            if unattributed is not None:
                                unattributed.skip(f"{resource['resourceType']}: names no patient", loc)
                            continue
                        seq += 1
                        rows.append((who, seq, loc, line))
                        if len(rows) >= _BATCH:
                            db.executemany("INSERT INTO res VALUES (?, ?, ?, ?)", rows)
                            rows.clear()
                if rows:
                    db.executemany("INSERT INTO res VALUES (?, ?, ?, ?)", rows)
            db.execute("CREATE INDEX res_patient ON res (patient, seq)")
            db.commit()
            used: set[str] = set()
            yield from _patients(db, options, used)
            if unattributed is not None:  # shared Medications that no patient's order referenced
                for ref, loc in db.execute("SELECT ref, loc FROM med ORDER BY ref"):
                    if ref not in used:
                        unattributed.skip("Medication: not referenced by any medication order", loc)
        finally:
            db.close()


def _patients(
    db: sqlite3.Connection, options: MappingOptions, used: set[str]
) -> Iterator[tuple[dict[str, Any], MappingReport]]:
    current: str | None = None
    resources: list[dict[str, Any]] = []
    locs: list[str] = []
    for patient, loc, line in db.execute("SELECT patient, loc, line FROM res ORDER BY patient, seq"):
        if patient != current and current is not None:
            yield _map_group(db, current, resources, locs, options, used)
            resources, locs = [], []
        current = patient
        resources.append(json.loads(line))
        locs.append(loc)
    if current is not None:
        yield _map_group(db, current, resources, locs, options, used)


def _map_group(
    db: sqlite3.Connection,
    patient: str,
    resources: list[dict[str, Any]],
    locs: list[str],
    options: MappingOptions,
    used: set[str],
) -> tuple[dict[str, Any], MappingReport]:
    wanted = {reference_of(r.get("medicationReference")) for r in resources if r.get("medicationReference")}
    for ref in sorted(w for w in wanted if w and not w.startswith("#")):
        key = relative(ref) or ref
        row = db.execute("SELECT loc, line FROM med WHERE ref = ?", (key,)).fetchone()
        if row:
            used.add(key)
            locs.append(row[0])
            resources.append(json.loads(row[1]))
    try:
        return resources_to_record_dict(resources, patient_id=patient, options=options, locations=locs)
    except RecordError as e:
        raise SourceError(str(e)) from None


def iter_bundle_files(
    folder: str | Path, *, options: MappingOptions | None = None
) -> Iterator[tuple[dict[str, Any], MappingReport]]:
    """Yield ``(record dict, MappingReport)`` per patient of each Bundle ``*.json`` file of a folder (file
    name order; a Bundle of several patients yields one pair per patient). SourceError names the file."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SourceError(f"{folder}: not a folder (expected a folder of FHIR Bundle .json files)")
    files = sorted(folder.glob("*.json"))
    if not files:
        raise SourceError(f"{folder}: no .json files (expected FHIR Bundle files)")
    for path in files:
        try:
            bundle = json.loads(path.read_text(encoding="utf-8-sig"))
        except json.JSONDecodeError as e:
            raise SourceError(
                f"{path.name}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})"
            ) from None
        except UnicodeDecodeError as e:
            raise SourceError(f"{path.name}: not UTF-8 text (byte {e.start} cannot be read)") from None
        except IsADirectoryError:
            raise SourceError(f"{path.name}: is a directory, not a Bundle file") from None
        except OSError as e:
            raise SourceError(f"{path.name}: cannot be read ({e.strerror or 'input/output error'})") from None
        try:
            resources, urls = bundle_resources(bundle, source=path.name)
            ids = patient_ids(resources, urls)
            for pid in ids or [None]:
                yield bundle_to_record_dict(bundle, source=path.name, patient_id=pid, options=options)
        except RecordError as e:
            raise SourceError(str(e)) from None


__all__ = ["iter_bundle_files", "iter_ndjson_patients"]
