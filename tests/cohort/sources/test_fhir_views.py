"""``--fhir-mapping views``: the FHIR mapping as SQL on FHIR ViewDefinitions (sleitp/fhir/views/*.json, joined
and unit-converted in sleitp.cohort.sources.fhir_views) gives the same five engine tables, the same unmapped
report and the same derived responses/features as the per-resource Python mapping (sleitp.fhir), on synthetic
bulk exports and on every shared FHIR example."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import resources as importlib_resources
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from sleitp.cli import app
from sleitp.cohort.derive.run import derive
from sleitp.cohort.engine import duckdb_config
from sleitp.cohort.sources import Unmapped, fhir_views, read_fhir
from sleitp.cohort.sources.fhir_views import VIEWS, fhir_views_to_parquet, read_fhir_views, view
from sleitp.cohort.synth.fhir import write_fhir
from sleitp.cohort.synth.generate import synthesize
from sleitp.cohort.tables import table_schema
from sleitp.errors import SourceError
from sleitp.sqlonfhir import View
from tests.conftest import SHARED_DATA

DATA = SHARED_DATA
R4 = DATA / "fhir-r4-official"
SYNTHEA = DATA / "synthea-fhir-r4"
needs_data = pytest.mark.skipif(not R4.is_dir() or not SYNTHEA.is_dir(), reason="shared FHIR examples absent")


def _rows(t: pa.Table) -> list[tuple]:
    """The rows of a table as sorted tuples (row order is not part of the comparison; floats to 1e-9
    relative, the difference between a product computed in SQL and in Python)."""
    cols = [c for c in t.column_names if c != "seq"]

    def norm(v):
        return float(f"{v:.12g}") if isinstance(v, float) else v

    return sorted((tuple(norm(v) for v in r.values()) for r in t.select(cols).to_pylist()), key=repr)


def _both(source: Path) -> tuple[dict, Unmapped, dict, Unmapped]:
    py_unmapped, views_unmapped = Unmapped(), Unmapped()
    py = read_fhir(source, py_unmapped)
    vw = read_fhir_views(source, views_unmapped)
    return py, py_unmapped, vw, views_unmapped


def _assert_tables_equal(py: dict, vw: dict) -> None:
    for name in ("patients", "labs", "treatments", "bleeding", "manifestations"):
        assert vw[name].schema.names == [c for c in py[name].schema.names if c != "seq"], name
        a, b = _rows(py[name]), _rows(vw[name])
        only_py = [r for r in a if r not in b][:3]
        only_views = [r for r in b if r not in a][:3]
        assert a == b, f"{name}: python-only rows {only_py}, views-only rows {only_views}"


# -- synthetic bulk exports ---------------------------------------------------------------------------------
@pytest.fixture(scope="module", params=[(250, 11), (300, 12)], ids=["250-seed11", "300-seed12"])
def export(request, tmp_path_factory) -> Path:
    n, seed = request.param
    d = tmp_path_factory.mktemp(f"views-{seed}") / "c"
    synthesize(n, seed, d, jsonl=False)
    write_fhir(d / "tables", d / "fhir")
    return d / "fhir"


def test_synth_export_tables_and_unmapped_equal(export):
    py, py_unmapped, vw, views_unmapped = _both(export)
    assert py["patients"].num_rows > 200 and py["labs"].num_rows > 5000 and py["treatments"].num_rows > 500
    _assert_tables_equal(py, vw)
    assert dict(views_unmapped.counts) == dict(py_unmapped.counts)


def test_synth_export_derived_outputs_equal(export, tmp_path):
    a = derive(export, tmp_path / "python", fhir_mapping="python")
    b = derive(export, tmp_path / "views", fhir_mapping="views")
    assert (a.patients, a.lines, a.categories) == (b.patients, b.lines, b.categories)
    assert a.lines > 0
    for name, keys in (("responses", ["patient_id", "line"]), ("features", ["patient_id"])):
        ta = pq.read_table(tmp_path / "python" / f"{name}.parquet").sort_by([(k, "ascending") for k in keys])
        tb = pq.read_table(tmp_path / "views" / f"{name}.parquet").sort_by([(k, "ascending") for k in keys])
        assert ta.equals(tb), name
    assert (
        json.loads((tmp_path / "views" / "unmapped.json").read_text())["by_reason"]
        == json.loads((tmp_path / "python" / "unmapped.json").read_text())["by_reason"]
    )


# -- the shared examples -------------------------------------------------------------------------------------
def _single_resources() -> list[dict]:
    return [
        json.loads(p.read_text(encoding="utf-8"))
        for p in sorted(R4.glob("*.json"))
        if json.loads(p.read_text(encoding="utf-8")).get("resourceType") != "Bundle"
    ]


@needs_data
@pytest.mark.parametrize(
    "source",
    [SYNTHEA, next(SYNTHEA.glob("*.json"), SYNTHEA), R4 / "Bundle-101.json", R4 / "Bundle-report.json"],
    ids=["synthea-folder", "synthea-bundle", "bundle-101", "bundle-report"],
)
def test_shared_bundles_equal(source):
    py, py_unmapped, vw, views_unmapped = _both(source)
    assert py["patients"].num_rows >= 1 and py["labs"].num_rows >= 1
    _assert_tables_equal(py, vw)
    assert dict(views_unmapped.counts) == dict(py_unmapped.counts)


@needs_data
def test_shared_single_resources_as_bulk_export_equal(tmp_path):
    """Every single-resource example (Patient, Condition, Observation, MedicationRequest with a contained
    Medication, MedicationStatement, Medication) as a bulk export."""
    by_type: dict[str, list[dict]] = {}
    for r in _single_resources():
        by_type.setdefault(r["resourceType"], []).append(r)
    for rtype, items in by_type.items():
        (tmp_path / f"{rtype}.ndjson").write_text("".join(json.dumps(r) + "\n" for r in items))
    py, py_unmapped, vw, views_unmapped = _both(tmp_path)
    assert py["treatments"].num_rows >= 1
    _assert_tables_equal(py, vw)
    assert dict(views_unmapped.counts) == dict(py_unmapped.counts)


@pytest.fixture
def examples_bundle(tmp_path) -> Path:
    path = tmp_path / "examples.json"
    entries = [{"resource": r} for r in _single_resources()]
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}))
    return path


@needs_data
def test_shared_single_resources_as_one_bundle_tables_equal(examples_bundle):
    py, _, vw, _ = _both(examples_bundle)
    _assert_tables_equal(py, vw)


@needs_data
def test_shared_single_resources_as_one_bundle_unmapped_equal(examples_bundle):
    """A Bundle of several patients, mapped once per patient by the Python path, counts each resource once:
    no "belongs to another patient", a Medication unused only when no patient's order used it."""
    _, py_unmapped, _, views_unmapped = _both(examples_bundle)
    assert dict(views_unmapped.counts) == dict(py_unmapped.counts)


