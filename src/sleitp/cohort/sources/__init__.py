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
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import pyarrow as pa
import pyarrow.parquet as pq

from sleitp.cohort.engine import Engine
from sleitp.cohort.engine.storage import is_uri, location, open_uri_source
from sleitp.cohort.tables import OPTIONAL_COLUMNS, SCHEMAS, records_to_tables, table_schema
from sleitp.errors import RecordError, SourceError
from sleitp.record import AGENTS, MANIFESTATIONS, PatientRecord, parse_record
from sleitp.units import TESTS

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
def _with_seq(table: pa.Table, start: int = 0) -> pa.Table:
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
            t = _with_seq(t)
        out[name] = engine.from_arrow(t)
    return CohortTables(**out)


def records_to_engine(records: list[PatientRecord], engine: Engine) -> CohortTables:
    """Validated records -> engine tables (the record's list order becomes ``seq``)."""
    return arrow_to_engine(records_to_tables(records), engine)


# -- records.jsonl --------------------------------------------------------------------------------------
def read_records_jsonl(path: Path, unmapped: Unmapped) -> dict[str, pa.Table]:
    """Validate every line; invalid ones are reported with their line number and skipped."""
    parts: dict[str, list[pa.Table]] = {name: [] for name in TABLES}
    seen: set[str] = set()
    chunk: list[PatientRecord] = []

    def flush() -> None:
        if chunk:
            for name, t in records_to_tables(chunk).items():
                parts[name].append(t)
            chunk.clear()

    try:
        fh = path.open(encoding="utf-8")
    except OSError as e:
        raise SourceError(f"{path}: cannot read ({e.strerror})") from None
    with fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as e:
                unmapped.add(
                    "record: not valid JSON", detail=f"{path.name} line {n}: not valid JSON ({e.msg})"
                )
                continue
            try:
                rec = parse_record(data, source=f"{path.name} line {n}")
                rec.effective_assessment_date  # noqa: B018 - a record without any date cannot be evaluated
            except RecordError as e:
                unmapped.add("record: invalid", detail=f"line {n}: {e}")
                continue
            if rec.id in seen:
                unmapped.add(
                    "record: duplicate patient id (later line skipped)",
                    detail=f"line {n}: record {rec.id!r} already read from an earlier line",
                )
                continue
            seen.add(rec.id)
            chunk.append(rec)
            if len(chunk) >= RECORD_CHUNK:
                flush()
    flush()
    out = {}
    for name in TABLES:
        t = pa.concat_tables(parts[name]) if parts[name] else SCHEMAS[name].empty_table()
        out[name] = _with_seq(t)
    return out


# -- synth tables (parquet) -------------------------------------------------------------------------------
def table_files(folder: Path, name: str) -> list[Path]:
    """``NAME.parquet`` or the parts ``NAME-*.parquet`` (sorted by name: the parts' order)."""
    single = folder / f"{name}.parquet"
    parts = sorted(folder.glob(f"{name}-*.parquet"))
    if single.exists() and parts:
        raise SourceError(
            f"{folder}: both {name}.parquet and {name}-*.parquet parts; expected one or the other"
        )
    return [single] if single.exists() else parts


def _check_columns(files: list[Path] | list[str], name: str, engine: Engine | None = None) -> None:
    """Every column of the schema present with a compatible type, named with file and column. URIs
    (``sleitp.cohort.engine.storage``): the schema Spark reads for the table's files, once (a job a file
    else)."""
    want = table_schema(name)
    optional = set(OPTIONAL_COLUMNS.get(name, pa.schema([])).names)
    uri = bool(files) and isinstance(files[0], str) and engine is not None
    for f in files[:1] if uri else files:
        try:
            have = engine.parquet_schema(files) if uri else pq.read_schema(f)
        except Exception as e:  # noqa: BLE001 - pyarrow raises several types for a broken file
            raise SourceError(f"{f}: not a readable Parquet file ({e})") from None
        for fld in want:
            if fld.name not in have.names and fld.name in optional:
                continue  # read as null (_cast)
            if fld.name not in have.names:
                raise SourceError(
                    f"{f}: column {fld.name!r} is missing (expected {fld.type}; "
                    f"the {name} table of sleitp.cohort.tables)"
                )
            got = have.field(fld.name).type
            ok = (
                got == fld.type
                or (pa.types.is_null(got))
                or (pa.types.is_integer(fld.type) and pa.types.is_integer(got))
                or (
                    pa.types.is_floating(fld.type) and (pa.types.is_floating(got) or pa.types.is_integer(got))
                )
                or (
                    pa.types.is_string(fld.type)
                    and (pa.types.is_large_string(got) or pa.types.is_dictionary(got))
                )
                or (pa.types.is_date(fld.type) and (pa.types.is_date(got) or pa.types.is_timestamp(got)))
            )
            if not ok:
                raise SourceError(f"{f}: column {fld.name!r} has type {got}, expected {fld.type}")


