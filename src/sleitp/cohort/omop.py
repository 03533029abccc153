"""OMOP CDM v5.4 -> the five cohort tables, codes resolved through the site's own ``concept`` table.

No OMOP concept_id is written in this file (software.md §0 "Codes", §3.5: ids copied from public files
disagree). sleitp ships *source codes* (LOINC, RxNorm ingredient RxCUIs, SNOMED CT) and finds their
concept_ids in the ``concept`` table of the database at run time; a CDM without a ``concept`` table can be
given one (``vocabulary=``: a CONCEPT.csv/.parquet from the site's OHDSI Athena download).

What is read, and how:

- ``person`` -> patients: sex from the gender concept's code (vocabulary ``Gender``: ``M``/``F``) or, failing
  that, ``gender_source_value`` ``M``/``F``/``male``/``female``; birth date from ``birth_datetime``, else
  ``year_of_birth`` with month/day (a missing month is July, a missing day the 1st: docs/cohort-derive.md).
- ``measurement`` -> labs: the LOINC codes below; the unit is the UCUM code of ``unit_concept_id`` (else
  ``unit_source_value``), converted to the canonical unit by ``sleitp.units``; a unit that does not convert,
  a missing value or one outside the plausible range is counted and left out.
- ``drug_exposure`` (else ``drug_era``) -> treatments: concepts that are (or, with ``concept_ancestor``,
  descend from) the RxNorm ingredients below; start/end dates as given (end inclusive).
- ``condition_occurrence`` (else ``condition_era``) -> the first SLE and ITP dates (SNOMED codes below).
- ``procedure_occurrence`` and ``observation`` are read and counted; no code of them is mapped yet (no
  sourced code for splenectomy in ../shared/reference), so their rows are reported, not used.

Every row left out is counted under its reason (``sources.Unmapped``).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from ..errors import SourceError
from ..units import TESTS, UnitError, to_canonical
from .engine import Engine
from .sources import CohortTables, Unmapped, arrow_to_engine
from .tables import SCHEMAS

# software.md §3.2 (loinc.org pages cited there): platelet counts. MPV 32623-1 and PDW 32207-3 are NOT
# counts (testdata.md §1.1, §4.1) and are deliberately absent.
LOINC_TESTS: dict[str, str] = {
    "777-3": "platelets",  # Platelets [#/volume] in Blood by Automated count
    "26515-7": "platelets",  # Platelets [#/volume] in Blood
    "778-1": "platelets",  # Platelets [#/volume] in Blood by Manual count
    "49497-1": "platelets",  # Platelets [#/volume] in Blood by Estimate
}
# software.md §3.3: RxNorm ingredient RxCUIs with a curated source (rows marked "verify" there are left out)
RXNORM_INGREDIENTS: dict[str, str] = {
    "8640": "prednisone",
    "6902": "methylprednisolone",
    "3264": "dexamethasone",
    "5521": "hydroxychloroquine",
    "7145": "mycophenolate",
    "1256": "azathioprine",
    "3008": "cyclosporine",
    "42316": "tacrolimus",
    "3002": "cyclophosphamide",
    "121191": "rituximab",
    "711942": "eltrombopag",
}
# software.md §3.4: SNOMED CT 55464009 SLE; 128091003 autoimmune thrombocytopenia ("Primary ITP")
SNOMED_CONDITIONS: dict[str, str] = {"55464009": "sle", "128091003": "itp"}

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
    with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
        first = fh.readline().strip().lower()
    return first.split("\t" if "\t" in first else ",")[0].strip('"') in (
        f"{table}_id",
        "person_id",
        "concept_id",
        "ancestor_concept_id",
    )


class _Cdm:
    """The CDM tables as DuckDB views (``cdm_<table>``), whatever they were stored in."""

    def __init__(self, path: Path, vocabulary: Path | None):
        self.con = duckdb.connect()
        self.present: set[str] = set()
        if path.is_file():
            try:
                self.con.execute(f"ATTACH {_q(str(path))} AS src (READ_ONLY)")
            except duckdb.Error as e:
                raise SourceError(f"{path}: not a DuckDB database this DuckDB can read ({e})") from None
            names = {
                r[0].lower(): (r[1], r[0])
                for r in self.con.execute(
                    "SELECT table_name, table_schema FROM information_schema.tables WHERE table_catalog = 'src'"
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
        self.con.execute(f"CREATE VIEW cdm_{table} AS SELECT * FROM {src}")
        self.present.add(table)

    def has(self, table: str) -> bool:
        return table in self.present

    def columns(self, table: str) -> set[str]:
        return {r[0].lower() for r in self.con.execute(f"DESCRIBE cdm_{table}").fetchall()}

    def rows(self, sql: str) -> list[tuple]:
        return self.con.execute(sql).fetchall()

    def arrow(self, sql: str) -> pa.Table:
        return self.con.sql(sql).to_arrow_table()


def _codes_table(cdm: _Cdm, name: str, vocabulary: str, codes: dict[str, str]) -> None:
    """The site's concept_ids of our source codes: ``name(concept_id, what)``."""
    values = ", ".join(f"({_q(c)}, {_q(w)})" for c, w in codes.items())
    cdm.con.execute(f"CREATE TEMP TABLE code_{name} AS SELECT * FROM (VALUES {values}) v(code, what)")
    if not cdm.has("concept"):
        cdm.con.execute(f"CREATE TEMP TABLE {name} (concept_id BIGINT, what VARCHAR)")
        return
    cdm.con.execute(
        f"CREATE TEMP TABLE {name} AS SELECT DISTINCT CAST(c.concept_id AS BIGINT) AS concept_id, v.what "
        f"FROM cdm_concept c JOIN code_{name} v ON c.concept_code = v.code AND c.vocabulary_id = {_q(vocabulary)}"
    )


