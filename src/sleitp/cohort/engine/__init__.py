"""The engine the cohort work runs in: one Ibis connection, DuckDB by default, PySpark (local or a cluster).

Everything in ``sleitp.cohort.derive`` and ``sleitp.cohort.sources`` is an Ibis expression over the tables
of a source, so the same code runs on every backend (software.md §0, §5). What differs per backend lives in
one module each, behind the base class of ``_base.py`` (its docstring states what may go in a backend):

- ``duckdb.py``: DuckDB 2.0 (default), in-process, with bounded memory and a folder to spill to;
- ``spark.py``: PySpark 4.0, local mode or a cluster (``--spark-master``; docs/spark.md), and the process's
  one SparkSession;
- ``errors.py``: engine errors as messages naming the step; ``storage.py``: local paths and storage URIs.

``connect`` opens the engine of a backend by name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sleitp.cohort.engine._base import BACKENDS, SEQ_ROW_BITS, Backend, Engine
from sleitp.cohort.engine.duckdb import DEFAULT_DUCKDB_MEMORY, DuckDBEngine, duckdb_config
from sleitp.cohort.engine.spark import SPARK_MASTER_ENV, SparkEngine, master_kind, spark_session
from sleitp.errors import SourceError


def connect(
    backend: str = "duckdb",
    *,
    threads: int | None = None,
    memory_limit: str | None = None,
    temp_directory: str | None = None,
    spark_master: str | None = None,
    executor_memory: str | None = None,
    executor_cores: int | None = None,
    spark_conf: dict[str, str] | None = None,
    session: Any = None,
) -> Engine:
    """Open the engine. ``duckdb`` (default) or ``spark``: local mode by default, or the cluster of
    ``spark_master`` (``spark_session``; docs/spark.md), or the SparkSession given as ``session``."""
    opens: dict[str, Callable[[], Engine]] = {
        "duckdb": lambda: DuckDBEngine.open(
            threads=threads, memory_limit=memory_limit, temp_directory=temp_directory
        ),
        "spark": lambda: SparkEngine.open(
            master=spark_master, executor_memory=executor_memory, executor_cores=executor_cores,
            conf=spark_conf, session=session,
        ),
    }
    if backend not in opens:
        raise SourceError(f"--backend: unknown backend {backend!r} (expected duckdb or spark)")
    return opens[backend]()

__all__ = [
    "BACKENDS", "DEFAULT_DUCKDB_MEMORY", "SEQ_ROW_BITS", "SPARK_MASTER_ENV", "Backend", "DuckDBEngine",
    "Engine", "SparkEngine", "connect", "duckdb_config", "master_kind", "spark_session",
]
