"""Where a FHIR source's resources are: the output formats a view is written in, and the NDJSON files of a
bulk export (the same on DuckDB and Spark)."""

from __future__ import annotations

import re
from pathlib import Path

from sleitp.errors import SourceError

FORMATS = {".parquet": "parquet", ".csv": "csv", ".ndjson": "ndjson", ".jsonl": "ndjson", ".json": "json"}
_NDJSON = (".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz")


def bulk_files(folder: Path, resource: str) -> list[Path]:
    """The NDJSON files of a bulk-export folder for one resource type: ``Type.ndjson``, ``Type.000.ndjson``,
    ``Type-1.ndjson`` (gzipped too) when the folder follows the bulk-data naming, else every NDJSON file
    (rows are filtered on resourceType either way)."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(_NDJSON))
    if not files:
        raise SourceError(
            f"{folder}: no .ndjson files (expected FHIR bulk-export files such as Patient.ndjson)"
        )
    named = [p for p in files if re.match(rf"^{re.escape(resource)}([.\-_]|$)", p.name)]
    typed = [p for p in files if re.match(r"^[A-Z][A-Za-z]+([.\-_])", p.name)]
    if typed and len(typed) == len(files):
        return named  # bulk naming: only this type's files (none: the view has no rows)
    return files


__all__ = ["FORMATS", "bulk_files"]
