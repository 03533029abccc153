"""DuckDB 2.0, the default engine: an in-process database.

``threads`` and ``memory_limit`` bound the machine it may use, and a temporary directory lets it spill
instead of running out of memory (``duckdb_config``). Reading, writing and materialising go through the raw
DuckDB connection under Ibis's (``self.con.con``), for the reasons given at each method.
"""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path
from typing import Any

import duckdb
import ibis
import pyarrow as pa
import pyarrow.parquet as pq

from sleitp.cohort.engine._base import SEQ_ROW_BITS, Engine
from sleitp.errors import SourceError

DEFAULT_DUCKDB_MEMORY = "2500MB"  # DuckDB's own default is 80 % of RAM; this keeps derive under 4 GB
_SQL_TYPES = {"string": "VARCHAR", "float64": "DOUBLE"}  # the column types of ``lookup_table``


def duckdb_config(*, memory_limit: str | None = None, temp_directory: str | None = None) -> dict[str, Any]:
    """DuckDB settings for cohort work: bounded memory (issue #4: 1M patients within 4 GB), spilling to a
    folder of the system temp directory past it (DuckDB would use ./.tmp of the working directory)."""
    return {
        "preserve_insertion_order": False,
        "memory_limit": memory_limit or os.environ.get("SLEITP_DUCKDB_MEMORY_LIMIT", DEFAULT_DUCKDB_MEMORY),
        "temp_directory": temp_directory or str(Path(tempfile.gettempdir()) / f"sleitp-duckdb-{os.getpid()}"),
    }


