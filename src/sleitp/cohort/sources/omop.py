"""OMOP CDM v5.4 -> the five cohort tables, codes resolved through the site's own ``concept`` table.

No OMOP concept_id is written in this file (software.md §0 "Codes", §3.5: ids copied from public files
disagree). sleitp ships *source codes* (LOINC, RxNorm ingredient RxCUIs, SNOMED CT) and finds their
concept_ids in the ``concept`` table of the database at run time; a CDM without a ``concept`` table can be
given one (``vocabulary=``: a CONCEPT.csv/.parquet from the site's OHDSI Athena download).

What is read, and how:

- ``person`` -> patients: sex from the gender concept's code (vocabulary ``Gender``: ``M``/``F``) or, failing
  that, ``gender_source_value`` ``M``/``F``/``male``/``female``; birth date from ``birth_datetime``, else
  ``year_of_birth`` with month/day (a missing month is July, a missing day the 1st: docs/cohort-derive.md).
- ``measurement`` -> labs: the LOINC codes of ``src/sleitp/evidence/codes.yaml`` ``labs`` (the code list
  of the FHIR mapping, every code with its source; MPV and PDW are not platelet counts and are absent).
  A number is converted to the test's canonical unit by ``sleitp.units``: the UCUM code of
  ``unit_concept_id`` (codes.yaml ``ucum_units`` spellings aliased), else ``unit_source_value`` as
  written; the ``unit`` column is the canonical unit. A ``value_as_concept_id`` that is one of codes.yaml
  ``qualitative_answers`` (SNOMED 10828004/260385009, LOINC LA6576-8/LA6577-6) gives ``result``
  positive/negative. Tests without a canonical unit (anticardiolipin, HBsAg ...) are read as the FHIR
  mapping reads them: a value against ``range_high`` (positive when above), else the answer concept. A
  unit that does not convert, a value outside the plausible range, a row with neither a usable number
  nor a usable answer is counted and left out.
- ``drug_exposure`` (else ``drug_era``) -> treatments: concepts that are (or, with ``concept_ancestor``,
  descend from) the RxNorm ingredients of codes.yaml ``medications`` (``kind: ingredient``); start/end
  dates as given (end inclusive).
- ``condition_occurrence`` (else ``condition_era``) -> the first SLE and ITP dates: concepts that are the
  SNOMED CT codes of codes.yaml ``conditions`` whose concept is SLE or ITP (55464009, 128091003). Only
  SNOMED: ``condition_concept_id`` holds standard concepts, and ICD-10-CM codes are not standard in OMOP
  (they are source concepts), so the ICD-10-CM entries of codes.yaml are not read here.
- ``procedure_occurrence`` and ``observation`` are read and counted; no code of them is mapped yet (no
  sourced code for splenectomy in ../shared/reference), so their rows are reported, not used.

Every row left out is counted under its reason (``sources.Unmapped``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from sleitp.cohort.engine import Engine, duckdb_config
from sleitp.cohort.sources._base import CohortTables, Unmapped
from sleitp.cohort.sources.tables import read_tables
from sleitp.cohort.tables import SCHEMAS, SQL_TYPES, sql_columns
from sleitp.errors import SourceError
from sleitp.fhir import load_codes
from sleitp.units import TESTS, UnitError, to_canonical

# The code lists are those of the FHIR mapping: src/sleitp/evidence/codes.yaml, every entry with its source.
# OMOP vocabulary_id of each codes.yaml system (the ids of the OHDSI vocabulary's VOCABULARY table);
# obs_interpretation (HL7 v3) has no OMOP vocabulary and is not read here.
VOCABULARIES: dict[str, str] = {"loinc": "LOINC", "snomed": "SNOMED", "rxnorm": "RxNorm"}


def _lab_codes() -> dict[tuple[str, str], str]:
    """codes.yaml ``labs``: (LOINC, code) -> record test (MPV 32623-1 and PDW 32207-3 are not counts and
    are deliberately absent: software.md §3.2, testdata.md §1.1, §4.1)."""
    return {("LOINC", code): test for code, test in load_codes().labs.items()}


def _answer_codes() -> dict[tuple[str, str], str]:
    """codes.yaml ``qualitative_answers`` of an OMOP vocabulary: (vocabulary, code) -> positive | negative."""
    codes = load_codes()
    vocab = {codes.systems[name]: v for name, v in VOCABULARIES.items()}
    return {(vocab[uri], code): r for (uri, code), r in codes.qualitative.items() if uri in vocab}


def _ingredient_codes() -> dict[tuple[str, str], str]:
    """codes.yaml ``medications`` of kind ingredient in RxNorm: (RxNorm, RxCUI) -> agent."""
    codes = load_codes()
    return {
        ("RxNorm", code): m.agent
        for (uri, code), m in codes.medications.items()
        if uri == codes.systems["rxnorm"] and m.kind == "ingredient"
    }


def _condition_codes() -> dict[tuple[str, str], str]:
    """codes.yaml ``conditions`` in SNOMED CT whose concept is SLE or ITP: (SNOMED, code) -> sle | itp
    (software.md §3.4: 55464009 SLE; 128091003 autoimmune thrombocytopenia, "Primary ITP"). Broader or
    other concepts (200936003 "Lupus erythematosus", drug-induced lupus ...) are not SLE, as in the FHIR
    mapping's default."""
    codes = load_codes()
    return {
        ("SNOMED", code): concept
        for (uri, code), cond in codes.conditions_exact.items()
        if uri == codes.systems["snomed"]
        for concept in cond.concepts
        if concept in ("sle", "itp")
    }