def _cast(t: ibis.Table, name: str) -> ibis.Table:
    types = {
        "string": "string",
        "date32[day]": "date",
        "double": "float64",
        "bool": "boolean",
        "int8": "int8",
    }
    cols = [t[f.name].cast(types[str(f.type)]) for f in SCHEMAS[name]]
    # an optional column absent from the files is null: the source says nothing
    for f in OPTIONAL_COLUMNS.get(name, pa.schema([])):
        kind = types[str(f.type)]
        cols.append(t[f.name].cast(kind) if f.name in t.columns else ibis.null(kind).name(f.name))
    return t.select(*cols, t.seq)


def read_tables(folder: Path, engine: Engine, unmapped: Unmapped) -> CohortTables:
    """The synth tables, read and checked by the engine; rows breaking a rule are counted and left out."""
    return read_table_files(folder, {name: table_files(folder, name) for name in TABLES}, engine, unmapped)


def read_table_files(
    folder: Path | str, tables: dict[str, list], engine: Engine, unmapped: Unmapped
) -> CohortTables:
    """``read_tables`` of the files found (local paths, or URIs Spark reads:
    ``sleitp.cohort.engine.storage``)."""
    raw = {}
    for name in TABLES:
        files = tables[name]
        if not files:
            if name in ("patients", "labs", "treatments"):
                raise SourceError(
                    f"{folder}: no {name}.parquet or {name}-*.parquet (a synth tables folder "
                    f"needs patients, labs and treatments)"
                )
            raw[name] = engine.from_arrow(_with_seq(SCHEMAS[name].empty_table()))
            continue
        _check_columns(files, name, engine)
        raw[name] = _cast(engine.read_parquet(files), name)
    return checked_tables(raw, engine, unmapped)


def _reasons(t: ibis.Table, name: str, ids: ibis.Table) -> ibis.Value:
    """Why a row cannot be used (null when it can): one expression a table, evaluated in the engine."""
    cases = [(t.patient_id.isnull(), f"{name}: no patient_id")]
    if name == "patients":
        cases.append(
            (
                t.sex.notnull() & ~t.sex.isin(["female", "male", "other", "unknown"]),
                "patients: sex not female/male/other/unknown",
            )
        )
        return ibis.cases(*cases, else_=ibis.null("string"))
    # a left join flag, not NOT IN: Spark plans NOT IN (subquery) as a nested-loop join
    cases.append((t._known.isnull(), f"{name}: patient_id not in the patients table"))
    if name == "labs":
        # the test's row of the vocabulary table (``_vocabulary``), joined: a CASE over every test's range
        # would be one huge expression, which Spark cannot compile to code (it then interprets it, 10 s a
        # 3 M rows); a join to 31 rows is cheap on both engines
        cases += [
            (t.date.isnull(), "labs: no date"),
            (t._test.isnull(), "labs: test not in the record vocabulary (spec/record.md)"),
            (t.value.isnull() & t.result.isnull(), "labs: neither value nor result"),
            (
                t.result.notnull() & ~t.result.isin(["positive", "negative"]),
                "labs: result not positive/negative",
            ),
            # values are canonical in the tables: the plausible range of the test (sleitp.units)
            (
                t._lo.notnull()
                & t.value.notnull()
                & ((t.value < t._lo) | (t.value > t._hi) | t.value.isnan()),
                t._outside,
            ),
        ]
    elif name == "treatments":
        cases += [
            (t.start.isnull(), "treatments: no start"),
            (~t.agent.isin(list(AGENTS)), "treatments: agent not in the record vocabulary (spec/record.md)"),
            (t.end.notnull() & (t.end < t.start), "treatments: end before start"),
            (
                t.indication.notnull() & ~t.indication.isin(["itp", "sle", "other"]),
                "treatments: indication not itp/sle/other",
            ),
        ]
    elif name == "bleeding":
        cases += [
            (t.date.isnull(), "bleeding: no date"),
            (t.who_grade.isnull() | (t.who_grade < 0) | (t.who_grade > 4), "bleeding: who_grade not 0-4"),
        ]
    elif name == "manifestations":
        cases += [
            (t.date.isnull(), "manifestations: no date"),
            (~t.name.isin(list(MANIFESTATIONS)), "manifestations: name not in the record vocabulary"),
        ]
    return ibis.cases(*cases, else_=ibis.null("string"))