def _date(col: str) -> str:
    return f"TRY_CAST(CAST({col} AS VARCHAR)[1:10] AS DATE)"


def _count_unmapped(cdm: _Cdm, unmapped: Unmapped, sql: str) -> None:
    for reason, n in cdm.rows(sql):
        unmapped.add(reason, int(n))


def _patients(cdm: _Cdm, unmapped: Unmapped) -> pa.Table:
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
        "TRY_CAST(make_date(TRY_CAST(p.year_of_birth AS INTEGER), coalesce(TRY_CAST(p.month_of_birth AS INTEGER), 7), "
        "coalesce(TRY_CAST(p.day_of_birth AS INTEGER), 1)) AS DATE)"
    )
    sql = f"""
        SELECT CAST(p.person_id AS VARCHAR) AS patient_id,
          CASE WHEN upper({gender_code}) = 'M' OR {src} IN ('m', 'male') THEN 'male'
               WHEN upper({gender_code}) = 'F' OR {src} IN ('f', 'female') THEN 'female'
               ELSE 'unknown' END AS sex,
          coalesce({birth}, {made}) AS birth_date
        FROM cdm_person p"""
    t = cdm.arrow(sql)
    unknown = sum(1 for s in t.column("sex").to_pylist() if s == "unknown")
    unmapped.add("person: sex not resolvable (kept as unknown)", unknown)
    n = t.num_rows
    rows = {f.name: pa.nulls(n, f.type) for f in SCHEMAS["patients"]}
    rows.update(patient_id=t.column("patient_id"), sex=t.column("sex"), birth_date=t.column("birth_date"))
    return pa.table(rows, schema=SCHEMAS["patients"])


