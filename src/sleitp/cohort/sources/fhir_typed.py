"""The Observation view of a bulk export read with a typed schema: the same rows as the compiled
ViewDefinition (``src/sleitp/fhir/views/observation.json``), in about a fifth of the time.

Why: at 100,000 patients the compiled view takes 26 of the 57 s the FHIR mapping needs (docs/fhir-views.md):
it parses each resource's JSON text and walks every FHIRPath step with list functions, because FHIRPath
must accept any JSON. A FHIR R4 Observation has a known shape, so DuckDB's ``read_json`` can parse it once
into typed columns, and each column of the view becomes a field access or one small JSON read (100,000
patients, 4.7 M Observations: 6.1 s against 22.3 s, the same rows; docs/fhir-views.md).

When: only if the data fit that shape. A value that does not (an array where R4 has one element, an object
where it has a list) makes ``read_json`` raise; a list or an object where the view reads one value, a bare
``value`` or ``effective`` key (a choice without its type, which FHIRPath still reads) and two different
patient keys are found after the read (:data:`MISFITS`). In every
such case the whole file set takes the compiled view instead (:func:`typed_observation_sql` returns the
query, the caller falls back on any engine error or when :data:`MISFITS` counts a row), so the result is the
view's on any input. tests/cohort/sources/test_fhir_typed.py holds the two equal row for row on the
synthetic exports and the shared examples, and on hand-made misfits.
"""

from __future__ import annotations

from pathlib import Path

from sleitp.sqlonfhir.compiler import LITERAL_REFERENCE, UUID_REFERENCE, sql_str
from sleitp.sqlonfhir.files import bulk_files

_CODINGS = "STRUCT(system VARCHAR, code VARCHAR)[]"
# the elements the view reads, with the FHIR R4 shape (0..1 a STRUCT, 0..* a list). An element the view
# asks exists() of, takes a first() item of, or reads by its type (ofType) is read as JSON: a STRUCT of some
# of its members is NULL when it has none of them ({"coding": [...]} for STRUCT(text)); JSON keeps a null
# and an empty list apart from an absent element
_COLUMNS = {
    "resourceType": "VARCHAR",
    "id": "JSON",
    "status": "JSON",
    "subject": "STRUCT(reference VARCHAR, type VARCHAR)",
    "code": f"STRUCT(coding {_CODINGS})",
    "effectiveDateTime": "JSON",
    "effectiveInstant": "JSON",
    "effectivePeriod": "STRUCT(start VARCHAR)",
    "issued": "JSON",
    **{f"value{t}": "JSON" for t in ("Quantity", "CodeableConcept", "String", "Boolean", "Integer", "Range",
                                     "Ratio", "SampledData", "Time", "DateTime", "Period")},
    "referenceRange": "JSON[]",
    "interpretation": "JSON[]",
    "hasMember": "JSON[]",
    "value": "JSON",  # a bare choice key: a misfit (valid R4 never has one)
    "effective": "JSON",
}
_VALUE_KEYS = [k for k in _COLUMNS if k.startswith("value") and k != "value"]

# where the view reads one value of a JSON element (below: a list or an object there is a misfit) and which
# elements it reads members of (anything but an object there is a misfit)
_FIELDS = ("value", "unit", "system", "code")
_ONE_VALUE = [
    "_id", "_status", "_issued", "effectiveDateTime", "effectiveInstant", "valueString",
    "valueCodeableConcept -> '$.text'",
    *(f"valueQuantity -> '$.{f}'" for f in _FIELDS),
    *(f"valueRatio -> '$.{m}.value'" for m in ("numerator", "denominator")),
    *(f"_range -> '$.{m}.{f}'" for m in ("low", "high") for f in _FIELDS),
]
_OBJECTS = [
    "valueQuantity", "valueCodeableConcept", "valueRatio", "_range",
    *(f"valueRatio -> '$.{m}'" for m in ("numerator", "denominator")),
    *(f"_range -> '$.{m}'" for m in ("low", "high")),
]
# the columns MISFITS reads besides the view's (dropped once it has found none)
CHECKED = ("patient_a", "patient_b", "value", "effective", "valueQuantity", "valueCodeableConcept",
           "valueRatio", "_range", "_id", "_status", "_issued", "effectiveDateTime", "effectiveInstant",
           "valueString")
# rows the typed read cannot stand for (counted after it; any one sends the files to the compiled view): a
# bare choice key, two patient keys (the view's union would hold two values), a shape R4 does not have
MISFITS = " OR ".join([
    "value IS NOT NULL", "effective IS NOT NULL",
    "(patient_a IS NOT NULL AND patient_b IS NOT NULL AND patient_a <> patient_b)",
    *(f"coalesce(json_type({x}) IN ('ARRAY', 'OBJECT'), false)" for x in _ONE_VALUE),
    *(f"coalesce(json_type({x}) NOT IN ('OBJECT', 'NULL'), false)" for x in _OBJECTS),
])


