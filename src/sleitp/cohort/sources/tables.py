"""A folder of tables as ``sleitp synth`` writes them as a cohort source (``DIR`` or ``DIR/tables``;
``NAME.parquet`` or ``NAME-*.parquet`` parts), local or at a storage URI Spark reads
(``sleitp.cohort.engine.storage``): read by the engine itself, no Python per row; the columns are checked
against the schema of ``sleitp.cohort.tables`` and the rows by ``checks``.
"""

from __future__ import annotations

from pathlib import Path

import ibis
import pyarrow as pa
import pyarrow.parquet as pq

from sleitp.cohort.engine import Engine
from sleitp.cohort.engine.storage import require_spark, scheme
from sleitp.cohort.sources._base import TABLES, CohortTables, Source, Unmapped, with_seq
from sleitp.cohort.sources.checks import checked_tables
from sleitp.cohort.tables import OPTIONAL_COLUMNS, SCHEMAS, table_schema
from sleitp.errors import SourceError


def table_files(folder: Path, name: str) -> list[Path]:
    """``NAME.parquet`` or the parts ``NAME-*.parquet`` (sorted by name: the parts' order)."""
    single = folder / f"{name}.parquet"
    parts = sorted(folder.glob(f"{name}-*.parquet"))
    if single.exists() and parts:
        raise SourceError(
            f"{folder}: both {name}.parquet and {name}-*.parquet parts; expected one or the other"
        )
    return [single] if single.exists() else parts


def _check_columns(files: list[Path] | list[str], name: str, engine: Engine | None = None) -> None:
    """Every column of the schema present with a compatible type, named with file and column. URIs
    (``sleitp.cohort.engine.storage``): the schema Spark reads for the table's files, once (a job a file
    else)."""
    want = table_schema(name)
    optional = set(OPTIONAL_COLUMNS.get(name, pa.schema([])).names)
    uri = bool(files) and isinstance(files[0], str) and engine is not None
    for f in files[:1] if uri else files:
        try:
            have = engine.parquet_schema(files) if uri else pq.read_schema(f)
        except Exception as e:  # noqa: BLE001 - pyarrow raises several types for a broken file
            raise SourceError(f"{f}: not a readable Parquet file ({e})") from None
        for fld in want:
            if fld.name not in have.names and fld.name in optional:
                continue  # read as null (_cast)
            if fld.name not in have.names:
                raise SourceError(
                    f"{f}: column {fld.name!r} is missing (expected {fld.type}; "
                    f"the {name} table of sleitp.cohort.tables)"
                )
            got = have.field(fld.name).type
            ok = (
                got == fld.type
                or (pa.types.is_null(got))
                or (pa.types.is_integer(fld.type) and pa.types.is_integer(got))
                or (
                    pa.types.is_floating(fld.type) and (pa.types.is_floating(got) or pa.types.is_integer(got))
                )
                or (
                    pa.types.is_string(fld.type)
                    and (pa.types.is_large_string(got) or pa.types.is_dictionary(got))
                )
                or (pa.types.is_date(fld.type) and (pa.types.is_date(got) or pa.types.is_timestamp(got)))
            )
            if not ok:
                raise SourceError(f"{f}: column {fld.name!r} has type {got}, expected {fld.type}")


def _cast(t: ibis.Table, name: str) -> ibis.Table:
    types = {
        "string": "string",
        "date32[day]": "date",
        "double": "float64",
        "bool": "boolean",
        "int8": "int8",
    }
    cols = [t[f.name].cast(types[str(f.type)]) for f in SCHEMAS[name]]
    # an optional column absent from the files is null: the source says nothing
    for f in OPTIONAL_COLUMNS.get(name, pa.schema([])):
        kind = types[str(f.type)]
        cols.append(t[f.name].cast(kind) if f.name in t.columns else ibis.null(kind).name(f.name))
    return t.select(*cols, t.seq)


def read_tables(folder: Path, engine: Engine, unmapped: Unmapped) -> CohortTables:
    """The synth tables, read and checked by the engine; rows breaking a rule are counted and left out."""
    return read_table_files(folder, {name: table_files(folder, name) for name in TABLES}, engine, unmapped)


def read_table_files(
    folder: Path | str, tables: dict[str, list], engine: Engine, unmapped: Unmapped
) -> CohortTables:
    """``read_tables`` of the files found (local paths, or URIs Spark reads:
    ``sleitp.cohort.engine.storage``)."""
    raw = {}
    for name in TABLES:
        files = tables[name]
        if not files:
            if name in ("patients", "labs", "treatments"):
                raise SourceError(
                    f"{folder}: no {name}.parquet or {name}-*.parquet (a synth tables folder "
                    f"needs patients, labs and treatments)"
                )
            raw[name] = engine.from_arrow(with_seq(SCHEMAS[name].empty_table()))
            continue
        _check_columns(files, name, engine)
        raw[name] = _cast(engine.read_parquet(files), name)
    return checked_tables(raw, engine, unmapped)


def open_uri_source(uri: str, engine: Engine) -> Source | None:
    """A tables folder at ``uri`` (``URI`` or ``URI/tables``: ``NAME.parquet``, a file or Spark's folder of
    parts, or ``NAME-*.parquet`` parts), read by Spark itself; None for a ``file://`` URI that holds no
    tables folder (the caller reads the local path: records, FHIR, OMOP). A SourceError otherwise."""
    require_spark(uri, engine.backend, "SOURCE")
    if engine.backend != "spark":
        return None  # a file:// URI on DuckDB: the local path
    base = uri.rstrip("/")
    if not engine.list_files(base):  # also where an unreachable or unconfigured storage is named
        if scheme(uri) == "file":
            return None
        raise SourceError(f"{uri}: no such file or folder (listed through Spark's Hadoop FileSystem)")
    for folder in (base + "/tables", base):
        files = {name: _uri_table_files(engine, folder, name) for name in TABLES}
        if files["patients"]:
            break
    else:
        if scheme(uri) == "file":
            return None
        raise SourceError(
            f"{uri}: found no patients.parquet or patients-*.parquet here or in tables/ (from a "
            f"{scheme(uri)}:// URI sleitp reads a tables folder as `sleitp synth` writes it; records, FHIR "
            f"and OMOP sources are read from a local path)"
        )
    unmapped = Unmapped()
    return Source(kind="tables", tables=read_table_files(folder, files, engine, unmapped), unmapped=unmapped)


def _uri_table_files(engine: Engine, folder: str, name: str) -> list[str]:
    single = engine.list_files(f"{folder}/{name}.parquet")
    parts = engine.list_files(f"{folder}/{name}-*.parquet")
    if single and parts:
        raise SourceError(
            f"{folder}: both {name}.parquet and {name}-*.parquet parts; expected one or the other"
        )
    # NAME.parquet as Spark writes it: a folder of part files (each file is named: the rows' order)
    inside = engine.list_files(f"{folder}/{name}.parquet/part-*.parquet") if single else []
    return inside or single or parts


__all__ = ["open_uri_source", "read_table_files", "read_tables", "table_files"]