def _vocabulary(engine: Engine) -> ibis.Table:
    """The lab tests of the record (``sleitp.units.TESTS``), one row each: ``_test`` and, for a measured
    test, its plausible range ``_lo``-``_hi`` in the canonical unit and the reason a value outside it is
    counted under."""
    rows = [
        {
            "_test": n,
            "_lo": float(spec.bounds[0]) if spec.canonical_unit else None,
            "_hi": float(spec.bounds[1]) if spec.canonical_unit else None,
            "_outside": (
                f"labs: {n} value outside {spec.bounds[0]:g}-{spec.bounds[1]:g} {spec.canonical_unit}"
                if spec.canonical_unit
                else None
            ),
        }
        for n, spec in TESTS.items()
    ]
    types = {"_test": "string", "_lo": "float64", "_hi": "float64", "_outside": "string"}
    return engine.lookup_table(rows, types)


def checked_tables(raw: dict[str, ibis.Table], engine: Engine, unmapped: Unmapped) -> CohortTables:
    """Count the rows that break a rule, per reason, and keep the others (all in the engine)."""
    p = raw["patients"]
    dup = p.group_by("patient_id").agg(n=p.count()).filter(lambda x: x.n > 1)
    n_dup = engine.count(dup)
    if n_dup:
        raise SourceError(
            f"patients table: {n_dup} patient_id value(s) appear more than once (expected one row a patient)"
        )
    out = {}
    ids = p.filter(p.patient_id.notnull()).select("patient_id", _known=ibis.literal(True))
    for name in TABLES:
        t = raw[name]
        if name != "patients":
            t = t.left_join(ids, "patient_id").drop("patient_id_right")
        if name == "labs":
            vocabulary = _vocabulary(engine)
            t = t.left_join(vocabulary, t.test == vocabulary._test)
        t = t.mutate(_why=_reasons(t, name, ids))
        bad = t.filter(t._why.notnull())
        counts = engine.to_arrow(bad.group_by("_why").agg(n=bad.count())).to_pylist()
        for row in counts:
            unmapped.add(row["_why"], int(row["n"]))
        if name == "labs":
            # The lab table is the big one (30 M rows for 1 M patients): re-checking every rule on every
            # read would cost more than the derivation. Its rules hold where labs are read instead: only
            # known tests are selected, rows without a date or with an unknown patient fall out of the
            # joins and date comparisons, values are kept within plausible() and results are
            # positive/negative only (derive_iwg, derive_features). The counts above already name them.
            out[name] = raw[name]
        else:
            # kept once: every step reads these tables again, and would re-join them to the patients
            out[name] = engine.materialize(
                t.filter(t._why.isnull()).drop("_why", *(["_known"] if name != "patients" else []))
            )
    return CohortTables(**out)


def plausible(t: ibis.Table, tests: list[str] | tuple[str, ...]) -> ibis.Value:
    """The value is inside the plausible range of its test (``sleitp.units``), for the measured ``tests``."""
    cases = []
    for n in tests:
        lo, hi = TESTS[n].bounds
        cases.append((t.test == n, (t.value >= lo) & (t.value <= hi)))
    return t.value.notnull() & ~t.value.isnan() & ibis.cases(*cases, else_=False)