# -- the unmapped reasons the views give, on resources built for them ---------------------------------------
def _obs(i: int, **kw) -> dict:
    base = {
        "resourceType": "Observation",
        "id": f"o{i}",
        "status": "final",
        "subject": {"reference": "Patient/p"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "777-3"}]},
        "effectiveDateTime": f"2024-01-0{i % 9 + 1}",
        "valueQuantity": {
            "value": 50,
            "unit": "10^9/L",
            "system": "http://unitsofmeasure.org",
            "code": "10*9/L",
        },
    }
    base.update(kw)
    return {k: v for k, v in base.items() if v is not None}


def test_edge_cases_reasons_equal(tmp_path):
    """Statuses, units (UCUM and text, accepted and refused), ranges, duplicates, qualitative answers, partial
    dates, conditions (refuted, provisional, broader lupus, ICD-10-CM prefix), procedures, orders (status,
    intent, agent by name, unresolved reference, tablets, taper) counted under the same reasons."""
    ucum = "http://unitsofmeasure.org"
    ana = {"coding": [{"system": "http://loinc.org", "code": "29953-7"}]}
    one60 = {"value": 160}
    v3 = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
    sm, acl = "18323-6", "3181-5"
    high = {"referenceRange": [{"high": {"value": 1.0, "unit": "U"}}]}
    obs = [
        _obs(1),
        _obs(2, status="preliminary"),
        _obs(3, status="entered-in-error"),
        _obs(4, valueQuantity={"value": 45000, "unit": "/uL"}),
        _obs(5, valueQuantity={"value": 45, "unit": "furlongs"}),
        _obs(6, valueQuantity={"value": 9000, "unit": "10^9/L", "system": ucum, "code": "10*9/L"}),
        _obs(7, effectiveDateTime="2024-02"),
        _obs(8, effectiveDateTime=None),
        _obs(
            9, effectiveDateTime="2024-01-01", valueQuantity={"value": 40, "system": ucum, "code": "10*9/L"}
        ),
        _obs(
            10, effectiveDateTime="2024-01-01", valueQuantity={"value": 41, "system": ucum, "code": "10*9/L"}
        ),
        _obs(
            11,
            code={"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
            valueQuantity={"value": 9.5, "unit": "g/dL", "system": ucum, "code": "g/dL"},
            referenceRange=[{"low": {"value": 12, "unit": "g/dL"}, "high": {"value": 16, "unit": "g/dL"}}],
        ),
        _obs(12, code={"coding": [{"system": "http://snomed.info/sct", "code": "1"}]}),
        _obs(13, code={"coding": [{"system": "http://loinc.org", "code": "0000-0"}]}),
        _obs(14, valueQuantity=None, valueString="positive"),
        _obs(15, valueQuantity=None),
        _obs(
            16,
            code={"coding": [{"system": "http://loinc.org", "code": "29953-7"}]},
            valueQuantity=None,
            valueString="1:320",
        ),
        _obs(17, subject=None),
        # the LOINC codes, read in the Observation's row: the first the vocabulary knows decides, other
        # systems skipped; the pregnancy code anywhere among them
        _obs(18, effectiveDateTime="2024-03-01",
             code={"coding": [{"system": "http://snomed.info/sct", "code": "718-7"},
                              {"system": "http://loinc.org", "code": "0000-0"},
                              {"system": "http://loinc.org", "code": "777-3"},
                              {"system": "http://loinc.org", "code": "718-7"}]}),
        _obs(20, code={"coding": [{"system": "http://loinc.org", "code": "777-3"},
                                  {"system": "http://loinc.org", "code": "82810-3"}]}, valueQuantity=None,
             valueCodeableConcept={"coding": [{"system": "http://snomed.info/sct", "code": "60001007"}]}),
        # ANA: a titer as a ratio or a text 1:N, or a qualitative answer by code, text or interpretation
        _obs(21, code=ana, valueQuantity=None, valueRatio={"numerator": {"value": 1}, "denominator": one60}),
        _obs(22, code=ana, valueQuantity=None, valueRatio={"numerator": {"value": 2}, "denominator": one60}),
        _obs(23, code=ana, valueQuantity=None, valueString="1:80 speckled"),
        _obs(24, code=ana, valueQuantity=None, valueString="Negative"),
        _obs(25, code=ana, valueQuantity=None,
             valueCodeableConcept={"coding": [{"system": "http://snomed.info/sct", "code": "10828004"}]}),
        _obs(26, code=ana, valueQuantity=None, valueCodeableConcept={"text": "not detected"}),
        _obs(27, code=ana, valueQuantity=None, interpretation=[{"coding": [{"system": v3, "code": "POS"}]}]),
        _obs(28, code=ana, valueQuantity=None, valueString="1:640",
             interpretation=[{"coding": [{"system": v3, "code": "NEG"}]}]),
        _obs(29, code=ana, valueQuantity={"value": 320}),
        _obs(30, code={"coding": [{"system": "http://loinc.org", "code": "3181-5"}]},
             valueQuantity={"value": 30, "unit": "GPL"},
             referenceRange=[{"high": {"value": 14, "unit": "GPL"}}]),
        _obs(31, code={"coding": [{"system": "http://loinc.org", "code": "3181-5"}]},
             valueQuantity={"value": 30, "unit": "GPL"}),
        # a third platelet count at o9 / o10's instant, equal to the lower; one the same day at a time
        _obs(32, effectiveDateTime="2024-01-01",
             valueQuantity={"value": 40, "system": ucum, "code": "10*9/L"}),
        _obs(33, effectiveDateTime="2024-01-01T08:00:00Z",
             valueQuantity={"value": 30, "system": ucum, "code": "10*9/L"}),
        # a qualitative test sent as a value: the lab's own positive/negative wins over the value against the
        # (inclusive) limit; without one, the limit decides. anti-Sm, anti-SSA, DAT by their LOINC codes
        _obs(34, code={"coding": [{"system": "http://loinc.org", "code": sm}]},
             valueQuantity={"value": 1.0, "unit": "U"}, **high,
             interpretation=[{"coding": [{"system": v3, "code": "POS"}]}]),
        _obs(35, code={"coding": [{"system": "http://loinc.org", "code": sm}]},
             valueQuantity={"value": 1.0, "unit": "U"}, **high),
        _obs(36, code={"coding": [{"system": "http://loinc.org", "code": acl}]},
             valueQuantity={"value": 30, "unit": "GPL"},
             referenceRange=[{"high": {"value": 14, "unit": "GPL"}}],
             interpretation=[{"coding": [{"system": v3, "code": "NEG"}]}]),
        _obs(37, code={"coding": [{"system": "http://loinc.org", "code": "33610-7"}]}, valueQuantity=None,
             valueString="Positive"),
        _obs(38, code={"coding": [{"system": "http://loinc.org", "code": "1007-4"}]}, valueQuantity=None,
             valueCodeableConcept={"coding": [{"system": "http://snomed.info/sct", "code": "260385009"}]}),
    ]
    conditions = [
        {
            "resourceType": "Condition",
            "id": f"c{i}",
            "subject": {"reference": "Patient/p"},
            **({"onsetDateTime": on} if on else {}),
            "code": {"coding": [{"system": sys_, "code": code}]},
            **extra,
        }
        for i, (sys_, code, on, extra) in enumerate(
            [
                ("http://snomed.info/sct", "55464009", "2020-03-01", {}),
                ("http://hl7.org/fhir/sid/icd-10-cm", "M32.14", "2021-05-02", {}),
                ("http://hl7.org/fhir/sid/icd-10-cm", "D69.59", "2022-01-01", {}),
                ("http://snomed.info/sct", "200936003", "2019-01-01", {}),
                (
                    "http://snomed.info/sct",
                    "128091003",
                    "2023-01-01",
                    {"verificationStatus": {"coding": [{"code": "refuted"}]}},
                ),
                (
                    "http://snomed.info/sct",
                    "128091003",
                    "2023-01-01",
                    {"verificationStatus": {"coding": [{"code": "provisional"}]}},
                ),
                ("http://snomed.info/sct", "999", "2023-01-01", {}),
                # autoimmune haemolytic anaemia: a manifestation on its onset, else its recorded date;
                # without either, not mapped; drug-induced D59.0 is not in the vocabulary
                ("http://hl7.org/fhir/sid/icd-10-cm", "D59.11", "2021-06-01", {}),
                ("http://hl7.org/fhir/sid/icd-10-cm", "D5910", None, {"recordedDate": "2022-02-02"}),
                ("http://hl7.org/fhir/sid/icd-10-cm", "D59.13", None, {}),
                ("http://hl7.org/fhir/sid/icd-10-cm", "D59.0", "2020-01-01", {}),
            ]
        )
    ]
    procedures = [
        {
            "resourceType": "Procedure",
            "id": "s1",
            "status": "completed",
            "subject": {"reference": "Patient/p"},
            "code": {"text": "Laparoscopic splenectomy"},
            "performedDateTime": "2022-06-01",
        },
        {
            "resourceType": "Procedure",
            "id": "s2",
            "status": "not-done",
            "subject": {"reference": "Patient/p"},
            "code": {"text": "Splenectomy"},
            "performedDateTime": "2022-06-01",
        },
        {
            "resourceType": "Procedure",
            "id": "s3",
            "status": "completed",
            "subject": {"reference": "Patient/p"},
            "code": {"text": "Appendectomy"},
        },
    ]
    rx = "http://www.nlm.nih.gov/research/umls/rxnorm"

    def order(i, **kw):
        base = {
            "resourceType": "MedicationRequest",
            "id": f"m{i}",
            "status": "active",
            "intent": "order",
            "subject": {"reference": "Patient/p"},
            "authoredOn": "2022-02-01",
            "medicationCodeableConcept": {"coding": [{"system": rx, "code": "8640"}]},
        }
        base.update(kw)
        return {k: v for k, v in base.items() if v is not None}

    orders = [
        order(
            1,
            dosageInstruction=[
                {
                    "timing": {
                        "repeat": {
                            "boundsPeriod": {"start": "2022-02-01", "end": "2022-02-14"},
                            "frequency": 1,
                            "period": 1,
                            "periodUnit": "d",
                        }
                    },
                    "doseAndRate": [{"doseQuantity": {"value": 60, "unit": "mg"}}],
                    "route": {"text": " Oral "},
                },
                {
                    "timing": {
                        "repeat": {
                            "boundsPeriod": {"start": "2022-02-15", "end": "2022-02-28"},
                            "frequency": 2,
                            "period": 1,
                            "periodUnit": "d",
                        }
                    },
                    "doseAndRate": [{"doseQuantity": {"value": 2, "unit": "tablets"}}],
                },
            ],
        ),
        order(2, status="draft"),
        order(3, intent="plan"),
        order(
            4,
            medicationCodeableConcept={"text": "Rituximab 500 mg infusion"},
            dosageInstruction=[
                {
                    "timing": {
                        "repeat": {
                            "frequency": 1,
                            "period": 1,
                            "periodUnit": "wk",
                            "boundsDuration": {"value": 4, "code": "wk"},
                        }
                    }
                }
            ],
        ),
        order(5, medicationCodeableConcept={"text": "paracetamol"}),
        order(6, medicationCodeableConcept=None, medicationReference={"reference": "Medication/missing"}),
        order(
            7,
            status="completed",
            authoredOn=None,
            dispenseRequest={"expectedSupplyDuration": {"value": 30, "code": "d"}},
        ),
        order(
            8,
            status="completed",
            dosageInstruction=[{"timing": {"repeat": {"frequency": 3, "period": 2, "periodUnit": "h"}}}],
            dispenseRequest={"expectedSupplyDuration": {"value": 30, "code": "d"}},
        ),
    ]
    admin = [
        {
            "resourceType": "MedicationAdministration",
            "id": "a1",
            "status": "completed",
            "subject": {"reference": "Patient/p"},
            "effectiveDateTime": "2022-03-01",
            "medicationCodeableConcept": {"coding": [{"system": rx, "code": "121191"}]},
            "dosage": {"dose": {"value": 375, "unit": "mg/m2"}},
        },
        {
            "resourceType": "MedicationAdministration",
            "id": "a2",
            "status": "not-done",
            "subject": {"reference": "Patient/p"},
            "effectiveDateTime": "2022-03-01",
            "medicationCodeableConcept": {"coding": [{"system": rx, "code": "121191"}]},
        },
    ]
    patient = [
        {"resourceType": "Patient", "id": "p", "gender": "female", "birthDate": "1990-05-06"},
        {"resourceType": "Patient", "id": "q", "gender": "nonbinary"},
    ]
    for rtype, items in (
        ("Patient", patient),
        ("Observation", obs),
        ("Condition", conditions),
        ("Procedure", procedures),
        ("MedicationRequest", orders),
        ("MedicationAdministration", admin),
    ):
        (tmp_path / f"{rtype}.ndjson").write_text("".join(json.dumps(r) + "\n" for r in items))
    py, py_unmapped, vw, views_unmapped = _both(tmp_path)
    assert py["labs"].num_rows >= 5 and py["treatments"].num_rows >= 4
    _assert_tables_equal(py, vw)
    assert dict(views_unmapped.counts) == dict(py_unmapped.counts)
    assert (
        views_unmapped.counts[
            "FHIR Observation: duplicate platelets result at the same instant "
            "(different value; the lower value is kept)"
        ]
        == 1
    )
    # worked by hand from the mapping's rules (docs/fhir.md), one Observation a day each
    rows = vw["labs"].to_pylist()
    labs = {(r["date"].isoformat(), r["test"]): (r["value"], r["unit"], r["result"]) for r in rows}
    assert labs[("2024-03-01", "platelets")] == (50.0, "10^9/L", None)  # o18: 777-3, the first LOINC known
    assert labs[("2024-01-04", "ana")] == (160.0, "titer", None)  # o21: ratio 1:160
    assert ("2024-01-05", "ana") not in labs and ("2024-01-06", "ana") not in labs  # o22 2:160, o23 "1:80 x"
    assert labs[("2024-01-07", "ana")] == (None, None, "negative")  # o24: text
    assert labs[("2024-01-09", "ana")] == (None, None, "negative")  # o26: concept text "not detected"
    assert labs[("2024-01-01", "ana")] == (None, None, "positive")  # o27: interpretation POS
    assert labs[("2024-01-02", "ana")] == (640.0, "titer", None)  # o28: the titer before the interpretation
    assert labs[("2024-01-03", "ana")] == (320.0, "titer", None)  # o29: a quantity without a unit is a titer
    assert labs[("2024-01-04", "anticardiolipin")] == (30.0, None, "positive")  # o30: 30 > 14, its range
    assert ("2024-01-05", "anticardiolipin") not in labs  # o31: no upper limit, no interpretation
    counts = [r for r in rows if r["test"] == "platelets" and r["date"].isoformat() == "2024-01-01"]
    same_day = sorted(r["value"] for r in counts)
    assert same_day == [30.0, 40.0]  # o9, o10, o32 at one instant: the lower kept; o33 at 08:00 is another
    same = "FHIR Observation: duplicate platelets result at the same instant (same value)"
    assert views_unmapped.counts[same] == 1


ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


def _encounter(rid: str, patient: str | None, status: str, klass: str, start: str | None = None,
               end: str | None = None, system: str = ACT_CODE) -> dict:
    period = {k: v for k, v in (("start", start), ("end", end)) if v}
    e = {"resourceType": "Encounter", "id": rid, "status": status, "class": {"system": system, "code": klass}}
    if patient:
        e["subject"] = {"reference": f"Patient/{patient}"}
    return e | ({"period": period} if period else {})


def test_the_last_in_person_contact_is_the_assessment_date_both_ways(tmp_path):
    """sleitp.fhir._encounters, worked by hand: a contact is an Encounter that took place (arrived, triaged,
    in-progress, onleave, finished), in person at a facility (AMB EMER IMP ACUTE NONAC OBSENC SS), on its
    day (finished: the end, else the start; otherwise the start); the record's assessment date is the last
    contact when it is later than every other date. Each refusal is counted under its reason, both ways."""
    pids = [f"p{i}" for i in range(1, 8)]
    patients = [{"resourceType": "Patient", "id": p, "gender": "female", "birthDate": "1980-01-01"}
                for p in pids]
    counts = [_obs(i, id=f"c{i}", subject={"reference": f"Patient/p{i}"}, effectiveDateTime="2024-03-01")
              for i in range(1, 7)]
    e = _encounter
    encounters = [
        e("e1", "p1", "finished", "AMB", "2024-04-01T09:00:00Z", "2024-04-02T10:00:00Z"),  # its end: 04-02
        e("e2", "p2", "finished", "AMB", "2024-05-10"),  # no end: its start
        e("e3", "p3", "in-progress", "IMP", "2024-05-01", "2024-05-20"),  # going on: the end is a forecast
        e("e4a", "p4", "planned", "AMB", "2024-06-01"),
        e("e4b", "p4", "cancelled", "AMB", "2024-06-01"),
        e("e4c", "p4", "entered-in-error", "AMB", "2024-06-01"),
        e("e4d", "p4", "unknown", "AMB", "2024-06-01"),
        e("e4e", "p4", "finished", "VR", "2024-06-01"),
        e("e4f", "p4", "finished", "HH", "2024-06-01"),
        e("e4g", "p4", "finished", "FLD", "2024-06-01"),
        e("e4h", "p4", "finished", "PRENC", "2024-06-01"),
        e("e4i", "p4", "finished", "AMB", "2024-06-01", system="urn:local:classes"),
        e("e4j", "p4", "finished", "AMB", "2024-06"),  # a partial date: no day
        e("e4k", "p4", "finished", "AMB"),  # no period
        e("e4l", "p4", "finished", "AMB", "2999-01-01"),  # later than tomorrow (no manifest): no contact
        e("e5", "p5", "finished", "EMER", "2024-02-01"),  # before the count: the count's day stays
        e("e6a", "p6", "arrived", "ACUTE", "2024-04-10"),
        e("e6b", "p6", "triaged", "NONAC", "2024-04-11"),
        e("e6c", "p6", "onleave", "OBSENC", "2024-04-12"),
        e("e6d", "p6", "finished", "SS", "2024-04-13"),
        e("e7", "p7", "finished", "AMB", "2024-01-05"),  # a patient with nothing else: the contact's day
        e("e8", None, "finished", "AMB", "2024-01-05"),  # names no patient
    ]
    for rtype, items in (("Patient", patients), ("Observation", counts), ("Encounter", encounters)):
        (tmp_path / f"{rtype}.ndjson").write_text("".join(json.dumps(r) + "\n" for r in items))
    py, py_unmapped, vw, views_unmapped = _both(tmp_path)
    _assert_tables_equal(py, vw)
    assert dict(views_unmapped.counts) == dict(py_unmapped.counts)
    got = {r["patient_id"]: r["assessment_date"].isoformat() for r in vw["patients"].to_pylist()}
    assert got == {"p1": "2024-04-02", "p2": "2024-05-10", "p3": "2024-05-01", "p4": "2024-03-01",
                   "p5": "2024-03-01", "p6": "2024-04-13", "p7": "2024-01-05"}
    c = views_unmapped.counts
    for status in ("planned", "cancelled", "entered-in-error", "unknown"):
        assert c[f"FHIR Encounter: status '{status}' (not a contact that took place)"] == 1
    for klass in ("'VR'", "'HH'", "'FLD'", "'PRENC'"):
        assert c[f"FHIR Encounter: class {klass} (not an in-person contact at a facility)"] == 1
    other = "FHIR Encounter: class not of the v3 ActCode system (not an in-person contact at a facility)"
    assert c[other] == 1  # e4i
    assert c["FHIR Encounter: no period start or end date"] == 2
    assert c["FHIR Encounter: dated after the data (not a contact that took place)"] == 1
    assert c["FHIR Encounter: names no patient"] == 1
    assert not any("resource type not used" in k for k in c)


def test_a_bulk_exports_transaction_time_is_the_day_its_data_are_as_of(tmp_path):
    """manifest.json's transactionTime (Bulk Data Access IG): a contact on the next day is one, a later one
    did not take place yet (both ways); a transactionTime that is not an instant is a clear error."""
    (tmp_path / "Patient.ndjson").write_text(json.dumps({"resourceType": "Patient", "id": "p"}) + "\n")
    (tmp_path / "Observation.ndjson").write_text(json.dumps(_obs(1, effectiveDateTime="2024-03-01")) + "\n")
    for day, expected, refused in (("2024-04-02", "2024-04-02", 0), ("2024-04-03", "2024-03-01", 1)):
        encounter = _encounter("e", "p", "finished", "AMB", day)
        (tmp_path / "Encounter.ndjson").write_text(json.dumps(encounter) + "\n")
        (tmp_path / "manifest.json").write_text(json.dumps({"transactionTime": "2024-04-01T18:00:00Z"}))
        py, py_unmapped, vw, views_unmapped = _both(tmp_path)
        _assert_tables_equal(py, vw)
        assert dict(views_unmapped.counts) == dict(py_unmapped.counts)
        assert vw["patients"].column("assessment_date").to_pylist()[0].isoformat() == expected, day
        assert views_unmapped.counts["FHIR Encounter: dated after the data (not a contact that took place)"] \
            == refused
    no_instant = "manifest.json: transactionTime: expected a FHIR instant"
    for manifest, message in (
        (json.dumps({"transactionTime": "yesterday"}), no_instant),
        (json.dumps({"request": "$export"}), no_instant),
        ("{not json", "manifest.json: not valid JSON"),
    ):
        (tmp_path / "manifest.json").write_text(manifest)
        for read in (read_fhir, read_fhir_views):
            with pytest.raises(SourceError, match=message):
                read(tmp_path, Unmapped())


def test_the_default_cohort_mapping_counts_an_invalid_value_and_keeps_the_rest(tmp_path):
    """derive's default FHIR mapping (the views, since 2026-12-06) does not validate with fhir.resources:
    a count whose value is not a number is counted under its reason and the patient's other count kept;
    --fhir-mapping python stops on it with an error naming the entry (nothing written)."""
    def count(i: int, value) -> dict:
        return _obs(i, subject={"reference": "Patient/p1"}, effectiveDateTime=f"2024-03-0{i}",
                    valueQuantity={"value": value, "unit": "10*9/L", "system": "http://unitsofmeasure.org",
                                   "code": "10*9/L"})
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1980-01-01"}},
        {"resource": count(1, "abc")}, {"resource": count(2, 20)}]}
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "b.json").write_text(json.dumps(bundle))
    derive(tmp_path / "in", tmp_path / "views")
    report = json.loads((tmp_path / "views" / "unmapped.json").read_text())["by_reason"]
    assert [k for k in report if "value not readable" in k] and sum(report.values()) == 1
    labs = read_fhir_views(tmp_path / "in", Unmapped())["labs"].to_pylist()
    assert [(r["date"].isoformat(), r["value"]) for r in labs] == [("2024-03-02", 20.0)]
    with pytest.raises(SourceError, match=re.escape("entry[1] (Observation/o1): valueQuantity.value")):
        derive(tmp_path / "in", tmp_path / "py", fhir_mapping="python")
    assert not (tmp_path / "py" / "responses.parquet").exists()


