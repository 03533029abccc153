"""A corpus of malformed inputs, fed to the command line and the REST API (issue 15, "Done when").

Every one must be refused: exit status 2 (CLI) or a 4xx problem document (REST), a message that names the
problem, never a traceback, never exit 0 / 200. Cases marked ``strict`` rely on strict record input (an
unknown field is an error: record.py) and ``fhir`` on the Bundle checks (sleitp.fhir).
"""

from __future__ import annotations

import json
import sys

import pytest

from tests.service_support import client_for

PLT = {"date": "2024-01-10", "test": "platelets", "value": 40, "unit": "10^9/L"}
OK = {"id": "M1", "sex": "female", "sle_diagnosis_date": "2020-01-01", "assessment_date": "2024-01-10",
      "labs": [PLT]}


def rec(**over):
    return json.dumps({**OK, **over})


def lab(**over):
    return rec(labs=[{**PLT, **over}])


def bundle(*resources, **over):
    return json.dumps({"resourceType": "Bundle", "type": "collection",
                       "entry": [{"resource": r} for r in resources], **over})


PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "female"}

# name -> (file content (str or bytes), words the message must hold (any one, case-insensitive))
FILES: dict[str, tuple[str | bytes, tuple[str, ...]]] = {
    "empty file": ("", ("empty", "not valid json", "expecting value")),
    "whitespace only": ("   \n\t ", ("empty", "not valid json", "expecting value")),
    "not json": ("{not json", ("not valid json",)),
    "truncated json": ('{"id": "X", "labs": [', ("not valid json",)),
    "binary garbage": (b"\xff\xfe\x00\x81\x82garbage", ("utf-8", "cannot read", "not valid", "text")),
    "a json list": ("[1, 2]", ("expected a json object",)),
    "a json string": ('"hello"', ("expected a json object",)),
    "json null": ("null", ("expected a json object",)),
    "a json number": ("42", ("expected a json object",)),
    "no id": (json.dumps({k: v for k, v in OK.items() if k != "id"}), ("id",)),
    "empty id": (rec(id=""), ("id",)),
    "labs not a list": (rec(labs={"test": "platelets"}), ("labs",)),
    "lab without a date": (rec(labs=[{k: v for k, v in PLT.items() if k != "date"}]), ("labs[0].date",)),
    "date not ISO": (lab(date="10/01/2024"), ("labs[0].date",)),
    "impossible date": (lab(date="2024-02-30"), ("labs[0].date",)),
    "unknown test": (lab(test="plt"), ("unknown test 'plt'", "plt")),
    "wrong unit": (lab(unit="mmol/L"), ("labs[0].unit",)),
    "negative count": (lab(value=-4), ("labs[0].value",)),
    "count as text": (lab(value="abc"), ("labs[0].value",)),
    "unknown agent": (rec(treatments=[{"agent": "not_a_drug", "start": "2024-01-01"}]),
                      ("treatments[0].agent",)),
    "end before start": (rec(treatments=[{"agent": "prednisone", "start": "2024-01-05", "end": "2024-01-01",
                                          "dose": 30, "dose_unit": "mg"}]), ("treatments[0]", "end")),
    "sex not a sex": (rec(sex="yes"), ("sex",)),
    "age over 130": (rec(age_years=200), ("age_years",)),
    "who grade 7": (rec(bleeding=[{"date": "2024-01-10", "who_grade": 7}]), ("bleeding[0].who_grade",)),
    "unknown manifestation": (rec(manifestations=[{"date": "2024-01-10", "name": "sneezing"}]),
                              ("manifestations[0]",)),
    "history not an object": (rec(history=["thrombosis"]), ("history",)),
    "unknown history flag": (rec(history={"thrombosys": True}), ("history.thrombosys", "thrombosys")),
    "weight zero": (rec(weight_kg=0), ("weight_kg",)),
    "future assessment date": (rec(assessment_date="2999-01-01"), ("assessment_date",)),
    # strict input (record.py): a misspelled field changes the result, so it is refused
    "strict: pregant": (rec(pregant=True), ("pregant",)),
    "strict: stop for end": (rec(treatments=[{"agent": "prednisone", "start": "2024-01-01",
                                              "stop": "2024-01-05", "dose": 30, "dose_unit": "mg"}]),
                             ("stop",)),
    "strict: treatment for treatments": (rec(treatment=[{"agent": "prednisone", "start": "2024-01-01"}]),
                                         ("treatment",)),
    # FHIR
    "fhir: a Patient, not a Bundle": (json.dumps(PATIENT), ("bundle", "resourcetype")),
    "fhir: misspelled resourceType": (json.dumps({"resourceType": "Bundel", "entry": []}),
                                      ("resourcetype", "bundle")),
    "fhir: entry not a list": (json.dumps({"resourceType": "Bundle", "type": "collection", "entry": {}}),
                               ("entry",)),
    "fhir: no resources": (bundle(), ("patient", "bundle")),
    "fhir: two patients": (bundle(PATIENT, {**PATIENT, "id": "p2"}), ("patient",)),
    "fhir: resource not an object": (json.dumps({"resourceType": "Bundle", "type": "collection",
                                                 "entry": [{"resource": "Patient/p1"}]}),
                                     ("entry", "resource")),
}

