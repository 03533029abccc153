"""Cohort sources -> the five engine tables of ``sleitp.cohort.tables`` (plus ``seq``, the row order).

A source is one of (spec/cli.md, ``sleitp cohort derive SOURCE``):

- ``records.jsonl``: one record a line (spec/record.md), validated with ``sleitp.record.parse_record``;
  an invalid line is reported with its line number and the error, and skipped;
- a folder of tables as ``sleitp synth`` writes them (``DIR`` or ``DIR/tables``; ``NAME.parquet`` or
  ``NAME-*.parquet`` parts): read by the engine itself, no Python per row; rows that break the schema's
  rules are counted per reason and left out, in the engine;
- FHIR R4: a Bundle file, a folder of Bundles, or bulk-export NDJSON (``sleitp.fhir``);
- OMOP CDM v5.4: a DuckDB file or a folder of CSV/TSV/Parquet tables (``sleitp.cohort.sources.omop``).

Nothing is dropped in silence: every row or record that is left out is counted in :class:`Unmapped`
under its reason (written to ``DIR/unmapped.json`` and printed by the CLI).

One module a concept: ``_base`` (Unmapped, CohortTables, Source, Arrow -> engine), ``records``,
``tables`` (and ``checks``, the row rules), ``fhir`` and ``fhir_views``, ``omop``, and ``detect`` (which
kind a path is, ``open_source``). Each imports ``_base`` and the modules it reads with, never this face;
only ``detect`` knows every kind.
"""

from sleitp.cohort.sources._base import (
    TABLES,
    CohortTables,
    Source,
    Unmapped,
    arrow_to_engine,
    records_to_engine,
)
from sleitp.cohort.sources.checks import checked_tables, plausible
from sleitp.cohort.sources.detect import open_source, source_kind
from sleitp.cohort.sources.fhir import read_fhir
from sleitp.cohort.sources.records import read_records_jsonl
from sleitp.cohort.sources.tables import read_table_files, read_tables, table_files

__all__ = [
    "TABLES",
    "CohortTables",
    "Source",
    "Unmapped",
    "arrow_to_engine",
    "checked_tables",
    "open_source",
    "plausible",
    "read_fhir",
    "read_records_jsonl",
    "read_table_files",
    "read_tables",
    "records_to_engine",
    "source_kind",
    "table_files",
]
