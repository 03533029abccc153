"""Engine errors on user data as clear messages (issue #12): which step failed, and what to try.

Only the engine's own exception classes are caught (``Engine.exceptions``: DuckDB's, PySpark's and Py4J's);
a bug in sleitp's own code still shows as an internal error, so it is reported rather than disguised as bad
input.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator

from sleitp.cohort.engine._base import Engine
from sleitp.errors import SourceError


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
def engine_errors(engine: Engine, step: list[str], what: str = "cohort derive") -> Iterator[None]:
    """Turn an error of ``engine`` into a SourceError naming ``step[0]`` (the step running when it failed)."""
    backend = engine.backend
    try:
        yield
    except engine.exceptions() as e:
        lines = str(e).strip().splitlines()
        text = lines[0] if lines else type(e).__name__
        raise SourceError(
            f"{what}: the {backend} engine failed in step '{step[0]}': {text}. Try: {hint(text, backend)}"
        ) from e


__all__ = ["engine_errors", "hint"]
