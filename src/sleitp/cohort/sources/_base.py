"""What every cohort source becomes: the five engine tables, and the count of what could not be mapped.

Nothing is dropped in silence: every row or record that is left out is counted in :class:`Unmapped` under
its reason (written to ``DIR/unmapped.json`` and printed by the CLI).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import ibis
import pyarrow as pa

from sleitp.cohort.engine import Engine
from sleitp.cohort.tables import OPTIONAL_COLUMNS, SCHEMAS, records_to_tables, table_schema
from sleitp.record import PatientRecord

TABLES = tuple(SCHEMAS)  # patients, labs, treatments, bleeding, manifestations
MAX_DETAILS = 200  # details kept per run (counts are always complete)
RECORD_CHUNK = 20_000  # records converted to tables at a time (bounded memory)


@dataclass
class Unmapped:
    """Rows or records that could not be mapped: counts per reason, and the first details."""

    counts: Counter = field(default_factory=Counter)
    details: list[str] = field(default_factory=list)

    def add(self, reason: str, n: int = 1, detail: str | None = None) -> None:
        if n <= 0:
            return
        self.counts[reason] += n
        if detail is not None and len(self.details) < MAX_DETAILS:
            self.details.append(detail)

    def merge(self, other: Unmapped) -> None:
        for k, v in other.counts.items():
            self.counts[k] += v
        self.details += other.details[: max(0, MAX_DETAILS - len(self.details))]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_json(self) -> dict:
        return {
            "total": self.total,
            "by_reason": dict(sorted(self.counts.items())),
            "details": list(self.details),
        }


@dataclass
class CohortTables:
    """The five tables of ``sleitp.cohort.tables.SCHEMAS`` in the engine, each with ``seq`` (int64)."""

    patients: ibis.Table
    labs: ibis.Table
    treatments: ibis.Table
    bleeding: ibis.Table
    manifestations: ibis.Table


@dataclass
class Source:
    kind: str  # "records" | "tables" | "fhir" | "omop"
    tables: CohortTables
    unmapped: Unmapped


# -- Arrow tables (records, FHIR, tests) ----------------------------------------------------------------
def with_seq(table: pa.Table, start: int = 0) -> pa.Table:
    return table.append_column("seq", pa.array(range(start, start + table.num_rows), type=pa.int64()))


def arrow_to_engine(tables: dict[str, pa.Table], engine: Engine) -> CohortTables:
    """Arrow tables with the ``SCHEMAS`` columns (``seq`` added when missing, in row order) -> engine; an
    optional column (``OPTIONAL_COLUMNS``) the table lacks is added as nulls."""
    out = {}
    for name in TABLES:
        t = tables.get(name)
        if t is None:
            t = SCHEMAS[name].empty_table()
        for f in OPTIONAL_COLUMNS.get(name, pa.schema([])):
            if f.name not in t.column_names:
                t = t.append_column(f, pa.nulls(t.num_rows, f.type))
        full = table_schema(name)
        t = t.select(full.names + (["seq"] if "seq" in t.column_names else [])).cast(
            pa.schema(list(full) + ([pa.field("seq", pa.int64())] if "seq" in t.column_names else []))
        )
        if "seq" not in t.column_names:
            t = with_seq(t)
        out[name] = engine.from_arrow(t)
    return CohortTables(**out)


def records_to_engine(records: list[PatientRecord], engine: Engine) -> CohortTables:
    """Validated records -> engine tables (the record's list order becomes ``seq``)."""
    return arrow_to_engine(records_to_tables(records), engine)


__all__ = [
    "MAX_DETAILS", "RECORD_CHUNK", "TABLES", "CohortTables", "Source", "Unmapped", "arrow_to_engine",
    "records_to_engine", "with_seq",
]