# -- the path itself ----------------------------------------------------------------------------------
def test_views_ship_with_the_package_and_are_valid():
    folder = importlib_resources.files("sleitp.fhir").joinpath("views")
    names = sorted(p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json"))
    assert names == sorted(VIEWS)
    for name in VIEWS:
        assert isinstance(view(name), View)


def test_unknown_mapping_is_a_clear_error(tmp_path):
    (tmp_path / "Patient.ndjson").write_text(json.dumps({"resourceType": "Patient", "id": "p"}) + "\n")
    with pytest.raises(SourceError, match="--fhir-mapping 'sql': expected python or views"):
        derive(tmp_path, tmp_path / "out", fhir_mapping="sql")


def test_cli_fhir_mapping_views(export, tmp_path):
    res = CliRunner().invoke(
        app,
        ["cohort", "derive", str(export), "--out", str(tmp_path / "o"), "--fhir-mapping", "views", "--json"],
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output[res.output.index("{") :])
    assert summary["patients"] > 200


def test_a_bundle_of_two_patients_counts_each_resource_once_and_gives_nobody_a_subjectless_count(tmp_path):
    """p1's order uses m1, p2's uses m2, m3 is nobody's; one platelet count has no subject. Both paths: the
    count is in no record and counted once as naming no patient; one Medication unused; nothing is
    'another patient's'."""
    def patient(pid):
        return {"resourceType": "Patient", "id": pid, "gender": "female", "birthDate": "1980-01-01"}

    def order(oid, pid, med):
        return {"resourceType": "MedicationRequest", "id": oid, "status": "active", "intent": "order",
                "subject": {"reference": f"Patient/{pid}"}, "authoredOn": "2024-01-02",
                "medicationReference": {"reference": f"Medication/{med}"}}

    def medication(mid):
        return {"resourceType": "Medication", "id": mid, "code": {"coding": [
            {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "8640",
             "display": "prednisone"}]}}

    def count(oid, pid=None):
        o = {"resourceType": "Observation", "id": oid, "status": "final",
             "code": {"coding": [{"system": "http://loinc.org", "code": "777-3"}]},
             "effectiveDateTime": "2024-01-01", "valueQuantity": {
                 "value": 20, "unit": "10*9/L", "system": "http://unitsofmeasure.org", "code": "10*9/L"}}
        return o if pid is None else {**o, "subject": {"reference": f"Patient/{pid}"}}

    resources = [patient("p1"), patient("p2"), medication("m1"), medication("m2"), medication("m3"),
                 order("r1", "p1", "m1"), order("r2", "p2", "m2"), count("o1", "p1"), count("o2", "p2"),
                 count("o3")]
    path = tmp_path / "two.json"
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "collection",
                                "entry": [{"resource": r} for r in resources]}))
    py_tables, py_unmapped, views_tables, views_unmapped = _both(path)
    for unmapped in (py_unmapped, views_unmapped):
        counts = dict(unmapped.counts)
        assert counts.get("FHIR Observation: names no patient") == 1, counts
        assert counts.get("FHIR Medication: not referenced by a mapped medication order or statement") == 1
        assert not [r for r in counts if "another patient" in r], counts
    for tables in (py_tables, views_tables):
        labs = tables["labs"].to_pylist()
        assert sorted((x["patient_id"], x["value"]) for x in labs if x["test"] == "platelets") == [
            ("p1", 20), ("p2", 20)]


