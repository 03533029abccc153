"""The patient record contract (spec/record.md): units, bounds, dates and the errors on bad input."""

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sleitp.errors import RecordError
from sleitp.record import PatientRecord, load_record, parse_record, record_json_schema
from sleitp.units import TESTS, to_canonical
from tests.conftest import SPEC_EXAMPLES


def lab(test, value=None, unit=None, date="2024-01-01", **kw):
    d = {"date": date, "test": test, **kw}
    if value is not None:
        d["value"] = value
    if unit is not None:
        d["unit"] = unit
    return d


def rec(**kw):
    return {"id": "P1", **kw}


# --- every unit alternative of the spec converts to the canonical unit -------------------------------
@pytest.mark.parametrize("unit,value,expected", [
    ("10^9/L", 45, 45), ("x10^9/L", 45, 45), ("10*9/L", 45, 45), ("G/L", 45, 45), ("10^3/uL", 45, 45),
    ("10*3/uL", 45, 45), ("K/uL", 45, 45), ("/uL", 45000, 45), ("/mm3", 45000, 45), ("K/ul", 84, 84),
    ("×10^9/l", 45, 45), ("10^3/µL", 45, 45),
])
def test_platelet_units(unit, value, expected):
    r = parse_record(rec(labs=[lab("platelets", value, unit)]))
    assert r.labs[0].value == pytest.approx(expected)
    assert r.labs[0].unit == "10^9/L"
    assert r.labs[0].original_unit == unit


@pytest.mark.parametrize("test,unit,value,expected", [
    ("hemoglobin", "g/dL", 9.5, 95.0), ("hemoglobin", "g/L", 95, 95.0),
    ("c3", "mg/dL", 90, 0.9), ("c4", "mg/dL", 16, 0.16),
    ("urine_protein_24h", "mg/24h", 500, 0.5), ("creatinine", "mg/dL", 1.0, 88.42),
    ("upcr", "mg/g", 500, 0.5), ("upcr", "mg/mg", 0.5, 0.5), ("upcr", "mg/mmol", 113.12, 1.0),
    ("haptoglobin", "mg/dL", 30, 0.3), ("bilirubin", "mg/dL", 1.0, 17.1),
    ("wbc", "/uL", 3000, 3.0), ("ana", "titer", 160, 160), ("anti_dsdna", "IU/mL", 45, 45),
])
def test_other_units(test, unit, value, expected):
    r = parse_record(rec(labs=[lab(test, value, unit)]))
    assert r.labs[0].value == pytest.approx(expected)
    assert r.labs[0].unit == TESTS[test].canonical_unit


def test_reference_limits_are_converted_with_the_value():
    r = parse_record(rec(labs=[lab("c3", 80, "mg/dL", reference_low=90, reference_high=180)]))
    assert r.labs[0].reference_low == pytest.approx(0.9)
    assert r.labs[0].reference_high == pytest.approx(1.8)


@given(st.floats(min_value=0, max_value=2000, allow_nan=False))
def test_platelet_units_agree(x):
    """Law: the same count in 10^9/L and in /uL is the same canonical value."""
    assert math.isclose(to_canonical("platelets", x, "10^9/L"), to_canonical("platelets", x * 1000, "/uL"),
                        rel_tol=1e-12, abs_tol=1e-12)


@given(st.floats(min_value=0.1, max_value=25, allow_nan=False))
def test_hemoglobin_units_agree(x):
    assert math.isclose(to_canonical("hemoglobin", x, "g/dL"), to_canonical("hemoglobin", x * 10, "g/L"))


def test_qualitative_and_measured_antibodies():
    r = parse_record(rec(labs=[
        lab("anti_sm", result="positive"),
        lab("anticardiolipin", 50, "GPL", reference_high=40),
        # exactly the limit: not above
        lab("anticardiolipin", 40, "GPL", reference_high=40, date="2024-02-01"),
    ]))
    assert [x.positive for x in r.labs] == [True, True, False]


def test_dates_accept_datetimes_and_sort():
    r = parse_record(rec(labs=[lab("platelets", 20, "10^9/L", date="2024-03-02T23:45:08+00:00"),
                               lab("platelets", 10, "10^9/L", date="2024-03-01")]))
    assert [str(x.date) for x in r.labs] == ["2024-03-01", "2024-03-02"]


