"""FHIR R4 as a cohort source through SQL on FHIR ViewDefinitions (``--fhir-mapping views``).

The ViewDefinitions of ``sleitp/fhir/views/*.json`` flatten the resources (one row a resource or a
coding); :mod:`sleitp.sqlonfhir` compiles each to one DuckDB query. The SQL below joins those rows to the
code lists of ``evidence/codes.yaml`` (via :func:`sleitp.fhir._codes.load_codes`) and to the unit factors
and plausible ranges of :mod:`sleitp.units`, both loaded as lookup tables (no code or factor is written
here a second time), and builds the five engine tables. Set-based: no Python runs per resource (the
medication display-name rule, ``agents_named_in``, runs once per distinct medication text).

The rules are those of the per-resource mapping (``sleitp.fhir``, docs/fhir.md), and every row that is
not mapped is counted under the same reason string as there (docs/fhir-views.md;
tests/cohort/sources/test_fhir_views.py holds the two equal). What this path does not do: FHIR validation with
fhir.resources (the bedside mapping does it), the notes of the mapping report (not part of the unmapped
report), Medication ingredients given by ``itemReference``.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from datetime import date
from functools import lru_cache, partial
from importlib import resources as importlib_resources
from pathlib import Path

import duckdb
import pyarrow as pa

from sleitp.cohort.engine import duckdb_config
from sleitp.cohort.sources._base import Unmapped
from sleitp.cohort.sources.fhir_typed import CHECKED as TYPED_CHECKED
from sleitp.cohort.sources.fhir_typed import MISFITS as TYPED_MISFITS
from sleitp.cohort.sources.fhir_typed import typed_observation_sql
from sleitp.cohort.tables import SQL_TYPES, sql_columns, table_schema
from sleitp.errors import SourceError
from sleitp.fhir import _encounters as _enc
from sleitp.fhir import _medications as _med
from sleitp.fhir import _parse
from sleitp.fhir._bulk import export_day
from sleitp.fhir._codes import Codes, agents_named_in, load_codes
from sleitp.fhir._conditions import AIHA_WITHOUT_DATE
from sleitp.record import HISTORY_FLAGS
from sleitp.sqlonfhir import DuckDBViewRunner, View, load_view, resources_sql
from sleitp.sqlonfhir.files import _NDJSON
from sleitp.units import REFUSED_UNITS, TESTS, _norm

VIEWS = (
    "patient",
    "observation",
    "observation_coding",
    "diagnostic_report_result",
    "condition",
    "procedure",
    "encounter",
    "medication",
    "medication_request",
    "medication_request_coding",
    "medication_statement",
    "medication_statement_coding",
    "medication_administration",
    "medication_administration_coding",
    "medication_request_contained",
    "medication_statement_contained",
    "medication_administration_contained",
)


@lru_cache(maxsize=None)
def view(name: str) -> View:
    """One of the package's ViewDefinitions (``sleitp/fhir/views/NAME.json``)."""
    path = importlib_resources.files("sleitp.fhir").joinpath("views", f"{name}.json")
    with importlib_resources.as_file(path) as p:
        return load_view(p)


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _norm_sql(x: str) -> str:
    """``sleitp.units._norm`` in SQL (the same replacements, same order)."""
    out = f"lower(trim({x}))"
    for a, b in ((" ", ""), ("µ", "u"), ("μ", "u"), ("×", "x"), ("**", "^"), ("²", "2")):
        out = f"replace({out}, {_sql_str(a)}, {_sql_str(b)})"
    return out


def _re2(pattern: re.Pattern[str]) -> str:
    """A codes.yaml word pattern (Python look-arounds) as an RE2 pattern DuckDB runs."""
    p = pattern.pattern.replace("(?<![a-z0-9])", "(^|[^a-z0-9])").replace("(?![a-z0-9])", "([^a-z0-9]|$)")
    return "(?i)" + p


def _register(con: duckdb.DuckDBPyConnection, name: str, rows: list[dict], schema: pa.Schema) -> None:
    con.register(name, pa.Table.from_pylist(rows, schema=schema))


def _register_mapping(con: duckdb.DuckDBPyConnection, name: str, mapping: dict, key: str, value: str,
                      value_type: pa.DataType) -> None:
    """A dict of sleitp's mapping rules as a two-column table ``key``, ``value`` (keys are text), so that
    the views apply the rule itself, not a copy of it."""
    rows = [{key: k, value: v} for k, v in mapping.items()]
    _register(con, name, rows, pa.schema([(key, pa.string()), (value, value_type)]))


def _register_lookups(con: duckdb.DuckDBPyConnection) -> None:
    """codes.yaml and sleitp.units as tables."""
    codes = load_codes()
    reg = partial(_register, con)
    s = pa.string()
    _register_mapping(con, "k_systems", codes.systems, "name", "uri", s)
    reg(
        "k_lab_codes",
        [{"code": c, "test": t, "annotation": codes.lab_annotations.get(c)} for c, t in codes.labs.items()],
        pa.schema([("code", s), ("test", s), ("annotation", s)]),
    )
    _register_mapping(con, "k_ucum", codes.ucum_units, "ucum", "unit", s)
    reg(
        "k_qualitative",
        [{"system": k[0], "code": k[1], "result": v} for k, v in codes.qualitative.items()],
        pa.schema([("system", s), ("code", s), ("result", s)]),
    )
    reg(
        "k_pregnancy",
        [{"system": k[0], "code": k[1], "pregnant": v} for k, v in codes.pregnancy_answers.items()],
        pa.schema([("system", s), ("code", s), ("pregnant", pa.bool_())]),
    )
    reg(
        "k_tests",
        [
            {
                "test": n,
                "canonical_unit": t.canonical_unit,
                "lo": float(t.bounds[0]) if t.bounds else None,
                "hi": float(t.bounds[1]) if t.bounds else None,
                "bounds_text": (
                    f"{t.bounds[0]:g} to {t.bounds[1]:g} {t.canonical_unit}" if t.bounds else None
                ),
                "qualitative": t.qualitative,
                "unitless": t.unitless,
            }
            for n, t in TESTS.items()
        ],
        pa.schema(
            [
                ("test", s),
                ("canonical_unit", s),
                ("lo", pa.float64()),
                ("hi", pa.float64()),
                ("bounds_text", s),
                ("qualitative", pa.bool_()),
                ("unitless", pa.bool_()),
            ]
        ),
    )
    refused = {(t, u) for t, units in REFUSED_UNITS.items() for u in units}
    reg(
        "k_factors",
        [
            {"test": n, "unit": u, "factor": float(f)}
            for n, t in TESTS.items()
            for u, f in t.factors.items()
            if (n, _norm(u)) not in refused
        ],
        pa.schema([("test", s), ("unit", s), ("factor", pa.float64())]),
    )
    cond = []
    for (system, code), c in codes.conditions_exact.items():
        cond += [
            {"system": system, "code": code, "prefix": False, "rank": -1, "concept": x} for x in c.concepts
        ]
    for rank, (system, code, c) in enumerate(codes.conditions_prefix):
        cond += [
            {"system": system, "code": code, "prefix": True, "rank": rank, "concept": x} for x in c.concepts
        ]
    reg(
        "k_conditions",
        cond,
        pa.schema([("system", s), ("code", s), ("prefix", pa.bool_()), ("rank", pa.int64()), ("concept", s)]),
    )
    reg(
        "k_procedures",
        [{"concept": c, "pattern": _re2(p)} for p, c in codes.procedure_names],
        pa.schema([("concept", s), ("pattern", s)]),
    )


def _uri(name: str) -> str:
    return f"(SELECT uri FROM k_systems WHERE name = {_sql_str(name)})"


def _day(x: str) -> str:
    """``sleitp.fhir._parse.fhir_date``: the calendar date as written, null for a partial or bad date."""
    return f"try_cast(regexp_extract({x}, '^\\s*(\\d{{4}}-\\d{{2}}-\\d{{2}})', 1) AS DATE)"


def _partial(x: str) -> str:
    return f"regexp_full_match(trim({x}), '\\d{{4}}(-\\d{{2}})?')"