# -- at scale: the mapped tables are streamed to Parquet by a bounded DuckDB ---------------------------------
def test_parquet_equals_arrow_row_for_row(export, tmp_path):
    """``fhir_views_to_parquet`` (what derive reads) writes the rows of ``read_fhir_views`` in the same order
    (``seq`` comes from it) with the same types, and counts the same unmapped rows."""
    a_unmapped, b_unmapped = Unmapped(), Unmapped()
    arrow = read_fhir_views(export, a_unmapped)
    folder = fhir_views_to_parquet(export, tmp_path / "t", b_unmapped)
    for name, table in arrow.items():
        written = pq.read_table(folder / f"{name}.parquet")
        assert written.schema.names == table.schema.names, name
        assert written.cast(table.schema).equals(table), name  # DuckDB marks keys NOT NULL: types equal
    assert dict(a_unmapped.counts) == dict(b_unmapped.counts)


def test_views_database_is_bounded():
    """The views run in a DuckDB with the cohort memory limit and a spill folder (9.3 GB at 100k patients
    unbounded); rows on the way in any order (the outputs come in a total order, the Parquet files in the
    order of their query: test_parquet_equals_arrow_row_for_row)."""
    query = (
        "SELECT name, value FROM duckdb_settings() WHERE name IN "
        "('memory_limit', 'temp_directory', 'preserve_insertion_order')"
    )
    views, engine = fhir_views._connect(), duckdb.connect(config=duckdb_config())
    try:
        setting, cohort = dict(views.execute(query).fetchall()), dict(engine.execute(query).fetchall())
    finally:
        views.close()
        engine.close()
    assert setting["preserve_insertion_order"] == "false"  # the outputs' order is their ORDER BY
    assert "sleitp-fhir-views-" in setting["temp_directory"]
    assert setting["memory_limit"] == cohort["memory_limit"] == "2.3 GiB"  # DEFAULT_DUCKDB_MEMORY, 2500 MB