def test_assessment_date_defaults_to_latest_date_anywhere():
    r = parse_record(rec(labs=[lab("platelets", 20, "10^9/L", date="2024-03-01")],
                         treatments=[{"agent": "prednisone", "start": "2024-03-01", "end": "2024-04-10"}]))
    assert str(r.effective_assessment_date) == "2024-04-10"


def test_unknown_fields_in_lenient_mode_are_warnings_not_silently_ignored():
    r = parse_record(rec(asessment_date="2024-01-01", labs=[lab("platelets", 20, "10^9/L", comment="x")]),
                     lenient=True)
    assert r.warnings == [
        "asessment_date: unknown field, ignored; did you mean 'assessment_date'?",
        "labs[0].comment: unknown field, ignored (known fields: date, test, value, unit, result, "
        "reference_low, reference_high, original_value, original_unit)",
    ]


# --- bad input: a clear error naming record, index, field and expectation ---------------------------
@pytest.mark.parametrize("data,fragments", [
    (rec(labs=[lab("platelet", 20, "10^9/L")]), ["'P1'", "labs[0].test", "unknown test 'platelet'"]),
    (rec(labs=[lab("c3", 0.5, "mmol")]), ["labs[0].unit", "'mmol' is not a unit for c3", "g/L or mg/dL"]),
    (rec(labs=[lab("platelets", 20)]), ["labs[0].unit", "a unit is needed for platelets"]),
    (rec(labs=[lab("platelets", -5, "10^9/L")]),
     ["labs[0].value", "outside the plausible range", "0 to 2000"]),
    (rec(labs=[lab("platelets", 2001, "10^9/L")]), ["labs[0].value", "platelets"]),
    (rec(labs=[lab("platelets", "many", "10^9/L")]), ["labs[0].value", "expected a number"]),
    (rec(labs=[lab("platelets", 20, "10^9/L", date="2024-02-30")]),
     ["labs[0].date", "YYYY-MM-DD", "2024-02-30"]),
    (rec(labs=[{"test": "platelets", "value": 20, "unit": "10^9/L"}]), ["labs[0].date", "required"]),
    (rec(labs=[lab("platelets", result="positive")]), ["labs[0].result", "measured test"]),
    (rec(labs=[lab("anticardiolipin", 50, "GPL")]), ["labs[0].reference_high"]),
    (rec(labs=[lab("anti_sm", result="weak")]), ["labs[0].result", "positive"]),
    (rec(labs=[lab("platelets")]), ["labs[0]", "needs a 'value'"]),
    ({"labs": []}, ["record (no id)", "id", "required"]),
    ({"id": ""}, ["id"]),
    (rec(sex="F"), ["sex", "'F'", "female"]),
    (rec(treatments=[{"agent": "asprin", "start": "2024-01-01"}]), ["treatments[0].agent", "'asprin'"]),
    (rec(treatments=[{"agent": "prednisone", "start": "2024-02-01", "end": "2024-01-01"}]),
     ["treatments[0]", "end", "before start"]),
    (rec(treatments=[{"agent": "prednisone", "start": "2024-02-01", "dose": 60}]),
     ["treatments[0]", "dose_unit"]),
    (rec(treatments=[{"agent": "prednisone", "start": "2024-02-01", "dose": 1, "dose_unit": "mg/m3"}]),
     ["treatments[0].dose_unit"]),
    (rec(bleeding=[{"date": "2024-01-01", "who_grade": 5}]), ["bleeding[0].who_grade"]),
    (rec(bleeding=[{"date": "2024-01-01", "who_grade": 2, "site": "brain"}]), ["bleeding[0].site"]),
    (rec(manifestations=[{"date": "2024-01-01", "name": "lupus"}]), ["manifestations[0].name", "'lupus'"]),
    (rec(manifestations=[{"date": "2024-01-01", "name": "lupus_nephritis", "details": {"class": "VII"}}]),
     ["manifestations[0]", "class"]),
    (rec(history={"hepatitisB": True}), ["history.hepatitisB"]),
    (rec(weight_kg=-3), ["weight_kg"]),
    ([], ["expected a JSON object"]),
])
def test_bad_input_names_the_field(data, fragments):
    with pytest.raises(RecordError) as e:
        parse_record(data)
    for f in fragments:
        assert f in str(e.value), (f, str(e.value))


def test_several_problems_are_all_reported():
    with pytest.raises(RecordError) as e:
        parse_record(rec(labs=[lab("c3", 1, "mmol"), lab("platelets", -1, "10^9/L")]))
    assert len(e.value.problems) == 2


