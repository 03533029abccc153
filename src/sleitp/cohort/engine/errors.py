"""Engine errors on user data as clear messages (issue #12): which step failed, and what to try.

Only the engines' own exception classes are caught (DuckDB's, PySpark's and Py4J's); a bug in sleitp's own
code still shows as an internal error, so it is reported rather than disguised as bad input.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator

from sleitp.errors import SourceError


def _engine_exceptions(backend: str) -> tuple[type[BaseException], ...]:
    import duckdb

    kinds: list[type[BaseException]] = [duckdb.Error]
    if backend == "spark":
        try:  # pyspark is optional: imported only on the Spark backend
            from py4j.protocol import Py4JError
            from pyspark.errors import PySparkException

            kinds += [PySparkException, Py4JError]
        except ImportError:  # pragma: no cover - the spark backend could not have started without it
            pass
    return tuple(kinds)


def hint(text: str, backend: str) -> str:
    """What to try for an engine error's first line."""
    low = text.lower()
    if "out of memory" in low or "outofmemory" in low or "java heap space" in low:
        return (
            "give the engine more memory (SLEITP_DUCKDB_MEMORY_LIMIT, e.g. 6GB; on Spark "
            "SLEITP_SPARK_DRIVER_MEMORY or --executor-memory), or free memory on this machine"
        )
    if "no space left" in low or "disk is full" in low:
        return f"free disk space where the engine spills ({tempfile.gettempdir()}; set TMPDIR to move it)"
    if "io error" in low or "no files found" in low or "corrupt" in low or "invalid parquet" in low:
        return "check that the source files are complete and readable, in the schema of docs/cohort-derive.md"
    return f"this {backend} error was not expected: run again with SLEITP_DEBUG=1 and report its traceback"


@contextlib.contextmanager
def engine_errors(backend: str, step: list[str], what: str = "cohort derive") -> Iterator[None]:
    """Turn an engine error into a SourceError naming ``step[0]`` (the step running when it failed)."""
    try:
        yield
    except _engine_exceptions(backend) as e:
        lines = str(e).strip().splitlines()
        text = lines[0] if lines else type(e).__name__
        raise SourceError(
            f"{what}: the {backend} engine failed in step '{step[0]}': {text}. Try: {hint(text, backend)}"
        ) from e


__all__ = ["engine_errors", "hint"]
