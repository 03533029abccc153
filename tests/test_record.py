"""The patient record contract (spec/record.md): units, bounds, dates and the errors on bad input."""

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sleitp.errors import RecordError
from sleitp.record import PatientRecord, load_record, parse_record, record_json_schema
from sleitp.units import TESTS, to_canonical

from .conftest import SPEC_EXAMPLES


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


def test_unknown_fields_are_reported_not_silently_ignored():
    r = parse_record(rec(asessment_date="2024-01-01", labs=[lab("platelets", 20, "10^9/L", comment="x")]))
    assert r.warnings == ["asessment_date: not a field of the record contract; ignored",
                          "labs[0].comment: not a field of the record contract; ignored"]


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
    (rec(treatments=[{"agent": "aspirin", "start": "2024-01-01"}]), ["treatments[0].agent", "'aspirin'"]),
    (rec(treatments=[{"agent": "prednisone", "start": "2024-02-01", "end": "2024-01-01"}]),
     ["treatments[0]", "end", "before start"]),
    (rec(treatments=[{"agent": "prednisone", "start": "2024-02-01", "dose": 60}]),
     ["treatments[0]", "dose_unit"]),
    (rec(treatments=[{"agent": "prednisone", "start": "2024-02-01", "dose": 1, "dose_unit": "mg/m2"}]),
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
