"""Which kind of source a path is, and reading any of them into the engine (``open_source``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sleitp.cohort.engine import Engine
from sleitp.cohort.engine.storage import is_uri, location
from sleitp.cohort.sources._base import Source, Unmapped, arrow_to_engine
from sleitp.cohort.sources.fhir import read_fhir
from sleitp.cohort.sources.fhir_views import fhir_views_to_parquet
from sleitp.cohort.sources.omop import read_omop
from sleitp.cohort.sources.records import read_records_jsonl
from sleitp.cohort.sources.tables import open_uri_source, read_tables, table_files
from sleitp.errors import SourceError


def _lower_names(folder: Path) -> set[str]:
    return {p.name.lower() for p in folder.iterdir()}


def source_kind(path: Path) -> str:
    """What ``path`` is: records | tables | fhir | omop (or a SourceError saying what was expected)."""
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder")
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".jsonl":
            return "records"
        if suffix in (".duckdb", ".db", ".ddb"):
            return "omop"
        if suffix in (".json", ".ndjson"):
            return "fhir"
        raise SourceError(
            f"{path}: not a source sleitp reads (expected records.jsonl, a tables folder, FHIR "
            f"Bundles/NDJSON, or an OMOP DuckDB file/folder)"
        )
    if (path / "tables").is_dir() and table_files(path / "tables", "patients"):
        return "tables"
    if table_files(path, "patients"):
        return "tables"
    names = _lower_names(path)
    if any(n.split(".")[0] == "person" for n in names):
        return "omop"
    if "records.jsonl" in names:
        return "records"
    if any(n.endswith((".ndjson", ".json")) for n in names):
        return "fhir"
    raise SourceError(
        f"{path}: found no source in this folder (expected records.jsonl, patients*.parquet "
        f"(or tables/), person.csv/.tsv/.parquet (OMOP), or FHIR *.json/*.ndjson)"
    )


def open_source(
    source: str | Path,
    engine: Engine,
    *,
    vocabulary: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
    fhir_mapping: str = "views",
) -> Source:
    """Read any supported source into the engine. ``vocabulary``: an OMOP concept table for a CDM that
    has none of its own; ``progress``: told the part being read (the OMOP tables); ``fhir_mapping``:
    ``views`` (default: the mapping as SQL on FHIR ViewDefinitions, ``sleitp.cohort.sources.fhir_views``,
    set-based, for cohorts of any size) or ``python`` (the per-resource mapping of ``sleitp.fhir``, with
    fhir.resources validation) for a FHIR source; the two are held equal by tests."""
    if fhir_mapping not in ("python", "views"):
        raise SourceError(f"--fhir-mapping {fhir_mapping!r}: expected python or views")
    if is_uri(source):  # storage a Spark cluster sees: a tables folder read by Spark (cohort.engine.storage)
        found = open_uri_source(str(source), engine)
        if found is not None:
            return found
    path = location(source)
    kind = source_kind(path)
    unmapped = Unmapped()
    if kind == "records":
        file = path if path.is_file() else path / "records.jsonl"
        tables = arrow_to_engine(read_records_jsonl(file, unmapped), engine)
    elif kind == "tables":
        folder = (
            path / "tables"
            if (path / "tables").is_dir() and table_files(path / "tables", "patients")
            else path
        )
        tables = read_tables(folder, engine, unmapped)
    elif kind == "fhir" and fhir_mapping == "views":
        # mapped by DuckDB to Parquet in a scratch folder of the engine's (removed when it closes), then
        # read like synth tables: no table of a large export is held in Python (as OMOP, read_omop)
        folder = fhir_views_to_parquet(path, engine.scratch_dir("fhir"), unmapped)
        tables = read_tables(folder, engine, unmapped)
    elif kind == "fhir":
        tables = arrow_to_engine(read_fhir(path, unmapped), engine)
    else:
        tables = read_omop(path, engine, unmapped, vocabulary=vocabulary, progress=progress)
    return Source(kind=kind, tables=tables, unmapped=unmapped)


__all__ = ["open_source", "source_kind"]
