"""The typed read of the Observation view (``fhir_typed``) gives the compiled view's rows, or steps aside:
on synthetic exports, on every Observation of the shared examples and the Synthea bundles written as a bulk
export, and on hand-made resources, each either read the same or sent to the compiled view."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from sleitp.cohort.sources.fhir_views import _typed_observations, view
from sleitp.cohort.synth.fhir import write_fhir
from sleitp.cohort.synth.generate import synthesize
from sleitp.sqlonfhir import DuckDBViewRunner, resources_sql
from tests.conftest import SHARED_DATA

UCUM = "http://unitsofmeasure.org"


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[str]:
    return sorted(t for (t,) in con.execute(f"SELECT to_json(q)::VARCHAR FROM ({sql}) q").fetchall())


def _both(folder: Path) -> tuple[bool, list[str], list[str]]:
    """(typed read taken, its rows, the compiled view's rows)."""
    con = duckdb.connect()
    try:
        typed = _typed_observations(con, folder)
        got = _rows(con, "SELECT * FROM v_observation") if typed else []
        v = view("observation")
        general = _rows(con, DuckDBViewRunner(con).sql(v, resources_sql(folder, "Observation")))
        tables = {t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert typed or "v_observation" not in tables  # a misfit leaves nothing behind
        return typed, got, general
    finally:
        con.close()


def _export(folder: Path, observations: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Observation.ndjson").write_text("".join(json.dumps(o) + "\n" for o in observations))
    return folder


def _obs(i: int, **kw) -> dict:
    o = {"resourceType": "Observation", "id": f"o{i}", "status": "final",
         "code": {"coding": [{"system": "http://loinc.org", "code": "777-3"}]},
         "subject": {"reference": "Patient/p"}, "effectiveDateTime": "2024-01-02",
         "valueQuantity": {"value": 50, "unit": "10^9/L", "system": UCUM, "code": "10*9/L"}}
    o.update(kw)
    return {k: v for k, v in o.items() if v is not None}


@pytest.mark.parametrize("seed", [31, 32])
def test_a_synthetic_export_reads_the_same_typed(seed, tmp_path):
    synthesize(200, seed, tmp_path / "c", jsonl=False)
    write_fhir(tmp_path / "c" / "tables", tmp_path / "c" / "fhir")
    typed, got, general = _both(tmp_path / "c" / "fhir")
    assert typed and len(got) > 1000 and got == general


def test_the_shared_examples_observations_read_the_same_typed(tmp_path):
    """Every Observation of the HL7 examples and of the Synthea bundles, as one bulk export."""
    observations = []
    for path in sorted((SHARED_DATA / "fhir-r4-official").glob("*.json")) + sorted(
            (SHARED_DATA / "synthea-fhir-r4").glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        bundle = doc.get("resourceType") == "Bundle"
        found = [e.get("resource") for e in doc.get("entry", [])] if bundle else [doc]
        observations += [r for r in found if isinstance(r, dict) and r.get("resourceType") == "Observation"]
    if not observations:
        pytest.skip("shared FHIR examples absent")
    typed, got, general = _both(_export(tmp_path / "x", observations))
    assert typed and got == general and len(got) == len(observations)


# worked by hand: FHIRPath drops JSON nulls (first() skips a null range, exists() of [null] is false), reads a
# urn:uuid subject as the patient, keeps only LOINC codes in coding order
FITS = [
    _obs(1),
    _obs(2, referenceRange=[None, {"low": {"value": 1}, "high": {"value": 9, "unit": "x"}}]),
    _obs(3, interpretation=[None], hasMember=[]),
    _obs(4, subject={"reference": "urn:uuid:12345678-1234-1234-1234-123456789012"}),
    _obs(5, subject={"reference": "Group/g1"}),
    _obs(6, subject={"reference": "https://x.org/fhir/Patient/p9/_history/2"}),
    _obs(7, code={"coding": [{"system": "http://snomed.info/sct", "code": "1"}, None,
                             {"system": "http://loinc.org", "code": "26515-7"}, {"system": "http://loinc.org"},
                             {"system": "http://loinc.org", "code": "777-3"}]}),
    _obs(8, valueQuantity=None, valueString="pending", effectiveDateTime=None,
         effectivePeriod={"start": "2024-01-01T08:00:00Z"}),
    _obs(9, valueQuantity=None, valueCodeableConcept={"text": "positive"}, interpretation=[{"text": "POS"}]),
    _obs(10, valueQuantity=None, valueRatio={"numerator": {"value": 1}, "denominator": {"value": 160}}),
    _obs(11, valueQuantity=None, valueBoolean=False),
    _obs(12, valueQuantity=None, valueString=None, issued="2024-01-03T00:00:00Z", effectiveDateTime=None),
    _obs(13, valueQuantity={}, status="preliminary"),
    _obs(14, valueQuantity={"value": "4.5"}),  # a number as text: both read 4.5
    _obs(15, valueQuantity={"value": "abc"}),  # text where a number belongs: both read no number
    _obs(16, valueQuantity=None, valueString=None, valueTime=None, valueDateTime=[]),  # null, []: no value
    _obs(17, valueQuantity=None, valueString=5),  # valueString read by its key, as text: '5' 
]


def test_resources_of_the_r4_shape_read_the_same_typed(tmp_path):
    typed, got, general = _both(_export(tmp_path / "x", FITS))
    assert typed and got == general
    rows = {r["id"]: r for r in map(json.loads, got)}
    assert rows["o2"]["ref_low_value"] == 1.0 and rows["o2"]["ref_high_unit"] == "x"
    assert rows["o3"]["has_interpretation"] is False and rows["o3"]["has_member"] is False
    assert rows["o4"]["patient"] == "12345678-1234-1234-1234-123456789012"
    assert rows["o5"]["patient"] is None and rows["o6"]["patient"] == "p9"
    assert rows["o7"]["loinc_codes"] == ["26515-7", "777-3"]
    assert rows["o11"]["has_value"] is True and rows["o12"]["has_value"] is False
    assert rows["o15"]["quantity_value"] is None and rows["o16"]["has_value"] is False
    assert rows["o17"]["has_value"] is True and rows["o17"]["value_string"] == "5"


MISFITS = {
    "an array where R4 has one element": _obs(1, subject=[{"reference": "Patient/p"}]),
    "a list where R4 has one value": _obs(2, valueQuantity=None, valueString=["a"]),
    "a list where R4 has one quantity": _obs(6, valueQuantity=[{"value": 1}]),
    "an object where R4 has a list": _obs(7, referenceRange={"low": {"value": 1}}),
    "an object where R4 has one value": _obs(8, status={"code": "final"}),
    "a bare choice key": _obs(3, valueQuantity=None, value={"value": 5}),
    "a bare effective": _obs(4, effectiveDateTime=None, effective="2024-01-01"),
    "a single item where R4 has a list": _obs(5, interpretation={"text": "POS"}),
}


@pytest.mark.parametrize("name", list(MISFITS))
def test_a_resource_off_the_r4_shape_sends_the_export_to_the_compiled_view(name, tmp_path):
    typed, _, general = _both(_export(tmp_path / "x", [_obs(0), MISFITS[name]]))
    assert not typed and len(general) >= 1