def _labs(cdm: _Cdm, unmapped: Unmapped) -> pa.Table:
    if not cdm.has("measurement"):
        return SCHEMAS["labs"].empty_table()
    _codes_table(cdm, "lab_concepts", "LOINC", LOINC_TESTS)
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
    cdm.con.execute(f"""
        CREATE TEMP TABLE lab_rows AS
        SELECT CAST(m.person_id AS VARCHAR) AS patient_id, {_date("m.measurement_date")} AS date, k.what AS test,
               TRY_CAST(m.value_as_number AS DOUBLE) AS value, coalesce({ucum}, {unit_src}) AS unit,
               TRY_CAST({rlo} AS DOUBLE) AS range_low, TRY_CAST({rhi} AS DOUBLE) AS range_high
        FROM cdm_measurement m
        LEFT JOIN lab_concepts k ON k.concept_id = TRY_CAST(m.measurement_concept_id AS BIGINT) {join_units}""")
    # the conversion factor of every (test, unit) pair present: a small table computed by sleitp.units
    pairs = cdm.rows("SELECT DISTINCT test, unit FROM lab_rows WHERE test IS NOT NULL")
    factors = []
    for test, unit in pairs:
        try:
            factors.append((test, unit, to_canonical(test, 1.0, unit)))
        except UnitError:
            factors.append((test, unit, None))
    cdm.con.execute("CREATE TEMP TABLE lab_factors (test VARCHAR, unit VARCHAR, factor DOUBLE)")
    if factors:
        cdm.con.executemany("INSERT INTO lab_factors VALUES (?, ?, ?)", factors)
    bounds = " ".join(
        f"WHEN {_q(n)} THEN {TESTS[n].bounds[0]} <= r.value * f.factor "
        f"AND r.value * f.factor <= {TESTS[n].bounds[1]}"
        for n in sorted(set(LOINC_TESTS.values()))
    )
    cdm.con.execute(f"""
        CREATE TEMP TABLE lab_checked AS
        SELECT r.*, f.factor, r.value * f.factor AS v,
          CASE WHEN r.test IS NULL THEN 'measurement: concept not one of the LOINC codes sleitp reads'
               WHEN r.date IS NULL THEN 'measurement: no date'
               WHEN r.value IS NULL THEN 'measurement: no value_as_number'
               WHEN f.factor IS NULL THEN 'measurement: unit not convertible for ' || r.test || ' (' || coalesce(r.unit, 'no unit') || ')'
               WHEN NOT (CASE r.test {bounds} ELSE true END) THEN 'measurement: ' || r.test || ' value outside the plausible range'
               END AS why
        FROM lab_rows r LEFT JOIN lab_factors f ON f.test = r.test AND f.unit IS NOT DISTINCT FROM r.unit""")
    _count_unmapped(cdm, unmapped, "SELECT why, count(*) FROM lab_checked WHERE why IS NOT NULL GROUP BY why")
    return cdm.arrow("""
        SELECT patient_id, date, test, v AS value, '10^9/L' AS unit, CAST(NULL AS VARCHAR) AS result,
               range_low * factor AS reference_low, range_high * factor AS reference_high
        FROM lab_checked WHERE why IS NULL""").cast(SCHEMAS["labs"])


def _treatments(cdm: _Cdm, unmapped: Unmapped) -> pa.Table:
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
        return SCHEMAS["treatments"].empty_table()
    _codes_table(cdm, "drug_concepts", "RxNorm", RXNORM_INGREDIENTS)
    if cdm.has("concept_ancestor"):  # a clinical drug rolls up to its ingredient (software.md §3.3)
        cdm.con.execute("""
            CREATE TEMP TABLE drug_map AS
            SELECT DISTINCT TRY_CAST(a.descendant_concept_id AS BIGINT) AS concept_id, d.what
            FROM cdm_concept_ancestor a JOIN drug_concepts d ON TRY_CAST(a.ancestor_concept_id AS BIGINT) = d.concept_id
            UNION SELECT concept_id, what FROM drug_concepts""")
    else:
        cdm.con.execute("CREATE TEMP TABLE drug_map AS SELECT concept_id, what FROM drug_concepts")
    resolvable = (
        "CASE WHEN EXISTS (SELECT 1 FROM cdm_concept c WHERE TRY_CAST(c.concept_id AS BIGINT) = TRY_CAST(x.{cid} AS BIGINT)) "
        "THEN 'not one of the RxNorm ingredients sleitp reads' ELSE 'concept_id not in the concept table' END"
        if cdm.has("concept")
        else "'no concept table to resolve drug_concept_id'"
    ).format(cid=cid)
    cdm.con.execute(f"""
        CREATE TEMP TABLE drug_rows AS
        SELECT CAST(x.person_id AS VARCHAR) AS patient_id, d.what AS agent, {_date("x." + start)} AS start,
               {_date("x." + end)} AS "end",
               CASE WHEN d.what IS NULL THEN '{table}: ' || {resolvable}
                    WHEN {_date("x." + start)} IS NULL THEN '{table}: no start date'
                    WHEN {_date("x." + end)} < {_date("x." + start)} THEN '{table}: end before start' END AS why
        FROM cdm_{table} x LEFT JOIN drug_map d ON d.concept_id = TRY_CAST(x.{cid} AS BIGINT)""")
    _count_unmapped(cdm, unmapped, "SELECT why, count(*) FROM drug_rows WHERE why IS NOT NULL GROUP BY why")
    return cdm.arrow("""
        SELECT patient_id, agent, start, "end", CAST(NULL AS DOUBLE) AS dose, CAST(NULL AS VARCHAR) AS dose_unit,
               CAST(NULL AS VARCHAR) AS frequency, CAST(NULL AS VARCHAR) AS route
        FROM drug_rows WHERE why IS NULL ORDER BY patient_id, start, agent""").cast(SCHEMAS["treatments"])