class DuckDBEngine(Engine):
    backend = "duckdb"

    @classmethod
    def open(
        cls, *, threads: int | None = None, memory_limit: str | None = None, temp_directory: str | None = None
    ) -> DuckDBEngine:
        config = duckdb_config(memory_limit=memory_limit, temp_directory=temp_directory)
        if threads:
            config["threads"] = threads
        return cls(ibis.duckdb.connect(**config))

    def exceptions(self) -> tuple[type[BaseException], ...]:
        return (duckdb.Error,)

    # -- getting data in ----------------------------------------------------------------------
    def from_arrow(self, table: pa.Table, name: str | None = None) -> ibis.Table:
        return self.con.create_table(name or self._name("arrow"), table, temp=True)

    def lookup_table(self, rows: list[dict[str, Any]], types: dict[str, str]) -> ibis.Table:
        """As SQL VALUES: building it through Arrow imports pandas (pyarrow's ``from_pylist`` does), ~1 s
        that reading a tables source would otherwise not pay."""

        def literal(v: Any) -> str:
            if v is None:
                return "NULL"
            return "'" + v.replace("'", "''") + "'" if isinstance(v, str) else repr(float(v))

        cols = ", ".join(f'CAST(c{i} AS {_SQL_TYPES[t]}) AS "{c}"' for i, (c, t) in enumerate(types.items()))
        values = ", ".join("(" + ", ".join(literal(r[c]) for c in types) + ")" for r in rows)
        names = ", ".join(f"c{i}" for i in range(len(types)))
        return self.sql_table(f"SELECT {cols} FROM (VALUES {values}) v({names})")

    def read_parquet(self, paths: list[Path] | list[str], name: str | None = None) -> ibis.Table:
        name = name or self._name("parquet")
        files = [str(p) for p in paths]
        listing = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        # the file's position in the list (a scalar lookup, not a window: a window over the whole
        # table would sort it) in the high bits, the row in the file in the low SEQ_ROW_BITS bits.
        # list_position is an INTEGER: it is cast to BIGINT before the shift, else the product
        # overflows INT32 from the 9th file on with 2^28 (issue #12: `sleitp synth` writes 20 files)
        sql = (
            f"SELECT * EXCLUDE (filename, file_row_number), "
            f"CAST(list_position([{listing}], filename) - 1 AS BIGINT) * {1 << SEQ_ROW_BITS} "
            f"+ file_row_number AS seq "
            f"FROM read_parquet([{listing}], filename = true, file_row_number = true)"
        )
        self._run(f'CREATE OR REPLACE TEMP VIEW "{name}" AS {sql}')
        return self.con.table(name)

    def sql_table(self, sql: str, name: str | None = None) -> ibis.Table:
        name = name or self._name("sql")
        self._run(f'CREATE OR REPLACE TEMP VIEW "{name}" AS {sql}')
        return self.con.table(name)

    # -- expressions --------------------------------------------------------------------------
    def arg_max(self, x: ibis.Value, key: ibis.Value, where: ibis.Value | None = None) -> ibis.Value:
        """Ibis's own ``argmax`` compiles on DuckDB to ``FIRST(x ORDER BY key DESC)``, which DuckDB runs by
        building a sort key per row (2.4 s of the 3.8 s of one features step at 1M patients); DuckDB's
        ``arg_max_null`` is the same answer from a plain comparison."""
        return _arg_max_null(x.type(), key.type())(x, key, where=where)

    def arg_min(self, x: ibis.Value, key: ibis.Value, where: ibis.Value | None = None) -> ibis.Value:
        return _arg_min_null(x.type(), key.type())(x, key, where=where)

    def row_key(self, t: ibis.Table, by: list[str]) -> ibis.Value:
        """An int64 (row_number in the order of ``by``): at 1M patients, joining and grouping on it instead
        of (patient_id string, line) is most of the time saved."""
        return ibis.row_number().over(ibis.window(order_by=by))

    # -- running ------------------------------------------------------------------------------
    def _materialize(self, sql: str) -> ibis.Table:
        name = self._name("step")
        self._run(f'CREATE TEMP TABLE "{name}" AS {sql}')
        return self.con.table(name)

    def to_arrow(self, expr: ibis.Table) -> pa.Table:
        # DuckDB 2.0 renamed fetch_arrow_table -> to_arrow_table (software.md §5)
        return self.con.con.sql(self.compile(expr)).to_arrow_table()

    def count(self, expr: ibis.Table) -> int:
        return int(self._run(self.compile(expr.count()))[0][0])

    def write_parquet(self, expr: ibis.Table, path: Path | str, schema: pa.Schema) -> int:
        """One Parquet file, streamed in batches: bounded memory whatever the size (DuckDB 2.0:
        to_arrow_reader; Ibis 12's to_pyarrow_batches still calls the removed fetch_record_batch,
        software.md §5)."""
        if not isinstance(path, Path):
            raise SourceError(f"--out {path}: a URI is written with --backend spark only")
        path.parent.mkdir(parents=True, exist_ok=True)
        reader = self.con.con.sql(self.compile(expr)).to_arrow_reader(1_000_000)
        rows = 0
        with pq.ParquetWriter(str(path), schema) as writer:
            for batch in reader:
                tbl = pa.Table.from_batches([batch]).select(schema.names).cast(schema)
                writer.write_table(tbl)
                rows += tbl.num_rows
        return rows

    def close(self) -> None:
        self.con.disconnect()
        super().close()

    def _run(self, sql: str) -> list:
        """One DuckDB statement, its result fetched to the end (DuckDB 2.0 refuses new work on a
        connection with an unfinished result)."""
        return self.con.con.execute(sql).fetchall()


@functools.cache
def _arg_max_null(x_type: Any, key_type: Any) -> Any:
    @ibis.udf.agg.builtin(name="arg_max_null", signature=((x_type, key_type), x_type))
    def arg_max_null(x, key): ...

    return arg_max_null


@functools.cache
def _arg_min_null(x_type: Any, key_type: Any) -> Any:
    @ibis.udf.agg.builtin(name="arg_min_null", signature=((x_type, key_type), x_type))
    def arg_min_null(x, key): ...

    return arg_min_null


__all__ = ["DEFAULT_DUCKDB_MEMORY", "DuckDBEngine", "duckdb_config"]