def test_not_json_and_missing_file(write_json, tmp_path):
    with pytest.raises(RecordError, match=r"not valid JSON \(line 1"):
        load_record(write_json("{not json"))
    with pytest.raises(RecordError, match="file not found"):
        load_record(tmp_path / "absent.json")


def test_record_without_any_date_needs_an_assessment_date():
    with pytest.raises(RecordError, match="assessment_date"):
        _ = parse_record(rec()).effective_assessment_date


def test_schema_is_a_json_schema_of_the_record():
    schema = record_json_schema()
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert {"id", "labs", "treatments", "bleeding", "history"} <= set(schema["properties"])
    assert "platelets [10^9/L" in json.dumps(schema)


@pytest.mark.parametrize(
    "path", sorted(p for p in SPEC_EXAMPLES.glob("*.json") if not p.name.endswith(".expect.json")))
def test_spec_examples_parse_or_fail_as_expected(path):
    expect = json.loads(path.with_name(path.name.replace(".json", ".expect.json")).read_text())
    if expect.get("exit") == "nonzero":
        with pytest.raises(RecordError):
            load_record(path)
    else:
        assert isinstance(load_record(path), PatientRecord)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
field_names = st.sampled_from(["id", "sex", "birth_date", "age_years", "pregnant", "weight_kg", "labs",
                               "treatments", "bleeding", "manifestations", "history", "assessment_date"])
item_keys = st.sampled_from(["date", "test", "value", "unit", "result", "reference_low", "reference_high",
                             "agent", "start", "end", "dose", "dose_unit", "who_grade", "site", "name",
                             "details"])


@given(st.dictionaries(field_names,
                       json_values | st.lists(st.dictionaries(item_keys, json_values), max_size=3)))
def test_any_json_gives_a_record_or_a_record_error(data):
    """Law (found by fuzzing the service): whatever JSON arrives, parsing either succeeds or raises
    RecordError with a message; never TypeError/AttributeError."""
    try:
        r = parse_record(data)
    except RecordError as e:
        assert e.problems and all(isinstance(p, str) and p for p in e.problems)
    else:
        r.effective_assessment_date if any((r.labs, r.treatments, r.bleeding, r.manifestations)) else None


# --- strict input (issue 15 item 1): an unknown field anywhere is an error naming path and closest name ---
CAPE = {"agent": "prednisone", "start": "2024-01-01", "dose": 30, "dose_unit": "mg"}


@pytest.mark.parametrize("data,message", [
    (rec(pregant=True), "record 'P1': pregant: unknown field; did you mean 'pregnant'?"),
    (rec(treatment=[CAPE]), "record 'P1': treatment: unknown field; did you mean 'treatments'?"),
    (rec(treatments=[{**CAPE, "stop": "2024-01-10"}]),
     "record 'P1': treatments[0].stop: unknown field; did you mean 'end'?"),
    (rec(labs=[lab("platelets", 20, "10^9/L", units="10^9/L")]),
     "record 'P1': labs[0].units: unknown field; did you mean 'unit'?"),
    (rec(bleeding=[{"date": "2024-01-01", "who_grade": 2, "sight": "skin"}]),
     "record 'P1': bleeding[0].sight: unknown field; did you mean 'site'?"),
    (rec(manifestations=[{"date": "2024-01-01", "name": "rash", "detail": {}}]),
     "record 'P1': manifestations[0].detail: unknown field; did you mean 'details'?"),
    (rec(history={"thrombosys": True}),
     "record 'P1': history.thrombosys: unknown field; did you mean 'thrombosis'?"),
    (rec(height=160), "record 'P1': height: unknown field; did you mean 'height_cm'?"),
    (rec(gestational_age=20),
     "record 'P1': gestational_age: unknown field; did you mean 'gestational_weeks'?"),
])
def test_unknown_field_is_an_error_with_its_path_and_the_closest_name(data, message):
    with pytest.raises(RecordError) as e:
        parse_record(data)
    assert str(e.value) == message


def test_unknown_field_index_is_the_input_index_not_the_sorted_one():
    # the second course in the input (a later start would sort it elsewhere) is named treatments[1]
    data = rec(treatments=[{**CAPE, "start": "2024-03-01"}, {**CAPE, "stop": "2024-01-09"}])
    with pytest.raises(RecordError, match=r"treatments\[1\]\.stop"):
        parse_record(data)