def _instant(x: str) -> str:
    """``_observations.instant_of`` as a comparable text: an instant (UTC) when a time is given, else the
    date (a date and a dateTime of the same day are different instants, as in Python)."""
    return (
        f"CASE WHEN length({x}) > 10 THEN coalesce(strftime(try_cast({x} AS TIMESTAMPTZ) AT TIME ZONE 'UTC', "
        f"'%Y-%m-%dT%H:%M:%S.%f'), {x}) ELSE {x} END"
    )


_POS = "'(?i)^\\s*(positive|pos|detected|reactive)\\b'"
_NEG = "'(?i)^\\s*(negative|neg|not detected|non-?reactive)\\b'"


def _type_counts(con: duckdb.DuckDBPyConnection, path: Path) -> dict[str, int]:
    """Resources per type in the source (every file of a bulk export, whatever its name)."""
    if _is_bulk(path):
        files = sorted(str(p) for p in path.iterdir() if p.is_file() and p.name.endswith(_NDJSON))
        src = "SELECT json AS resource FROM read_ndjson_objects([" + ", ".join(map(_sql_str, files)) + "])"
    else:
        src = resources_sql(path, "Patient")  # Bundles: every entry's resource, of any type
    query = f"SELECT resource ->> '$.resourceType' AS t, count(*) FROM ({src}) GROUP BY t"
    rows = con.execute(query).fetchall()
    return {str(t): int(n) for t, n in rows}