def _exists(x: str) -> str:
    """FHIRPath ``exists()`` of a JSON value: not null, and an array with an item that is not null."""
    items = f"len(list_filter(json_extract({x}, '$[*]'), lambda e: json_type(e) <> 'NULL'))"
    kind = f"coalesce(json_type({x}), 'NULL')"
    return f"coalesce(CASE {kind} WHEN 'NULL' THEN false WHEN 'ARRAY' THEN {items} > 0 ELSE true END, false)"


def _string(x: str) -> str:
    """A string column of a choice read by its typed key (``value.ofType(string)`` reads ``valueString``
    whatever JSON it holds, as the compiled view does): its text."""
    return f"({x} ->> '$')"


def _number(x: str) -> str:
    """A ``decimal`` column of a JSON value (the compiled view: its text cast to a number, else NULL)."""
    return f"TRY_CAST({x} ->> '$' AS DOUBLE)"


def _items(x: str) -> str:
    """A list without its nulls (FHIRPath: a JSON null is no item)."""
    return f"list_filter({x}, lambda e: e IS NOT NULL)"


def typed_observation_sql(folder: Path) -> str:
    """A query over the bulk export ``folder`` with the columns of the Observation view (same names, types
    and order) plus the columns :data:`CHECKED` that :data:`MISFITS` is counted on."""
    files = "[" + ", ".join(sql_str(str(p)) for p in bulk_files(folder, "Observation")) + "]"
    columns = "{" + ", ".join(f"{sql_str(k)}: {sql_str(v)}" for k, v in _COLUMNS.items()) + "}"
    ref, typ = "subject.reference", "subject.type"
    lit = f"regexp_extract({ref}, {sql_str(LITERAL_REFERENCE)}, ['g1', 'g2', 'g3'])"
    uuid = f"regexp_extract({ref}, {sql_str(UUID_REFERENCE)}, 1)"
    has_value = " OR ".join(_exists(f'"{k}"') for k in _VALUE_KEYS)
    return f"""
WITH r AS (
  SELECT *, id AS _id, status AS _status, issued AS _issued, {lit} AS _lit, {uuid} AS _uuid,
    {_items("list_transform(referenceRange, lambda e: CASE WHEN json_type(e) <> 'NULL' THEN e END)")}[1]
      AS _range  -- referenceRange.first(): the first item that is not a JSON null
  FROM read_json({files}, format = 'newline_delimited', columns = {columns})
  WHERE resourceType = 'Observation'
), k AS (
  SELECT *,
    -- subject.getReferenceKey(Patient): a literal Patient/id, or a urn:uuid typed Patient
    CASE WHEN _lit.g3 <> '' AND _lit.g2 = 'Patient' THEN _lit.g3
         WHEN _uuid <> '' AND {typ} = 'Patient' THEN _uuid END AS patient_a,
    -- subject.where(reference.startsWith('urn:uuid:')).getReferenceKey()
    CASE WHEN starts_with({ref}, 'urn:uuid:') THEN
      CASE WHEN _lit.g3 <> '' THEN _lit.g3 WHEN _uuid <> '' THEN _uuid END END AS patient_b
  FROM r
)
SELECT {_string('_id')} AS id, coalesce(patient_a, patient_b) AS patient, {ref} AS subject_ref,
  coalesce([c.code FOR c IN {_items('code.coding')} IF c.system = 'http://loinc.org' AND c.code IS NOT NULL],
           []) AS loinc_codes,
  {_string('_status')} AS status, {_string('effectiveDateTime')} AS effective_datetime,
  {_string('effectiveInstant')} AS effective_instant,
  effectivePeriod.start AS effective_period_start, {_string('_issued')} AS issued,
  ({has_value}) AS has_value,
  coalesce(len({_items('interpretation')}) > 0, false) AS has_interpretation,
  coalesce(len({_items('hasMember')}) > 0, false) AS has_member,
  {_number("valueQuantity -> '$.value'")} AS quantity_value, valueQuantity ->> '$.unit' AS quantity_unit,
  valueQuantity ->> '$.system' AS quantity_system, valueQuantity ->> '$.code' AS quantity_code,
  {_string('valueString')} AS value_string, valueCodeableConcept ->> '$.text' AS concept_text,
  {_number("valueRatio -> '$.numerator.value'")} AS ratio_numerator,
  {_number("valueRatio -> '$.denominator.value'")} AS ratio_denominator,
  {_number("_range -> '$.low.value'")} AS ref_low_value, _range ->> '$.low.unit' AS ref_low_unit,
  _range ->> '$.low.system' AS ref_low_system, _range ->> '$.low.code' AS ref_low_code,
  {_number("_range -> '$.high.value'")} AS ref_high_value, _range ->> '$.high.unit' AS ref_high_unit,
  _range ->> '$.high.system' AS ref_high_system, _range ->> '$.high.code' AS ref_high_code,
  {", ".join(CHECKED)}
FROM k
"""


__all__ = ["CHECKED", "MISFITS", "typed_observation_sql"]