def _diagnoses(cdm: _Cdm, unmapped: Unmapped) -> dict[str, dict[str, object]]:
    """First SLE and ITP dates per person, from condition_occurrence (else condition_era)."""
    if cdm.has("condition_occurrence"):
        table, start = "condition_occurrence", "condition_start_date"
    elif cdm.has("condition_era"):
        table, start = "condition_era", "condition_era_start_date"
    else:
        return {}
    _codes_table(cdm, "condition_concepts", "SNOMED", SNOMED_CONDITIONS)
    n_other = cdm.rows(f"""SELECT count(*) FROM cdm_{table} x LEFT JOIN condition_concepts k
                          ON k.concept_id = TRY_CAST(x.condition_concept_id AS BIGINT) WHERE k.what IS NULL""")[
        0
    ][0]
    why = (
        "condition not SLE (SNOMED 55464009) or ITP (SNOMED 128091003) in the concept table"
        if cdm.has("concept")
        else "no concept table to resolve condition_concept_id"
    )
    unmapped.add(f"{table}: {why}", int(n_other))
    out: dict[str, dict[str, object]] = {}
    for pid, what, first in cdm.rows(f"""
            SELECT CAST(x.person_id AS VARCHAR), k.what, min({_date("x." + start)})
            FROM cdm_{table} x JOIN condition_concepts k ON k.concept_id = TRY_CAST(x.condition_concept_id AS BIGINT)
            GROUP BY ALL"""):
        out.setdefault(pid, {})[what] = first
    return out


def _count_unused(cdm: _Cdm, unmapped: Unmapped) -> None:
    for t in ("procedure_occurrence", "observation"):
        if cdm.has(t):
            n = cdm.rows(f"SELECT count(*) FROM cdm_{t}")[0][0]
            unmapped.add(f"{t}: no {t} code is mapped by sleitp yet", int(n))


def omop_to_arrow(
    path: str | Path, unmapped: Unmapped, *, vocabulary: str | Path | None = None
) -> dict[str, pa.Table]:
    """Read an OMOP CDM (DuckDB file or folder) into the five Arrow tables of ``sleitp.cohort.tables``."""
    cdm = _Cdm(Path(path), Path(vocabulary) if vocabulary else None)
    try:
        patients = _patients(cdm, unmapped)
        dx = _diagnoses(cdm, unmapped)
        if dx:
            ids = patients.column("patient_id").to_pylist()
            patients = patients.set_column(
                patients.schema.get_field_index("sle_diagnosis_date"),
                "sle_diagnosis_date",
                pa.array([dx.get(i, {}).get("sle") for i in ids], pa.date32()),
            )
            patients = patients.set_column(
                patients.schema.get_field_index("itp_diagnosis_date"),
                "itp_diagnosis_date",
                pa.array([dx.get(i, {}).get("itp") for i in ids], pa.date32()),
            )
        labs = _labs(cdm, unmapped)
        treatments = _treatments(cdm, unmapped)
        _count_unused(cdm, unmapped)
        return {
            "patients": patients,
            "labs": labs,
            "treatments": treatments,
            "bleeding": SCHEMAS["bleeding"].empty_table(),
            "manifestations": SCHEMAS["manifestations"].empty_table(),
        }
    finally:
        cdm.con.close()


def read_omop(
    path: str | Path, engine: Engine, unmapped: Unmapped, *, vocabulary: str | Path | None = None
) -> CohortTables:
    """An OMOP CDM as engine tables (mapped in DuckDB, then handed to the engine)."""
    return arrow_to_engine(omop_to_arrow(path, unmapped, vocabulary=vocabulary), engine)


__all__ = ["LOINC_TESTS", "RXNORM_INGREDIENTS", "SNOMED_CONDITIONS", "omop_to_arrow", "read_omop"]