def _run_views(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    runner = DuckDBViewRunner(con)
    for name in VIEWS:
        if name == "observation" and _is_bulk(path) and _typed_observations(con, path):
            continue
        v = view(name)
        con.execute(
            f"CREATE OR REPLACE TABLE v_{name} AS {runner.sql(v, resources_sql(path, v.resource))}"
        )


def _typed_observations(con: duckdb.DuckDBPyConnection, path: Path) -> bool:
    """The Observation view by a typed read (``fhir_typed``: the same rows, a fifth of the time) when the
    export fits its shape; False (nothing left behind) when it does not, and the compiled view runs."""
    try:
        con.execute(f"CREATE OR REPLACE TABLE v_observation AS {typed_observation_sql(path)}")
    except duckdb.Error:
        con.execute("DROP TABLE IF EXISTS v_observation")
        return False
    if con.execute(f"SELECT count(*) FROM v_observation WHERE {TYPED_MISFITS}").fetchone()[0]:
        con.execute("DROP TABLE v_observation")
        return False
    for column in TYPED_CHECKED:
        con.execute(f'ALTER TABLE v_observation DROP COLUMN "{column}"')
    return True


_OWNED = (
    "v_observation",
    "v_condition",
    "v_procedure",
    "v_encounter",
    "v_medication_request",
    "v_medication_statement",
    "v_medication_administration",
)


def _is_bulk(path: Path) -> bool:
    return path.is_dir() and any(p.name.endswith(_NDJSON) for p in path.iterdir())


def _assign_owners(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Who a resource belongs to, as the per-resource mapping decides. Bulk NDJSON (``_bulk._owner``): its
    own subject only. Bundles (``_record._owners``): an Observation without a subject takes its
    DiagnosticReport's; in a Bundle file of one patient, a resource without a subject is the patient's."""
    if _is_bulk(path):
        return
    con.execute(
        "UPDATE v_observation SET patient = (SELECT any_value(d.patient) FROM v_diagnostic_report_result d "
        "WHERE d.observation = v_observation.id AND d.patient IS NOT NULL) "
        "WHERE patient IS NULL AND subject_ref IS NULL"
    )
    if path.is_file():
        owners = " UNION ".join(
            ["SELECT id AS p FROM v_patient"] + [f"SELECT patient FROM {t}" for t in _OWNED]
        )
        ids = con.execute(f"SELECT DISTINCT p FROM ({owners}) WHERE p IS NOT NULL").fetchall()
        if len(ids) == 1:
            for t in _OWNED:
                con.execute(
                    f"UPDATE {t} SET patient = ? WHERE patient IS NULL AND subject_ref IS NULL", [ids[0][0]]
                )


def _obs_sql(lab_codes: list[str], pregnancy_code: str) -> str:
    """One row an Observation: its LOINC codes (the view's ``loinc_codes``, in coding order, empty codes
    dropped), the first of them in the vocabulary (``_observations``: the first LOINC code sleitp knows
    decides the test) and its time (own effective time, else its DiagnosticReport's, else ``issued``).
    The codes come in the Observation's own row, so this is one pass over the Observations, joined only
    with small tables (the DiagnosticReports' results, the vocabulary)."""
    known = "[" + ", ".join(map(_sql_str, lab_codes)) + "]::VARCHAR[]"
    return f"""
CREATE OR REPLACE TABLE obs AS
WITH coded AS (
  SELECT o.* EXCLUDE (loinc_codes),
         coalesce(list_filter(CAST(o.loinc_codes AS VARCHAR[]), lambda c: c IS NOT NULL AND c <> ''), [])
           AS loinc
  FROM so_observation o
),
report_time AS (
  SELECT observation AS id, max(coalesce(nullif(effective_datetime, ''), effective_period_start)) AS t
  FROM so_report_result WHERE observation IS NOT NULL GROUP BY observation
)
SELECT o.* EXCLUDE (loinc), len(o.loinc) AS n_loinc, list_contains(o.loinc, {_sql_str(pregnancy_code)})
         AS pregnancy,
       k.code AS lab_code, k.test, k.annotation,
       coalesce(nullif(o.effective_datetime, ''), nullif(o.effective_instant, ''),
                nullif(o.effective_period_start, ''), nullif(r.t, ''), nullif(o.issued, '')) AS taken_at
FROM coded o
LEFT JOIN k_lab_codes k ON k.code = list_filter(o.loinc, lambda c: list_contains({known}, c))[1]
LEFT JOIN report_time r ON r.id = o.id
"""


# Observations a slice of the lab rows: DuckDB's plan of their joins may hold a slice's rows in memory at
# once (it builds a hash table on whichever side it estimates the smaller, and its estimate after the
# filters is far off): 4.7 M (100k patients) ran out of a 250 MB limit, slices of 100k did not spill.
# Scaled to the default 2,500 MB limit: 5 M a slice (1M patients, 47 M Observations: 10 slices)
OBSERVATIONS_A_SLICE = 5_000_000


def _observations(con: duckdb.DuckDBPyConnection, codes: Codes) -> None:
    """The per-Observation steps: ``obs`` (one row an Observation, with its test), ``obs_qual`` (qualitative
    results), ``pregnancy``, each one pass; then ``lab_rows`` on slices of the Observations by a hash of
    their id (every row of an Observation in one slice: the lab rows join on the id only), appended."""
    for name, table in (
        ("so_observation", "v_observation"),
        ("so_observation_coding", "v_observation_coding"),
        ("so_report_result", "v_diagnostic_report_result"),
    ):
        con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM {table}")
    for sql in (_obs_sql(list(codes.labs), codes.pregnancy_code), _qualitative_sql(), _pregnancy_sql()):
        con.execute(sql)
    n = con.execute("SELECT count(*) FROM obs").fetchone()[0]
    slices = max(1, -(-n // OBSERVATIONS_A_SLICE))
    base, rows = _labs_sql()
    for k in range(slices):
        for name, table in (("slice_obs", "obs"), ("slice_obs_qual", "obs_qual")):
            part = f"hash(id) % {slices} = {k}"
            con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM {table} WHERE {part}")
        con.execute(base)
        into = "CREATE OR REPLACE TABLE lab_rows AS" if k == 0 else "INSERT INTO lab_rows"
        con.execute(f"{into} {rows}")


def _qualitative_sql() -> str:
    """``_observations._qualitative``: value codes, then concept text / displays, then valueString, then
    interpretation codes."""
    return f"""
CREATE OR REPLACE TABLE obs_qual AS
WITH coded AS (
  SELECT c.id, c.part, arg_min(q.result, c.idx) AS result
  FROM so_observation_coding c JOIN k_qualitative q ON q.system = c.system AND q.code = c.code
  WHERE c.part IN ('value', 'interpretation') GROUP BY c.id, c.part
),
texts AS (
  SELECT id, -1 AS idx, concept_text AS text FROM so_observation WHERE concept_text IS NOT NULL
  UNION ALL SELECT id, idx, display FROM so_observation_coding WHERE part = 'value' AND display IS NOT NULL
),
by_text AS (
  SELECT id, arg_min(CASE WHEN regexp_matches(text, {_POS}) THEN 'positive' ELSE 'negative' END, idx)
    AS result
  FROM texts WHERE regexp_matches(text, {_POS}) OR regexp_matches(text, {_NEG}) GROUP BY id
)
SELECT o.id, coalesce(
  v.result, t.result,
  CASE WHEN regexp_matches(o.value_string, {_NEG}) THEN 'negative'
       WHEN regexp_matches(o.value_string, {_POS}) THEN 'positive' END,
  i.result) AS result
FROM so_observation o
LEFT JOIN coded v ON v.id = o.id AND v.part = 'value'
LEFT JOIN coded i ON i.id = o.id AND i.part = 'interpretation'
LEFT JOIN by_text t ON t.id = o.id
-- only the Observations with a qualitative value, value coding, text or interpretation (few of them):
-- the lab rows join this table on the id, and an Observation absent from it has no qualitative result
WHERE v.result IS NOT NULL OR t.result IS NOT NULL OR o.value_string IS NOT NULL OR i.result IS NOT NULL
"""


def _unit_sql(prefix: str) -> str:
    """``_observations._unit``: (unit read, unit text to try if that fails) of a quantity."""
    code, unit, system = f"{prefix}_code", f"{prefix}_unit", f"{prefix}_system"
    ucum = f"(nullif({code}, '') IS NOT NULL AND {system} = {_uri('ucum')})"
    given = (
        f"CASE WHEN {ucum} THEN coalesce((SELECT u.unit FROM k_ucum u WHERE u.ucum = {code}), {code}) "
        f"ELSE coalesce(nullif({unit}, ''), nullif({code}, '')) END"
    )
    fallback = f"CASE WHEN {ucum} THEN {unit} END"
    return given, fallback


def _labs_sql() -> tuple[str, str]:
    given, fallback = _unit_sql("quantity")
    low_unit, _ = _unit_sql("ref_low")
    high_unit, _ = _unit_sql("ref_high")

    def annotated(u: str) -> str:
        return (
            f"CASE WHEN {u} IS NULL OR annotation IS NULL "
            f"OR upper({u}) LIKE '%FEU%' OR upper({u}) LIKE '%DDU%' "
            f"THEN {u} ELSE {u} || ' ' || annotation END"
        )

    def same_unit(q: str) -> str:
        return (
            f"({q} IS NULL OR v.unit IS NULL "
            f"OR lower(replace({q}, ' ', '')) = lower(replace(v.unit, ' ', '')))"
        )

    # an ANA titer given as a ratio 1:N or as the text "1:N" (``_observations``: the titer is N)
    titer = "^\\s*1\\s*:\\s*(\\d+(\\.\\d+)?)\\s*$"
    ana_titer = (
        f"coalesce(s.quantity_value IS NULL AND s.test = 'ana' AND ((s.ratio_numerator = 1 AND "
        f"s.ratio_denominator IS NOT NULL) OR regexp_matches(s.value_string, '{titer}')), false)"
    )
    # the Observations of a test, with what reading them needs: a view, not a CTE, so that each of its
    # three readers streams it (DuckDB keeps a CTE read more than once in memory: 4 GB spilled at 100k)
    return f"""
CREATE OR REPLACE TEMP VIEW lab_base AS
  SELECT o.*, t.canonical_unit, t.lo, t.hi, t.bounds_text, t.qualitative AS test_qualitative, t.unitless,
         q.result AS qual_result, {_day("taken_at")} AS day,
         {annotated(given)} AS unit0, {annotated(fallback)} AS fallback0
  FROM slice_obs o JOIN k_tests t ON t.test = o.test LEFT JOIN slice_obs_qual q ON q.id = o.id
  WHERE o.status IN ('final', 'amended', 'corrected') AND NOT o.pregnancy AND o.test IS NOT NULL
        AND o.taken_at IS NOT NULL AND {_day("o.taken_at")} IS NOT NULL
""", f"""
WITH quantity AS (
  SELECT s.*,
    CASE WHEN s.test = 'ana' AND s.unit0 IS NULL AND s.fallback0 IS NULL THEN 'titer' ELSE s.unit0 END
      AS unit1
  FROM lab_base s WHERE s.quantity_value IS NOT NULL
),
accepted AS (
  SELECT s.*,
    CASE
      WHEN s.canonical_unit IS NULL THEN s.unit1
      WHEN s.unit1 IS NULL AND s.fallback0 IS NULL AND s.unitless THEN NULL
      WHEN s.unit1 IS NOT NULL AND f1.factor IS NOT NULL THEN s.unit1
      WHEN s.fallback0 IS NOT NULL AND f2.factor IS NOT NULL THEN s.fallback0
    END AS unit,
    s.canonical_unit IS NOT NULL AND NOT (s.unit1 IS NULL AND s.fallback0 IS NULL AND s.unitless)
      AND coalesce(f1.factor, f2.factor) IS NULL AS rejected
  -- joins, not scalar subqueries: DuckDB holds every row of a correlated subquery's input in memory
  FROM quantity s
  LEFT JOIN k_factors f1 ON f1.test = s.test AND f1.unit = {_norm_sql("s.unit1")}
  LEFT JOIN k_factors f2 ON f2.test = s.test AND f2.unit = {_norm_sql("s.fallback0")}
),
valued AS (
  SELECT a.*, a.quantity_value AS value FROM accepted a
  UNION ALL BY NAME
  SELECT s.*, 'titer' AS unit, false AS rejected,
    CASE WHEN s.ratio_numerator = 1 AND s.ratio_denominator IS NOT NULL THEN s.ratio_denominator
         ELSE try_cast(regexp_extract(s.value_string, '{titer}', 1) AS DOUBLE)
    END AS value
  FROM lab_base s WHERE {ana_titer}
),
measured AS (
  SELECT v.*,
    CASE WHEN v.canonical_unit IS NULL OR v.unit IS NULL THEN 1.0 ELSE f.factor END AS factor,
    CASE WHEN v.ref_low_value IS NOT NULL AND {same_unit(low_unit)} THEN v.ref_low_value END AS ref_low,
    CASE WHEN v.ref_high_value IS NOT NULL AND {same_unit(high_unit)} THEN v.ref_high_value END AS ref_high
  FROM valued v LEFT JOIN k_factors f ON f.test = v.test AND f.unit = {_norm_sql("v.unit")}
),
results AS (
  -- a measured result of a test with a canonical unit: converted; of a qualitative test: read against
  -- the laboratory's upper limit (the record's rule), or its interpretation when there is none; with both,
  -- the laboratory's interpretation (_observations.map_observation: [FHIR-R4] high is inclusive)
  SELECT m.*,
    CASE
      WHEN m.rejected THEN CASE WHEN m.unit1 IS NULL AND m.fallback0 IS NULL
          THEN 'Observation: ' || m.test || ' value without a unit'
          ELSE 'Observation: unit ''' || coalesce(m.unit1, m.fallback0) || ''' not accepted for '
               || m.test END
      WHEN m.canonical_unit IS NULL AND m.ref_high IS NULL AND m.qual_result IS NULL THEN
        'Observation: measured ' || m.test || ' without the laboratory''s upper limit '
        || '(referenceRange.high) or an interpretation'
      WHEN m.canonical_unit IS NOT NULL AND m.lo IS NOT NULL
           AND NOT (m.value * m.factor BETWEEN m.lo AND m.hi) THEN
        'Observation: ' || m.test || ' value outside the plausible range (' || m.bounds_text || ')'
    END AS why
  FROM measured m
),
qualitative AS (
  SELECT s.*,
    CASE
      WHEN s.qual_result IS NULL AND (s.has_value OR s.has_interpretation) THEN
        'Observation: ' || s.test || ' value not readable (expected a quantity or positive/negative)'
      WHEN s.qual_result IS NULL THEN 'Observation: no value'
      WHEN NOT s.test_qualitative THEN
        'Observation: ' || s.test || ' is a measured test but only a qualitative result is given'
    END AS why
  FROM lab_base s WHERE s.quantity_value IS NULL AND NOT {ana_titer}
)
SELECT id, patient, day AS date, test, taken_at, why,
  CASE WHEN canonical_unit IS NULL AND ref_high IS NULL THEN NULL
       WHEN canonical_unit IS NULL THEN value ELSE value * factor END AS value,
  CASE WHEN canonical_unit IS NULL THEN NULL ELSE canonical_unit END AS unit,
  CASE WHEN canonical_unit IS NULL AND ref_high IS NULL THEN qual_result
       WHEN canonical_unit IS NULL THEN coalesce(qual_result,
         CASE WHEN value > ref_high THEN 'positive' ELSE 'negative' END)
  END AS result,
  CASE WHEN canonical_unit IS NULL AND ref_high IS NULL THEN NULL ELSE ref_low * factor END AS reference_low,
  CASE WHEN canonical_unit IS NULL AND ref_high IS NULL THEN NULL ELSE ref_high * factor END
    AS reference_high,
  canonical_unit IS NOT NULL AS grouped
FROM results
UNION ALL
SELECT id, patient, day, test, taken_at, why, NULL, NULL, qual_result, NULL, NULL, false FROM qualitative
"""


def _observation_reasons_sql() -> str:
    """Observations that never reach a lab row, with the reason of ``_observations.map_observation``."""
    return f"""
SELECT CASE
  WHEN status IN ('entered-in-error', 'cancelled') THEN 'Observation: status ''' || status || ''' (ignored)'
  WHEN status IS NULL OR status NOT IN ('final', 'amended', 'corrected') THEN
    'Observation: status ''' || coalesce(status, 'None') || ''' is not a final result'
  WHEN pregnancy THEN NULL
  WHEN test IS NULL AND has_member AND NOT has_value THEN
    'Observation: panel (its member results are mapped one by one)'
  WHEN test IS NULL AND n_loinc = 0 THEN 'Observation: no LOINC code'
  WHEN test IS NULL THEN 'Observation: LOINC code not in the sleitp vocabulary'
  WHEN taken_at IS NULL THEN 'Observation: no effective time'
  WHEN {_day("taken_at")} IS NULL AND {_partial("taken_at")} THEN
    'Observation: effective time is a partial date (year or month only)'
  WHEN {_day("taken_at")} IS NULL THEN 'Observation: effective time is not a date'
END AS why, count(*) AS n
FROM obs WHERE patient IS NOT NULL GROUP BY why
"""


def _pregnancy_sql() -> str:
    return f"""
CREATE OR REPLACE TABLE pregnancy AS
WITH answers AS (
  SELECT c.id, arg_min(p.pregnant, c.idx) AS pregnant
  FROM so_observation_coding c JOIN k_pregnancy p ON p.system = c.system AND p.code = c.code
  WHERE c.part = 'value' GROUP BY c.id
)
SELECT o.id, o.patient, a.pregnant, {_day("o.taken_at")} AS day, {_instant("o.taken_at")} AS instant,
  CASE WHEN a.pregnant IS NULL THEN 'Observation: pregnancy status answer not in the sleitp vocabulary'
       WHEN o.taken_at IS NULL OR {_day("o.taken_at")} IS NULL
         THEN 'Observation: pregnancy status without a usable date'
  END AS why
FROM obs o LEFT JOIN answers a ON a.id = o.id
WHERE o.pregnancy AND o.status IN ('final', 'amended', 'corrected') AND o.patient IS NOT NULL
"""


def _conditions_sql() -> str:
    icd = f"c.system IN ({_uri('icd10cm')}, {_uri('icd10')})"
    code = f"CASE WHEN {icd} THEN upper(trim(replace(c.code, '.', ''))) ELSE trim(c.code) END"
    return f"""
CREATE OR REPLACE TABLE cond AS
WITH coding AS (
  SELECT c.id, c.system, {code} AS code FROM v_condition c WHERE c.system IS NOT NULL AND c.code IS NOT NULL
    AND c.code <> '' AND c.system <> ''
),
exact AS (
  SELECT DISTINCT c.id, c.system, c.code, k.concept FROM coding c
  JOIN k_conditions k ON NOT k.prefix AND k.system = c.system AND k.code = c.code
),
prefixed AS (
  SELECT c.id, c.system, c.code, k.concept, k.rank FROM coding c
  JOIN k_conditions k ON k.prefix AND k.system = c.system AND starts_with(c.code, k.code)
  WHERE NOT EXISTS (SELECT 1 FROM exact e WHERE e.id = c.id AND e.system = c.system AND e.code = c.code)
),
first_prefix AS (
  SELECT p.id, p.concept FROM prefixed p
  WHERE p.rank = (SELECT min(q.rank) FROM prefixed q
                  WHERE q.id = p.id AND q.system = p.system AND q.code = p.code)
),
concepts AS (
  SELECT id, list(DISTINCT concept) AS concepts FROM
    (SELECT id, concept FROM exact UNION ALL SELECT id, concept FROM first_prefix) GROUP BY id
),
res AS (
  SELECT id, any_value(patient) AS patient, any_value(verification) AS verification,
    any_value(coalesce(nullif(onset_datetime, ''), onset_period_start)) AS onset,
    any_value(recorded_date) AS recorded
  FROM v_condition GROUP BY id
)
SELECT r.id, r.patient, coalesce(c.concepts, []) AS concepts,
  coalesce({_day("r.onset")}, {_day("r.recorded")}) AS day,
  CASE
    WHEN r.verification IN ('refuted', 'entered-in-error') THEN
      'Condition: verificationStatus ''' || r.verification || ''' (ignored)'
    WHEN r.verification IN ('unconfirmed', 'provisional', 'differential') THEN
      'Condition: verificationStatus ''' || r.verification || ''' (not a confirmed diagnosis)'
    WHEN c.concepts IS NULL THEN 'Condition: code not in the sleitp vocabulary'
    WHEN c.concepts = ['lupus_erythematosus'] THEN
      'Condition: SNOMED 200936003 ''Lupus erythematosus'' is broader than SLE (55464009); not taken as SLE'
    WHEN c.concepts = ['drug_induced_lupus'] THEN
      'Condition: drug-induced lupus (ICD-10-CM M32.0) is not counted as SLE'
    WHEN c.concepts = ['autoimmune_hemolysis']
         AND coalesce({_day("r.onset")}, {_day("r.recorded")}) IS NULL THEN {_sql_str(AIHA_WITHOUT_DATE)}
  END AS why
FROM res r LEFT JOIN concepts c ON c.id = r.id
WHERE r.patient IS NOT NULL
"""


_PROCEDURES_SQL = f"""
CREATE OR REPLACE TABLE proc AS
SELECT p.id, p.patient, {_day("coalesce(nullif(p.performed_datetime, ''), p.performed_period_start)")} AS day,
  CASE
    WHEN NOT EXISTS (SELECT 1 FROM k_procedures k, unnest(coalesce(p.texts, [])) AS t(x)
                     WHERE k.concept = 'splenectomy' AND regexp_matches(t.x, k.pattern))
      THEN 'Procedure: not a procedure sleitp uses'
    WHEN p.status IS DISTINCT FROM 'completed' THEN
      'Procedure: status ''' || coalesce(p.status, 'None') || ''' (not a completed procedure)'
  END AS why
FROM v_procedure p WHERE p.patient IS NOT NULL
"""


def _encounters_sql(latest: date) -> str:
    """``sleitp.fhir._encounters``: each Encounter's contact day, or why it is not a contact."""
    day = (f"CASE WHEN e.status = 'finished' THEN coalesce({_day('e.period_end')}, {_day('e.period_start')}) "
           f"ELSE {_day('e.period_start')} END")
    statuses = ", ".join(map(_sql_str, _enc.CONTACT_STATUSES))
    classes = ", ".join(map(_sql_str, _enc.IN_PERSON_CLASSES))
    act = f"e.class_system IS NOT DISTINCT FROM {_sql_str(_enc.ACT_CODE)}"
    shown = (f"CASE WHEN {act} THEN '''' || coalesce(e.class_code, 'None') || '''' "
             f"ELSE {_sql_str(_enc.OTHER_SYSTEM)} END")
    return f"""
CREATE OR REPLACE TABLE enc AS
SELECT e.id, e.patient, {day} AS day,
  CASE
    WHEN e.status IS NULL OR e.status NOT IN ({statuses})
      THEN replace({_sql_str(_enc.NOT_A_CONTACT)}, '{{}}', coalesce(e.status, 'None'))
    WHEN NOT ({act} AND e.class_code IN ({classes}))
      THEN replace({_sql_str(_enc.NOT_IN_PERSON)}, '{{}}', {shown})
    WHEN {day} IS NULL THEN {_sql_str(_enc.NO_DATE)}
    WHEN {day} > DATE '{latest.isoformat()}' THEN {_sql_str(_enc.IN_THE_FUTURE)}
  END AS why
FROM v_encounter e WHERE e.patient IS NOT NULL
"""


def _duplicates_sql() -> tuple[str, str]:
    """``_record._resolve_duplicates``: one measured result per test and instant, the lower value kept. Only
    the (patient, test, instant) groups of more than one result are ranked (a window over every result
    sorted them all: 3 s of 4 M rows at 100k patients); ``lab_ok`` is a view, each reader streams it."""
    same = " AND ".join(f"d.{c} IS NOT DISTINCT FROM o.{c}" for c in ("patient", "test", "instant"))
    kept = "patient date test value unit result reference_low reference_high instant".split()
    cols = ", ".join(f"o.{c}" for c in kept)
    return (
        f"CREATE OR REPLACE TEMP VIEW lab_ok AS "
        f"SELECT *, {_instant('taken_at')} AS instant FROM lab_rows WHERE why IS NULL",
        f"""
CREATE OR REPLACE TABLE labs_kept AS
WITH dup AS (
  SELECT patient, test, instant FROM lab_ok WHERE grouped GROUP BY ALL HAVING count(*) > 1
),
ranked AS (
  SELECT o.*, row_number() OVER (PARTITION BY o.patient, o.test, o.instant ORDER BY o.value, o.id) AS k,
         min(o.value) OVER (PARTITION BY o.patient, o.test, o.instant) AS lowest
  FROM lab_ok o SEMI JOIN dup d ON {same} WHERE o.grouped
)
SELECT {cols}, NULL AS why FROM lab_ok o WHERE NOT o.grouped
UNION ALL
SELECT {cols}, NULL FROM lab_ok o ANTI JOIN dup d ON {same} WHERE o.grouped
UNION ALL
SELECT {cols},
  CASE WHEN o.k > 1 THEN 'Observation: duplicate ' || o.test || ' result at the same instant ('
    || CASE WHEN o.value = o.lowest THEN 'same value' ELSE 'different value; the lower value is kept' END
    || ')'
  END FROM ranked o
""",
    )


def _patients_sql() -> str:
    flags = ", ".join(f"coalesce(h.{f}, false) AS history_{f}" for f in HISTORY_FLAGS)
    # the flags the mapping sets: conditions (lupus nephritis, APS) and the splenectomy procedure
    source = {
        "splenectomy": "s.splenectomy",
        "lupus_nephritis": "d.lupus_nephritis",
        "antiphospholipid_syndrome": "d.antiphospholipid_syndrome",
    }
    history = ", ".join(f"{source.get(f, 'NULL::BOOLEAN')} AS {f}" for f in HISTORY_FLAGS)
    return f"""
CREATE OR REPLACE TABLE patients_out AS
WITH owners AS (
  {
        " UNION ".join(
            ["SELECT patient FROM v_diagnostic_report_result"] + [f"SELECT patient FROM {t}" for t in _OWNED]
        )
    }
),
pats AS (  -- a Patient resource, or a patient that resources name (as the per-resource mapping)
  SELECT coalesce(p.id, o.patient) AS patient_id, any_value(p.gender) AS gender,
         any_value(p.birth_date) AS birth_date
  FROM (SELECT * FROM v_patient WHERE id IS NOT NULL) p
  FULL OUTER JOIN (SELECT DISTINCT patient FROM owners WHERE patient IS NOT NULL) o ON o.patient = p.id
  GROUP BY coalesce(p.id, o.patient)
),
cond_ok AS (SELECT * FROM cond WHERE why IS NULL),
dx AS (
  SELECT patient,
    min(CASE WHEN list_contains(concepts, 'sle') THEN day END) AS sle,
    min(CASE WHEN list_contains(concepts, 'itp') THEN day END) AS itp,
    min(CASE WHEN list_contains(concepts, 'secondary_thrombocytopenia') THEN day END) AS secondary,
    bool_or(list_contains(concepts, 'sle')) AS sle_coded,
    bool_or(list_contains(concepts, 'lupus_nephritis')) AS lupus_nephritis,
    bool_or(list_contains(concepts, 'antiphospholipid_syndrome')) AS antiphospholipid_syndrome
  FROM cond_ok GROUP BY patient
),
spleen AS (SELECT patient, true AS splenectomy FROM proc WHERE why IS NULL GROUP BY patient),
h AS (
  SELECT p.patient_id, {history}
  FROM pats p LEFT JOIN dx d ON d.patient = p.patient_id LEFT JOIN spleen s ON s.patient = p.patient_id
),
preg AS (
  SELECT patient, arg_max(pregnant, instant) AS pregnant FROM pregnancy WHERE why IS NULL GROUP BY patient
),
dates AS (
  SELECT patient, max(d) AS d FROM (
    SELECT patient, date AS d FROM labs_out
    UNION ALL SELECT patient_id, date FROM manifestations_out
    UNION ALL SELECT patient_id, start FROM treatments_out
    UNION ALL SELECT patient_id, "end" FROM treatments_out
  ) GROUP BY patient
),
contact AS (SELECT patient, max(day) AS d FROM enc WHERE why IS NULL GROUP BY patient)
SELECT p.patient_id,
  CASE WHEN p.gender IN ('female', 'male', 'other', 'unknown') THEN p.gender ELSE 'unknown' END AS sex,
  {_day("p.birth_date")} AS birth_date, NULL::DOUBLE AS age_years, g.pregnant, NULL::DOUBLE AS weight_kg,
  d.sle AS sle_diagnosis_date,
  CASE WHEN d.sle_coded THEN least(d.itp, d.secondary) ELSE d.itp END AS itp_diagnosis_date,
  -- the last in-person contact, when later than every other date (sleitp.fhir._record._assessment_date)
  greatest(d.sle, CASE WHEN d.sle_coded THEN least(d.itp, d.secondary) ELSE d.itp END, t.d, c.d)
    AS assessment_date,
  {flags}
FROM pats p LEFT JOIN dx d ON d.patient = p.patient_id LEFT JOIN h ON h.patient_id = p.patient_id
LEFT JOIN preg g ON g.patient = p.patient_id LEFT JOIN dates t ON t.patient = p.patient_id
LEFT JOIN contact c ON c.patient = p.patient_id
"""


# -- medications ----------------------------------------------------------------------------------------
_ORDER_TYPES = {  # resource type -> (view, coding view, statuses used, what an unused status means)
    "MedicationRequest": ("medication_request", _med.REQUEST_USED, "not a treatment given"),
    "MedicationStatement": ("medication_statement", _med.STATEMENT_USED, "not a treatment taken"),
    "MedicationAdministration": ("medication_administration", _med.ADMIN_USED, "not given"),
}


def _register_medication_lookups(con: duckdb.DuckDBPyConnection) -> None:
    """codes.yaml's medication codes and the dose / frequency rules of ``sleitp.fhir._medications``."""
    codes = load_codes()
    s = pa.string()
    _register(
        con,
        "k_medications",
        [
            {"system": k[0], "code": k[1], "agent": m.agent, "strength_mg": m.strength_mg}
            for k, m in codes.medications.items()
        ],
        pa.schema([("system", s), ("code", s), ("agent", s), ("strength_mg", pa.float64())]),
    )
    _register(
        con,
        "k_non_agents",
        [{"system": k[0], "code": k[1]} for k in codes.non_agents],
        pa.schema([("system", s), ("code", s)]),
    )
    _register_mapping(con, "k_mass", _med._MASS_MG, "unit", "mg", pa.float64())
    _register_mapping(con, "k_per_kg", _med._PER_KG, "unit", "dose_unit", s)
    _register_mapping(con, "k_timing_codes", _med._TIMING_CODES, "code", "frequency", s)
    _register_mapping(con, "k_duration_days", _parse._DURATION_DAYS, "unit", "days", pa.float64())


def _register_named(con: duckdb.DuckDBPyConnection) -> None:
    codes = load_codes()
    s = pa.string()
    # the display-name rule of codes.yaml (whole words, a name inside a longer one of another agent does
    # not count) is ``agents_named_in`` itself, run once per distinct text (not per resource)
    texts = con.execute(
        "SELECT DISTINCT t FROM (SELECT text AS t FROM med_concepts "
        "UNION ALL SELECT display FROM med_concepts) "
        "WHERE t IS NOT NULL"
    ).fetchall()
    _register(
        con,
        "k_named",
        [{"text": t, "agent": a} for (t,) in texts for a in sorted(agents_named_in(t, codes))],
        pa.schema([("text", s), ("agent", s)]),
    )


def _tablet() -> str:
    return "'(?i)" + _med._TABLET.pattern + "'"


def _medication_concepts_sql() -> str:
    """The concepts naming each order's medication: its medicationCodeableConcept, or the code and
    ingredients of the Medication it references (resolved by id, as the bulk mapping does)."""
    parts = []
    for rtype, (name, _used, _means) in _ORDER_TYPES.items():
        parts.append(
            f"SELECT '{rtype}' AS rtype, c.id, 0 AS concept_index, c.text, c.system, c.code, c.display, "
            f"NULL::DOUBLE AS strength_mg FROM v_{name}_coding c "
            f"WHERE c.id IN (SELECT id FROM v_{name} WHERE has_concept)"
        )
        parts.append(
            f"SELECT DISTINCT '{rtype}', o.id, m.concept_index, m.text, m.system, m.code, m.display, "
            f"CASE WHEN lower(coalesce(nullif(m.strength_code, ''), m.strength_unit, '')) "
            f"IN (SELECT unit FROM k_mass) "
            f"AND m.strength_value IS NOT NULL "
            f"AND regexp_matches(coalesce(nullif(m.per_code, ''), m.per_unit, ''), "
            f"{_tablet()}) AND coalesce(m.per_value, 0) <> 0 THEN m.strength_value * (SELECT mg FROM k_mass "
            f"WHERE unit = lower(coalesce(nullif(m.strength_code, ''), m.strength_unit))) / m.per_value END "
            f"FROM v_{name} o JOIN v_medication m ON m.id = o.medication_key "
            f"WHERE NOT coalesce(o.has_concept, false)"
            f" AND NOT starts_with(o.medication_reference, '#')"
        )
        parts.append(
            parts[-1]
            .replace(
                "JOIN v_medication m ON m.id = o.medication_key",
                (
                    f"JOIN v_{name}_contained m ON m.id = o.id "
                    f"AND '#' || m.contained_id = o.medication_reference"
                ),
            )
            .replace("AND NOT starts_with(o.medication_reference, '#')", "")
        )
    return "CREATE OR REPLACE TABLE med_concepts AS " + " UNION ALL ".join(parts)


def _orders_sql() -> str:
    """One row a dosage step of every order, with its agent (``_medications.identify``), start and end."""
    rows = []
    for rtype, (name, used, means) in _ORDER_TYPES.items():
        used_sql = ", ".join(_sql_str(x) for x in used)
        if rtype == "MedicationRequest":
            extra = (
                "o.intent, o.authored_on, o.supply_value, "
                "coalesce(nullif(o.supply_code, ''), o.supply_unit) AS supply_unit, "
                "NULL AS eff_start, NULL AS eff_end, NULL AS date_asserted"
            )
            dosage = "o.* EXCLUDE (intent, authored_on, supply_value, supply_unit)"
        elif rtype == "MedicationStatement":
            extra = (
                "NULL AS intent, NULL AS authored_on, NULL::DOUBLE AS supply_value, NULL AS supply_unit, "
                "coalesce(nullif(o.effective_datetime, ''), o.effective_period_start) AS eff_start, "
                "o.effective_period_end AS eff_end, o.date_asserted"
            )
            dosage = "o.* EXCLUDE (date_asserted)"
        else:
            extra = (
                "NULL AS intent, NULL AS authored_on, NULL::DOUBLE AS supply_value, NULL AS supply_unit, "
                "coalesce(nullif(o.effective_datetime, ''), o.effective_period_start) AS eff_start, "
                "o.effective_period_end AS eff_end, NULL AS date_asserted"
            )
            dosage = "o.*, 0 AS dosage_index"
        rows.append(
            f"SELECT '{rtype}' AS rtype, {dosage}, {extra}, o.status IN ({used_sql}) AS status_used, "
            f"'{rtype}: status ''' || coalesce(o.status, 'None') || ''' ({means})' AS status_why"
            f" FROM v_{name} o"
        )
    steps = " UNION ALL BY NAME ".join(rows)
    dur = "(SELECT days FROM k_duration_days WHERE unit = lower(trim({u})))"
    return f"""
CREATE OR REPLACE TABLE med_steps AS
WITH steps AS ({steps}),
coded AS (
  SELECT c.rtype, c.id, list(DISTINCT k.agent) AS agents,
         arg_min(k.strength_mg, c.concept_index) FILTER (WHERE k.strength_mg IS NOT NULL) AS product_strength
  FROM med_concepts c JOIN k_medications k ON k.system = c.system AND k.code = c.code GROUP BY c.rtype, c.id
),
non_agent AS (
  SELECT DISTINCT c.rtype, c.id FROM med_concepts c JOIN k_non_agents k
    ON k.system = c.system AND k.code = c.code
),
named AS (
  SELECT c.rtype, c.id, list(DISTINCT n.agent) AS agents FROM med_concepts c
  JOIN k_named n ON n.text = c.text OR n.text = c.display GROUP BY c.rtype, c.id
),
ingredient AS (
  SELECT rtype, id, arg_min(strength_mg, concept_index) AS strength FROM med_concepts
  WHERE strength_mg IS NOT NULL GROUP BY rtype, id
),
identified AS (
  SELECT s.*,
    EXISTS (SELECT 1 FROM med_concepts m WHERE m.rtype = s.rtype AND m.id = s.id) AS resolved,
    CASE WHEN len(coalesce(c.agents, [])) = 1 THEN c.agents[1]
         WHEN c.agents IS NULL AND n.rtype IS NULL AND len(coalesce(t.agents, [])) = 1
           THEN t.agents[1] END AS agent,
    coalesce(i.strength, CASE WHEN c.agents IS NOT NULL THEN c.product_strength END) AS strength,
    CASE WHEN len(coalesce(c.agents, [])) > 1 THEN 'medication codes name several agents'
         WHEN c.agents IS NOT NULL THEN NULL
         WHEN n.rtype IS NOT NULL THEN 'medication not an ITP/SLE agent'
         WHEN len(coalesce(t.agents, [])) > 1 THEN 'medication text names several agents'
         WHEN len(coalesce(t.agents, [])) = 1 THEN NULL
         ELSE 'medication not an ITP/SLE agent' END AS agent_why
  FROM steps s
  LEFT JOIN coded c ON c.rtype = s.rtype AND c.id = s.id
  LEFT JOIN non_agent n ON n.rtype = s.rtype AND n.id = s.id
  LEFT JOIN named t ON t.rtype = s.rtype AND t.id = s.id
  LEFT JOIN ingredient i ON i.rtype = s.rtype AND i.id = s.id
),
dated AS (
  SELECT s.*,
    CASE s.rtype
      WHEN 'MedicationRequest' THEN coalesce({_day("s.bounds_start")}, {_day("s.authored_on")})
      WHEN 'MedicationStatement' THEN coalesce({_day("s.bounds_start")}, {_day("s.eff_start")},
                                                {_day("s.date_asserted")})
      ELSE {_day("s.eff_start")} END AS start,
    {_day("s.bounds_end")} AS bounds_end_day,
    s.bounds_duration_value
      * {dur.format(u="coalesce(nullif(s.bounds_duration_code, ''), s.bounds_duration_unit)")}
      AS bounded,
    s.supply_value * {dur.format(u="s.supply_unit")} AS supply
  FROM identified s
),
ended AS (
  SELECT d.*,
    CASE d.rtype
      WHEN 'MedicationRequest' THEN coalesce(d.bounds_end_day,
        CASE WHEN coalesce(d.bounded, 0) <> 0 THEN d.start + CAST(floor(d.bounded - 1) AS INTEGER) END,
        CASE WHEN d.status IN ('completed', 'stopped') AND coalesce(d.supply, 0) <> 0
             THEN d.start + CAST(floor(d.supply - 1) AS INTEGER) END)
      WHEN 'MedicationStatement' THEN coalesce(d.bounds_end_day, {_day("d.eff_end")})
      ELSE coalesce({_day("d.eff_end")}, d.start) END AS "end"
  FROM dated d
),
dosed AS (
  SELECT e.*,
    coalesce(CASE WHEN e.rtype = 'MedicationAdministration' OR NOT e.has_dose_and_rate OR NOT e.dose_range
                  THEN e.dose_quantity_value END, NULL) AS dose_value,
    trim(coalesce(nullif(e.dose_quantity_code, ''), e.dose_quantity_unit, '')) AS dose_unit_given
  FROM ended e
)
SELECT d.*,
  CASE WHEN d.dose_value IS NULL THEN NULL
       WHEN lower(d.dose_unit_given) IN (SELECT unit FROM k_mass)
         THEN d.dose_value * (SELECT mg FROM k_mass WHERE unit = lower(d.dose_unit_given))
       WHEN lower(d.dose_unit_given) IN (SELECT unit FROM k_per_kg) THEN d.dose_value
       WHEN regexp_matches(d.dose_unit_given, {_tablet()}) AND d.strength IS NOT NULL
         THEN d.dose_value * d.strength
  END AS dose,
  CASE WHEN d.dose_value IS NULL THEN NULL
       WHEN lower(d.dose_unit_given) IN (SELECT unit FROM k_mass) THEN 'mg'
       WHEN lower(d.dose_unit_given) IN (SELECT unit FROM k_per_kg)
         THEN (SELECT dose_unit FROM k_per_kg WHERE unit = lower(d.dose_unit_given))
       WHEN regexp_matches(d.dose_unit_given, {_tablet()}) AND d.strength IS NOT NULL THEN 'mg'
  END AS dose_unit,
  CASE WHEN d.rtype = 'MedicationAdministration' THEN 'once'
       WHEN d.repeat_count = 1 THEN 'once'
       WHEN d.repeat_frequency IS NOT NULL OR d.repeat_period IS NOT NULL THEN
         CASE WHEN d.repeat_period_unit = 'd' AND coalesce(d.repeat_period::DOUBLE, 1) = 1
                   AND coalesce(d.repeat_frequency::DOUBLE, 1) IN (1, 2, 3, 4)
                THEN ['daily', 'bid', 'tid', 'qid'][CAST(coalesce(d.repeat_frequency::DOUBLE, 1) AS INTEGER)]
              WHEN d.repeat_period_unit = 'wk' AND coalesce(d.repeat_period::DOUBLE, 1) = 1
                   AND coalesce(d.repeat_frequency::DOUBLE, 1) = 1 THEN 'weekly'
              WHEN d.repeat_period_unit = 'd' AND coalesce(d.repeat_period::DOUBLE, 1) = 7
                   AND coalesce(d.repeat_frequency::DOUBLE, 1) = 1 THEN 'weekly'
              ELSE coalesce(d.repeat_frequency::VARCHAR, '1')
                   || ' per ' || coalesce(d.repeat_period::VARCHAR, '1')
                   || ' ' || coalesce(d.repeat_period_unit, 'None') END
       ELSE (SELECT frequency FROM k_timing_codes WHERE code = upper(d.timing_code)) END AS frequency,
  nullif(lower(trim(coalesce(nullif(d.route_text, ''), d.route_display))), '') AS route
FROM dosed d
"""


_END_BEFORE_START = _med._course_problem({"agent": "prednisone", "start": "2000-01-02", "end": "2000-01-01"})


def _treatment_reasons_sql() -> str:
    """Per order: the reason it is not mapped (``_status_used``, intent, ``identify``, ``_finish``)."""
    no_start = (
        "CASE rtype WHEN 'MedicationRequest' THEN 'no start date (no boundsPeriod.start, no authoredOn)' "
        "WHEN 'MedicationStatement' THEN 'no start date (no effective time, no dateAsserted)' END"
    )
    return f"""
CREATE OR REPLACE TABLE med_orders AS
WITH steps AS (
  SELECT *, CASE WHEN start IS NULL THEN {no_start}
                 WHEN "end" IS NOT NULL AND "end" < start
                   THEN {_sql_str(_END_BEFORE_START or "")} END AS step_why
  FROM med_steps WHERE patient IS NOT NULL
)
SELECT rtype, id, any_value(patient) AS patient,
  CASE
    WHEN NOT bool_and(status_used) THEN any_value(status_why)
    WHEN any_value(rtype) = 'MedicationRequest' AND (any_value(intent) IS NULL OR any_value(intent) NOT IN
         ({", ".join(_sql_str(x) for x in _med.REQUEST_ORDER_INTENTS)}))
      THEN 'MedicationRequest: intent ''' || coalesce(any_value(intent), 'None') || ''' (not an order)'
    WHEN NOT bool_and(resolved) THEN rtype || ': medication reference cannot be resolved in the Bundle'
    WHEN any_value(agent_why) IS NOT NULL THEN rtype || ': ' || any_value(agent_why)
    WHEN rtype = 'MedicationAdministration' AND bool_and(start IS NULL) THEN
      'MedicationAdministration: no effective time'
    WHEN bool_and(step_why IS NOT NULL) THEN rtype || ': ' || arg_min(step_why, dosage_index)
  END AS why
FROM steps GROUP BY rtype, id
"""


def _connect(database: Path | None = None) -> duckdb.DuckDBPyConnection:
    """Bounded memory, spilling to a folder of its own past it (the views' rows of a large export do not
    fit in memory: 9.3 GB at 100k patients unbounded). Rows on the way need no order: each output table
    comes in a total order (``_total_order``), so keeping the views' rows in the files' order only cost
    time (the Observation view at 100k: 73 s kept, 43 s not). With ``database`` (a file) the views' and the
    mapping's tables are stored in it, compressed, rather than spilled raw: at 1M patients the raw spill
    outgrew 34 GB of disk."""
    scratch = Path(tempfile.gettempdir()) / f"sleitp-fhir-views-{os.getpid()}"
    config = duckdb_config(temp_directory=str(scratch))
    return duckdb.connect(str(database or ":memory:"), config=config | {"preserve_insertion_order": False})


def _mapped(path: Path, unmapped: Unmapped, use: Callable[[duckdb.DuckDBPyConnection, dict[str, str]], None],
            database: Path | None = None) -> None:
    """Run the views and the mapping on ``path``; ``use(con, queries)`` takes the five tables' queries
    (columns of ``table_schema``, in row order) while the connection is open. ``database``: a file for the
    tables on the way (removed at the end), else memory."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".ndjson":
        raise SourceError(f"{path}: give the folder of the bulk export, not one NDJSON file")
    con = _connect(database)
    try:
        use(con, _read(con, path, unmapped))
    except duckdb.Error as e:
        raise SourceError(f"{path}: the FHIR views could not be run ({str(e).splitlines()[0]})") from None
    finally:
        con.close()
        if database is not None:
            for f in (database, database.with_name(database.name + ".wal")):
                f.unlink(missing_ok=True)


def read_fhir_views(path: Path, unmapped: Unmapped) -> dict[str, pa.Table]:
    """A FHIR source (bulk-export NDJSON folder, Bundle, folder of Bundles) -> the five tables as Arrow,
    through the package's ViewDefinitions; unmapped resources counted per reason in ``unmapped``."""
    out: dict[str, pa.Table] = {}

    def fetch(con: duckdb.DuckDBPyConnection, queries: dict[str, str]) -> None:
        for name, query in queries.items():
            schema = table_schema(name)
            out[name] = con.sql(query).to_arrow_table().select(schema.names).cast(schema)

    _mapped(path, unmapped, fetch)
    return out


def fhir_views_to_parquet(path: Path, out: Path, unmapped: Unmapped) -> Path:
    """``read_fhir_views`` written as ``out/NAME.parquet`` (the layout ``sleitp synth`` writes), streamed by
    DuckDB: no table is held in Python, so a large export is mapped within the memory limit."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    def write(con: duckdb.DuckDBPyConnection, queries: dict[str, str]) -> None:
        con.execute("SET preserve_insertion_order = true")  # COPY keeps each query's ORDER BY
        for name, query in queries.items():
            cols = sql_columns(name)
            target = _sql_str(str(out / f"{name}.parquet"))
            con.execute(f"COPY (SELECT {cols} FROM ({query})) TO {target} (FORMAT parquet)")

    _mapped(path, unmapped, write, database=out / "views.duckdb")
    return out


def _read(con: duckdb.DuckDBPyConnection, path: Path, unmapped: Unmapped) -> dict[str, str]:
    codes = load_codes()
    _register_lookups(con)
    _run_views(con, path)
    _assign_owners(con, path)
    _observations(con, codes)
    con.execute(_conditions_sql())
    con.execute(_PROCEDURES_SQL)
    con.execute(_encounters_sql(_enc.latest_possible_day(export_day(path) if _is_bulk(path) else None)))
    for sql in _duplicates_sql():
        con.execute(sql)
    con.execute("CREATE TABLE labs_out AS SELECT * FROM labs_kept WHERE why IS NULL")
    # the manifestations a Condition code gives (_conditions.map_condition), each on its onset date
    con.execute(
        "CREATE TABLE manifestations_out AS SELECT patient AS patient_id, day AS date, "
        "unnest(list_intersect(concepts, ['lupus_nephritis', 'autoimmune_hemolysis'])) AS name, "
        "NULL::VARCHAR AS nephritis_class FROM cond WHERE why IS NULL AND day IS NOT NULL"
    )
    con.execute(
        "CREATE TABLE v_medication_ids AS SELECT DISTINCT id FROM v_medication WHERE id IS NOT NULL"
    )
    _register_medication_lookups(con)
    con.execute(_medication_concepts_sql())
    _register_named(con)
    con.execute(_orders_sql())
    con.execute(_treatment_reasons_sql())
    con.execute(
        "CREATE TABLE treatments_out AS SELECT patient AS patient_id, 'splenectomy' AS agent, "
        "day AS start, "
        "day AS \"end\", NULL::DOUBLE AS dose, NULL::VARCHAR AS dose_unit, 'once' AS frequency, "
        "NULL::VARCHAR AS route, NULL::VARCHAR AS indication FROM proc WHERE why IS NULL AND day IS NOT NULL "
        'UNION ALL SELECT s.patient, s.agent, s.start, s."end", s.dose, s.dose_unit, s.frequency, s.route, '
        "NULL FROM med_steps s JOIN med_orders o ON o.rtype = s.rtype AND o.id = s.id "
        'WHERE o.why IS NULL AND s.start IS NOT NULL AND NOT (s."end" IS NOT NULL AND s."end" < s.start)'
    )
    con.execute(_patients_sql())

    # -- the unmapped report: the reasons of the per-resource mapping, with its "FHIR " prefix ---------
    bulk = _is_bulk(path)
    counts: list[tuple[str | None, int]] = []
    counts += con.execute(_observation_reasons_sql()).fetchall()
    for table in ("lab_rows", "labs_kept", "pregnancy", "cond", "proc", "enc", "med_orders"):
        counts += con.execute(f"SELECT why, count(*) FROM {table} GROUP BY why").fetchall()
    for why, n in counts:
        if why is not None:
            unmapped.add(f"FHIR {why}", int(n))
    for rtype, table in (
        ("Observation", "v_observation"),
        ("Condition", "v_condition"),
        ("Procedure", "v_procedure"),
        ("Encounter", "v_encounter"),
        *((t, f"v_{v[0]}") for t, v in _ORDER_TYPES.items()),
    ):
        q = f"SELECT count(DISTINCT id) FROM {table} WHERE patient IS NULL AND subject_ref IS NULL"
        unmapped.add(f"FHIR {rtype}: names no patient", int(con.execute(q).fetchall()[0][0]))
        q = f"SELECT count(DISTINCT id) FROM {table} WHERE patient IS NULL AND subject_ref IS NOT NULL"
        # bulk: a subject that is no Patient names no patient (_bulk._owner); a Bundle says so
        why = "names no patient" if bulk else "subject is not a Patient"
        unmapped.add(f"FHIR {rtype}: {why}", int(con.execute(q).fetchall()[0][0]))
    # shared Medications no order references (bulk: any order; a Bundle: an order that got to the
    # medication, i.e. whose status (and intent) are used)
    if bulk:
        refs = " UNION ".join(f"SELECT medication_key FROM v_{v[0]}" for v in _ORDER_TYPES.values())
        reason = "Medication: not referenced by any medication order"
    else:
        refs = (
            "SELECT s.medication_key FROM med_steps s JOIN med_orders o ON o.rtype = s.rtype AND o.id = s.id "
            "WHERE o.why IS NULL OR o.why NOT LIKE '%: status %' AND o.why NOT LIKE '%: intent %'"
        )
        reason = "Medication: not referenced by a mapped medication order or statement"
    n = con.execute(
        f"SELECT count(*) FROM v_medication_ids WHERE id NOT IN "
        f"(SELECT medication_key FROM ({refs}) WHERE medication_key IS NOT NULL)"
    ).fetchall()[0][0]
    unmapped.add(f"FHIR {reason}", int(n))
    for rtype, n in sorted(_type_counts(con, path).items()):
        if rtype not in _parse.USED_TYPES and rtype != "Bundle":
            unmapped.add(f"FHIR {rtype}: resource type not used by sleitp", n)
    no_dates = con.execute("SELECT count(*) FROM patients_out WHERE assessment_date IS NULL").fetchall()[0][0]
    unmapped.add("record: invalid after FHIR mapping", int(no_dates))

    empty = ", ".join(f'NULL::{SQL_TYPES[str(f.type)]} AS "{f.name}"' for f in table_schema("bleeding"))
    live = "assessment_date IS NOT NULL"
    return {
        "patients": f"SELECT * FROM patients_out WHERE {live} {_total_order('patients', ['patient_id'])}",
        "labs": (
            "SELECT patient AS patient_id, * FROM labs_out WHERE patient IN "
            f"(SELECT patient_id FROM patients_out WHERE {live}) "
            # a day's results of one test in the order they were taken
            f"{_total_order('labs', ['patient_id', 'date', 'test', 'instant'])}"
        ),
        "treatments": f"SELECT * FROM treatments_out {_total_order('treatments', ['patient_id', 'start'])}",
        "bleeding": f"SELECT {empty} WHERE false",  # bleeding events are not mapped yet (docs/fhir-views.md)
        "manifestations": (
            f"SELECT * FROM manifestations_out {_total_order('manifestations', ['patient_id', 'date'])}"
        ),
    }


def _total_order(name: str, first: list[str]) -> str:
    """``ORDER BY`` the natural key, then every other column of table ``name``: a total order (a parallel
    sort leaves ties in any order), so one export gives the same rows in the same order, hence the same
    ``seq``, on every run."""
    cols = first + [c for c in table_schema(name).names if c not in first]
    return "ORDER BY " + ", ".join(f'"{c}"' for c in cols)


__all__ = ["VIEWS", "fhir_views_to_parquet", "read_fhir_views", "view"]
