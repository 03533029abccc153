"""The engine the cohort work runs in: one Ibis connection, DuckDB by default, PySpark local mode optional.

Everything in ``sleitp.cohort.derive*`` is an Ibis expression over the tables of a source, so the same
code runs on both backends (software.md §0, §5). What differs per backend lives here and only here:

- DuckDB 2.0 (default): an in-process database; ``threads`` and ``memory_limit`` bound the machine it may
  use, and a temporary directory lets it spill instead of running out of memory.
- PySpark 4.0 in local mode (``--backend spark``): one shared session a process. Pitfalls measured in
  software.md §5/§7 are handled at start: ``SPARK_LOCAL_IP=127.0.0.1`` (else it binds a non-loopback
  address), ``spark.ui.enabled=false``, and a temporary ``spark.sql.warehouse.dir`` (re-running a
  ``create_table`` into the default ``spark-warehouse/`` fails with LOCATION_ALREADY_EXISTS).
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import ibis
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import SourceError

Backend = Literal["duckdb", "spark"]
BACKENDS: tuple[str, ...] = ("duckdb", "spark")

DEFAULT_DUCKDB_MEMORY = "2500MB"  # DuckDB's own default is 80 % of RAM; this keeps derive under 4 GB
_SPARK: Any = None  # the one SparkSession of this process (starting one costs ~6 s, software.md §6)
_SPARK_DIR: str | None = None


def spark_session() -> Any:
    """The process-wide local SparkSession (created on first use, stopped at exit)."""
    global _SPARK, _SPARK_DIR
    if _SPARK is not None:
        return _SPARK
    try:
        from pyspark.sql import SparkSession
    except ImportError:  # the optional [spark] extra is not installed
        raise SourceError(
            "--backend spark needs pyspark: install sleitp[spark] (pyspark>=3.5,<4.1) and Java 17"
        ) from None
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # software.md §5: else it binds a public address
    _SPARK_DIR = tempfile.mkdtemp(prefix="sleitp-spark-")
    cores = os.cpu_count() or 2
    _SPARK = (
        SparkSession.builder.master(f"local[{cores}]")
        .appName("sleitp")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")  # sleitp shows its own progress
        .config("spark.sql.warehouse.dir", str(Path(_SPARK_DIR) / "warehouse"))
        .config("spark.local.dir", str(Path(_SPARK_DIR) / "tmp"))
        .config("spark.sql.shuffle.partitions", str(max(2, 2 * cores)))
        .config("spark.sql.session.timeZone", "UTC")  # dates never shift with the machine's zone
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.memory", os.environ.get("SLEITP_SPARK_DRIVER_MEMORY", "2g"))
        .getOrCreate()
    )
    _SPARK.sparkContext.setLogLevel("ERROR")
    atexit.register(_stop_spark)
    return _SPARK


def _stop_spark() -> None:
    global _SPARK
    if _SPARK is not None:
        _SPARK.stop()
        _SPARK = None
    if _SPARK_DIR:
        shutil.rmtree(_SPARK_DIR, ignore_errors=True)


@dataclass
class Engine:
    """An Ibis connection and what the cohort code needs from it, the same on every backend."""

    backend: str
    con: Any
    _temp: list[str] = field(default_factory=list)
    _dirs: list[Path] = field(default_factory=list)
    _n: int = 0

    # -- getting data in ----------------------------------------------------------------------
    def from_arrow(self, table: pa.Table, name: str | None = None) -> ibis.Table:
        """An Arrow table as an engine table (small inputs: records, FHIR, tests)."""
        name = name or self._name("arrow")
        if self.backend == "duckdb":
            return self.con.create_table(name, table, temp=True)
        return self._spark_view(self.con._session.createDataFrame(table), name)

    def lookup_table(self, rows: list[dict[str, Any]], types: dict[str, str]) -> ibis.Table:
        """A small lookup table (tens of rows; ``types``: column -> ``string`` | ``float64``) as an engine
        table. On DuckDB it is SQL VALUES: building it through Arrow imports pandas (pyarrow's
        ``from_pylist`` does), ~1 s that reading a tables source would otherwise not pay."""
        if self.backend != "duckdb":
            arrow = {"string": pa.string(), "float64": pa.float64()}
            schema = pa.schema([(c, arrow[t]) for c, t in types.items()])
            return self.from_arrow(pa.Table.from_pylist(rows, schema=schema))

        def literal(v: Any) -> str:
            if v is None:
                return "NULL"
            return "'" + v.replace("'", "''") + "'" if isinstance(v, str) else repr(float(v))

        sql_types = {"string": "VARCHAR", "float64": "DOUBLE"}
        cols = ", ".join(f'CAST(c{i} AS {sql_types[t]}) AS "{c}"' for i, (c, t) in enumerate(types.items()))
        values = ", ".join("(" + ", ".join(literal(r[c]) for c in types) + ")" for r in rows)
        names = ", ".join(f"c{i}" for i in range(len(types)))
        return self.sql_table(f"SELECT {cols} FROM (VALUES {values}) v({names})")

    def read_parquet(self, paths: list[Path], name: str | None = None) -> ibis.Table:
        """Parquet files read by the engine itself (no Python per row), with ``seq``: the row's position
        in the files as given (file order, then row order), which breaks ties the way a record's list
        order does."""
        name = name or self._name("parquet")
        files = [str(p) for p in paths]
        if self.backend == "duckdb":
            listing = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
            # the file's position in the list (a scalar lookup, not a window: a window over the whole
            # table would sort it) in the high bits, the row in the file in the low 28 bits
            sql = (
                f"SELECT * EXCLUDE (filename, file_row_number), "
                f"(list_position([{listing}], filename) - 1) * {1 << 28} + file_row_number AS seq "
                f"FROM read_parquet([{listing}], filename = true, file_row_number = true)"
            )
            self._run(f'CREATE OR REPLACE TEMP VIEW "{name}" AS {sql}')
            return self.con.table(name)
        from pyspark.sql import functions as F

        df = self.con._session.read.parquet(*files)
        # monotonically_increasing_id follows file and row order in local mode (partition id in the high bits)
        mid = F.monotonically_increasing_id()
        # partition id (high bits) and row (low 33 bits) -> file/partition order in 40 bits, like DuckDB's
        df = df.withColumn(
            "seq", F.shiftright(mid, 33) * F.lit(1 << 28) + mid.bitwiseAND(F.lit((1 << 33) - 1))
        )
        df.createOrReplaceTempView(name)
        return self.con.table(name)

    def sql_table(self, sql: str, name: str | None = None) -> ibis.Table:
        """A DuckDB SQL query as an engine table (used by the OMOP reader, DuckDB only)."""
        if self.backend != "duckdb":
            raise SourceError("a SQL source needs the duckdb backend")
        name = name or self._name("sql")
        self._run(f'CREATE OR REPLACE TEMP VIEW "{name}" AS {sql}')
        return self.con.table(name)

    # -- expressions that differ per backend --------------------------------------------------------
    def arg_max(self, x: ibis.Value, key: ibis.Value, where: ibis.Value | None = None) -> ibis.Value:
        """``x`` on the row with the largest ``key`` (a null ``x`` there is the answer, not skipped), as an
        aggregate. Ibis's own ``argmax`` compiles on DuckDB to ``FIRST(x ORDER BY key DESC)``, which DuckDB
        runs by building a sort key per row (2.4 s of the 3.8 s of one features step at 1M patients);
        DuckDB's ``arg_max_null`` is the same answer from a plain comparison. Spark keeps Ibis's ``max_by``.
        Within a group, ties of ``key`` must not occur (every caller's key is unique there)."""
        if self.backend != "duckdb":
            return x.argmax(key, where=where)
        return _duckdb_arg_max_null(x.type(), key.type())(x, key, where=where)

    def arg_min(self, x: ibis.Value, key: ibis.Value, where: ibis.Value | None = None) -> ibis.Value:
        """``x`` on the row with the smallest ``key`` (see ``arg_max``)."""
        if self.backend != "duckdb":
            return x.argmin(key, where=where)
        return _duckdb_arg_min_null(x.type(), key.type())(x, key, where=where)

    # -- running ------------------------------------------------------------------------------
    def materialize(self, expr: ibis.Table) -> ibis.Table:
        """Compute ``expr`` once and keep it (an intermediate used several times)."""
        if self.backend == "duckdb":
            name = self._name("step")
            self._temp.append(name)
            self._run(f'CREATE TEMP TABLE "{name}" AS {self.con.compile(expr)}')
            return self.con.table(name)
        # Spark: compute now and cut the lineage (a cached plan of cached plans grows until explaining it
        # runs the driver out of memory)
        return self._spark_view(self.con._session.sql(str(self.con.compile(expr))), self._name("step"))

    def _spark_view(self, df: Any, name: str) -> ibis.Table:
        df = df.localCheckpoint(eager=True)
        df.createOrReplaceTempView(name)
        return self.con.table(name)

    def to_arrow(self, expr: ibis.Table) -> pa.Table:
        if (
            self.backend == "duckdb"
        ):  # DuckDB 2.0 renamed fetch_arrow_table -> to_arrow_table (software.md §5)
            return self.con.con.sql(str(self.con.compile(expr))).to_arrow_table()
        return self.con.to_pyarrow(expr)

    def count(self, expr: ibis.Table) -> int:
        if self.backend == "duckdb":
            return int(self._run(str(self.con.compile(expr.count())))[0][0])
        return int(self.con.execute(expr.count()))

    def write_parquet(self, expr: ibis.Table, path: Path, schema: pa.Schema) -> int:
        """Write ``expr`` to one Parquet file with exactly ``schema``; returns the row count."""
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.backend == "duckdb":
            # streamed in batches: bounded memory whatever the size (DuckDB 2.0: to_arrow_reader;
            # Ibis 12's to_pyarrow_batches still calls the removed fetch_record_batch, software.md §5)
            reader = self.con.con.sql(str(self.con.compile(expr))).to_arrow_reader(1_000_000)
            rows = 0
            with pq.ParquetWriter(str(path), schema) as writer:
                for batch in reader:
                    tbl = pa.Table.from_batches([batch]).select(schema.names).cast(schema)
                    writer.write_table(tbl)
                    rows += tbl.num_rows
            return rows
        tbl = self.to_arrow(expr).select(schema.names).cast(schema)
        pq.write_table(tbl, str(path))
        return tbl.num_rows

    def scratch_dir(self, kind: str) -> Path:
        """A new folder for files the engine reads lazily (mapped source tables), removed at ``close``."""
        path = Path(tempfile.mkdtemp(prefix=f"sleitp-{kind}-"))
        self._dirs.append(path)
        return path

    def close(self) -> None:
        if self.backend == "duckdb":
            self.con.disconnect()
        for path in self._dirs:
            shutil.rmtree(path, ignore_errors=True)
        self._dirs.clear()

    def _run(self, sql: str) -> list:
        """One DuckDB statement, its result fetched to the end (DuckDB 2.0 refuses new work on a
        connection with an unfinished result)."""
        return self.con.con.execute(sql).fetchall()

    def _name(self, kind: str) -> str:
        self._n += 1
        return f"sleitp_{kind}_{self._n}"


@functools.cache
def _duckdb_arg_max_null(x_type: Any, key_type: Any) -> Any:
    @ibis.udf.agg.builtin(name="arg_max_null", signature=((x_type, key_type), x_type))
    def arg_max_null(x, key): ...

    return arg_max_null


@functools.cache
def _duckdb_arg_min_null(x_type: Any, key_type: Any) -> Any:
    @ibis.udf.agg.builtin(name="arg_min_null", signature=((x_type, key_type), x_type))
    def arg_min_null(x, key): ...

    return arg_min_null


def duckdb_config(*, memory_limit: str | None = None, temp_directory: str | None = None) -> dict[str, Any]:
    """DuckDB settings for cohort work: bounded memory (issue #4: 1M patients within 4 GB), spilling to a
    folder of the system temp directory past it (DuckDB would use ./.tmp of the working directory)."""
    return {
        "preserve_insertion_order": False,
        "memory_limit": memory_limit or os.environ.get("SLEITP_DUCKDB_MEMORY_LIMIT", DEFAULT_DUCKDB_MEMORY),
        "temp_directory": temp_directory or str(Path(tempfile.gettempdir()) / f"sleitp-duckdb-{os.getpid()}"),
    }


def connect(
    backend: str = "duckdb",
    *,
    threads: int | None = None,
    memory_limit: str | None = None,
    temp_directory: str | None = None,
) -> Engine:
    """Open the engine. ``duckdb`` (default) or ``spark`` (PySpark local mode, Java 17)."""
    if backend not in BACKENDS:
        raise SourceError(f"--backend: unknown backend {backend!r} (expected duckdb or spark)")
    if backend == "duckdb":
        config = duckdb_config(memory_limit=memory_limit, temp_directory=temp_directory)
        if threads:
            config["threads"] = threads
        return Engine("duckdb", ibis.duckdb.connect(**config))
    return Engine("spark", ibis.pyspark.connect(spark_session()))


__all__ = ["BACKENDS", "Backend", "Engine", "connect", "duckdb_config", "spark_session"]