def test_unknown_field_without_a_close_name_lists_the_known_ones():
    with pytest.raises(RecordError) as e:
        parse_record(rec(bleeding=[{"date": "2024-01-01", "who_grade": 2, "zzz": 1}]))
    assert "bleeding[0].zzz: unknown field (known fields: date, who_grade, site)" in str(e.value)


def test_unknown_fields_and_invalid_values_are_reported_together():
    with pytest.raises(RecordError) as e:
        parse_record(rec(pregant=True, sex="F"))
    assert len(e.value.problems) == 2 and "pregant" in e.value.problems[0] and "sex" in e.value.problems[1]


def test_misspelled_pregnant_changes_nothing_in_lenient_mode_and_says_so():
    r = parse_record(rec(pregant=True), lenient=True)
    assert r.pregnant is None
    assert r.warnings == ["pregant: unknown field, ignored; did you mean 'pregnant'?"]


def test_lenient_mode_warns_for_every_location():
    r = parse_record(rec(treatments=[{**CAPE, "stop": "2024-01-10"}], history={"thrombosys": True},
                         bleeding=[{"date": "2024-01-01", "who_grade": 1, "sight": "skin"}]), lenient=True)
    assert r.treatments[0].end is None  # the misspelled end is not read: the warning is what tells
    assert r.warnings == [
        "history.thrombosys: unknown field, ignored; did you mean 'thrombosis'?",
        "treatments[0].stop: unknown field, ignored; did you mean 'end'?",
        "bleeding[0].sight: unknown field, ignored; did you mean 'site'?",
    ]


def test_a_clean_record_has_no_warnings_either_way():
    data = rec(treatments=[CAPE], labs=[lab("platelets", 20, "10^9/L")])
    assert parse_record(data).warnings == [] and parse_record(data, lenient=True).warnings == []


def test_load_record_is_strict_unless_lenient(write_json):
    path = write_json({"id": "P1", "pregant": True, "assessment_date": "2024-01-01"})
    with pytest.raises(RecordError, match="pregant: unknown field; did you mean 'pregnant'"):
        load_record(path)
    assert load_record(path, lenient=True).warnings


# --- FHIR look-alikes and file-level errors (issue 15 "Why": Python wording) -----------------------------
@pytest.mark.parametrize("data,fragment", [
    ({"resourceType": "Bundel", "type": "collection"}, "resourceType: 'Bundel' is not a FHIR type"),
    ({"resourceType": "bundle", "entry": []}, "did you mean 'Bundle'?"),
    ({"resourcetype": "Bundle", "entry": []}, "resourcetype: FHIR spells it 'resourceType'"),
    ({"resourceType": "Patient", "id": "p1"}, "a FHIR resource of type 'Patient' was given"),
])
def test_fhir_look_alikes_say_what_was_expected(data, fragment):
    with pytest.raises(RecordError) as e:
        parse_record(data)
    assert fragment in str(e.value) and "None" not in str(e.value)


def test_a_bom_is_accepted(tmp_path):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"id": "B1", "assessment_date": "2024-01-01"}).encode())
    assert load_record(path).id == "B1"


def test_file_level_errors_name_the_file_in_words(tmp_path):
    with pytest.raises(RecordError) as e:
        load_record(tmp_path)
    assert str(e.value) == f"{tmp_path}: is a directory, not a file (give the path of one .json file)"
    assert "Errno" not in str(e.value) and "record (no id)" not in str(e.value)
    with pytest.raises(RecordError) as e:
        load_record(tmp_path / "absent.json")
    assert str(e.value) == f"{tmp_path / 'absent.json'}: file not found"
    (tmp_path / "latin1.json").write_bytes(b'{"id": "\xe9"}')
    with pytest.raises(RecordError, match="is not UTF-8 text"):
        load_record(tmp_path / "latin1.json")
    (tmp_path / "empty.json").write_text("  ")
    with pytest.raises(RecordError, match="is empty"):
        load_record(tmp_path / "empty.json")