def test_lab_rows_in_slices_give_the_same_tables_and_unmapped_counts(export, monkeypatch):
    """The lab rows are made on slices of the Observations (1M patients: 47 slices); a slice of 499
    Observations (dozens of slices here) gives the tables and the unmapped counts of one slice, row for row
    (each table comes in its total order)."""
    whole_unmapped, sliced_unmapped = Unmapped(), Unmapped()
    whole = read_fhir_views(export, whole_unmapped)
    monkeypatch.setattr(fhir_views, "OBSERVATIONS_A_SLICE", 499)
    inserts: list[str] = []

    class Counted:
        def __init__(self, con):
            self.con = con

        def execute(self, sql, *args):
            if sql.startswith("INSERT INTO lab_rows"):
                inserts.append(sql)
            return self.con.execute(sql, *args)

    real = fhir_views._observations
    monkeypatch.setattr(fhir_views, "_observations", lambda con, codes: real(Counted(con), codes))
    sliced = read_fhir_views(export, sliced_unmapped)
    assert len(inserts) > 20
    for name, table in whole.items():
        assert sliced[name].equals(table), name
    assert dict(sliced_unmapped.counts) == dict(whole_unmapped.counts)
    assert whole["labs"].num_rows > 5000


def test_tables_on_the_way_are_stored_in_a_file_then_removed(export, tmp_path):
    """``fhir_views_to_parquet`` keeps the views' and the mapping's tables in a DuckDB file, compressed (at 1M
    patients the raw spill of in-memory tables outgrew 34 GB of disk), not in temporary (in-memory) tables,
    and removes the file when done: the folder holds the five tables only."""
    seen: dict[str, object] = {}
    database = tmp_path / "views.duckdb"

    def look(con: duckdb.DuckDBPyConnection, queries: dict[str, str]) -> None:
        current = "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
        seen["file"] = con.execute(current).fetchone()[0]
        seen["temporary"] = con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary").fetchone()[0]
        seen["stored"] = con.execute("SELECT count(*) FROM duckdb_tables() WHERE NOT temporary").fetchone()[0]

    fhir_views._mapped(export, Unmapped(), look, database=database)
    assert seen["file"] == str(database)
    assert seen["temporary"] == 0 and seen["stored"] > len(VIEWS)
    assert not database.exists() and not database.with_name("views.duckdb.wal").exists()
    out = fhir_views_to_parquet(export, tmp_path / "tables", Unmapped())
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{n}.parquet" for n in ("bleeding", "labs", "manifestations", "patients", "treatments")
    )


