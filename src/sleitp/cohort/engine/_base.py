"""The engine every backend provides: what the cohort code may ask of a database, and nothing else.

The adapter rule (after cumulus-library's ``DatabaseBackend`` and Ibis's one-folder-per-backend): a backend
module (``duckdb.py``, ``spark.py``) holds only connecting, reading, writing, materialising and the
workarounds of its dialect (a faster aggregate, a key that does not gather all rows on one executor). No
clinical logic goes there: every rule of the derivation is an Ibis expression in ``sleitp.cohort.derive``
and ``sleitp.cohort.sources``, the same on every backend. Ibis's internals (the raw DuckDB connection,
the SparkSession) are reached only inside the backend modules; everything else calls the methods below.
A new backend is a subclass here plus an entry in ``connect`` (``sleitp.cohort.engine``).
"""

from __future__ import annotations

import abc
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar, Literal

import ibis
import pyarrow as pa

from sleitp.errors import SourceError

Backend = Literal["duckdb", "spark"]
BACKENDS: tuple[str, ...] = ("duckdb", "spark")

# seq = file position << SEQ_ROW_BITS | row in the file: up to 2^23 files of up to 2^40 rows each in an int64
SEQ_ROW_BITS = 40
LOOKUP_TYPES = {"string": pa.string(), "float64": pa.float64()}  # the column types of ``lookup_table``


