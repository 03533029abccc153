"""The REST API and the service's robustness: same JSON as the CLI, 400/401/413/415/422 problem documents
(never 500 for bad input), security headers, CORS only as configured, and no patient data in the logs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from sleitp.decision import assess
from sleitp.record import parse_record
from sleitp.score import score
from tests.service_support import (
    LOW_PLATELETS,
    MockFhirServer,
    bearer,
    cds_example,
    client_for,
    patient,
    service_settings,
    sign,
    sle_condition,
)

SPEC_EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "spec" / "examples"
FHIR_OFFICIAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "fhir-r4-official"
JSON = {"content-type": "application/json"}
# the outside contract's example, given an SLE diagnosis date so that it is in scope (docs/cli.md "Scope")
GI_BLEED = {**json.loads((SPEC_EXAMPLES / "assess_gi_bleed.json").read_text()),
            "sle_diagnosis_date": "2020-01-01"}


def problem(r, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"] == "about:blank"
    assert body["instance"] == f"urn:sleitp:request:{r.headers['x-request-id']}"
    return body


# -- the same JSON as the command line ------------------------------------------------------------------
def test_assess_returns_the_assess_json_of_the_cli():
    r = client_for().post("/api/v1/assess", json=GI_BLEED)
    assert r.status_code == 200, r.text
    body = r.json()
    expected = assess(parse_record(GI_BLEED)).to_json()
    assert body == json.loads(json.dumps(expected))
    assert body["scope"] == {"in_scope": True, "reasons": [], "caveats": [], "sle_established": True}
    assert body["data_age"]["platelets_days"] == 0 and not body["data_age"]["stale"]
    # the shared contract case assess_gi_bleed: alerts, and IVIG among the options
    assert body["alerts"] and "ivig" in [x["therapy"] for x in body["recommendations"]]


def test_score_with_at_query_matches_the_cli():
    r = client_for().post("/api/v1/score?at=2024-05-01", json=GI_BLEED)
    assert r.status_code == 200, r.text
    from datetime import date

    assert r.json() == json.loads(json.dumps(score(parse_record(GI_BLEED), date(2024, 5, 1)).to_json()))


def test_a_fhir_bundle_is_accepted_like_a_record():
    bundle = json.loads((FHIR_OFFICIAL / "Bundle-101.json").read_text())
    r = client_for().post("/api/v1/score", json=bundle, headers={"content-type": "application/fhir+json"})
    assert r.status_code == 200, r.text
    assert r.json()["platelets"]["latest"] == 444  # testdata.md §8: one platelet 444 x10^9/L


# -- malformed input: 400/415/422 problems, never 500 ------------------------------------------------------
def test_not_json_is_400():
    c = client_for()
    body = problem(c.post("/api/v1/assess", content=b'{"id": ', headers=JSON), 400)
    assert "not valid JSON" in body["detail"] and "line 1" in body["detail"]
    problem(c.post("/api/v1/assess", content=b"", headers=JSON), 400)
    problem(c.post("/api/v1/assess", content=b"\xff\xfe", headers=JSON), 400)
    problem(c.post("/api/v1/assess", content=b"[" * 100_000, headers=JSON), 400)


def test_wrong_media_type_is_415():
    body = problem(client_for().post("/api/v1/assess", content=b"id=1",
                                     headers={"content-type": "text/plain"}), 415)
    assert "JSON" in body["detail"]


@pytest.mark.parametrize("payload, fragment", [
    ([1, 2], "expected a JSON object"),
    ({"id": "P1", "labs": [{"date": "2024-01-01", "test": "platelets", "value": 20, "unit": "mmol"}]},
     "labs[0].unit"),
    ({"id": "P1", "labs": [{"date": "2024-13-01", "test": "platelets", "value": 20, "unit": "10^9/L"}]},
     "labs[0].date"),
    ({"id": "P1", "treatments": [{"agent": "not_a_drug", "start": "2024-01-01"}]}, "treatments[0].agent"),
    ({"id": "P1"}, "assessment_date"),
    ({"resourceType": "Patient", "id": "x"}, "resourceType"),
    ({"resourceType": "Bundle", "type": "collection", "entry": "nope"}, ""),
])
def test_invalid_records_are_422_naming_the_field(payload, fragment):
    body = problem(client_for().post("/api/v1/assess", json=payload), 422)
    assert body["errors"] and fragment in " ".join(body["errors"])


def test_bad_at_is_422():
    c = client_for()
    problem(c.post("/api/v1/score?at=yesterday", json=GI_BLEED), 422)
    body = problem(c.post("/api/v1/score?at=2024-02-30", json=GI_BLEED), 422)
    assert "at" in " ".join(body["errors"])


def test_unknown_route_and_method_are_problems():
    c = client_for()
    problem(c.get("/api/v1/nothing-here"), 404)
    problem(c.get("/api/v1/assess"), 405)


# -- size limits ----------------------------------------------------------------------------------------
def test_oversized_body_is_413_by_content_length():
    c = client_for(service_settings(max_body_bytes=2048))
    big = {**GI_BLEED, "padding": "x" * 4000}
    body = problem(c.post("/api/v1/assess", json=big), 413)
    assert "2048" in body["detail"]
    r = c.post("/cds-services/sleitp-patient-view", json=big, headers=bearer(sign()))
    problem(r, 413)


def test_oversized_streamed_body_without_length_is_413():
    c = client_for(service_settings(max_body_bytes=2048))

    def chunks():
        yield b'{"id": "P1", "padding": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'

    r = c.post("/api/v1/assess", content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in {k.lower() for k in r.request.headers}  # really chunked
    problem(r, 413)


def test_body_just_under_the_limit_is_read():
    c = client_for(service_settings(max_body_bytes=2048))
    raw = json.dumps(GI_BLEED).encode()
    assert len(raw) < 2048
    assert c.post("/api/v1/score", content=raw, headers=JSON).status_code == 200


# -- headers --------------------------------------------------------------------------------------------
def test_security_headers_on_every_response():
    c = client_for()
    for r in (c.get("/"), c.get("/healthz"), c.post("/api/v1/assess", json=[1])):
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert "unsafe-eval" not in r.headers["content-security-policy"]
        assert len(r.headers["x-request-id"]) == 32


def test_cors_only_for_configured_origins():
    closed = client_for()
    r = closed.options("/api/v1/assess", headers={"Origin": "https://ehr.example",
                                                  "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in r.headers
    opened = client_for(service_settings(cors_origins=["https://ehr.example"]))
    r = opened.options("/api/v1/assess", headers={"Origin": "https://ehr.example",
                                                  "Access-Control-Request-Method": "POST"})
    assert r.headers["access-control-allow-origin"] == "https://ehr.example"
    r = opened.options("/api/v1/assess", headers={"Origin": "https://evil.example",
                                                  "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in r.headers


def test_openapi_documents_the_api():
    spec = client_for().get("/openapi.json").json()
    for path in ("/api/v1/assess", "/api/v1/score", "/cds-services", "/cds-services/{service_id}",
                 "/healthz"):
        assert path in spec["paths"]
    body = spec["paths"]["/api/v1/assess"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"$ref": "#/components/schemas/RecordPatientRecord"} in body["anyOf"]
    assert "RecordLab" in spec["components"]["schemas"]
    responses = spec["paths"]["/api/v1/assess"]["post"]["responses"]
    assert set(responses) >= {"200", "400", "401", "413", "415", "422"}


# -- logs -----------------------------------------------------------------------------------------------
def test_logs_carry_no_patient_data(caplog):
    """Run every kind of request with recognisable patient data and read every log line written."""
    secret_name, secret_id, secret_value = "Zyxwvut Qponmlk", "PATIENT-7731-SECRET", 123.456
    record = {**GI_BLEED, "id": secret_id, "note_name": secret_name,
              "labs": [*GI_BLEED["labs"], {"date": "2024-05-30", "test": "platelets", "value": secret_value,
                                           "unit": "10^9/L"}]}
    server = MockFhirServer([patient(secret_id, name=[{"family": secret_name}]), *[
        {**o, "subject": {"reference": f"Patient/{secret_id}"}} for o in LOW_PLATELETS]])
    c = client_for(server=server)
    req = cds_example("request-patient-view.json")
    req["context"]["patientId"] = secret_id
    with caplog.at_level(logging.DEBUG):
        # note_name: an unknown field, accepted as a warning (lenient) so that it reaches the assessment
        assert c.post("/api/v1/assess?lenient=true", json=record).status_code == 200
        assert c.post(f"/api/v1/score?at=2024-06-01&lenient=true&who={secret_id}", json=record
                      ).status_code == 200
        bad = {**record, "labs": [{"date": "2024-01-01", "test": "platelets", "value": secret_value,
                                   "unit": secret_name}]}
        assert c.post("/api/v1/assess", json=bad).status_code == 422
        r = c.post("/cds-services/sleitp-patient-view", json=req, headers=bearer(sign()))
        assert r.status_code == 200
        assert c.get(f"/patients/{secret_id}").status_code == 404
        r = c.post("/report", data={"record": json.dumps(record), "lenient": "1"})
        assert r.status_code in (200, 501)
    text = "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records)
    access = [r for r in caplog.records if r.name == "sleitp.service.access"]
    assert len(access) == 6  # one line a request
    assert all("request_id=" in r.getMessage() and "status=" in r.getMessage() for r in access)
    for secret in (secret_id, secret_name, str(secret_value), "Zyxwvut", "2024-05-30", "1288992"):
        assert secret not in text


# -- a loaded model -------------------------------------------------------------------------------------
class FakePrediction:
    """The interface of sleitp.model's Prediction (interfaces.md), with fixed numbers."""

    def to_json(self) -> dict:
        return {"outcome": "first_line_response", "probability": 0.62, "interval": [0.48, 0.74],
                "model": {"name": "demo-logistic", "trained_on": "synthetic cohort (seed 1)",
                          "synthetic": True},
                "contributions": [], "statement": "A demonstration model trained on synthetic data."}