# column layouts for header-less files (OMOP CDM 5.x order, as listed in ../shared/data/README.md)
LAYOUTS: dict[str, list[str]] = {
    "person": [
        "person_id",
        "gender_concept_id",
        "year_of_birth",
        "month_of_birth",
        "day_of_birth",
        "birth_datetime",
        "race_concept_id",
        "ethnicity_concept_id",
        "location_id",
        "provider_id",
        "care_site_id",
        "person_source_value",
        "gender_source_value",
        "gender_source_concept_id",
        "race_source_value",
        "race_source_concept_id",
        "ethnicity_source_value",
        "ethnicity_source_concept_id",
    ],
    "condition_era": [
        "condition_era_id",
        "person_id",
        "condition_concept_id",
        "condition_era_start_date",
        "condition_era_end_date",
        "condition_occurrence_count",
    ],
    "drug_era": [
        "drug_era_id",
        "person_id",
        "drug_concept_id",
        "drug_era_start_date",
        "drug_era_end_date",
        "drug_exposure_count",
        "gap_days",
    ],
    "observation_period": [
        "observation_period_id",
        "person_id",
        "observation_period_start_date",
        "observation_period_end_date",
        "period_type_concept_id",
    ],
}
TABLES = (
    "person",
    "measurement",
    "drug_exposure",
    "drug_era",
    "condition_occurrence",
    "condition_era",
    "procedure_occurrence",
    "observation",
    "observation_period",
    "concept",
    "concept_ancestor",
)


