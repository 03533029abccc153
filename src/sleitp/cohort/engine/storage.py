"""Where a cohort is: a local path, or a URI of storage a Spark cluster reads and writes (docs/spark.md).

- a plain path or a ``file://`` URI is local: DuckDB and Spark read it (Spark is given ``file://`` URIs,
  so a cluster whose default file system is HDFS still reads the local file; on a cluster of several
  machines the folder must be on a mount every node sees);
- any other URI (``hdfs://``, ``s3a://``, ``gs://``, ``abfss://``, ...) is passed to Spark untouched and
  read through Hadoop's FileSystem of the session: the cluster must provide its connector (hadoop-aws for
  ``s3a``, ...). Only ``--backend spark`` reads or writes such a URI, and only a tables folder (Parquet,
  as ``sleitp synth`` writes it) is read from one: records, FHIR and OMOP sources are parsed on the
  driver from a local path.

A tables folder at a URI is opened by ``sleitp.cohort.sources.tables.open_uri_source``.
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


__all__ = ["is_uri", "join", "location", "require_spark", "scheme"]