# --- the labs added for issue 11: every unit converted (hand-computed), bounds, refusals -----------------
@pytest.mark.parametrize("test,value,unit,expected", [
    ("hbv_dna", 2000, "IU/mL", 2000.0),
    ("reticulocytes", 85, "10^9/L", 85.0), ("reticulocytes", 85, "K/uL", 85.0),
    ("reticulocytes", 85000, "/uL", 85.0),  # 85,000 /uL = 85 x10^9/L
    ("ferritin", 250, "ug/L", 250.0), ("ferritin", 250, "ng/mL", 250.0), ("ferritin", 0.25, "mg/L", 250.0),
    ("fibrinogen", 1.5, "g/L", 1.5), ("fibrinogen", 150, "mg/dL", 1.5),
    ("d_dimer", 0.5, "mg/L FEU", 0.5), ("d_dimer", 0.5, "ug/mL FEU", 0.5), ("d_dimer", 500, "ng/mL FEU", 0.5),
    ("d_dimer", 500, "ug/L FEU", 0.5),
    ("adamts13", 8, "%", 8.0), ("adamts13", 8, "IU/dL", 8.0), ("adamts13", 0.08, "IU/mL", 8.0),
    ("egfr", 58, "mL/min/1.73m2", 58.0), ("egfr", 58, "mL/min/1.73 m²", 58.0),
    ("igg", 12, "g/L", 12.0), ("igg", 1200, "mg/dL", 12.0), ("igg", 1.2, "g/dL", 12.0),
    ("ast", 40, "U/L", 40.0), ("ast", 40, "IU/L", 40.0),
    ("triglycerides", 1.7, "mmol/L", 1.7), ("triglycerides", 150, "mg/dL", 1.6935),  # 150 x 0.01129
    ("inr", 2.5, "ratio", 2.5), ("inr", 2.5, "{INR}", 2.5),
])
def test_new_lab_units_convert(test, value, unit, expected):
    r = parse_record(rec(labs=[lab(test, value, unit)]))
    assert r.labs[0].value == pytest.approx(expected) and r.labs[0].unit == TESTS[test].canonical_unit


def test_inr_without_a_unit_is_a_ratio():
    r = parse_record(rec(labs=[lab("inr", 1.1)]))
    assert r.labs[0].value == 1.1 and r.labs[0].unit == "ratio"


@pytest.mark.parametrize("test,value,unit,fragment", [
    ("reticulocytes", 1.5, "%", "needs the red-cell count"),
    ("hbv_dna", 3.3, "log IU/mL", "give HBV DNA in IU/mL"),
    ("hbv_dna", 2000, "copies/mL", "assay-specific"),
    ("d_dimer", 0.5, "mg/L", "must say FEU"),
    ("d_dimer", 250, "ng/mL DDU", "DDU is not converted"),
    ("ferritin", 20, "pmol/L", "'pmol/L' is not a unit for ferritin"),
])
def test_units_that_cannot_be_converted_are_refused_with_what_to_give(test, value, unit, fragment):
    with pytest.raises(RecordError) as e:
        parse_record(rec(labs=[lab(test, value, unit)]))
    assert "labs[0].unit" in str(e.value) and fragment in str(e.value)


@pytest.mark.parametrize("test,unit,at_bound,beyond", [
    ("ferritin", "ug/L", 500000, 500001), ("fibrinogen", "g/L", 20, 20.1), ("d_dimer", "mg/L FEU", 200, 201),
    ("adamts13", "%", 300, 301), ("egfr", "mL/min/1.73m2", 250, 251), ("igg", "g/L", 200, 201),
    ("triglycerides", "mmol/L", 200, 201), ("inr", "ratio", 25, 25.1), ("hbv_dna", "IU/mL", 1e10, 1.1e10),
    ("reticulocytes", "10^9/L", 1000, 1001), ("ast", "U/L", 50000, 50001),
])
def test_new_lab_bounds(test, unit, at_bound, beyond):
    assert parse_record(rec(labs=[lab(test, at_bound, unit)])).labs[0].value == pytest.approx(at_bound)
    with pytest.raises(RecordError, match="outside the plausible range"):
        parse_record(rec(labs=[lab(test, beyond, unit)]))
    with pytest.raises(RecordError, match="outside the plausible range"):
        parse_record(rec(labs=[lab(test, -1, unit)]))


def test_inr_below_its_lower_bound_is_refused():
    with pytest.raises(RecordError, match="0.3 to 25"):
        parse_record(rec(labs=[lab("inr", 0.2)]))


@pytest.mark.parametrize("test", ["anti_hbc", "anti_hcv", "anti_hiv", "h_pylori", "schistocytes", "tpmt"])
def test_new_qualitative_tests(test):
    r = parse_record(rec(labs=[lab(test, result="positive"),
                               lab(test, result="negative", date="2024-02-01")]))
    assert [x.positive for x in r.labs] == [True, False]