def _q(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _file_for(folder: Path, table: str) -> Path | None:
    for p in sorted(folder.iterdir()):
        name = p.name.lower()
        for ext in (".csv", ".tsv", ".parquet", ".csv.gz", ".tsv.gz"):
            if name == table + ext:
                return p
    return None


def _has_header(path: Path, table: str) -> bool:
    import gzip

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", errors="replace") as fh:
        first = fh.readline().strip().lower()
    head = first.split("\t" if "\t" in first else ",")[0].strip().strip('"')
    if head in (f"{table}_id", "person_id", "concept_id", "ancestor_concept_id"):
        return True
    # a header-less CDM file starts with an id (an integer in OMOP CDM v5.4); any other first field is a
    # header row, whose columns are then checked (a person.csv with columns "a,b" is an error, not 2 people)
    return not head.lstrip("-").isdigit()


class _Cdm:
    """The CDM tables as DuckDB views (``cdm_<table>``), whatever they were stored in."""

    def __init__(self, path: Path, vocabulary: Path | None):
        # bounded memory, spilling past it; rows keep the CDM's order (a lab's ``seq``: several results of
        # one day resolve by it, as a record's list order does)
        self.con = duckdb.connect(config=duckdb_config() | {"preserve_insertion_order": True})
        self.present: set[str] = set()
        if path.is_file():
            try:
                self.con.execute(f"ATTACH {_q(str(path))} AS src (READ_ONLY)")
            except duckdb.Error as e:
                raise SourceError(f"{path}: not a DuckDB database this DuckDB can read ({e})") from None
            names = {
                r[0].lower(): (r[1], r[0])
                for r in self.con.execute(
                    "SELECT table_name, table_schema FROM information_schema.tables "
                    "WHERE table_catalog = 'src'"
                ).fetchall()
            }
            for t in TABLES:
                if t in names:
                    schema, real = names[t]
                    self.con.execute(f'CREATE VIEW cdm_{t} AS SELECT * FROM src."{schema}"."{real}"')
                    self.present.add(t)
        else:
            for t in TABLES:
                f = _file_for(path, t)
                if f is not None:
                    self._view(t, f)
        if vocabulary is not None:
            f = vocabulary if vocabulary.is_file() else _file_for(vocabulary, "concept")
            if f is None:
                raise SourceError(
                    f"{vocabulary}: no concept.csv/.tsv/.parquet (the OMOP vocabulary's concept table)"
                )
            self.con.execute("DROP VIEW IF EXISTS cdm_concept")
            self.present.discard("concept")
            self._view("concept", f)
        if "person" not in self.present:
            raise SourceError(
                f"{path}: no person table (an OMOP CDM needs person.csv/.tsv/.parquet or a "
                f"person table in the DuckDB file)"
            )

    def _view(self, table: str, f: Path) -> None:
        if f.name.lower().endswith(".parquet"):
            src = f"read_parquet({_q(str(f))})"
        else:
            delim = "\t" if ".tsv" in f.name.lower() else ","
            if _has_header(f, table):
                src = f"read_csv({_q(str(f))}, delim={_q(delim)}, header=true, all_varchar=true)"
            elif table in LAYOUTS:
                cols = "[" + ", ".join(_q(c) for c in LAYOUTS[table]) + "]"
                src = (
                    f"read_csv({_q(str(f))}, delim={_q(delim)}, header=false, names={cols}, "
                    f"all_varchar=true, null_padding=true)"
                )
            else:
                raise SourceError(
                    f"{f}: no header row, and no known column layout for {table} "
                    f"(add the header line of OMOP CDM v5.4)"
                )
        try:
            self.con.execute(f"CREATE VIEW cdm_{table} AS SELECT * FROM {src}")
        except duckdb.Error as e:
            raise SourceError(f"{f}: cannot be read as a {table} table ({str(e).splitlines()[0]})") from None
        self.present.add(table)

    def require(self, table: str, *columns: str) -> None:
        """SourceError naming the file (or table) and the columns it lacks that sleitp reads."""
        have = self.columns(table)
        missing = [c for c in columns if c.lower() not in have]
        if missing:
            shown = ", ".join(sorted(have)) if have else "none"
            raise SourceError(
                f"{table} table: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                f"(OMOP CDM v5.4 {table}; sleitp reads them); its columns are: {shown}"
            )

    def has(self, table: str) -> bool:
        return table in self.present

    def date(self, table: str, column: str, alias: str) -> str:
        """``alias.column`` of ``table`` as a DATE: as it is when the source typed it (Parquet, DuckDB: no
        per-row work), else read from text (CSV: '2019-03-04' or '2019-03-04 00:00:00'); unreadable ->
        NULL, which the caller counts."""
        types = {r[0].lower(): r[1] for r in self.con.execute(f"DESCRIBE cdm_{table}").fetchall()}
        kind, col = types.get(column.lower(), "VARCHAR"), f"{alias}.{column}"
        if kind == "DATE":
            return col
        if kind.startswith("TIMESTAMP"):
            return f"CAST({col} AS DATE)"
        return f"TRY_CAST(CAST({col} AS VARCHAR)[1:10] AS DATE)"

    def columns(self, table: str) -> set[str]:
        return {r[0].lower() for r in self.con.execute(f"DESCRIBE cdm_{table}").fetchall()}

    def rows(self, sql: str) -> list[tuple]:
        return self.con.execute(sql).fetchall()

    def arrow(self, sql: str) -> pa.Table:
        return self.con.sql(sql).to_arrow_table()


def _codes_table(cdm: _Cdm, name: str, codes: dict[tuple[str, str], str]) -> None:
    """The site's concept_ids of our source codes, ``(vocabulary_id, code) -> what``, as the temp table
    ``name(concept_id, what)``."""
    values = ", ".join(f"({_q(v)}, {_q(c)}, {_q(w)})" for (v, c), w in codes.items())
    cdm.con.execute(
        f"CREATE TEMP TABLE code_{name} AS SELECT * FROM (VALUES {values}) v(vocabulary, code, what)"
    )
    if not cdm.has("concept"):
        cdm.con.execute(f"CREATE TEMP TABLE {name} (concept_id BIGINT, what VARCHAR)")
        return
    cdm.con.execute(
        f"CREATE TEMP TABLE {name} AS SELECT DISTINCT CAST(c.concept_id AS BIGINT) AS concept_id, v.what "
        f"FROM cdm_concept c JOIN code_{name} v ON c.concept_code = v.code AND c.vocabulary_id = v.vocabulary"
    )


def _count_unmapped(cdm: _Cdm, unmapped: Unmapped, sql: str) -> None:
    for reason, n in cdm.rows(sql):
        unmapped.add(reason, int(n))


def _patients(cdm: _Cdm, unmapped: Unmapped) -> str:
    """The patients table (a query): sex, birth date, and the first SLE and ITP diagnosis dates."""
    cdm.require("person", "person_id", "year_of_birth")
    cols = cdm.columns("person")
    gender_code = "NULL"
    if cdm.has("concept") and "gender_concept_id" in cols:
        gender_code = (
            "(SELECT any_value(c.concept_code) FROM cdm_concept c WHERE TRY_CAST(c.concept_id AS BIGINT) = "
            "TRY_CAST(p.gender_concept_id AS BIGINT) AND c.vocabulary_id = 'Gender')"
        )
    src = "lower(CAST(p.gender_source_value AS VARCHAR))" if "gender_source_value" in cols else "NULL"
    birth = (
        "TRY_CAST(CAST(p.birth_datetime AS VARCHAR)[1:10] AS DATE)" if "birth_datetime" in cols else "NULL"
    )
    made = (
        "TRY_CAST(make_date(TRY_CAST(p.year_of_birth AS INTEGER), "
        "coalesce(TRY_CAST(p.month_of_birth AS INTEGER), 7), "
        "coalesce(TRY_CAST(p.day_of_birth AS INTEGER), 1)) AS DATE)"
    )
    dx = _diagnoses(cdm, unmapped)
    cdm.con.execute(f"""
        CREATE TEMP TABLE person_rows AS
        SELECT CAST(p.person_id AS VARCHAR) AS patient_id,
          CASE WHEN upper({gender_code}) = 'M' OR {src} IN ('m', 'male') THEN 'male'
               WHEN upper({gender_code}) = 'F' OR {src} IN ('f', 'female') THEN 'female'
               ELSE 'unknown' END AS sex,
          coalesce({birth}, {made}) AS birth_date, row_number() OVER () AS row_in_cdm
        FROM cdm_person p""")
    unknown = cdm.rows("SELECT count(*) FROM person_rows WHERE sex = 'unknown'")[0][0]
    unmapped.add("person: sex not resolvable (kept as unknown)", int(unknown))
    other = {
        f.name: f"CAST(NULL AS {SQL_TYPES[str(f.type)]}) AS {f.name}"
        for f in SCHEMAS["patients"]
        if f.name not in ("patient_id", "sex", "birth_date", "sle_diagnosis_date", "itp_diagnosis_date")
    }
    columns = [
        {
            "sle_diagnosis_date": "d.sle AS sle_diagnosis_date",
            "itp_diagnosis_date": "d.itp AS itp_diagnosis_date",
        }.get(f.name, other.get(f.name, f"p.{f.name}"))
        for f in SCHEMAS["patients"]
    ]
    return (
        f"SELECT {', '.join(columns)} FROM person_rows p LEFT JOIN ({dx}) d USING (patient_id) "
        f"ORDER BY p.row_in_cdm"  # the person table's order
    )


def _factor(test: str, ucum: str | None, source: str | None) -> float | None:
    """Factor to the canonical unit: the UCUM code (codes.yaml ``ucum_units`` spellings aliased), else the
    ``unit_source_value`` as written, each read by ``sleitp.units`` (as the FHIR mapping reads a Quantity's
    code, then its unit text). A test without a canonical unit keeps its value (factor 1), read against the
    laboratory's ``range_high`` in the same unit."""
    if TESTS[test].canonical_unit is None:
        return 1.0
    if TESTS[test].unitless and not ucum and not source:
        return 1.0  # a ratio (INR) without a unit is in its canonical unit
    candidates = [load_codes().ucum_units.get(ucum, ucum) if ucum else None, source]
    if test == "ana" and not ucum and not source:
        candidates = ["titer"]  # LOINC 29953-7 is "Nuclear Ab [Titer]": a bare number is the titre (as FHIR)
    for unit in candidates:
        if unit:
            try:
                return to_canonical(test, 1.0, unit)
            except UnitError:
                pass
    return None


def _labs(cdm: _Cdm, unmapped: Unmapped) -> str | None:
    """The labs table (a query), or None without a measurement table."""
    if not cdm.has("measurement"):
        return None
    cdm.require("measurement", "person_id", "measurement_concept_id", "measurement_date", "value_as_number")
    codes = _lab_codes()
    _codes_table(cdm, "lab_concepts", codes)
    _codes_table(cdm, "answer_concepts", _answer_codes())
    # per test: canonical unit, plausible range (a value read against range_high: not negative), qualitative
    cdm.con.execute(
        "CREATE TEMP TABLE lab_tests (test VARCHAR, unit VARCHAR, lo DOUBLE, hi DOUBLE, qual BOOLEAN)"
    )
    for n in sorted(set(codes.values())):
        lo, hi = TESTS[n].bounds or (0.0, float("inf"))
        cdm.con.execute(
            "INSERT INTO lab_tests VALUES (?, ?, ?, ?, ?)",
            [n, TESTS[n].canonical_unit, lo, hi, TESTS[n].qualitative],
        )
    cols = cdm.columns("measurement")
    ucum, join_units = "NULL", ""
    if cdm.has("concept") and "unit_concept_id" in cols:
        ucum = "u.code"
        join_units = (
            "LEFT JOIN (SELECT TRY_CAST(concept_id AS BIGINT) AS concept_id, any_value(concept_code) AS code "
            "FROM cdm_concept WHERE vocabulary_id = 'UCUM' GROUP BY 1) u "
            "ON u.concept_id = TRY_CAST(m.unit_concept_id AS BIGINT)"
        )
    unit_src = "CAST(m.unit_source_value AS VARCHAR)" if "unit_source_value" in cols else "NULL"
    rlo, rhi = (f"m.{c}" if c in cols else "NULL" for c in ("range_low", "range_high"))
    answer, coded, join_answers = "NULL", "false", ""
    if "value_as_concept_id" in cols:
        answer = "a.what"
        coded = "coalesce(TRY_CAST(m.value_as_concept_id AS BIGINT), 0) <> 0"  # 0: OMOP's "no concept"
        join_answers = (
            "LEFT JOIN answer_concepts a ON a.concept_id = TRY_CAST(m.value_as_concept_id AS BIGINT)"
        )
    day = cdm.date("measurement", "measurement_date", "m")
    # a view: the measurements are read once more for the distinct units (cheap), and materialized once,
    # checked (30 M rows for 1M patients: every copy of them costs seconds)
    cdm.con.execute(f"""
        CREATE TEMP VIEW lab_rows AS
        SELECT CAST(m.person_id AS VARCHAR) AS patient_id, {day} AS date,
               k.what AS test, TRY_CAST(m.value_as_number AS DOUBLE) AS value,
               {ucum} AS ucum, {unit_src} AS source_unit, {answer} AS answer, {coded} AS coded,
               TRY_CAST({rlo} AS DOUBLE) AS range_low, TRY_CAST({rhi} AS DOUBLE) AS range_high
        FROM cdm_measurement m
        LEFT JOIN lab_concepts k ON k.concept_id = TRY_CAST(m.measurement_concept_id AS BIGINT)
        {join_units} {join_answers}""")
    # most measurements of a CDM are other codes: counted here, never copied
    other = cdm.rows("SELECT count(*) FROM lab_rows WHERE test IS NULL")[0][0]
    unmapped.add("measurement: concept not one of the LOINC codes sleitp reads", int(other))
    # the conversion factor of every (test, unit) pair present: a small table computed by sleitp.units
    pairs = cdm.rows("SELECT DISTINCT test, ucum, source_unit FROM lab_rows WHERE test IS NOT NULL")
    cdm.con.execute(
        "CREATE TEMP TABLE lab_factors (test VARCHAR, ucum VARCHAR, source_unit VARCHAR, factor DOUBLE)"
    )
    if pairs:
        cdm.con.executemany("INSERT INTO lab_factors VALUES (?, ?, ?, ?)", [(*p, _factor(*p)) for p in pairs])
    # a row is *measured* (a value, in the canonical unit or against range_high) or *qualitative* (an answer)
    measured = "r.value IS NOT NULL AND (t.unit IS NOT NULL OR r.range_high IS NOT NULL)"
    cdm.con.execute(f"""
        CREATE TEMP TABLE lab_checked AS
        SELECT r.patient_id, r.date, r.test,
          CASE WHEN {measured} THEN r.value * f.factor END AS value,
          CASE WHEN {measured} THEN t.unit END AS unit,
          -- a value of a test without a canonical unit is read against range_high as the record does
          -- (sleitp.record.Lab: positive when above the laboratory's upper limit)
          CASE WHEN NOT ({measured}) THEN r.answer
               WHEN t.unit IS NULL THEN CASE WHEN r.value > r.range_high THEN 'positive' ELSE 'negative' END
               END AS result,
          CASE WHEN {measured} THEN r.range_low * f.factor END AS reference_low,
          CASE WHEN {measured} THEN r.range_high * f.factor END AS reference_high,
          CASE WHEN r.date IS NULL THEN 'measurement: no date'
               WHEN r.value IS NULL AND r.answer IS NULL AND r.coded
                 THEN 'measurement: value_as_concept_id not a positive/negative answer '
                      || '(codes.yaml qualitative_answers)'
               WHEN r.value IS NULL AND r.answer IS NULL THEN 'measurement: no value_as_number'
               WHEN r.value IS NULL AND NOT t.qual
                 THEN 'measurement: ' || r.test
                      || ' is a measured test but only a positive/negative answer is given'
               WHEN r.value IS NULL THEN NULL
               WHEN f.factor IS NULL THEN 'measurement: unit not convertible for ' || r.test || ' ('
                                          || coalesce(r.ucum, r.source_unit, 'no unit') || ')'
               WHEN NOT (t.lo <= r.value * f.factor AND r.value * f.factor <= t.hi)
                 THEN 'measurement: ' || r.test || ' value outside the plausible range'
               WHEN t.unit IS NULL AND r.range_high IS NULL AND r.answer IS NULL
                 THEN 'measurement: ' || r.test || ' value without range_high '
                      || '(the laboratory''s upper limit) or a positive/negative value_as_concept_id'
               END AS why
        FROM lab_rows r JOIN lab_tests t ON t.test = r.test
        LEFT JOIN lab_factors f ON f.test = r.test AND f.ucum IS NOT DISTINCT FROM r.ucum
                               AND f.source_unit IS NOT DISTINCT FROM r.source_unit""")
    _count_unmapped(cdm, unmapped, "SELECT why, count(*) FROM lab_checked WHERE why IS NOT NULL GROUP BY why")
    return """SELECT patient_id, date, test, value, unit, result, reference_low, reference_high
              FROM lab_checked WHERE why IS NULL"""


def _treatments(cdm: _Cdm, unmapped: Unmapped) -> str | None:
    """The treatments table (a query), or None without drug_exposure or drug_era."""
    if cdm.has("drug_exposure"):
        table, cid, start, end = (
            "drug_exposure",
            "drug_concept_id",
            "drug_exposure_start_date",
            "drug_exposure_end_date",
        )
    elif cdm.has("drug_era"):
        table, cid, start, end = "drug_era", "drug_concept_id", "drug_era_start_date", "drug_era_end_date"
    else:
        return None
    cdm.require(table, "person_id", cid, start, end)
    _codes_table(cdm, "drug_concepts", _ingredient_codes())
    if cdm.has("concept_ancestor"):  # a clinical drug rolls up to its ingredient (software.md §3.3)
        cdm.con.execute("""
            CREATE TEMP TABLE drug_map AS
            SELECT DISTINCT TRY_CAST(a.descendant_concept_id AS BIGINT) AS concept_id, d.what
            FROM cdm_concept_ancestor a
            JOIN drug_concepts d ON TRY_CAST(a.ancestor_concept_id AS BIGINT) = d.concept_id
            UNION SELECT concept_id, what FROM drug_concepts""")
    else:
        cdm.con.execute("CREATE TEMP TABLE drug_map AS SELECT concept_id, what FROM drug_concepts")
    resolvable = (
        "CASE WHEN EXISTS (SELECT 1 FROM cdm_concept c "
        "WHERE TRY_CAST(c.concept_id AS BIGINT) = TRY_CAST(x.{cid} AS BIGINT)) "
        "THEN 'not one of the RxNorm ingredients sleitp reads' ELSE 'concept_id not in the concept table' END"
        if cdm.has("concept")
        else "'no concept table to resolve drug_concept_id'"
    ).format(cid=cid)
    first, last = cdm.date(table, start, "x"), cdm.date(table, end, "x")
    cdm.con.execute(f"""
        CREATE TEMP TABLE drug_rows AS
        SELECT CAST(x.person_id AS VARCHAR) AS patient_id, d.what AS agent, {first} AS start,
               {last} AS "end",
               CASE WHEN d.what IS NULL THEN '{table}: ' || {resolvable}
                    WHEN {first} IS NULL THEN '{table}: no start date'
                    WHEN {last} < {first} THEN '{table}: end before start'
                    END AS why
        FROM cdm_{table} x LEFT JOIN drug_map d ON d.concept_id = TRY_CAST(x.{cid} AS BIGINT)""")
    _count_unmapped(cdm, unmapped, "SELECT why, count(*) FROM drug_rows WHERE why IS NOT NULL GROUP BY why")
    return """
        SELECT patient_id, agent, start, "end", CAST(NULL AS DOUBLE) AS dose,
               CAST(NULL AS VARCHAR) AS dose_unit, CAST(NULL AS VARCHAR) AS frequency,
               CAST(NULL AS VARCHAR) AS route
        FROM drug_rows WHERE why IS NULL ORDER BY patient_id, start, agent"""


def _diagnoses(cdm: _Cdm, unmapped: Unmapped) -> str:
    """``patient_id, sle, itp``: the first SLE and ITP dates per person (a query), from
    condition_occurrence (else condition_era)."""
    if cdm.has("condition_occurrence"):
        table, start = "condition_occurrence", "condition_start_date"
    elif cdm.has("condition_era"):
        table, start = "condition_era", "condition_era_start_date"
    else:
        return "SELECT NULL::VARCHAR AS patient_id, NULL::DATE AS sle, NULL::DATE AS itp WHERE false"
    cdm.require(table, "person_id", "condition_concept_id", start)
    codes = _condition_codes()
    _codes_table(cdm, "condition_concepts", codes)
    n_other = cdm.rows(f"""
        SELECT count(*) FROM cdm_{table} x
        LEFT JOIN condition_concepts k ON k.concept_id = TRY_CAST(x.condition_concept_id AS BIGINT)
        WHERE k.what IS NULL""")[0][0]
    listed = " or ".join(
        f"{name} (SNOMED {', '.join(c for (_, c), w in codes.items() if w == what)})"
        for what, name in (("sle", "SLE"), ("itp", "ITP"))
    )
    why = (
        f"condition not {listed} in the concept table"
        if cdm.has("concept")
        else "no concept table to resolve condition_concept_id"
    )
    unmapped.add(f"{table}: {why}", int(n_other))
    day = cdm.date(table, start, "x")
    return f"""
        SELECT CAST(x.person_id AS VARCHAR) AS patient_id, min({day}) FILTER (WHERE k.what = 'sle') AS sle,
               min({day}) FILTER (WHERE k.what = 'itp') AS itp
        FROM cdm_{table} x
        JOIN condition_concepts k ON k.concept_id = TRY_CAST(x.condition_concept_id AS BIGINT)
        GROUP BY 1"""


def _count_unused(cdm: _Cdm, unmapped: Unmapped) -> None:
    for t in ("procedure_occurrence", "observation"):
        if cdm.has(t):
            n = cdm.rows(f"SELECT count(*) FROM cdm_{t}")[0][0]
            unmapped.add(f"{t}: no {t} code is mapped by sleitp yet", int(n))


def _mapped(cdm: _Cdm, unmapped: Unmapped) -> dict[str, str | None]:
    """The five tables of ``sleitp.cohort.tables`` as queries on the CDM (None: no source table)."""
    out = {
        "patients": _patients(cdm, unmapped),
        "labs": _labs(cdm, unmapped),
        "treatments": _treatments(cdm, unmapped),
        "bleeding": None,  # OMOP has no sourced code for a bleeding event or its WHO grade yet
        "manifestations": None,
    }
    _count_unused(cdm, unmapped)
    return out


def omop_to_arrow(
    path: str | Path, unmapped: Unmapped, *, vocabulary: str | Path | None = None
) -> dict[str, pa.Table]:
    """Read an OMOP CDM (DuckDB file or folder) into the five Arrow tables of ``sleitp.cohort.tables``
    (small CDMs and tests; ``omop_to_parquet`` streams a large one to files)."""
    cdm = _Cdm(Path(path), Path(vocabulary) if vocabulary else None)
    try:
        return {
            name: SCHEMAS[name].empty_table() if sql is None else cdm.arrow(sql).cast(SCHEMAS[name])
            for name, sql in _mapped(cdm, unmapped).items()
        }
    finally:
        cdm.con.close()


def omop_to_parquet(
    path: str | Path,
    out: str | Path,
    unmapped: Unmapped,
    *,
    vocabulary: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Map an OMOP CDM to the five tables as ``out/NAME.parquet`` (the layout ``sleitp synth`` writes),
    streamed by DuckDB with bounded memory: no table of the CDM is ever held in Python. ``progress`` is
    told each table as its mapping starts (long on a large CDM: the measurement table above all)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cdm = _Cdm(Path(path), Path(vocabulary) if vocabulary else None)
    try:
        for name, sql in _mapped(cdm, unmapped).items():
            if progress:
                progress(f"read: mapping the OMOP CDM to {name}")
            target = out / f"{name}.parquet"
            if sql is None:
                pq.write_table(SCHEMAS[name].empty_table(), target)
                continue
            cast = sql_columns(name, optional=False)
            cdm.con.execute(f"COPY (SELECT {cast} FROM ({sql})) TO {_q(str(target))} (FORMAT parquet)")
        return out
    finally:
        cdm.con.close()


def read_omop(
    path: str | Path,
    engine: Engine,
    unmapped: Unmapped,
    *,
    vocabulary: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> CohortTables:
    """An OMOP CDM as engine tables: mapped by DuckDB to Parquet files in a scratch folder of the engine's
    (removed when it closes), then read like ``sleitp synth`` tables, on either backend."""
    folder = omop_to_parquet(
        path, engine.scratch_dir("omop"), unmapped, vocabulary=vocabulary, progress=progress
    )
    return read_tables(folder, engine, unmapped)


__all__ = ["omop_to_arrow", "omop_to_parquet", "read_omop"]
