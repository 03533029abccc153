"""Shared helpers of the service tests: settings, signed EHR tokens, a mock FHIR server, FHIR resources.

The public CDS Hooks 2.0.1 examples are in ../shared/data/cds-hooks-2.0.1 (testdata.md §3). Nothing here
touches the network: FHIR server and JWK Set fetches go through ``httpx.MockTransport``.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import jwt
from fastapi.testclient import TestClient

from sleitp.service import Settings, create_app

CDS_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cds-hooks-2.0.1"  # ../shared

ISSUER = "https://fhir-ehr.example.com/"  # the issuer of the specification's example JWT
BASE_URL = "https://cds.example.org"  # the audience host of the specification's example JWT
TODAY = date(2024, 7, 1)
PATIENT_ID = "1288992"  # the patient of the specification's example requests
FHIR_TOKEN = "some-opaque-fhir-access-token"
API_TOKEN = "test-token-0123456789abcdef"


def cds_example(name: str) -> Any:
    return json.loads((CDS_DATA / name).read_text(encoding="utf-8"))


def public_jwks() -> dict[str, Any]:
    return cds_example("jwks-public.json")


def service_settings(**over: Any) -> Settings:
    base: dict[str, Any] = dict(
        base_url=BASE_URL,
        cds_clients=[{"issuer": ISSUER, "jwks": public_jwks()}],
        fhir_allow_http=True,  # the specification's example fhirServer is plain http
        examples_dir=None,
    )
    base.update(over)
    return Settings.model_validate(base)


def sign(service_id: str = "sleitp-patient-view", *, aud: str | None = None, iss: str = ISSUER,
         exp_in: int = 300, iat: float | None = None, jti: str | None = None, kid: str = "example-kid",
         alg: str = "ES384", key: Any = None, extra_headers: dict[str, Any] | None = None) -> str:
    """An EHR JWT signed with the specification's private example key (jwk-private.json)."""
    now = time.time() if iat is None else iat
    payload = {"iss": iss, "aud": aud or f"{BASE_URL}/cds-services/{service_id}", "exp": int(now + exp_in),
               "iat": int(now), "jti": jti or str(uuid.uuid4()), "tenant": "test"}
    if key is None:
        key = jwt.PyJWK(cds_example("jwk-private.json"), algorithm="ES384").key
    headers = {"kid": kid, "typ": "JWT", **(extra_headers or {})}
    return jwt.encode(payload, key, algorithm=alg, headers=headers)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- FHIR resources of one SLE-ITP patient ---------------------------------------------------------------
def patient(pid: str = PATIENT_ID, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "gender": "female", "birthDate": "1990-03-02", **extra}


def platelet(oid: str, day: str, value: float, pid: str = PATIENT_ID) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": oid, "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                      "code": "laboratory"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "777-3"}]},
            "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": day,
            "valueQuantity": {"value": value, "unit": "10*9/L", "system": "http://unitsofmeasure.org",
                              "code": "10*9/L"}}


def pregnancy(pid: str = PATIENT_ID, day: str = "2024-06-20") -> dict[str, Any]:
    return {"resourceType": "Observation", "id": "preg1", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "82810-3"}]},
            "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": day,
            "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "77386006"}]}}


def sle_condition(pid: str = PATIENT_ID) -> dict[str, Any]:
    return {"resourceType": "Condition", "id": "c-sle",
            "clinicalStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "55464009"}]},
            "subject": {"reference": f"Patient/{pid}"}, "onsetDateTime": "2019-05-01"}


def medication_request(mid: str, rxnorm: str, *, status: str = "draft", pid: str = PATIENT_ID
                       ) -> dict[str, Any]:
    return {"resourceType": "MedicationRequest", "id": mid, "status": status, "intent": "order",
            "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                      "code": rxnorm}]},
            "subject": {"reference": f"Patient/{pid}"}}


def searchset(resources: list[dict[str, Any]], next_url: str | None = None) -> dict[str, Any]:
    b: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
                         "entry": [{"resource": r} for r in resources]}
    if next_url:
        b["link"] = [{"relation": "next", "url": next_url}]
    return b


# A newly diagnosed patient with severe thrombocytopenia (platelets 12 x10^9/L, no bleeding recorded).
LOW_PLATELETS = [platelet("plt1", "2024-06-10", 45), platelet("plt2", "2024-06-28", 12)]


class MockFhirServer:
    """A FHIR server for httpx.MockTransport: answers Patient reads and type searches from fixed data,
    records every request (URL and Authorization header) so tests can check what was asked."""

    def __init__(self, resources: list[dict[str, Any]], *, token: str = FHIR_TOKEN, fail: int | None = None):
        self.resources = resources
        self.token = token
        self.fail = fail
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.fail is not None:
            return httpx.Response(self.fail, json={"resourceType": "OperationOutcome"})
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return httpx.Response(401, json={"resourceType": "OperationOutcome"})
        path = request.url.path.rstrip("/").rsplit("/", 2)
        if path[-2] == "Patient":
            found = [r for r in self.resources if r["resourceType"] == "Patient" and r["id"] == path[-1]]
            return httpx.Response(200, json=found[0]) if found else httpx.Response(404)
        rtype = path[-1]
        wanted_codes = request.url.params.get("code")
        hits = []
        for r in self.resources:
            if r["resourceType"] != rtype:
                continue
            if wanted_codes and rtype == "Observation":
                codes = {f"{c['system']}|{c['code']}" for c in r["code"]["coding"]}
                if not codes & set(wanted_codes.split(",")):
                    continue
            hits.append(r)
        return httpx.Response(200, json=searchset(hits))

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def client_for(settings: Settings | None = None, *, server: MockFhirServer | None = None,
               clock: Any = time.time, **kw: Any) -> TestClient:
    transport = (server or MockFhirServer([])).transport()
    app = create_app(settings or service_settings(), fhir_transport=transport, clock=clock,
                     today=lambda: TODAY, **kw)
    return TestClient(app, raise_server_exceptions=False)
