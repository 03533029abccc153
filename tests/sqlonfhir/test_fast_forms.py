"""The compiler's fast forms on DuckDB give the rows of its general form:

- plain paths (members, ``first()``, ``choice.ofType(T)``) read with one JSONPath out of the focus's single
  parse, guarded so that data the JSONPath cannot read (an array before the last step, a bare choice key, a
  null first item) take the general form; each case below is the FHIRPath result worked by hand, and passes
  on the general form too;
- a view of the resource's columns times one forEach (or one unionAll) unnested in the query rather than
  through a lambda over the items: every package view, on a synthetic bulk export and on the shared FHIR
  examples, gives the same rows both ways."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from sleitp.cohort.sources.fhir_views import VIEWS, view
from sleitp.cohort.synth.fhir import write_fhir
from sleitp.cohort.synth.generate import synthesize
from sleitp.sqlonfhir.compiler import Compiler, _hoisting_plan, compile_view, sql_str
from sleitp.sqlonfhir.runner import resources_sql, rows_of_resources
from sleitp.sqlonfhir.viewdef import parse_view
from tests.conftest import SHARED_DATA


def _view(path: str, *, collection: bool = False, type_: str | None = None) -> dict:
    column = {"name": "x", "path": path}
    if collection:
        column["collection"] = True
    if type_:
        column["type"] = type_
    return {
        "resourceType": "ViewDefinition",
        "status": "active",
        "resource": "Observation",
        "select": [{"column": [{"name": "id", "path": "id"}, column]}],
    }


CASES = [
    # (path, column options, resource (without resourceType), expected x) worked from FHIRPath's rules:
    # a member of a collection maps over its items and flattens; JSON null is no item; first() takes the
    # first item; value.ofType(Quantity) reads valueQuantity and a bare `value` that is an object
    ("subject.reference", {}, {"subject": {"reference": "Patient/1"}}, "Patient/1"),
    ("subject.reference", {}, {}, None),
    ("subject.reference", {}, {"subject": None}, None),
    ("subject.reference", {}, {"subject": {"reference": None}}, None),
    ("subject.reference", {}, {"subject": "Patient/1"}, None),  # a member of a string: empty
    ("subject.reference", {"collection": True},
     {"subject": [{"reference": "a"}, {"reference": "b"}]}, ["a", "b"]),
    ("subject.reference", {}, {"subject": [{"reference": "a"}]}, "a"),  # one item of an array
    ("code.coding.code", {"collection": True},
     {"code": {"coding": [{"code": "1"}, {"code": "2"}]}}, ["1", "2"]),
    ("code.coding.code", {}, {"code": {"coding": [None, {"code": "2"}]}}, "2"),
    ("code.text", {"collection": True}, {"code": {"text": ["a", None, "b"]}}, ["a", "b"]),
    ("referenceRange.first().low.value", {"type_": "decimal"},
     {"referenceRange": [{"low": {"value": 1.5}}, {"low": {"value": 9}}]}, 1.5),
    ("referenceRange.first().low.value", {"type_": "decimal"},
     {"referenceRange": [None, {"low": {"value": 2}}]}, 2.0),  # the null is no item
    ("referenceRange.first().low.value", {"type_": "decimal"},
     {"referenceRange": {"low": {"value": 3}}}, 3.0),
    ("referenceRange.first().low.value", {"type_": "decimal"}, {"referenceRange": []}, None),
    ("value.ofType(Quantity).value", {"type_": "decimal"}, {"valueQuantity": {"value": 4}}, 4.0),
    ("value.ofType(Quantity).value", {"type_": "decimal"}, {"valueString": "4"}, None),
    ("value.ofType(Quantity).value", {"type_": "decimal"}, {"value": {"value": 5}}, 5.0),  # bare key
    ("value.ofType(Quantity).value", {"collection": True, "type_": "decimal"},
     {"value": {"value": 5}, "valueQuantity": {"value": 6}}, [6.0, 5.0]),
    ("value.ofType(Quantity).value", {"collection": True},
     {"valueQuantity": {"value": 1, "valueString": "x"}}, [1, "x"]),  # a member named as a choice: both
    ("effective.ofType(dateTime)", {}, {"effectiveDateTime": "2020-01-02"}, "2020-01-02"),
    ("subject.exists()", {}, {"subject": {"reference": "x"}}, True),
    ("subject.exists()", {}, {}, False),
    ("subject.exists()", {}, {"subject": None}, False),
    ("subject.exists()", {}, {"subject": []}, False),
    ("subject.exists()", {}, {"subject": [None, {}]}, True),
    ("status", {}, {"status": "final"}, "final"),
    ("Observation.ofType(Observation).status", {}, {"status": "final"}, "final"),  # the resource's type
    ("subject.ofType(Reference).reference", {}, {"subject": {"reference": "a"}}, "a"),  # not a choice
    ("issued", {"collection": True}, {"issued": ["a", "b"]}, ["a", "b"]),
    ("getResourceKey()", {}, {}, "o1"),
    # a choice's bare name: every value[x] of the resource (not of its elements: component.valueQuantity)
    ("value.exists()", {}, {"valueQuantity": {"value": 1}}, True),
    ("value.exists()", {}, {"valueBoolean": False}, True),
    ("value.exists()", {}, {}, False),
    ("value.exists()", {}, {"valueString": None}, False),  # null: no item
    ("value.exists()", {}, {"valueString": []}, False),
    ("value.exists()", {}, {"valueString": "a", "valueQuantity": None}, True),
    ("value.exists()", {}, {"component": [{"valueQuantity": {"value": 1}}]}, False),
    ("value.exists()", {}, {"value": 3}, True),  # the bare key itself
    ("value.exists()", {}, {"valueQuantity": {"value": 1}, "value": None}, True),
]


def _rows(view, source_sql: str, *, fast: bool) -> list[str]:
    query = Compiler(view, fast=fast).query(f"({source_sql}) AS _src")
    con = duckdb.connect()
    try:
        out = con.execute(f"SELECT to_json(_q)::VARCHAR FROM ({query}) AS _q").fetchall()
    finally:
        con.close()
    return sorted(text for (text,) in out)


@pytest.mark.parametrize(("path", "options", "resource", "expected"), CASES)
def test_plain_path_reads_as_fhirpath_says(path, options, resource, expected):
    opts = {"collection": options.get("collection", False), "type_": options.get("type_")}
    resource = {"resourceType": "Observation", "id": "o1", **resource}
    assert rows_of_resources(_view(path, **opts), [resource]) == [{"id": "o1", "x": expected}]
    source = f"SELECT {sql_str(json.dumps(resource))}::JSON AS resource"
    view_ = parse_view(_view(path, **opts))
    assert _rows(view_, source, fast=True) == _rows(view_, source, fast=False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"resourceType": "Observation", "id": "o1", "val\\u0075eString": null}', False),
        ('{"resourceType": "Observation", "id": "o1", "val\\u0075eString": "a"}', True),
        ('{"resourceType": "Observation", "id": "o1", "valueString" :\n [ ] }', False),
        ('{"resourceType": "Observation", "id": "o1", "val\\u0075e": "a", "valueString": "b"}', True),
    ],
)
def test_a_choice_exists_on_json_text_as_written(text, expected):
    """The fast ``value.exists()`` reads the keys and looks for empty values in the text: a key spelled
    with an escape (``val\\u0075eString``) or spaced out takes the general form."""
    assert json.loads(text)
    source = f"SELECT {sql_str(text)}::JSON AS resource"
    view_ = parse_view(_view("value.exists()"))
    fast = _rows(view_, source, fast=True)
    row = json.dumps({"id": "o1", "x": expected}, separators=(",", ":"))
    assert fast == _rows(view_, source, fast=False) == [row]


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("fast") / "c"
    synthesize(300, 21, d, jsonl=False)
    write_fhir(d / "tables", d / "fhir")
    return d / "fhir"


SOURCES = ["export", "synthea-fhir-r4", "fhir-r4-official"]


@pytest.mark.parametrize("name", VIEWS)
@pytest.mark.parametrize("source", SOURCES)
def test_every_package_view_gives_the_same_rows_fast_and_general(name, source, request):
    path = request.getfixturevalue("export") if source == "export" else SHARED_DATA / source
    if not path.is_dir():
        pytest.skip(f"{path} absent")
    v = view(name)
    sql = resources_sql(path, v.resource)
    fast, general = _rows(v, sql, fast=True), _rows(v, sql, fast=False)
    assert fast == general
    if source == "export" and name in ("observation", "observation_coding", "medication_request"):
        assert fast, f"{name}: no rows in the synthetic export, the comparison shows nothing"


def test_the_views_of_one_foreach_or_one_union_are_unnested_in_the_query():
    """observation_coding (a unionAll of two forEach) and medication_request (forEachOrNull) take the
    unnested form; a forEach nested in a forEach (the contained Medications) keeps the general form."""
    assert _hoisting_plan(view("observation_coding").select) is not None
    assert _hoisting_plan(view("medication_request").select) is not None
    assert _hoisting_plan(view("medication_request_contained").select) is None
    assert _hoisting_plan(view("observation").select) is None  # no forEach: one row a resource already
    assert "unnest(flatten([" in compile_view(view("medication_request"), "src")


def test_more_than_one_value_in_a_single_column_is_still_an_error():
    view = _view("code.coding.code")
    resource = {"resourceType": "Observation", "id": "o1", "code": {"coding": [{"code": "1"}, {"code": "2"}]}}
    with pytest.raises(Exception, match="more than one value"):
        rows_of_resources(view, [resource])


def test_plain_paths_are_one_jsonpath_each_in_the_single_parse():
    """The compiled SQL reads ``value.ofType(Quantity).value`` and ``referenceRange.first().low.value`` as
    JSONPaths of the resource's one json_extract (a change back to per-step lambdas shows here)."""
    for path, jsonpaths in (
        ("value.ofType(Quantity).value", ('$."valueQuantity"."value"', '$."value"')),
        ("referenceRange.first().low.value", ('$."referenceRange"[0]."low"."value"',)),
    ):
        sql = compile_view(parse_view(_view(path)), "src")
        extract = sql[sql.index("json_extract(resource, ["):]
        extract = extract[: extract.index("]) AS _rk_all")]
        for jsonpath in jsonpaths:
            assert f"'{jsonpath}'" in extract, path

def test_a_choice_read_through_an_escaped_key_takes_the_general_form():
    """``value.ofType(string)`` beside a bare ``value`` key: a typed key spelled with an escape
    (``val\\u0075eString``) is still a typed key."""
    text = '{"resourceType": "Observation", "id": "o1", "val\\u0075eString": "a"}'
    source = f"SELECT {sql_str(text)}::JSON AS resource"
    view_ = parse_view(_view("value", collection=True))
    expected = json.dumps({"id": "o1", "x": ["a"]}, separators=(",", ":"))
    assert _rows(view_, source, fast=True) == _rows(view_, source, fast=False) == [expected]