def test_tables_come_in_a_total_order(export):
    """Ties of the natural key (two courses of one patient starting the same day) are broken by every other
    column, so one export gives the same rows in the same order, hence the same ``seq``, on every run (a
    parallel sort leaves ties in any order)."""
    queries: dict[str, str] = {}
    fhir_views._mapped(export, Unmapped(), lambda con, q: queries.update(q))
    for name in ("labs", "treatments", "manifestations"):  # patients: one row a patient_id; bleeding: none
        order = set(re.findall(r'"?([a-z_]+)"?', queries[name].rsplit("ORDER BY", 1)[1]))
        missing = [c for c in table_schema(name).names if c not in order]
        assert not missing, f"{name}: ORDER BY leaves ties in {missing}"
    tables = read_fhir_views(export, Unmapped())

    def key(row: dict, cols: list[str]) -> tuple:
        return tuple((row[c] is None, "" if row[c] is None else row[c]) for c in cols)  # NULLS LAST

    for name, cols in (
        ("treatments", ["patient_id", "start", "agent", "end", "dose", "dose_unit", "frequency", "route",
                        "indication"]),
        ("manifestations", ["patient_id", "date", "name", "nephritis_class"]),
    ):
        rows = tables[name].to_pylist()
        assert rows == sorted(rows, key=lambda r, cols=cols: key(r, cols)), name
    rows = tables["treatments"].to_pylist()
    same_day = [key(a, ["patient_id", "start"]) == key(b, ["patient_id", "start"])
                for a, b in zip(rows, rows[1:], strict=False)]
    assert any(same_day)  # the export has ties to break


def test_a_broken_ndjson_line_is_a_clear_error_naming_the_source(tmp_path):
    """An engine error while the views run (here a line that is not JSON; at scale a full spill disk) is a
    SourceError naming the source and the engine's reason: exit 2 from the CLI, no traceback, no output."""
    export = tmp_path / "fhir"
    export.mkdir()
    (export / "Patient.ndjson").write_text(
        '{"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1990-01-01"}\n'
        '{"resourceType": "Patient", "id": \n',
        encoding="utf-8",
    )
    with pytest.raises(SourceError, match=r"fhir: the FHIR views could not be run \(.*JSON"):
        fhir_views_to_parquet(export, tmp_path / "t", Unmapped())
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == []  # the tables' database file removed too
    res = subprocess.run(
        [sys.executable, "-m", "sleitp", "cohort", "derive", str(export), "--out", str(tmp_path / "o"),
         "--fhir-mapping", "views"],
        capture_output=True, text=True, check=False,
    )
    assert res.returncode == 2, res.stderr
    assert "the FHIR views could not be run" in res.stderr and "Traceback" not in res.stderr + res.stdout
    assert not (tmp_path / "o" / "responses.parquet").exists()