# name -> (arguments with {rec} = a valid record file, {tmp} = a folder; words the message must hold)
ARGUMENTS: dict[str, tuple[list[str], tuple[str, ...]]] = {
    "missing file": (["score", "{tmp}/nope.json"], ("not found", "no such file")),
    "a folder as the record": (["score", "{tmp}"], ("folder", "directory", "cannot read")),
    "--at not a date": (["score", "{rec}", "--at", "yesterday"], ("--at",)),
    "--at month 13": (["score", "{rec}", "--at", "2024-13-01"], ("--at",)),
    "--at in the future": (["score", "{rec}", "--at", "2999-01-01"], ("--at", "future")),
    "--model not a folder": (["assess", "{rec}", "--model", "{tmp}/no-model"], ("no-model", "model")),
    "two records": (["score", "{rec}", "{rec}"], ("unexpected extra argument", "got unexpected")),
    "synth negative patients": (["synth", "--patients", "-5", "--seed", "1", "--out", "{tmp}/s"],
                                ("patients",)),
    "synth patients not a number": (["synth", "--patients", "abc", "--seed", "1", "--out", "{tmp}/s"],
                                    ("--patients",)),
    "derive missing source": (["cohort", "derive", "{tmp}/none", "--out", "{tmp}/d"], ("none",)),
    "derive unknown backend": (["cohort", "derive", "{tmp}", "--out", "{tmp}/d", "--backend", "excel"],
                               ("--backend",)),
    "km on a missing folder": (["cohort", "km", "{tmp}/none"], ("none",)),
    "validate a missing model": (["validate", "{tmp}/m", "{tmp}/d"], ("m",)),
    "serve port 70000": (["serve", "--port", "70000"], ("--port",)),
    "serve zero workers": (["serve", "--workers", "0"], ("--workers",)),
}


def run_main(monkeypatch, capsys, args):
    from sleitp.cli import main

    monkeypatch.setattr(sys, "argv", ["sleitp", *args])
    code = 0
    try:
        main()
    except SystemExit as done:
        code = done.code
    out = capsys.readouterr()
    return code, out.out, out.err


def assert_refused(code, out, err, words, what):
    assert code == 2, (what, code, err)
    assert "Traceback" not in err and err.strip(), (what, err)
    assert out == "", (what, out)
    assert any(w.lower() in err.lower() for w in words), (what, words, err)


def test_the_corpus_has_at_least_40_malformed_inputs():
    assert len(FILES) + len(ARGUMENTS) >= 40


# refused, but the message does not yet name the problem (sleitp.fhir; reported to the lead)
NOT_NAMED_YET: set[str] = set()


def _cases(names):
    later = pytest.mark.xfail(reason="message does not name the problem yet (sleitp.fhir)", strict=True)
    return [pytest.param(n, marks=later) if n in NOT_NAMED_YET else n for n in names]


@pytest.mark.parametrize("name", _cases(FILES))
def test_a_malformed_file_is_refused_by_the_cli(monkeypatch, capsys, tmp_path, name):
    content, words = FILES[name]
    f = tmp_path / "input.json"
    f.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    assert_refused(*run_main(monkeypatch, capsys, ["score", str(f)]), words, name)


@pytest.mark.parametrize("name", list(ARGUMENTS))
def test_a_malformed_argument_is_refused_by_the_cli(monkeypatch, capsys, tmp_path, name):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(OK))
    args, words = ARGUMENTS[name]
    args = [a.format(rec=good, tmp=tmp_path) for a in args]
    assert_refused(*run_main(monkeypatch, capsys, args), words, name)


@pytest.fixture(scope="module")
def api():
    return client_for()


@pytest.mark.parametrize("name", _cases(n for n in FILES if not isinstance(FILES[n][0], bytes)))
def test_a_malformed_body_is_refused_by_the_rest_api(api, name):
    content, words = FILES[name]
    r = api.post("/api/v1/score", content=content.encode("utf-8"),
                 headers={"Content-Type": "application/json"})
    assert 400 <= r.status_code < 500, (name, r.status_code, r.text[:300])
    body = r.json()
    text = " ".join([body.get("detail", ""), *body.get("errors", [])]).lower()
    assert any(w.lower() in text for w in words), (name, text)


def test_a_binary_body_is_refused_by_the_rest_api(api):
    r = api.post("/api/v1/score", content=b"\xff\xfe\x00\x81", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert "UTF-8" in r.json()["detail"] or "not valid JSON" in r.json()["detail"]


def test_a_valid_record_passes_so_the_corpus_tests_the_malformation(monkeypatch, capsys, tmp_path, api):
    f = tmp_path / "ok.json"
    f.write_text(json.dumps(OK))
    code, out, err = run_main(monkeypatch, capsys, ["score", str(f), "--json"])
    assert code in (0, None) and json.loads(out)["patient_id"] == "M1", err
    assert api.post("/api/v1/score", json=OK).status_code == 200