def test_serology_index_against_the_laboratory_limit():
    # anti-HBc reported as a signal/cut-off index 1.4 with limit 1.0: positive; exactly 1.0: not above
    r = parse_record(rec(labs=[lab("anti_hbc", 1.4, "S/CO", reference_high=1.0),
                               lab("anti_hbc", 1.0, "S/CO", reference_high=1.0, date="2024-02-01")]))
    assert [x.positive for x in r.labs] == [True, False]


def test_tpmt_and_schistocytes_are_results_only():
    for test in ("tpmt", "schistocytes", "h_pylori"):
        with pytest.raises(RecordError, match="reference_high"):
            parse_record(rec(labs=[lab(test, 3, "%")]))


def test_apl_titres_with_their_units_stay_qualitative_against_reference_high():
    r = parse_record(rec(labs=[lab("anticardiolipin", 45, "GPL U/mL", reference_high=40),
                               lab("anti_b2gp1", 15, "U/mL", reference_high=20, date="2024-02-01"),
                               lab("anticardiolipin", 30, "MPL U/mL", reference_high=40, date="2024-03-01")]))
    assert [(x.positive, x.value) for x in r.labs] == [(True, 45), (False, 15), (False, 30)]


# --- pregnancy, height and mg/m2 (issue 11 item 6) ---------------------------------------------------------
def test_gestational_weeks_imply_pregnant():
    assert parse_record(rec(gestational_weeks=24)).pregnant is True
    assert parse_record(rec(gestational_weeks=24, pregnant=True)).pregnant is True


def test_gestational_weeks_with_pregnant_false_is_an_error():
    with pytest.raises(RecordError, match="gestational_weeks: 24 weeks of gestation given but pregnant is "
                                          "false"):
        parse_record(rec(gestational_weeks=24, pregnant=False))


@pytest.mark.parametrize("weeks,ok", [(0, True), (45, True), (45.1, False), (-1, False)])
def test_gestational_weeks_bounds(weeks, ok):
    if ok:
        assert parse_record(rec(gestational_weeks=weeks)).gestational_weeks == weeks
    else:
        with pytest.raises(RecordError, match="gestational_weeks"):
            parse_record(rec(gestational_weeks=weeks))


def test_due_and_delivery_dates():
    r = parse_record(rec(due_date="2024-09-01", delivery_date="2024-01-03", assessment_date="2024-01-10"))
    assert str(r.due_date) == "2024-09-01" and str(r.delivery_date) == "2024-01-03"
    # the day of the assessment is allowed, the day after is not (that is a due date)
    assert parse_record(rec(delivery_date="2024-01-10", assessment_date="2024-01-10")).delivery_date
    with pytest.raises(RecordError, match="delivery_date: 2024-01-11 is after the assessment date"):
        parse_record(rec(delivery_date="2024-01-11", assessment_date="2024-01-10"))


@pytest.mark.parametrize("height,ok", [(40, True), (250, True), (39.9, False), (251, False)])
def test_height_bounds(height, ok):
    if ok:
        assert parse_record(rec(height_cm=height)).height_cm == height
    else:
        with pytest.raises(RecordError, match="height_cm"):
            parse_record(rec(height_cm=height))


def test_body_surface_area_by_mosteller():
    # sqrt(170 x 70 / 3600) = sqrt(3.30556) = 1.81812 m2 (hand-computed)
    bsa = parse_record(rec(weight_kg=70, height_cm=170)).body_surface_area_m2
    assert bsa == pytest.approx(1.81812, abs=1e-5)
    assert parse_record(rec(weight_kg=70)).body_surface_area_m2 is None


def test_rituximab_375_mg_per_m2_parses():
    r = parse_record(rec(treatments=[{"agent": "rituximab", "start": "2024-01-01", "dose": 375,
                                      "dose_unit": "mg/m2", "frequency": "weekly", "indication": "itp"}]))
    assert (r.treatments[0].dose, r.treatments[0].dose_unit) == (375, "mg/m2")


def test_schema_has_every_new_field_and_test():
    schema = record_json_schema()
    assert {"gestational_weeks", "due_date", "delivery_date", "height_cm"} <= set(schema["properties"])
    text = json.dumps(schema)
    assert "mg/m2" in text and '"indication"' in text
    for t in ("anti_hbc", "hbv_dna", "anti_hiv", "anti_hcv", "h_pylori", "reticulocytes", "ferritin",
              "fibrinogen", "d_dimer", "schistocytes", "adamts13", "egfr", "igg", "ast", "triglycerides",
              "inr", "tpmt"):
        assert f"{t} [" in text, t
