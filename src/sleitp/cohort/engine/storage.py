"""Where a cohort is: a local path, or a URI of storage a Spark cluster reads and writes (docs/spark.md).

- a plain path or a ``file://`` URI is local: DuckDB and Spark read it (Spark is given ``file://`` URIs,
  so a cluster whose default file system is HDFS still reads the local file; on a cluster of several
  machines the folder must be on a mount every node sees);
- any other URI (``hdfs://``, ``s3a://``, ``gs://``, ``abfss://``, ...) is passed to Spark untouched and
  read through Hadoop's FileSystem of the session: the cluster must provide its connector (hadoop-aws for
  ``s3a``, ...). Only ``--backend spark`` reads or writes such a URI, and only a tables folder (Parquet,
  as ``sleitp synth`` writes it) is read from one: records, FHIR and OMOP sources are parsed on the
  driver from a local path.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from sleitp.errors import SourceError

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_uri(x: object) -> bool:
    """``scheme://...`` (a string; a Path is never a URI: ``Path("s3a://b")`` is ``s3a:/b``)."""
    return isinstance(x, str) and bool(_URI.match(x))


def scheme(uri: str) -> str:
    return uri.split("://", 1)[0].lower()


def location(x: str | Path) -> Path | str:
    """A local path (a plain path, or a ``file://`` URI) as a Path; any other URI as the string, untouched."""
    if isinstance(x, Path):
        return x
    if is_uri(x):
        if scheme(x) == "file":
            return Path(unquote(urlsplit(x).path))
        return x
    return Path(x)


def require_spark(where: str | Path, backend: str, option: str) -> Path | str:
    """``where`` as a ``location``; a non-local URI with a backend other than Spark is a SourceError."""
    loc = location(where)
    if isinstance(loc, str) and backend != "spark":
        raise SourceError(
            f"{option} {loc}: a {scheme(loc)}:// URI is storage of a Spark cluster and is read and written "
            f"with --backend spark only; the {backend} backend reads local paths (or file:// URIs)"
        )
    return loc


def join(base: Path | str, name: str) -> Path | str:
    """``base/name`` for a Path or a URI (a URI keeps its ``//``)."""
    return base / name if isinstance(base, Path) else base.rstrip("/") + "/" + name


def open_uri_source(uri: str, engine):  # -> sources.Source | None
    """A tables folder at ``uri`` (``URI`` or ``URI/tables``: ``NAME.parquet``, a file or Spark's folder of
    parts, or ``NAME-*.parquet`` parts), read by Spark itself; None for a ``file://`` URI that holds no
    tables folder (the caller reads the local path: records, FHIR, OMOP). A SourceError otherwise."""
    from sleitp.cohort.sources import TABLES, Source, Unmapped, read_table_files

    require_spark(uri, engine.backend, "SOURCE")
    if engine.backend != "spark":
        return None  # a file:// URI on DuckDB: the local path
    base = uri.rstrip("/")
    if not engine.list_files(base):  # also where an unreachable or unconfigured storage is named
        if scheme(uri) == "file":
            return None
        raise SourceError(f"{uri}: no such file or folder (listed through Spark's Hadoop FileSystem)")
    for folder in (base + "/tables", base):
        files = {name: _table_files(engine, folder, name) for name in TABLES}
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


def _table_files(engine, folder: str, name: str) -> list[str]:
    single = engine.list_files(f"{folder}/{name}.parquet")
    parts = engine.list_files(f"{folder}/{name}-*.parquet")
    if single and parts:
        raise SourceError(
            f"{folder}: both {name}.parquet and {name}-*.parquet parts; expected one or the other"
        )
    # NAME.parquet as Spark writes it: a folder of part files (each file is named: the rows' order)
    inside = engine.list_files(f"{folder}/{name}.parquet/part-*.parquet") if single else []
    return inside or single or parts


__all__ = ["is_uri", "join", "location", "open_uri_source", "require_spark", "scheme"]
