"""FHIR R4 mapping (sleitp.fhir): public HL7/Synthea files worked by hand, rules one by one, errors.

Expected values are read from the files themselves (testdata.md §2, §8): Bundle-101 r6 is 444 10*9/L
for Patient/pat2 on 2011-03-04 (the DiagnosticReport's time); Bundle-report o3 is 84 "K/ul"; the Synthea
bundle has three 777-3 counts, two at 2020-10-29T23:45:08+00:00 (408.43 and 377.90); medrx0303 is a
prednisone 5 mg tablet taper of 4, 2 and 1 tablets a day.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sleitp.fhir as fhir
from sleitp.errors import RecordError, SourceError
from sleitp.fhir import (
    MappingOptions,
    MappingReport,
    bundle_to_record,
    bundle_to_record_dict,
    iter_bundle_files,
    iter_ndjson_patients,
    prefetch_to_resources,
    resources_to_record_dict,
)
from sleitp.inputs import read_patient
from tests.conftest import ROOT, SHARED_DATA

DATA = SHARED_DATA
R4 = DATA / "fhir-r4-official"
SYNTHEA = DATA / "synthea-fhir-r4" / "Oralia_Stark_b21200a6-ec96-408b-b8ab-e481402ac607.json"

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def labs_of(record: dict, test: str) -> list[dict]:
    return [lab for lab in record["labs"] if lab["test"] == test]


# -- resource builders (hand-made cases) ---------------------------------------------------------------
PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1980-05-01"}


def obs(
    code: str,
    *,
    value=None,
    unit=None,
    ucum=True,
    when="2024-03-01T08:00:00Z",
    status="final",
    oid=None,
    **extra,
) -> dict:
    o = {
        "resourceType": "Observation",
        "status": status,
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": "Patient/p1"},
    }
    if oid:
        o["id"] = oid
    if when:
        o["effectiveDateTime"] = when
    if value is not None:
        q = {"value": value}
        if unit is not None:
            q["unit"] = unit
            if ucum:
                q["system"], q["code"] = UCUM, unit
        o["valueQuantity"] = q
    o.update(extra)
    return o


def cond(system: str, code: str, onset: str | None = "2020-01-10", **extra) -> dict:
    c = {
        "resourceType": "Condition",
        "code": {"coding": [{"system": system, "code": code}]},
        "subject": {"reference": "Patient/p1"},
    }
    if onset:
        c["onsetDateTime"] = onset
    c.update(extra)
    return c


def medreq(
    concept: dict,
    *,
    dosage: list | None = None,
    status="active",
    intent="order",
    authored="2024-01-02",
    **extra,
) -> dict:
    m = {
        "resourceType": "MedicationRequest",
        "status": status,
        "intent": intent,
        "medicationCodeableConcept": concept,
        "subject": {"reference": "Patient/p1"},
        "authoredOn": authored,
    }
    if dosage is not None:
        m["dosageInstruction"] = dosage
    m.update(extra)
    return m


def daily(dose: float, unit: str, start: str, end: str | None = None, **repeat) -> dict:
    rep = {
        "boundsPeriod": {"start": start, **({"end": end} if end else {})},
        "frequency": 1,
        "period": 1,
        "periodUnit": "d",
    }
    rep.update(repeat)
    return {
        "timing": {"repeat": rep},
        "doseAndRate": [{"doseQuantity": {"value": dose, "unit": unit, "system": UCUM, "code": unit}}],
    }


def run(*resources: dict, **kw) -> tuple[dict, MappingReport]:
    return resources_to_record_dict([copy.deepcopy(PATIENT), *resources], **kw)


# -- public files --------------------------------------------------------------------------------------
class TestBundle101:
    def test_platelet_444_for_pat2_on_the_report_date(self):
        record, report = bundle_to_record_dict(load(R4 / "Bundle-101.json"))
        assert record["id"] == "pat2"
        assert labs_of(record, "platelets") == [
            {
                "test": "platelets",
                "value": 444.0,
                "unit": "10*9/L",
                "reference_low": 150.0,
                "reference_high": 450.0,
                "date": "2011-03-04",
            }
        ]
        assert (
            report.notes["Observation: no effective time; the DiagnosticReport's effective time is used"] == 5
        )

    def test_other_cbc_results(self):
        record, _ = bundle_to_record_dict(load(R4 / "Bundle-101.json"))
        got = {lab["test"]: (lab["value"], lab["unit"]) for lab in record["labs"]}
        assert got == {
            "platelets": (444.0, "10*9/L"),
            "hemoglobin": (176.0, "g/L"),
            "wbc": (4.6, "10*9/L"),
            "neutrophils": (0.9, "10*9/L"),
            "lymphocytes": (0.9, "10*9/L"),
        }

    def test_every_resource_is_accounted_for(self):
        bundle = load(R4 / "Bundle-101.json")
        _, report = bundle_to_record_dict(bundle)
        assert report.total == len(bundle["entry"]) == 18
        # erythrocytes, hematocrit, MCV, MCH, percentages, monocytes, eosinophils, basophils: not record tests
        assert report.unmapped["Observation: LOINC code not in the sleitp vocabulary"] == 12

    def test_validated_record_has_canonical_units_and_no_age(self):
        rec = bundle_to_record(load(R4 / "Bundle-101.json"), source="Bundle-101.json")
        assert [(lab.value, lab.unit) for lab in rec.platelet_counts()] == [(444.0, "10^9/L")]
        assert rec.birth_date is None and rec.age_at(rec.effective_assessment_date) is None


class TestBundleReport:
    def test_k_per_ul_platelets_normalised_with_a_note(self):
        record, report = bundle_to_record_dict(load(R4 / "Bundle-report.json"))
        assert record["id"] == "genetics-example1"  # from the DiagnosticReport's subject
        assert labs_of(record, "platelets") == [
            {"test": "platelets", "value": 84.0, "unit": "K/ul", "date": "2015-01-02"}
        ]
        assert report.notes["Observation: unit 'K/ul' (not a UCUM code) read as a unit of platelets"] == 1
        rec = bundle_to_record(load(R4 / "Bundle-report.json"))
        assert rec.platelet_counts()[0].value == 84.0 and rec.platelet_counts()[0].unit == "10^9/L"

    def test_observations_without_value_or_code_are_counted(self):
        bundle = load(R4 / "Bundle-report.json")
        _, report = bundle_to_record_dict(bundle)
        assert report.unmapped["Observation: no LOINC code"] == 2
        assert report.total == len(bundle["entry"])


class TestSynthea:
    def test_three_counts_duplicate_instant_keeps_the_lower(self):
        record, report = bundle_to_record_dict(load(SYNTHEA))
        plt = labs_of(record, "platelets")
        assert [(p["date"], round(p["value"], 2)) for p in plt] == [
            ("2014-10-09", 357.67),
            ("2020-10-29", 377.90),
        ]
        reason = (
            "Observation: duplicate platelets result at the same instant "
            "(different value; the lower value is kept)"
        )
        assert report.unmapped[reason] == 1

    def test_keep_all_option_keeps_both(self):
        record, _ = bundle_to_record_dict(load(SYNTHEA), options=MappingOptions(same_instant="keep_all"))
        assert sorted(round(p["value"], 2) for p in labs_of(record, "platelets")) == [357.67, 377.90, 408.43]

    def test_patient_from_urn_uuid_and_mpv_pdw_not_platelets(self):
        bundle = load(SYNTHEA)
        record, report = bundle_to_record_dict(bundle)
        assert record["id"] == "beabfaa9-5f90-4aa4-860b-529ef87c8080"
        assert record["sex"] == "female" and record["birth_date"] == "1998-08-27"
        assert len(labs_of(record, "platelets")) == 2  # 32207-3 PDW, 32623-1 MPV never counted
        assert report.total == len(bundle["entry"]) == 176

    def test_naproxen_reported_not_an_agent(self):
        record, report = bundle_to_record_dict(load(SYNTHEA))
        assert record["treatments"] == []
        assert report.unmapped["MedicationRequest: medication not an ITP/SLE agent"] == 7
        assert any(
            "MedicationRequest/" in r
            for r in report.examples["MedicationRequest: medication not an ITP/SLE agent"]
        )


def medrx_bundle() -> dict:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": "http://example.org/fhir/Patient/pat1", "resource": load(R4 / "Patient-pat1.json")},
            {"resource": load(R4 / "MedicationRequest-medrx0303.json")},
            {"resource": load(R4 / "Medication-med0311.json")},
        ],
    }


class TestPrednisoneTaper:
    def test_three_courses_20_10_5_mg_over_the_structured_periods(self):
        record, report = bundle_to_record_dict(medrx_bundle())
        got = [
            (t["start"], t["end"], t["dose"], t["dose_unit"], t["frequency"]) for t in record["treatments"]
        ]
        assert got == [
            ("2015-01-16", "2015-01-20", 20.0, "mg", "daily"),
            ("2015-01-23", "2015-01-30", 10.0, "mg", "daily"),
            ("2015-01-31", "2015-02-06", 5.0, "mg", "daily"),
        ]
        assert {t["agent"] for t in record["treatments"]} == {"prednisone"}
        # step 1: text "for 7 days" vs 5 structured days; step 2: 8 days; step 3 agrees (7 days)
        assert (
            report.notes[
                "MedicationRequest: dosage text and structured timing disagree on the duration; "
                "the structured boundsPeriod is used"
            ]
            == 2
        )

    def test_pat1_has_no_birth_date(self):
        record, report = bundle_to_record_dict(medrx_bundle())
        assert "birth_date" not in record and record["sex"] == "male"
        assert report.notes["Patient: no birthDate; age unknown"] == 1

    def test_standalone_medication_not_referenced_is_counted(self):
        _, report = bundle_to_record_dict(medrx_bundle())
        assert report.unmapped["Medication: not referenced by a mapped medication order or statement"] == 1

    def test_medication_by_reference_uses_ingredient_strength(self):
        bundle = medrx_bundle()
        mr = bundle["entry"][1]["resource"]
        del mr["contained"]
        mr["medicationReference"] = {"reference": "Medication/med0311"}
        record, report = bundle_to_record_dict(bundle)
        assert [t["dose"] for t in record["treatments"]] == [20.0, 10.0, 5.0]
        assert report.mapped["Medication"] == 1


class TestCli:
    @pytest.mark.parametrize(
        "name, patient, latest",
        [("Bundle-101.json", "pat2", 444.0), ("Bundle-report.json", "genetics-example1", 84.0)],
    )
    def test_score_json_on_a_bundle(self, name, patient, latest):
        out = subprocess.run(
            [sys.executable, "-m", "sleitp", "score", str(R4 / name), "--json"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        data = json.loads(out.stdout)
        assert data["patient_id"] == patient and data["platelets"]["latest"] == latest

    def test_score_on_a_bad_bundle_is_one_clear_line(self, tmp_path):
        bundle = load(R4 / "Bundle-101.json")
        bundle["entry"][6]["resource"]["valueQuantity"]["value"] = "abc"
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(bundle))
        out = subprocess.run(
            [sys.executable, "-m", "sleitp", "score", str(path), "--json"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 2
        assert "entry[6] (Observation/r6): valueQuantity.value" in out.stderr
        assert "Traceback" not in out.stderr


# -- errors ----------------------------------------------------------------------------------------------
class TestErrors:
    def test_not_json(self, tmp_path):
        path = tmp_path / "b.json"
        path.write_text('{"resourceType": "Bundle", "entry": [')
        with pytest.raises(RecordError, match="not valid JSON"):
            read_patient(path)

    def test_resource_failing_validation_names_entry_and_field(self):
        bundle = load(R4 / "Bundle-101.json")
        del bundle["entry"][3]["resource"]["status"]
        with pytest.raises(RecordError, match=r"entry\[3\] \(Observation/r3\): status: .*required"):
            bundle_to_record(bundle)

    def test_unknown_element_is_named(self):
        bundle = load(R4 / "Bundle-101.json")
        bundle["entry"][6]["resource"]["valu"] = 1
        with pytest.raises(RecordError, match=r"entry\[6\] \(Observation/r6\): valu: is not an element"):
            bundle_to_record(bundle)

    def test_invalid_resource_reported_instead_when_asked(self):
        bundle = load(R4 / "Bundle-101.json")
        bundle["entry"][6]["resource"]["valueQuantity"]["value"] = "abc"
        record, report = bundle_to_record_dict(bundle, options=MappingOptions(on_invalid="report"))
        assert labs_of(record, "platelets") == []
        assert report.unmapped["Observation: fails FHIR R4 validation"] == 1

    def test_not_a_bundle(self):
        with pytest.raises(RecordError, match="resourceType: a single FHIR Patient resource was given; "
                                              "expected a FHIR R4 Bundle"):
            bundle_to_record(load(R4 / "Patient-pat1.json"))

    @pytest.mark.parametrize("bundle,message", [
        ({"resourceType": "Bundel", "type": "collection"},
         "resourceType: 'Bundel' is not a FHIR type (names are case-sensitive); did you mean 'Bundle'?"),
        ({"resourcetype": "Bundle", "type": "collection"},
         "resourcetype: FHIR spells it 'resourceType' (capital T); expected resourceType 'Bundle'"),
        ({"type": "collection", "entry": []},
         'resourceType: missing; expected a FHIR R4 Bundle ("resourceType": "Bundle")'),
        ({"resourceType": 7}, "resourceType: expected the text 'Bundle'"),
    ])
    def test_misspelled_or_missing_resource_type_says_what_was_expected(self, bundle, message):
        with pytest.raises(RecordError) as e:
            bundle_to_record(bundle)
        assert message in str(e.value) and "None" not in str(e.value)

    def test_bundle_file_with_a_bom_is_read(self, tmp_path):
        path = tmp_path / "bom.json"
        path.write_bytes(b"\xef\xbb\xbf" + (R4 / "Bundle-101.json").read_bytes())
        assert read_patient(path).record.id == "pat2"

    def test_folder_of_bundles_with_a_bom_and_a_directory_named_json(self, tmp_path):
        (tmp_path / "a.json").write_bytes(b"\xef\xbb\xbf" + (R4 / "Bundle-101.json").read_bytes())
        assert [r["id"] for r, _ in iter_bundle_files(tmp_path)] == ["pat2"]
        (tmp_path / "b.json").mkdir()
        with pytest.raises(SourceError) as e:
            list(iter_bundle_files(tmp_path))
        assert str(e.value) == "b.json: is a directory, not a Bundle file"

    def test_unsupported_bundle_type(self):
        with pytest.raises(RecordError, match="Bundle type 'message' is not supported"):
            bundle_to_record({"resourceType": "Bundle", "type": "message", "entry": []})

    def test_no_patient(self):
        bundle = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": obs("777-3", value=50, unit="10*9/L")}],
        }
        del bundle["entry"][0]["resource"]["subject"]
        with pytest.raises(RecordError, match="no Patient resource and no subject reference"):
            bundle_to_record(bundle)
        rec = bundle_to_record(bundle, patient_id="x1")  # a patient_id makes it usable
        assert rec.id == "x1" and rec.platelet_counts()[0].value == 50.0

    def test_several_patients_named(self):
        bundle = load(R4 / "Bundle-101.json")
        bundle["entry"].append({"resource": {"resourceType": "Patient", "id": "other"}})
        with pytest.raises(RecordError, match=r"2 patients \(Patient/other, Patient/pat2\)"):
            bundle_to_record(bundle)
        record, report = bundle_to_record_dict(bundle, patient_id="pat2")
        assert len(labs_of(record, "platelets")) == 1
        assert report.unmapped["Patient: belongs to another patient"] == 1

    def test_patient_id_not_in_bundle(self):
        with pytest.raises(RecordError, match="no resources of patient 'nobody'"):
            bundle_to_record(load(R4 / "Bundle-101.json"), patient_id="nobody")


# -- Observation rules -----------------------------------------------------------------------------------
class TestObservations:
    @pytest.mark.parametrize(
        "status, reason",
        [
            ("entered-in-error", "Observation: status 'entered-in-error' (ignored)"),
            ("cancelled", "Observation: status 'cancelled' (ignored)"),
            ("preliminary", "Observation: status 'preliminary' is not a final result"),
        ],
    )
    def test_status(self, status, reason):
        record, report = run(obs("777-3", value=20, unit="10*9/L", status=status))
        assert record["labs"] == [] and report.unmapped[reason] == 1

    @pytest.mark.parametrize("status", ["final", "amended", "corrected"])
    def test_released_statuses_used(self, status):
        record, _ = run(obs("777-3", value=20, unit="10*9/L", status=status))
        assert labs_of(record, "platelets")[0]["value"] == 20

    def test_platelet_display_without_loinc_code_not_mapped(self):
        o = obs("777-3", value=300, unit="10*9/L")
        o["code"] = {
            "coding": [{"system": "http://example.org/local", "code": "PLT", "display": "Platelet count"}],
            "text": "Platelets",
        }
        record, report = run(o)
        assert record["labs"] == [] and report.unmapped["Observation: no LOINC code"] == 1

    def test_mpv_is_not_a_platelet_count(self):
        record, report = run(obs("32623-1", value=10.5, unit="fL"))
        assert record["labs"] == []
        assert report.unmapped["Observation: LOINC code not in the sleitp vocabulary"] == 1

    @pytest.mark.parametrize(
        "value, unit, ucum, expected",
        [
            (45, "10*9/L", True, 45.0),
            (45, "10*3/uL", True, 45.0),
            (45000, "/uL", True, 45.0),
            (45, "K/uL", False, 45.0),
            (45, "k/UL", False, 45.0),
            (45, "x10^9/L", False, 45.0),
        ],
    )
    def test_count_units(self, value, unit, ucum, expected):
        record, _ = run(obs("777-3", value=value, unit=unit, ucum=ucum))
        rec = bundle_free_record(record)
        assert rec.platelet_counts()[0].value == pytest.approx(expected)

    def test_unknown_unit_named(self):
        record, report = run(obs("777-3", value=45, unit="xyz", ucum=False))
        assert (
            record["labs"] == []
            and report.unmapped["Observation: unit 'xyz' not accepted for platelets"] == 1
        )

    def test_value_without_unit(self):
        record, report = run(obs("777-3", value=45))
        assert report.unmapped["Observation: platelets value without a unit"] == 1

    def test_implausible_value(self):
        record, report = run(obs("777-3", value=2500, unit="10*9/L"))
        assert record["labs"] == []
        assert (
            report.unmapped["Observation: platelets value outside the plausible range (0 to 2000 10^9/L)"]
            == 1
        )

    def test_exactly_the_plausible_limit_is_kept(self):
        record, _ = run(obs("777-3", value=2000, unit="10*9/L"))
        assert labs_of(record, "platelets")[0]["value"] == 2000

    def test_ucum_spelling_alias(self):
        record, _ = run(obs("33799-8", value=120, unit="[IU]/mL"))
        assert labs_of(record, "anti_dsdna")[0] == {
            "test": "anti_dsdna",
            "value": 120.0,
            "unit": "IU/mL",
            "date": "2024-03-01",
        }

    def test_time_sources(self):
        no_time = obs("777-3", value=20, unit="10*9/L", when=None)
        period = obs(
            "777-3", value=21, unit="10*9/L", when=None, effectivePeriod={"start": "2024-02-01T10:00:00Z"}
        )
        issued = obs("777-3", value=22, unit="10*9/L", when=None, issued="2024-02-05T10:00:00Z")
        partial = obs("777-3", value=23, unit="10*9/L", when="2024-02")
        record, report = run(no_time, period, issued, partial)
        assert [(p["date"], p["value"]) for p in labs_of(record, "platelets")] == [
            ("2024-02-01", 21),
            ("2024-02-05", 22),
        ]
        assert report.unmapped["Observation: no effective time"] == 1
        assert report.unmapped["Observation: effective time is a partial date (year or month only)"] == 1
        assert report.notes["Observation: no effective time; its issued time is used"] == 1

    def test_report_time_comes_before_own_issued(self):
        o = obs("777-3", value=20, unit="10*9/L", when=None, oid="o1", issued="2024-03-09T10:00:00Z")
        dr = {
            "resourceType": "DiagnosticReport",
            "id": "d1",
            "status": "final",
            "code": {"text": "CBC"},
            "subject": {"reference": "Patient/p1"},
            "effectiveDateTime": "2024-03-07T08:00:00Z",
            "result": [{"reference": "Observation/o1"}],
        }
        record, report = run(o, dr)
        assert labs_of(record, "platelets")[0]["date"] == "2024-03-07"
        assert (
            report.notes["Observation: no effective time; the DiagnosticReport's effective time is used"] == 1
        )

    def test_local_date_of_a_datetime_is_kept(self):
        record, _ = run(obs("777-3", value=20, unit="10*9/L", when="2024-03-01T23:30:00-05:00"))
        assert labs_of(record, "platelets")[0]["date"] == "2024-03-01"  # not the UTC date 03-02

    def test_same_instant_same_value_counted_once(self):
        a = obs("777-3", value=25, unit="10*9/L", oid="a")
        b = obs("777-3", value=25, unit="10*3/uL", oid="b")  # the same value in another spelling
        record, report = run(a, b)
        assert len(labs_of(record, "platelets")) == 1
        assert (
            report.unmapped["Observation: duplicate platelets result at the same instant (same value)"] == 1
        )

    def test_same_instant_written_in_two_time_zones_is_one_instant(self):
        a = obs("777-3", value=25, unit="10*9/L", when="2024-03-01T08:00:00Z")
        b = obs("777-3", value=31, unit="10*9/L", when="2024-03-01T09:00:00+01:00")
        record, _ = run(a, b)
        assert [p["value"] for p in labs_of(record, "platelets")] == [25]

    def test_same_day_different_times_both_kept(self):
        a = obs("777-3", value=25, unit="10*9/L", when="2024-03-01T08:00:00Z")
        b = obs("777-3", value=31, unit="10*9/L", when="2024-03-01T08:00:01Z")
        record, _ = run(a, b)
        assert sorted(p["value"] for p in labs_of(record, "platelets")) == [25, 31]

    def test_qualitative_results(self):
        pos = obs("5195-3", valueCodeableConcept={"coding": [{"system": SNOMED, "code": "10828004"}]})
        neg = obs("5196-1", when="2024-03-02", valueString="Negative")
        interp = obs(
            "5195-3",
            when="2024-03-03",
            interpretation=[
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                            "code": "POS",
                        }
                    ]
                }
            ],
        )
        record, _ = run(pos, neg, interp)
        assert [(h["date"], h["result"]) for h in labs_of(record, "hbsag")] == [
            ("2024-03-01", "positive"),
            ("2024-03-02", "negative"),
            ("2024-03-03", "positive"),
        ]

    def test_measured_antibody_needs_the_upper_limit(self):
        with_range = obs("3181-5", value=40, unit="[GPL'U]/mL", referenceRange=[{"high": {"value": 14}}])
        without = obs("3181-5", value=40, unit="[GPL'U]/mL", when="2024-03-02")
        record, report = run(with_range, without)
        rec = bundle_free_record(record)
        acl = rec.labs_of("anticardiolipin")
        assert len(acl) == 1 and acl[0].result == "positive"  # 40 > 14
        assert (
            report.unmapped[
                "Observation: measured anticardiolipin without the laboratory's upper limit "
                "(referenceRange.high) or an interpretation"
            ]
            == 1
        )

    def test_the_laboratorys_own_positive_or_negative_wins_over_the_value_against_its_limit(self):
        """Mayo SM: < 1.0 U negative, >= 1.0 U positive; [FHIR-R4] high is inclusive, so 1.0 U against high
        1.0 reads negative by the limit alone: the interpretation POS decides; without one, the limit."""
        v3 = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
        pos_code = [{"coding": [{"system": v3, "code": "POS"}]}]
        at_limit = obs("18323-6", value=1.0, unit="U", ucum=False, referenceRange=[{"high": {"value": 1.0}}],
                       interpretation=pos_code)
        limit_only = obs("18323-6", value=1.0, unit="U", ucum=False, when="2024-03-02",
                         referenceRange=[{"high": {"value": 1.0}}])
        above = obs("18323-6", value=3.4, unit="U", ucum=False, when="2024-03-03",
                    referenceRange=[{"high": {"value": 1.0}}])
        record, _ = run(at_limit, limit_only, above)
        rec = bundle_free_record(record)
        assert [(str(x.date), x.value, x.result) for x in rec.labs_of("anti_sm")] == [
            ("2024-03-01", 1.0, "positive"),  # the lab's word
            ("2024-03-02", 1.0, "negative"),  # 1.0 is inside the inclusive high bound
            ("2024-03-03", 3.4, "positive"),
        ]

    def test_sm_ssa_and_direct_coombs_by_their_loinc_codes(self):
        """codes.yaml: anti-Sm 18323-6, anti-SSA 33610-7 (Mayo SM, SSA), DAT polyspecific 1007-4."""
        snomed_pos = {"coding": [{"system": SNOMED, "code": "10828004"}]}
        record, report = run(
            obs("33610-7", valueCodeableConcept=snomed_pos),
            obs("1007-4", when="2024-03-02", valueString="Negative"),
            obs("18323-6", when="2024-03-03", valueCodeableConcept={"text": "Negative"}),
        )
        assert [(x["test"], x["result"]) for x in record["labs"]] == [
            ("anti_ssa", "positive"), ("direct_coombs", "negative"), ("anti_sm", "negative"),
        ]
        assert report.unmapped == {}

    def test_ana_titre_as_ratio_string_and_number(self):
        ratio = obs("29953-7", valueRatio={"numerator": {"value": 1}, "denominator": {"value": 160}})
        text = obs("29953-7", when="2024-03-02", valueString="1:320")
        bare = obs("29953-7", value=80, when="2024-03-03")
        record, _ = run(ratio, text, bare)
        assert [(a["value"], a["unit"]) for a in labs_of(record, "ana")] == [
            (160, "titer"),
            (320, "titer"),
            (80, "titer"),
        ]

    def test_pregnancy_status_latest_wins(self):
        early = obs(
            "82810-3",
            when="2024-01-01",
            valueCodeableConcept={"coding": [{"system": SNOMED, "code": "77386006"}]},
        )
        late = obs(
            "82810-3",
            when="2024-06-01",
            valueCodeableConcept={"coding": [{"system": SNOMED, "code": "60001007"}]},
        )
        record, _ = run(late, early)
        assert record["pregnant"] is False
        record, _ = run(early)
        assert record["pregnant"] is True


def bundle_free_record(record: dict):
    from sleitp.record import parse_record

    return parse_record(record)


# -- Conditions, procedures, patient -----------------------------------------------------------------------
class TestConditions:
    def test_sle_snomed_and_earliest_onset(self):
        record, _ = run(cond(SNOMED, "55464009", "2019-05-02"), cond(ICD10CM, "M32.9", "2018-11-30"))
        assert record["sle_diagnosis_date"] == "2018-11-30"

    def test_lupus_nephritis_is_sle_and_history(self):
        record, _ = run(cond(ICD10CM, "M3214", "2021-02-03"))  # written without the dot
        assert record["sle_diagnosis_date"] == "2021-02-03"
        assert record["history"] == {"lupus_nephritis": True}
        assert record["manifestations"] == [{"date": "2021-02-03", "name": "lupus_nephritis"}]

    def test_lupus_erythematosus_parent_not_sle_by_default(self):
        record, report = run(cond(SNOMED, "200936003"))
        assert "sle_diagnosis_date" not in record
        assert (
            report.unmapped[
                "Condition: SNOMED 200936003 'Lupus erythematosus' is broader than SLE "
                "(55464009); not taken as SLE"
            ]
            == 1
        )
        record, _ = run(cond(SNOMED, "200936003"), options=MappingOptions(lupus_erythematosus_is_sle=True))
        assert record["sle_diagnosis_date"] == "2020-01-10"

    def test_drug_induced_lupus_not_sle(self):
        record, report = run(cond(ICD10CM, "M32.0"))
        assert "sle_diagnosis_date" not in record
        assert report.unmapped["Condition: drug-induced lupus (ICD-10-CM M32.0) is not counted as SLE"] == 1

    def test_itp_codes(self):
        record, _ = run(cond(ICD10CM, "D69.3", "2022-04-01"), cond(SNOMED, "128091003", "2022-03-15"))
        assert record["itp_diagnosis_date"] == "2022-03-15"

    def test_secondary_thrombocytopenia_needs_an_sle_code(self):
        record, report = run(cond(ICD10CM, "D69.59", "2022-04-01"))
        assert "itp_diagnosis_date" not in record
        assert (
            report.notes[
                "Condition: secondary thrombocytopenia (D69.59) without an SLE code; not taken as ITP"
            ]
            == 1
        )
        record, _ = run(cond(ICD10CM, "D69.59", "2022-04-01"), cond(SNOMED, "55464009", "2015-01-01"))
        assert record["itp_diagnosis_date"] == "2022-04-01"

    def test_aps(self):
        record, _ = run(cond(ICD10CM, "D68.61"))
        assert record["history"] == {"antiphospholipid_syndrome": True}

    def test_autoimmune_haemolytic_anaemia_is_a_manifestation_on_its_onset(self):
        """[ICD10CM-AIHA] D59.10-D59.19 (with or without the dot); not D59.0 (drug-induced) or Evans D69.41;
        without a date it cannot be placed in time: not mapped, with the reason."""
        record, report = run(
            cond(ICD10CM, "D59.11", "2021-06-01"),  # warm
            cond(ICD10CM, "D5910", "2022-02-02"),  # unspecified, written without the dot
            cond(ICD10CM, "D59.19", None, recordedDate="2023-03-03"),  # no onset: the recorded date
            cond(ICD10CM, "D59.13", None),
            cond(ICD10CM, "D59.0", "2020-01-01"),
            cond(ICD10CM, "D69.41", "2020-01-01"),
        )
        assert record["manifestations"] == [
            {"date": "2021-06-01", "name": "autoimmune_hemolysis"},
            {"date": "2022-02-02", "name": "autoimmune_hemolysis"},
            {"date": "2023-03-03", "name": "autoimmune_hemolysis"},
        ]
        assert "history" not in record or "autoimmune_hemolysis" not in record["history"]
        assert report.unmapped[
            "Condition: autoimmune haemolytic anaemia without an onset or recorded date (a manifestation "
            "needs its date)"
        ] == 1
        assert report.unmapped["Condition: code not in the sleitp vocabulary"] == 2  # D59.0, D69.41

    @pytest.mark.parametrize(
        "status, reason",
        [
            ("refuted", "Condition: verificationStatus 'refuted' (ignored)"),
            ("entered-in-error", "Condition: verificationStatus 'entered-in-error' (ignored)"),
            ("provisional", "Condition: verificationStatus 'provisional' (not a confirmed diagnosis)"),
        ],
    )
    def test_verification_status(self, status, reason):
        vs = {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": status}
            ]
        }
        record, report = run(cond(SNOMED, "55464009", verificationStatus=vs))
        assert "sle_diagnosis_date" not in record and report.unmapped[reason] == 1

    def test_recorded_date_when_no_onset(self):
        record, report = run(cond(SNOMED, "55464009", None, recordedDate="2017-07-07"))
        assert record["sle_diagnosis_date"] == "2017-07-07"
        assert report.notes["Condition: no onset date; recordedDate used as the diagnosis date"] == 1

    def test_subject_that_is_not_a_patient(self):
        o = obs("777-3", value=20, unit="10*9/L", subject={"reference": "Group/g1"})
        record, report = run(o)
        assert record["labs"] == [] and report.unmapped["Observation: subject is not a Patient"] == 1

    def test_a_resource_without_subject_is_the_patient_s_in_a_bundle_of_one_patient(self):
        o = {k: v for k, v in obs("777-3", value=20, unit="10*9/L").items() if k != "subject"}
        record, report = run(o)
        assert [x["value"] for x in record["labs"]] == [20]
        assert report.notes["Observation: no subject; taken as the patient's"] == 1

    def test_a_resource_without_subject_is_nobody_s_among_several_patients(self):
        """Mapped for p1 and then for p2, a subject-less count must not land in both records."""
        o = {k: v for k, v in obs("777-3", value=20, unit="10*9/L").items() if k != "subject"}
        p2 = {**copy.deepcopy(PATIENT), "id": "p2"}
        for pid in ("p1", "p2"):
            record, report = run(p2, o, patient_id=pid)
            assert record["labs"] == [], pid
            assert report.unmapped["Observation: names no patient"] == 1

    def test_burn_of_ear_not_mapped(self):
        c = load(R4 / "Condition-example.json")
        record, report = resources_to_record_dict([c], patient_id="example")
        assert report.unmapped["Condition: code not in the sleitp vocabulary"] == 1

    def test_splenectomy_procedure(self):
        proc = {
            "resourceType": "Procedure",
            "status": "completed",
            "subject": {"reference": "Patient/p1"},
            "code": {"text": "Laparoscopic splenectomy"},
            "performedDateTime": "2023-09-09",
        }
        other = {
            "resourceType": "Procedure",
            "status": "completed",
            "subject": {"reference": "Patient/p1"},
            "code": {"text": "Appendectomy"},
            "performedDateTime": "2023-09-09",
        }
        record, report = run(proc, other)
        assert record["treatments"] == [
            {"agent": "splenectomy", "start": "2023-09-09", "end": "2023-09-09", "frequency": "once"}
        ]
        assert record["history"] == {"splenectomy": True}
        assert report.unmapped["Procedure: not a procedure sleitp uses"] == 1

    def test_partial_birth_date(self):
        record, report = resources_to_record_dict(
            [{"resourceType": "Patient", "id": "q", "birthDate": "1975"}]
        )
        assert "birth_date" not in record
        assert report.notes["Patient: partial birthDate (year or month only) not used; age unknown"] == 1


# -- Medications --------------------------------------------------------------------------------------------
def bundle_of(*resources: dict) -> dict:
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": copy.deepcopy(r)} for r in resources]}


def encounter(start: str | None, end: str | None = None, *, status="finished", klass="AMB") -> dict:
    period = {k: v for k, v in (("start", start), ("end", end)) if v}
    return {"resourceType": "Encounter", "id": f"e-{start}-{status}-{klass}", "status": status,
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": klass},
            "subject": {"reference": "Patient/p1"}, "period": period}


class TestEncounters:
    """The last in-person contact as the assessment date (sleitp.fhir._encounters), worked by hand; the
    rules on every status and class are held equal to the SQL mapping in tests/cohort/sources."""

    COUNT = obs("777-3", value=40, unit="10*9/L", when="2024-03-01")

    def test_the_last_contact_later_than_the_data_is_the_assessment_date_and_the_report_says_so(self):
        record, report = run(self.COUNT, encounter("2024-04-01"), encounter("2024-05-01", "2024-05-03"))
        assert record["assessment_date"] == "2024-05-03"  # the later one, on its end
        note = "Encounter: the last in-person contact taken as the assessment date"
        assert report.notes[note] == 1 and report.examples[note] == ["Encounter/e-2024-05-01-finished-AMB"]
        assert report.mapped["Encounter"] == 2
        record = fhir.bundle_to_record(bundle_of(PATIENT, self.COUNT, encounter("2024-05-01")))
        assert record.assessment_date.isoformat() == "2024-05-01"

    def test_a_contact_on_or_before_the_last_date_changes_nothing(self):
        for day in ("2024-02-01", "2024-03-01"):  # before, and on, the count's day
            record, report = run(self.COUNT, encounter(day))
            assert "assessment_date" not in record and not report.notes, day  # the latest date: 2024-03-01

    def test_an_ongoing_contact_is_on_its_start(self):
        record, _ = run(self.COUNT, encounter("2024-04-01", "2024-04-20", status="in-progress", klass="IMP"))
        assert record["assessment_date"] == "2024-04-01"

    def test_the_day_after_the_data_is_the_last_day_a_contact_can_be_on(self):
        today = MappingOptions(as_of=date(2024, 4, 1))
        record, _ = run(self.COUNT, encounter("2024-04-02"), options=today)  # the next day: a contact
        assert record["assessment_date"] == "2024-04-02"
        record, report = run(self.COUNT, encounter("2024-04-03"), options=today)  # the day after: not
        assert "assessment_date" not in record
        assert report.unmapped["Encounter: dated after the data (not a contact that took place)"] == 1

    @pytest.mark.parametrize("status", ["planned", "cancelled", "entered-in-error", "unknown"])
    def test_an_encounter_that_did_not_take_place_is_not_a_contact(self, status):
        record, report = run(self.COUNT, encounter("2024-04-01", status=status))
        assert "assessment_date" not in record
        assert report.unmapped[f"Encounter: status '{status}' (not a contact that took place)"] == 1

    @pytest.mark.parametrize("klass", ["VR", "HH", "FLD", "PRENC"])
    def test_a_contact_without_the_patient_at_a_facility_is_not_one(self, klass):
        record, report = run(self.COUNT, encounter("2024-04-01", klass=klass))
        assert "assessment_date" not in record
        assert report.unmapped[f"Encounter: class '{klass}' (not an in-person contact at a facility)"] == 1

    def test_at_the_point_of_care_the_assessment_is_today_not_the_last_contact(self):
        """A CDS Hooks prefetch with a clinic visit after the last count: judged today, so the data's age
        is measured from today, not from the visit (which a Bundle given as a file is judged on)."""
        from sleitp.inputs import read_patient

        count = obs("777-3", value=40, unit="10*9/L", when="2024-05-02", oid="c1")
        resources = [copy.deepcopy(r) for r in (PATIENT, count, encounter("2024-05-20"))]
        patient = read_patient(resources, patient_id="p1", today=date(2024, 6, 1))
        assert patient.record.assessment_date == date(2024, 6, 1)
        record, _ = resources_to_record_dict(resources)
        assert record["assessment_date"] == "2024-05-20"

    def test_a_late_contact_without_a_count_leaves_the_line_under_evaluation(self):
        """The date moves the clock, never the verdict: prednisone from 2024-01-10, counts on days 1-2,
        a clinic visit on day 200 with no count: the line waits for a current count (CS-4b)."""
        from sleitp.instruments.iwg import iwg_responses

        pred = medreq({"coding": [{"system": RXNORM, "code": "8640"}]},
                      dosage=[daily(60, "mg", "2024-01-10")])
        counts = [obs("777-3", value=v, unit="10*9/L", when=w, oid=f"c{i}")
                  for i, (v, w) in enumerate(((12, "2024-01-10"), (15, "2024-01-11")))]
        record = fhir.bundle_to_record(bundle_of(PATIENT, pred, *counts, encounter("2024-07-28")))
        assert record.assessment_date.isoformat() == "2024-07-28"
        (line,) = iwg_responses(record, record.effective_assessment_date)
        assert line.status == "under_evaluation" and line.days_evaluated == 200


def rx(code: str, display: str = "") -> dict:
    return {"coding": [{"system": RXNORM, "code": code, **({"display": display} if display else {})}]}


class TestMedications:
    def test_rxnorm_ingredient_mg_dose(self):
        record, _ = run(medreq(rx("8640"), dosage=[daily(60, "mg", "2024-01-05", "2024-01-25")]))
        assert record["treatments"] == [
            {
                "agent": "prednisone",
                "start": "2024-01-05",
                "end": "2024-01-25",
                "dose": 60.0,
                "dose_unit": "mg",
                "frequency": "daily",
            }
        ]

    def test_atc_and_grams(self):
        atc = {"coding": [{"system": "http://www.whocc.no/atc", "code": "H02AB04"}]}
        record, _ = run(medreq(atc, dosage=[daily(1, "g", "2024-01-05", "2024-01-07")]))
        t = record["treatments"][0]
        assert (t["agent"], t["dose"], t["dose_unit"]) == ("methylprednisolone", 1000.0, "mg")

    def test_ivig_per_kg_by_name(self):
        concept = {"text": "Immune globulin intravenous (human) 10%"}
        record, report = run(medreq(concept, dosage=[daily(1, "g/kg", "2024-02-01", "2024-02-02")]))
        t = record["treatments"][0]
        assert (t["agent"], t["dose"], t["dose_unit"]) == ("ivig", 1.0, "g/kg")
        assert (
            report.notes[
                "MedicationRequest: medication identified by its name (no code in the sleitp vocabulary)"
            ]
            == 1
        )

    @pytest.mark.parametrize(
        "text, agent",
        [
            ("Methylprednisolone sodium succinate 40 MG Injection", "methylprednisolone"),
            ("prednisolone 5 mg tablet", "prednisolone"),
            ("Mycophenolate mofetil 500 MG", "mycophenolate"),
            ("Ciclosporin 100 mg", "cyclosporine"),
        ],
    )
    def test_names_and_synonyms(self, text, agent):
        record, _ = run(medreq({"text": text}, dosage=[daily(1, "mg", "2024-01-05")]))
        assert record["treatments"][0]["agent"] == agent

    @pytest.mark.parametrize(
        "text, reason",
        [
            ("Hepatitis B immune globulin", "MedicationRequest: medication not an ITP/SLE agent"),
            ("prednisone and azathioprine pack", "MedicationRequest: medication text names several agents"),
        ],
    )
    def test_names_not_mapped(self, text, reason):
        record, report = run(medreq({"text": text}, dosage=[daily(1, "mg", "2024-01-05")]))
        assert record["treatments"] == [] and report.unmapped[reason] == 1

    @pytest.mark.parametrize(
        "status, intent, reason",
        [
            ("draft", "order", "MedicationRequest: status 'draft' (not a treatment given)"),
            ("cancelled", "order", "MedicationRequest: status 'cancelled' (not a treatment given)"),
            ("active", "plan", "MedicationRequest: intent 'plan' (not an order)"),
        ],
    )
    def test_request_status_and_intent(self, status, intent, reason):
        record, report = run(
            medreq(rx("8640"), status=status, intent=intent, dosage=[daily(20, "mg", "2024-01-05")])
        )
        assert record["treatments"] == [] and report.unmapped[reason] == 1

    @pytest.mark.parametrize(
        "repeat, frequency",
        [
            ({"frequency": 2, "period": 1, "periodUnit": "d"}, "bid"),
            ({"frequency": 1, "period": 1, "periodUnit": "wk"}, "weekly"),
            ({"count": 1}, "once"),
        ],
    )
    def test_frequency(self, repeat, frequency):
        dosage = daily(375, "mg", "2024-01-05", "2024-01-05")
        dosage["timing"]["repeat"] = {"boundsPeriod": {"start": "2024-01-05", "end": "2024-01-05"}, **repeat}
        record, _ = run(medreq(rx("121191"), dosage=[dosage]))
        assert record["treatments"][0]["frequency"] == frequency

    def test_unusual_frequency_kept_as_text_with_note(self):
        dosage = daily(10, "mg", "2024-01-05")
        dosage["timing"]["repeat"].update({"frequency": 1, "period": 2, "periodUnit": "d"})
        record, report = run(medreq(rx("8640"), dosage=[dosage]))
        assert record["treatments"][0]["frequency"] == "1 per 2 d"
        assert (
            report.notes[
                "MedicationRequest: frequency not one of daily, bid, tid, qid, weekly, once; kept as text"
            ]
            == 1
        )

    def test_stopped_without_end_uses_supply_duration(self):
        m = medreq(
            rx("312615", "prednisone 20 MG Oral Tablet"),
            status="stopped",
            authored="2024-01-01",
            dosage=[{"doseAndRate": [{"doseQuantity": {"value": 1}}]}],
            dispenseRequest={
                "expectedSupplyDuration": {"value": 30, "unit": "days", "system": UCUM, "code": "d"}
            },
        )
        record, report = run(m)
        t = record["treatments"][0]
        assert (t["start"], t["end"]) == ("2024-01-01", "2024-01-30")  # 30 days, end inclusive
        assert (
            "dose" not in t and report.notes["MedicationRequest: dose without a unit; dose not mapped"] == 1
        )

    def test_tablets_of_a_known_product_code(self):
        m = medreq(rx("312615"), dosage=[daily(2, "TAB", "2024-01-05", "2024-01-10")])
        record, _ = run(m)
        assert record["treatments"][0]["dose"] == 40.0  # 2 x 20 mg

    def test_tablets_without_strength(self):
        m = medreq({"text": "prednisone tablet"}, dosage=[daily(2, "TAB", "2024-01-05")])
        record, report = run(m)
        assert "dose" not in record["treatments"][0]
        assert (
            report.notes[
                "MedicationRequest: dose in tablets but the tablet strength is unknown; dose not mapped"
            ]
            == 1
        )

    def test_end_before_start_is_reported(self):
        record, report = run(medreq(rx("8640"), dosage=[daily(20, "mg", "2024-01-05", "2024-01-01")]))
        assert record["treatments"] == []
        assert report.unmapped["MedicationRequest: course not valid for the record (end)"] == 1

    def test_hl7_negative_controls(self):
        """MedicationStatement-example001 (Tylenol PM, NDC) and Observation-f001 (glucose): nothing to map."""
        resources = [load(R4 / "MedicationStatement-example001.json"), load(R4 / "Observation-f001.json")]
        record, report = resources_to_record_dict(resources, patient_id="pat1")
        assert record["treatments"] == []
        assert report.unmapped["MedicationStatement: medication not an ITP/SLE agent"] == 1
        assert report.total == 2

    def test_statement_and_administration(self):
        st_ = {
            "resourceType": "MedicationStatement",
            "status": "active",
            "subject": {"reference": "Patient/p1"},
            "medicationCodeableConcept": rx("5521"),
            "effectivePeriod": {"start": "2020-01-01"},
            "dosage": [{"doseAndRate": [{"doseQuantity": {"value": 200, "unit": "mg"}}]}],
        }
        adm = {
            "resourceType": "MedicationAdministration",
            "status": "completed",
            "subject": {"reference": "Patient/p1"},
            "medicationCodeableConcept": rx("121191"),
            "effectiveDateTime": "2024-05-01T10:00:00Z",
            "dosage": {"dose": {"value": 1000, "unit": "mg", "system": UCUM, "code": "mg"}},
        }
        record, report = run(st_, adm)
        assert record["treatments"] == [
            {"agent": "hydroxychloroquine", "start": "2020-01-01", "dose": 200.0, "dose_unit": "mg"},
            {
                "agent": "rituximab",
                "start": "2024-05-01",
                "end": "2024-05-01",
                "dose": 1000.0,
                "dose_unit": "mg",
                "frequency": "once",
            },
        ]
        assert report.mapped["MedicationStatement"] == report.mapped["MedicationAdministration"] == 1


# -- prefetch, NDJSON, folders ----------------------------------------------------------------------------
class TestPrefetchAndBulk:
    def test_cds_hooks_prefetch(self):
        request = load(DATA / "cds-hooks-2.0.1" / "request-patient-view.json")
        platelets = {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [
                {"resource": obs("777-3", value=18, unit="10*9/L", subject={"reference": "Patient/1288992"})}
            ],
        }
        prefetch = dict(request["prefetch"], platelets=platelets, conditions=None)
        resources = prefetch_to_resources(prefetch)
        record, _ = resources_to_record_dict(resources, patient_id=request["context"]["patientId"])
        assert record["id"] == "1288992" and record["sex"] == "male" and record["birth_date"] == "1925-12-23"
        assert labs_of(record, "platelets")[0]["value"] == 18

    def _ndjson_folder(self, tmp_path: Path) -> Path:
        """The Synthea patient plus Bundle-101 (pat2, as a bulk export with Patient/ references), split over
        several files the way bulk exports are."""
        folder = tmp_path / "export"
        folder.mkdir()
        synthea = [e["resource"] for e in load(SYNTHEA)["entry"]]
        text = json.dumps(synthea).replace("urn:uuid:beabfaa9", "Patient/beabfaa9")
        synthea = json.loads(text)
        b101 = [e["resource"] for e in load(R4 / "Bundle-101.json")["entry"]]
        b101.append({"resourceType": "Patient", "id": "pat2", "gender": "other"})
        lines: dict[str, list[str]] = {}
        for r in synthea + b101:
            lines.setdefault(r["resourceType"], []).append(json.dumps(r))
        for rtype, rows in lines.items():
            half = len(rows) // 2 or 1
            (folder / f"{rtype}.ndjson").write_text("\n".join(rows[:half]) + "\n")
            if rows[half:]:
                (folder / f"{rtype}.2.ndjson").write_text("\n".join(rows[half:]) + "\n")
        return folder

    def test_ndjson_grouped_by_patient(self, tmp_path):
        folder = self._ndjson_folder(tmp_path)
        unattributed = MappingReport()
        out = list(iter_ndjson_patients(folder, unattributed=unattributed))
        assert [rec["id"] for rec, _ in out] == ["beabfaa9-5f90-4aa4-860b-529ef87c8080", "pat2"]
        synthea_rec, synthea_rep = out[0]
        assert len(labs_of(synthea_rec, "platelets")) == 2
        pat2 = out[1][0]
        assert labs_of(pat2, "platelets")[0]["value"] == 444 and pat2["sex"] == "other"
        # Bundle-101 Observations and DiagnosticReport name Patient/pat2; Claims, Immunizations name theirs
        # in "patient"; only the Synthea Organization and Practitioner name no patient
        assert unattributed.unmapped == {
            "Organization: names no patient": 1,
            "Practitioner: names no patient": 1,
        }
        assert synthea_rep.unmapped["Claim: resource type not used by sleitp"] == 21

    def test_ndjson_shared_medication_joined_by_reference(self, tmp_path):
        folder = tmp_path / "meds"
        folder.mkdir()
        mr = load(R4 / "MedicationRequest-medrx0303.json")
        del mr["contained"]
        mr["medicationReference"] = {"reference": "Medication/med0311"}
        unused = {"resourceType": "Medication", "id": "unused", "code": {"text": "aspirin"}}
        (folder / "MedicationRequest.ndjson").write_text(json.dumps(mr) + "\n")
        (folder / "Medication.ndjson").write_text(
            json.dumps(load(R4 / "Medication-med0311.json")) + "\n" + json.dumps(unused) + "\n"
        )
        unattributed = MappingReport()
        [(record, report)] = list(iter_ndjson_patients(folder, unattributed=unattributed))
        assert record["id"] == "pat1" and [t["dose"] for t in record["treatments"]] == [20.0, 10.0, 5.0]
        assert report.mapped == {"MedicationRequest": 1, "Medication": 1}
        assert unattributed.unmapped == {"Medication: not referenced by any medication order": 1}

    def test_ndjson_bad_line_names_file_and_line(self, tmp_path):
        folder = tmp_path / "bad"
        folder.mkdir()
        (folder / "Observation.ndjson").write_text(
            json.dumps(obs("777-3", value=5, unit="10*9/L")) + "\n{oops\n"
        )
        with pytest.raises(SourceError, match=r"Observation.ndjson: line 2: not valid JSON"):
            list(iter_ndjson_patients(folder))

    def test_ndjson_empty_folder(self, tmp_path):
        with pytest.raises(SourceError, match="no .ndjson files"):
            list(iter_ndjson_patients(tmp_path))

    def test_bundle_folder(self, tmp_path):
        for name in ("Bundle-101.json", "Bundle-report.json"):
            (tmp_path / name).write_text((R4 / name).read_text())
        ids = [rec["id"] for rec, _ in iter_bundle_files(tmp_path)]
        assert ids == ["pat2", "genetics-example1"]
        (tmp_path / "zz.json").write_text("{")
        with pytest.raises(SourceError, match=r"zz.json: not valid JSON"):
            list(iter_bundle_files(tmp_path))


# -- laws ----------------------------------------------------------------------------------------------
_SYNTHEA_ENTRIES = load(SYNTHEA)["entry"]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(min_value=1, max_value=len(_SYNTHEA_ENTRIES) - 1), unique=True, max_size=60))
def test_nothing_dropped_silently(picks):
    """Every resource handed to the mapping is counted exactly once, as mapped or as not mapped."""
    entries = [_SYNTHEA_ENTRIES[0]] + [_SYNTHEA_ENTRIES[i] for i in sorted(picks)]  # entry 0 is the Patient
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": copy.deepcopy(entries)}
    _, report = bundle_to_record_dict(bundle)
    assert report.total == len(entries)


@settings(max_examples=40, deadline=None)
@given(st.floats(min_value=0, max_value=2000, allow_nan=False), st.sampled_from(["10*9/L", "10*3/uL", "/uL"]))
def test_platelet_units_agree(value, unit):
    """The same count written in 10*9/L, 10*3/uL or /uL (x1000) maps to the same canonical value."""
    raw = value * 1000 if unit == "/uL" else value
    record, _ = run(obs("777-3", value=raw, unit=unit))
    assert bundle_free_record(record).platelet_counts()[0].value == pytest.approx(value)


def test_report_json_and_table():
    _, report = bundle_to_record_dict(load(R4 / "Bundle-101.json"))
    data = report.to_json()
    assert data["mapped"] == {"DiagnosticReport": 1, "Observation": 5} and data["total"] == 18
    assert data["unmapped"][0]["reason"] == "Observation: LOINC code not in the sleitp vocabulary"
    from rich.console import Console

    console = Console(record=True, width=160)
    console.print(report)
    assert "not mapped Observation: LOINC code not in the sleitp vocabulary" in console.export_text()


def test_public_api_is_exported():
    assert fhir.__all__ == sorted(fhir.__all__, key=str.casefold)
    assert all(hasattr(fhir, name) for name in fhir.__all__)


def test_every_code_source_resolves():
    import yaml

    refs = yaml.safe_load((ROOT / "src/sleitp/evidence/references.yaml").read_text())["references"]
    keys = {r["key"] for r in refs}
    assert fhir.load_codes().sources <= keys, fhir.load_codes().sources - keys


# -- issue 11: the new labs, dose units and agents ---------------------------------------------------------
class TestIssue11Codes:
    @pytest.mark.parametrize("code,value,unit,test,expected", [
        ("42595-9", 2000, "[IU]/mL", "hbv_dna", 2000.0),
        ("60474-4", 85, "10*3/uL", "reticulocytes", 85.0),
        ("2276-4", 250, "ng/mL", "ferritin", 250.0),
        ("20567-4", 250, "ug/L", "ferritin", 250.0),
        ("3255-7", 150, "mg/dL", "fibrinogen", 1.5),
        ("53622-7", 8, "%", "adamts13", 8.0),
        ("2465-3", 1200, "mg/dL", "igg", 12.0),
        ("1920-8", 40, "U/L", "ast", 40.0),
        ("30239-8", 40, "U/L", "ast", 40.0),
        ("2571-8", 150, "mg/dL", "triglycerides", 1.6935),
        ("14927-8", 1.7, "mmol/L", "triglycerides", 1.7),
        ("6301-6", 2.4, "{INR}", "inr", 2.4),
    ])
    def test_measured_labs_by_loinc(self, code, value, unit, test, expected):
        record, report = run(obs(code, value=value, unit=unit))
        (got,) = labs_of(record, test)
        assert got["date"] == "2024-03-01"
        lab = bundle_free_record(record).labs_of(test)[0]
        assert lab.value == pytest.approx(expected) and lab.unit == fhir_units()[test]
        assert report.mapped["Observation"] == 1

    @pytest.mark.parametrize("code,test", [
        ("16933-4", "anti_hbc"), ("13952-7", "anti_hbc"), ("16128-1", "anti_hcv"), ("13955-0", "anti_hcv"),
        ("56888-1", "anti_hiv"), ("17780-8", "h_pylori"), ("104779-4", "schistocytes"),
    ])
    def test_qualitative_labs_by_loinc(self, code, test):
        pos = obs(code, valueCodeableConcept={"coding": [{"system": SNOMED, "code": "10828004"}]})
        neg = obs(code, when="2024-03-02", valueString="Not detected")
        record, _ = run(pos, neg)
        assert [x["result"] for x in labs_of(record, test)] == ["positive", "negative"]

    def test_inr_without_a_unit(self):
        record, _ = run(obs("6301-6", value=1.1))
        assert bundle_free_record(record).labs_of("inr")[0].value == 1.1

    def test_d_dimer_code_is_feu_so_a_bare_mass_unit_is_read_in_feu(self):
        record, report = run(obs("48065-7", value=0.5, unit="ug/mL"),
                             obs("48065-7", value=500, unit="ng/mL{FEU}", when="2024-03-02"),
                             obs("48065-7", value=250, unit="ng/mL DDU", ucum=False, when="2024-03-03"))
        assert [x.value for x in bundle_free_record(record).labs_of("d_dimer")] == [0.5, 0.5]
        assert report.notes["Observation: d_dimer unit read in FEU (the LOINC code is FEU)"] == 1
        assert report.unmapped["Observation: unit 'ng/mL DDU' not accepted for d_dimer"] == 1

    def test_reticulocyte_percentage_is_not_a_mapped_code(self):
        _, report = run(obs("17849-1", value=1.5, unit="%"))
        assert report.unmapped["Observation: LOINC code not in the sleitp vocabulary"] == 1

    def test_rituximab_mg_per_m2(self):
        record, _ = run(medreq(rx("121191"), dosage=[daily(375, "mg/m2", "2024-01-05", "2024-01-05")]))
        t = record["treatments"][0]
        assert (t["agent"], t["dose"], t["dose_unit"]) == ("rituximab", 375.0, "mg/m2")
        assert bundle_free_record(record).treatments[0].dose_unit == "mg/m2"

    @pytest.mark.parametrize("code,agent", [("1191", "aspirin"), ("32968", "clopidogrel"),
                                             ("11289", "warfarin"), ("35302", "sirolimus")])
    def test_antithrombotics_by_rxnorm_ingredient(self, code, agent):
        record, _ = run(medreq(rx(code), dosage=[daily(75, "mg", "2024-01-05")]))
        assert record["treatments"][0]["agent"] == agent

    @pytest.mark.parametrize("text,agent", [
        ("Enoxaparin sodium 40 mg/0.4 mL", "lmwh"), ("Low molecular weight heparin", "lmwh"),
        ("Heparin sodium 5000 unit/mL", "heparin"), ("Apixaban 5 mg tablet", "doac"),
        ("Tranexamic acid 1 g", "tranexamic_acid"), ("VinCRIStine 1.4 mg", "vincristine"),
        ("Anifrolumab 300 mg", "anifrolumab"),
    ])
    def test_new_agents_by_name(self, text, agent):
        record, _ = run(medreq({"text": text}, dosage=[daily(1, "mg", "2024-01-05")]))
        assert record["treatments"][0]["agent"] == agent

    def test_mapping_writes_only_known_fields(self):
        # the mapping builds records itself: the strict parse accepts every official example it maps
        for name in ("Bundle-101.json", "Bundle-report.json"):
            assert bundle_to_record(load(R4 / name)).warnings == []
        assert bundle_to_record(load(SYNTHEA)).warnings == []


def fhir_units() -> dict[str, str]:
    from sleitp.units import TESTS

    return {name: t.canonical_unit for name, t in TESTS.items()}