# -- FHIR ---------------------------------------------------------------------------------------------------
def read_fhir(path: Path, unmapped: Unmapped) -> dict[str, pa.Table]:
    """FHIR R4 Bundles (``*.json``) or bulk NDJSON (``*.ndjson``) -> tables, via ``sleitp.fhir``."""
    from sleitp.cohort.sources.fhir import fhir_records  # the FHIR layer is optional until it lands

    records = fhir_records(path, unmapped)
    return {name: _with_seq(t) for name, t in records_to_tables(records).items()}


# -- detection ------------------------------------------------------------------------------------------
def _lower_names(folder: Path) -> set[str]:
    return {p.name.lower() for p in folder.iterdir()}


def source_kind(path: Path) -> str:
    """What ``path`` is: records | tables | fhir | omop (or a SourceError saying what was expected)."""
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder")
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".jsonl":
            return "records"
        if suffix in (".duckdb", ".db", ".ddb"):
            return "omop"
        if suffix in (".json", ".ndjson"):
            return "fhir"
        raise SourceError(
            f"{path}: not a source sleitp reads (expected records.jsonl, a tables folder, FHIR "
            f"Bundles/NDJSON, or an OMOP DuckDB file/folder)"
        )
    if (path / "tables").is_dir() and table_files(path / "tables", "patients"):
        return "tables"
    if table_files(path, "patients"):
        return "tables"
    names = _lower_names(path)
    if any(n.split(".")[0] == "person" for n in names):
        return "omop"
    if "records.jsonl" in names:
        return "records"
    if any(n.endswith((".ndjson", ".json")) for n in names):
        return "fhir"
    raise SourceError(
        f"{path}: found no source in this folder (expected records.jsonl, patients*.parquet "
        f"(or tables/), person.csv/.tsv/.parquet (OMOP), or FHIR *.json/*.ndjson)"
    )


def open_source(
    source: str | Path,
    engine: Engine,
    *,
    vocabulary: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
    fhir_mapping: str = "python",
) -> Source:
    """Read any supported source into the engine. ``vocabulary``: an OMOP concept table for a CDM that
    has none of its own; ``progress``: told the part being read (the OMOP tables); ``fhir_mapping``:
    ``python`` (the per-resource mapping of ``sleitp.fhir``) or ``views`` (its SQL on FHIR
    ViewDefinitions, ``sleitp.cohort.sources.fhir_views``) for a FHIR source."""
    if fhir_mapping not in ("python", "views"):
        raise SourceError(f"--fhir-mapping {fhir_mapping!r}: expected python or views")
    if is_uri(source):  # storage a Spark cluster sees: a tables folder read by Spark (cohort.engine.storage)
        found = open_uri_source(str(source), engine)
        if found is not None:
            return found
    path = location(source)
    kind = source_kind(path)
    unmapped = Unmapped()
    if kind == "records":
        file = path if path.is_file() else path / "records.jsonl"
        tables = arrow_to_engine(read_records_jsonl(file, unmapped), engine)
    elif kind == "tables":
        folder = (
            path / "tables"
            if (path / "tables").is_dir() and table_files(path / "tables", "patients")
            else path
        )
        tables = read_tables(folder, engine, unmapped)
    elif kind == "fhir" and fhir_mapping == "views":
        from sleitp.cohort.sources.fhir_views import read_fhir_views

        tables = arrow_to_engine(read_fhir_views(path, unmapped), engine)
    elif kind == "fhir":
        tables = arrow_to_engine(read_fhir(path, unmapped), engine)
    else:
        from sleitp.cohort.sources.omop import read_omop

        tables = read_omop(path, engine, unmapped, vocabulary=vocabulary, progress=progress)
    return Source(kind=kind, tables=tables, unmapped=unmapped)


__all__ = [
    "TABLES",
    "CohortTables",
    "Source",
    "Unmapped",
    "arrow_to_engine",
    "checked_tables",
    "open_source",
    "plausible",
    "read_records_jsonl",
    "read_table_files",
    "read_tables",
    "records_to_engine",
    "source_kind",
    "table_files",
]
