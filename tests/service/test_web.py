"""The page at / (server-rendered): the form, the report for an example / pasted / uploaded patient, and
the form again with the problems when the input is wrong. The browser test is test_service_browser.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sleitp.decision import assess
from sleitp.record import parse_record
from sleitp.report import render_html
from tests.service_support import client_for, service_settings

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SPEC_EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "spec" / "examples"
FHIR_OFFICIAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "fhir-r4-official"


@pytest.fixture
def web():
    return client_for(service_settings(examples_dir=str(EXAMPLES)))


def test_page_offers_the_examples_and_three_ways_in(web):
    r = web.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    for stem in (p.stem for p in sorted(EXAMPLES.glob("*.json"))):
        assert f'value="{stem}"' in html
    assert 'name="record"' in html and 'type="file"' in html and 'action="/report"' in html
    assert "<script" not in html  # no script at all, so nothing for the CSP to allow
    assert web.get("/static/style.css").status_code == 200


def test_example_gives_the_same_report_as_assess_html(web):
    name = sorted(EXAMPLES.glob("*.json"))[0]
    r = web.post("/report", data={"example": name.stem})
    assert r.status_code == 200, r.text[:500]
    expected = render_html(assess(parse_record(json.loads(name.read_text()))), service=True)
    assert "--model" not in expected  # no command-line hint on the page
    # the report plus the banner back to the form; compare without the banner
    css = '<link rel="stylesheet" href="/static/style.css">'
    banner = r.text[r.text.index('<div class="sleitp-banner"'):r.text.index(css) + len(css)]
    page = r.text.replace(banner, "")
    assert page == expected
    assert "data:image/png;base64," in r.text  # the platelet plot


def test_pasted_record_and_uploaded_bundle(web):
    record = (SPEC_EXAMPLES / "assess_gi_bleed.json").read_text()
    r = web.post("/report", data={"record": record})
    assert r.status_code == 200 and "sleitp-banner" in r.text
    assert "ivig" in r.text.lower() or "IVIG" in r.text
    bundle = (FHIR_OFFICIAL / "Bundle-101.json").read_bytes()
    r = web.post("/report", files={"file": ("Bundle-101.json", bundle, "application/json")})
    assert r.status_code == 200, r.text[:500]
    assert "444" in r.text  # the platelet count of Bundle-101 (testdata.md §8)


def test_upload_wins_over_paste_and_example(web):
    bundle = (FHIR_OFFICIAL / "Bundle-101.json").read_bytes()
    r = web.post("/report", data={"record": "{not json", "example": "nope"},
                 files={"file": ("b.json", bundle, "application/json")})
    assert r.status_code == 200 and "444" in r.text


@pytest.mark.parametrize("form, status, fragment", [
    ({"example": ""}, 422, "choose an example"),
    ({"example": "no-such-patient"}, 422, "no example patient"),
    ({"record": "{\"id\": "}, 400, "not valid JSON"),
    ({"record": json.dumps({"id": "P1", "labs": [{"date": "2024-01-01", "test": "platelets", "value": 5,
                                                   "unit": "mmol"}]})}, 422, "labs[0].unit"),
    ({"record": json.dumps({"id": "P1", "assessment_date": "2024-01-01"}), "at": "2024-02-31"}, 422, "at"),
])
def test_bad_input_shows_the_form_with_the_problem(web, form, status, fragment):
    r = web.post("/report", data=form)
    assert r.status_code == status
    assert 'id="errors"' in r.text and fragment in r.text.replace("&#39;", "'")
    assert 'action="/report"' in r.text  # the form again, with what was typed kept
    if "record" in form:
        assert "&#34;id&#34;" in r.text or "&#34;" in r.text or "{" in r.text


def test_pasted_html_is_escaped(web):
    evil = '{"id": "<script>alert(1)</script>"}'
    r = web.post("/report", data={"record": evil})
    assert "<script>alert(1)</script>" not in r.text


def test_form_body_over_the_limit_is_413():
    c = client_for(service_settings(max_body_bytes=2048))
    r = c.post("/report", data={"record": "x" * 5000})
    assert r.status_code == 413


def test_about_page(web):
    r = web.get("/about")
    assert r.status_code == 200 and "not a prescription" in r.text and "No prediction model" in r.text


# -- errors as readable pages; warnings, mapping and future dates (issue 15) --------------------------------
def test_a_bundle_over_the_limit_is_a_readable_page_not_json(web):
    big = "x" * (1_048_576 + 10)
    r = web.post("/report", files={"file": ("big.json", big, "application/json")})
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("text/html")
    assert "too large" in r.text and "1 MiB" in r.text and 'href="/"' in r.text
    assert '"status"' not in r.text  # not a problem document


def test_a_form_sent_as_json_is_a_readable_415_page(web):
    r = web.post("/report", json={"record": "{}"})
    assert r.status_code == 415 and r.headers["content-type"].startswith("text/html")
    assert "multipart/form-data" in r.text


def test_the_api_keeps_answering_problem_documents(web):
    r = web.post("/api/v1/assess", content=b"x" * (1_048_576 + 10),
                 headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"


def test_a_future_assessment_date_is_refused_on_the_page(web):
    record = json.loads(sorted(EXAMPLES.glob("*.json"))[0].read_text())
    r = web.post("/report", data={"record": json.dumps(record), "at": "2999-01-01"})
    assert r.status_code == 422 and "is in the future" in r.text and "assessment_date" in r.text


def test_lenient_shows_the_unknown_fields_in_the_report(web):
    record = {**json.loads(sorted(EXAMPLES.glob("*.json"))[0].read_text()), "pregant": True}
    strict = web.post("/report", data={"record": json.dumps(record)})
    assert strict.status_code == 422 and "pregant" in strict.text
    r = web.post("/report", data={"record": json.dumps(record), "lenient": "1"})
    assert r.status_code == 200 and 'id="record-warnings"' in r.text and "pregant" in r.text


def test_a_bundle_report_shows_what_the_mapping_did_not_use(web):
    if not (FHIR_OFFICIAL / "Bundle-101.json").exists():
        pytest.skip("the public FHIR example is not next to the checkout")
    r = web.post("/report", data={"record": (FHIR_OFFICIAL / "Bundle-101.json").read_text()})
    assert r.status_code == 200, r.text[:300]
    assert 'id="fhir-mapping"' in r.text and "LOINC code not in the sleitp vocabulary" in r.text
