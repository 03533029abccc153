"""``records.jsonl`` as a cohort source: one record a line (spec/record.md), validated with
``sleitp.record.parse_record``; an invalid line is reported with its line number and the error, and skipped.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from sleitp.cohort.sources._base import RECORD_CHUNK, TABLES, Unmapped, with_seq
from sleitp.cohort.tables import SCHEMAS, records_to_tables
from sleitp.errors import RecordError, SourceError
from sleitp.record import PatientRecord, parse_record


def read_records_jsonl(path: Path, unmapped: Unmapped) -> dict[str, pa.Table]:
    """Validate every line; invalid ones are reported with their line number and skipped."""
    parts: dict[str, list[pa.Table]] = {name: [] for name in TABLES}
    seen: set[str] = set()
    chunk: list[PatientRecord] = []

    def flush() -> None:
        if chunk:
            for name, t in records_to_tables(chunk).items():
                parts[name].append(t)
            chunk.clear()

    try:
        fh = path.open(encoding="utf-8")
    except OSError as e:
        raise SourceError(f"{path}: cannot read ({e.strerror})") from None
    with fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as e:
                unmapped.add(
                    "record: not valid JSON", detail=f"{path.name} line {n}: not valid JSON ({e.msg})"
                )
                continue
            try:
                rec = parse_record(data, source=f"{path.name} line {n}")
                rec.effective_assessment_date  # noqa: B018 - a record without any date cannot be evaluated
            except RecordError as e:
                unmapped.add("record: invalid", detail=f"line {n}: {e}")
                continue
            if rec.id in seen:
                unmapped.add(
                    "record: duplicate patient id (later line skipped)",
                    detail=f"line {n}: record {rec.id!r} already read from an earlier line",
                )
                continue
            seen.add(rec.id)
            chunk.append(rec)
            if len(chunk) >= RECORD_CHUNK:
                flush()
    flush()
    out = {}
    for name in TABLES:
        t = pa.concat_tables(parts[name]) if parts[name] else SCHEMAS[name].empty_table()
        out[name] = with_seq(t)
    return out


__all__ = ["read_records_jsonl"]