class Engine(abc.ABC):
    """An Ibis connection and what the cohort code needs from it, the same on every backend."""

    backend: ClassVar[str]  # "duckdb" | "spark": named in messages, results and engine errors

    def __init__(self, con: Any):
        self.con = con  # the Ibis backend; its own internals are for the backend module only
        self.profile: list[tuple[str, float]] = []  # (caller, seconds) of each materialize
        self.sql_log: list[tuple[str, str]] | None = None  # (caller, SQL) of each materialize, when a list
        self._dirs: list[Path] = []
        self._n = 0

    @abc.abstractmethod
    def exceptions(self) -> tuple[type[BaseException], ...]:
        """The backend's own exception classes: what ``engine_errors`` reports as a failed step (a bug in
        sleitp's code is none of them, so it still shows as an internal error)."""

    # -- getting data in ----------------------------------------------------------------------
    @abc.abstractmethod
    def from_arrow(self, table: pa.Table, name: str | None = None) -> ibis.Table:
        """An Arrow table as an engine table (small inputs: records, FHIR, tests)."""

    def lookup_table(self, rows: list[dict[str, Any]], types: dict[str, str]) -> ibis.Table:
        """A small lookup table (tens of rows; ``types``: column -> ``string`` | ``float64``) as an engine
        table."""
        schema = pa.schema([(c, LOOKUP_TYPES[t]) for c, t in types.items()])
        return self.from_arrow(pa.Table.from_pylist(rows, schema=schema))

    @abc.abstractmethod
    def read_parquet(self, paths: list[Path] | list[str], name: str | None = None) -> ibis.Table:
        """Parquet files read by the engine itself (no Python per row), with ``seq``: the row's position
        in the files as given (file order, then row order, ``SEQ_ROW_BITS``), which breaks ties the way a
        record's list order does."""

    def sql_table(self, sql: str, name: str | None = None) -> ibis.Table:
        """A DuckDB SQL query as an engine table (used by the OMOP reader, DuckDB only)."""
        raise SourceError("a SQL source needs the duckdb backend")

    # -- expressions that differ per backend --------------------------------------------------------
    def arg_max(self, x: ibis.Value, key: ibis.Value, where: ibis.Value | None = None) -> ibis.Value:
        """``x`` on the row with the largest ``key`` (a null ``x`` there is the answer, not skipped), as an
        aggregate: Ibis's ``argmax`` (``max_by``). Within a group, ties of ``key`` must not occur (every
        caller's key is unique there)."""
        return x.argmax(key, where=where)

    def arg_min(self, x: ibis.Value, key: ibis.Value, where: ibis.Value | None = None) -> ibis.Value:
        """``x`` on the row with the smallest ``key`` (see ``arg_max``)."""
        return x.argmin(key, where=where)

    @abc.abstractmethod
    def row_key(self, t: ibis.Table, by: list[str]) -> ibis.Value:
        """A key unique to each row of ``t``, whose columns ``by`` are unique together: one column to join,
        sort and group on instead of several."""

    # -- running ------------------------------------------------------------------------------
    def materialize(self, expr: ibis.Table) -> ibis.Table:
        """Compute ``expr`` once and keep it (an intermediate used several times). Each call's time is
        kept in ``profile`` under its caller (``function:line``), printed by ``SLEITP_PROFILE=1``."""
        caller = sys._getframe(1)
        step = f"{Path(caller.f_code.co_filename).stem}.{caller.f_code.co_name}"
        t0 = time.perf_counter()
        sql = self.compile(expr)
        if self.sql_log is not None:  # the SQL snapshot tests (tests/cohort/derive/test_sql_snapshots.py)
            self.sql_log.append((step, sql))
        table = self._materialize(sql)
        self.profile.append((f"{step}:{caller.f_lineno}", time.perf_counter() - t0))
        return table

    @abc.abstractmethod
    def _materialize(self, sql: str) -> ibis.Table:
        """The compiled ``sql`` computed now and kept as a table of this connection."""

    def compile(self, expr: ibis.Expr) -> str:
        """The SQL of ``expr`` in this backend's dialect."""
        return str(self.con.compile(expr))

    @abc.abstractmethod
    def to_arrow(self, expr: ibis.Table) -> pa.Table:
        """The rows of ``expr`` as an Arrow table (small results: counts per reason, summaries)."""

    @abc.abstractmethod
    def count(self, expr: ibis.Table) -> int:
        """The number of rows of ``expr``."""

    @abc.abstractmethod
    def write_parquet(self, expr: ibis.Table, path: Path | str, schema: pa.Schema) -> int:
        """Write ``expr`` with exactly ``schema`` to ``path`` (a local file; a storage URI where the
        backend writes one); returns the row count."""

    # -- storage ------------------------------------------------------------------------------
    def write_text(self, target: Path | str, text: str) -> None:
        """A small text file (``unmapped.json``) at a local path (or a storage URI, where the backend
        writes one)."""
        if not isinstance(target, Path):
            self._no_uri(target)
        target.write_text(text)

    def list_files(self, pattern: str) -> list[str]:
        """What a glob URI (``hdfs://nn/cohort/labs-*.parquet``) matches, by name."""
        self._no_uri(pattern)

    def has_files(self, uri: str) -> bool:
        """The folder at ``uri`` exists and holds something (``--out`` must be new or empty)."""
        return bool(self.list_files(uri.rstrip("/") + "/*"))

    def parquet_schema(self, uris: list[str]) -> pa.Schema:
        """The Arrow schema the engine reads for Parquet files at storage URIs."""
        self._no_uri(uris[0])

    def _no_uri(self, uri: str) -> Any:
        raise SourceError(f"{uri}: a storage URI is read and written with --backend spark only")

    def scratch_dir(self, kind: str) -> Path:
        """A new folder for files the engine reads lazily (mapped source tables), removed at ``close``."""
        path = Path(tempfile.mkdtemp(prefix=f"sleitp-{kind}-"))
        self._dirs.append(path)
        return path

    # -- the run --------------------------------------------------------------------------------
    def progress(self) -> str | None:
        """What the engine runs now (``stage 12: 37/200 tasks``) for the progress line; None when idle or
        when the backend cannot tell."""
        return None

    def spark_progress(self) -> str | None:
        """``progress`` under the name the CLI calls (sleitp.cli.derive)."""
        return self.progress()

    def close(self) -> None:
        for path in self._dirs:
            shutil.rmtree(path, ignore_errors=True)
        self._dirs.clear()

    def _name(self, kind: str) -> str:
        self._n += 1
        return f"sleitp_{kind}_{self._n}"


__all__ = ["BACKENDS", "SEQ_ROW_BITS", "Backend", "Engine"]