class FakeModel:
    name = "demo-logistic"

    def __init__(self) -> None:
        self.calls = 0

    def predict_one(self, record, at):
        self.calls += 1
        return FakePrediction()


def test_a_loaded_model_feeds_assess_and_the_cds_card():
    model = FakeModel()
    server = MockFhirServer([patient(), *LOW_PLATELETS, sle_condition()])
    c = client_for(server=server, model=model)
    body = c.post("/api/v1/assess", json=GI_BLEED).json()
    assert body["prediction"]["probability"] == 0.62
    r = c.post("/cds-services/sleitp-patient-view", json=cds_example("request-patient-view.json"),
               headers=bearer(sign()))
    cards = [x for x in r.json()["cards"] if x["summary"].startswith("Model estimate")]
    assert len(cards) == 1 and model.calls == 2
    (card,) = cards
    assert card["summary"] == "Model estimate of first line response: 62% (48%-74%)"
    assert card["indicator"] == "warning"  # trained on synthetic data: a demonstration
    assert "synthetic data" in card["detail"]


# -- the command ----------------------------------------------------------------------------------------
def test_serve_with_bad_settings_exits_2_with_a_message(tmp_path):
    import subprocess
    import sys

    bad = tmp_path / "s.json"
    bad.write_text(json.dumps({"jwt_algorithms": ["HS256"]}))
    r = subprocess.run([sys.executable, "-m", "sleitp", "serve", "--settings", str(bad)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2
    assert "sleitp: error: service settings: jwt_algorithms" in r.stderr and "Traceback" not in r.stderr


def test_listening_socket_of_several_workers_has_nagle_off():
    """uvicorn binds the multi-worker socket itself; without TCP_NODELAY every response waits ~45 ms for
    the client's delayed ACK (docs/service.md, load benchmark)."""
    import socket

    from sleitp.service.runner import _Config

    config = _Config("sleitp.service.app:create_app", factory=True, host="127.0.0.1", port=0, workers=2)
    sock = config.bind_socket()
    sock.listen()  # as the worker's asyncio server does
    try:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        conn = socket.create_connection(sock.getsockname())
        accepted, _ = sock.accept()
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0  # passed on by Linux
        accepted.close()
        conn.close()
    finally:
        sock.close()


# -- issue 15: future dates, the mapping report, lenient ----------------------------------------------------
def test_a_future_assessment_date_is_422_naming_it():
    c = client_for()
    r = c.post("/api/v1/assess", json={**GI_BLEED, "assessment_date": "2999-01-01"})
    assert r.status_code == 422
    assert "assessment_date: 2999-01-01 is in the future" in " ".join(r.json()["errors"])
    r = c.post("/api/v1/score?at=2999-01-01", json=GI_BLEED)
    assert r.status_code == 422 and "assessment_date" in " ".join(r.json()["errors"])
    # today itself is allowed (service_support.TODAY = 2024-07-01)
    assert c.post("/api/v1/score?at=2024-07-01", json=GI_BLEED).status_code == 200


def test_a_bundle_answer_carries_the_fhir_mapping_report():
    if not (FHIR_OFFICIAL / "Bundle-101.json").exists():
        pytest.skip("the public FHIR example is not next to the checkout")
    bundle = json.loads((FHIR_OFFICIAL / "Bundle-101.json").read_text())
    for path in ("/api/v1/assess", "/api/v1/score"):
        r = client_for().post(path, json=bundle)
        assert r.status_code == 200, r.text
        assert "LOINC code not in the sleitp vocabulary" in json.dumps(r.json()["fhir_mapping"]["unmapped"])


def test_lenient_turns_an_unknown_field_into_a_warning():
    c = client_for()
    record = {**GI_BLEED, "pregant": True}
    r = c.post("/api/v1/assess", json=record)
    assert r.status_code == 422 and "pregant" in " ".join(r.json()["errors"])
    r = c.post("/api/v1/assess?lenient=true", json=record)
    assert r.status_code == 200 and any("pregant" in w for w in r.json()["warnings"])
