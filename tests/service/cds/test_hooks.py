"""CDS Hooks 2.0 against the specification's own examples (../shared/data/cds-hooks-2.0.1, testdata.md §3).

The EHR's FHIR server is an httpx mock transport (no network). Request bodies are the public examples,
replayed as published or wrapped where the example is a fragment (order-select context).
"""

from __future__ import annotations

import copy

import pytest

from sleitp.service.cds.prefetch import prefetch_templates
from tests.service_support import (
    FHIR_TOKEN,
    LOW_PLATELETS,
    PATIENT_ID,
    MockFhirServer,
    bearer,
    cds_example,
    client_for,
    medication_request,
    patient,
    platelet,
    pregnancy,
    searchset,
    sign,
    sle_condition,
)

NO_DATA = dict.fromkeys(prefetch_templates("patient-view"))  # every key null: "no data" [CDSHOOKS2]
PV = "/cds-services/sleitp-patient-view"
OS = "/cds-services/sleitp-order-select"
SIGN = "/cds-services/sleitp-order-sign"


def assert_valid_cds_response(body: dict) -> None:
    """The response shape of CDS Hooks 2.0 (software.md §3.1; response-cards.json as the model)."""
    assert set(body) <= {"cards", "systemActions"} and isinstance(body["cards"], list)
    for card in body["cards"]:
        assert isinstance(card["summary"], str) and 0 < len(card["summary"]) < 140
        assert card["indicator"] in ("info", "warning", "critical")
        assert isinstance(card["source"]["label"], str) and card["source"]["label"]
        assert card["source"]["url"].startswith("https://")
        if "detail" in card:
            assert isinstance(card["detail"], str)
        for link in card.get("links", []):
            assert link["type"] in ("absolute", "smart") and link["label"] and link["url"].startswith("http")
        if "suggestions" in card:
            assert card["selectionBehavior"] in ("at-most-one", "any")
            for s in card["suggestions"]:
                assert s["label"]
                for a in s.get("actions", []):
                    assert a["type"] in ("create", "update", "delete") and a["description"]
                    assert "resource" in a or "resourceId" in a
        for value in card.values():  # "JSON attributes SHALL NOT be null" [CDSHOOKS2]
            assert value is not None


def test_the_specifications_response_examples_pass_the_shape_check():
    # the checker itself must accept the published responses (and reject a broken one)
    assert_valid_cds_response(cds_example("response-empty.json"))
    cards = cds_example("response-cards.json")
    for c in cards["cards"]:
        c["source"].setdefault("url", "https://example.com")
    assert_valid_cds_response(cards)
    broken = copy.deepcopy(cards)
    broken["cards"][0]["indicator"] = "urgent"
    with pytest.raises(AssertionError):
        assert_valid_cds_response(broken)


# -- discovery ------------------------------------------------------------------------------------------
def test_discovery_lists_three_services_with_prefetch_templates():
    body = client_for().get("/cds-services").json()
    services = {s["id"]: s for s in body["services"]}
    assert {s["hook"] for s in services.values()} == {"patient-view", "order-select", "order-sign"}
    for s in services.values():
        # required members per the spec's discovery example (discovery-response.json)
        assert set(cds_example("discovery-response.json")["services"][0]) - {"prefetch"} <= set(s)
        assert s["description"] and s["id"] and s["hook"]
    pre = services["sleitp-patient-view"]["prefetch"]
    assert pre["patient"] == "Patient/{{context.patientId}}"
    assert "http://loinc.org|777-3" in pre["platelets"] and "http://loinc.org|26515-7" in pre["platelets"]
    assert "Condition?patient={{context.patientId}}" == pre["conditions"]
    assert pre["medications"].startswith("MedicationRequest?patient={{context.patientId}}")
    assert "http://loinc.org|718-7" in pre["labs"]  # haemoglobin, one of the other labs
    assert "777-3" not in pre["labs"]  # platelets have their own key


# -- patient-view: the specification's example request --------------------------------------------------
def test_patient_view_example_fetches_what_the_prefetch_lacks_from_the_fhir_server():
    server = MockFhirServer([patient(), *LOW_PLATELETS, sle_condition()])
    c = client_for(server=server)
    req = cds_example("request-patient-view.json")  # its prefetch is only "patientToGreet"
    r = c.post(PV, json=req, headers=bearer(sign()))
    assert r.status_code == 200, r.text
    body = r.json()
    assert_valid_cds_response(body)
    # every sleitp key was absent, so each was fetched, with the EHR's access token, from its fhirServer
    urls = [str(q.url) for q in server.requests]
    assert all(u.startswith("http://hooks.smarthealthit.org:9080/") for u in urls)
    assert {q.headers["Authorization"] for q in server.requests} == {f"Bearer {FHIR_TOKEN}"}
    assert any("/Patient/1288992" in u for u in urls) and any("777-3" in u for u in urls)
    assert len(urls) == 7
    summaries = " ".join(card["summary"] for card in body["cards"])
    assert "Platelets 12 x10^9/L (2024-06-28)" in summaries
    options = [card for card in body["cards"] if card["summary"].startswith("Options")]
    assert options and "prednisone" in options[0]["detail"].lower()  # first line: a glucocorticoid


def test_patient_view_with_full_prefetch_makes_no_fhir_call():
    server = MockFhirServer([])
    req = cds_example("request-patient-view.json")
    req["prefetch"] = {
        **NO_DATA,
        "patient": patient(),
        "platelets": searchset(LOW_PLATELETS),
        "conditions": searchset([sle_condition()]),
    }
    r = client_for(server=server).post(PV, json=req, headers=bearer(sign()))
    assert r.status_code == 200, r.text
    assert server.requests == []
    assert_valid_cds_response(r.json())
    assert r.json()["cards"]


def test_null_prefetch_means_no_data_and_is_not_fetched():
    server = MockFhirServer([patient(), *LOW_PLATELETS, sle_condition()])
    req = cds_example("request-patient-view.json")
    req["prefetch"] = {**NO_DATA, "patient": patient()}
    r = client_for(server=server).post(PV, json=req, headers=bearer(sign()))
    assert r.status_code == 200 and server.requests == []
    # no platelet count, no line, nothing to say: the spec's empty answer
    assert r.json() == {"cards": []}


def test_operation_outcome_in_prefetch_gives_412_without_refetching():
    server = MockFhirServer([patient(), *LOW_PLATELETS, sle_condition()])
    req = cds_example("request-patient-view.json")
    req["prefetch"] = {
        **NO_DATA,
        "patient": patient(),
        "platelets": {"resourceType": "OperationOutcome", "issue": []},
    }
    r = client_for(server=server).post(PV, json=req, headers=bearer(sign()))
    assert r.status_code == 412
    assert r.headers["content-type"] == "application/problem+json"
    assert "platelets" in r.json()["detail"] and "OperationOutcome" in r.json()["detail"]
    assert server.requests == []


def test_no_prefetch_and_no_fhir_server_is_412():
    req = cds_example("request-patient-view.json")
    del req["fhirServer"], req["fhirAuthorization"], req["prefetch"]
    r = client_for().post(PV, json=req, headers=bearer(sign()))
    assert r.status_code == 412
    assert "no fhirServer" in r.json()["detail"]


def test_partial_prefetch_without_fhir_server_is_412_naming_the_missing_keys():
    req = cds_example("request-patient-view.json")
    del req["fhirServer"], req["fhirAuthorization"]
    req["prefetch"] = {"patient": patient(), "platelets": searchset(LOW_PLATELETS)}
    r = client_for().post(PV, json=req, headers=bearer(sign()))
    assert r.status_code == 412
    for key in ("labs", "conditions", "medications", "procedures", "pregnancy"):
        assert key in r.json()["detail"]


def test_unreachable_or_refusing_fhir_server_is_412():
    req = cds_example("request-patient-view.json")
    r = client_for(server=MockFhirServer([], fail=503)).post(PV, json=req, headers=bearer(sign()))
    assert r.status_code == 412 and "503" in r.json()["detail"]
    wrong_token = MockFhirServer([patient()], token="another-token")
    r = client_for(server=wrong_token).post(PV, json=req, headers=bearer(sign()))
    assert r.status_code == 412 and "401" in r.json()["detail"]


def test_plain_http_fhir_server_is_refused_unless_allowed():
    from tests.service_support import service_settings

    req = cds_example("request-patient-view.json")
    c = client_for(service_settings(fhir_allow_http=False), server=MockFhirServer([patient()]))
    r = c.post(PV, json=req, headers=bearer(sign()))
    assert r.status_code == 400 and "https" in r.json()["detail"]


def test_next_pages_are_followed_on_the_same_server_only():
    page2 = "http://hooks.smarthealthit.org:9080/Observation?page=2"
    elsewhere = "https://evil.example.net/Observation?page=2"
    calls = []

    def handler(request):
        import httpx

        calls.append(str(request.url))
        if request.url.path.endswith("/Patient/1288992"):
            return httpx.Response(200, json=patient())
        if "page=2" in str(request.url):
            return httpx.Response(200, json=searchset([platelet("plt9", "2024-06-30", 15)]))
        if "777-3" in str(request.url):
            return httpx.Response(200, json=searchset(LOW_PLATELETS, next_url=page2))
        if "Condition" in str(request.url):
            return httpx.Response(200, json=searchset([sle_condition()], next_url=elsewhere))
        return httpx.Response(200, json=searchset([]))

    import httpx
    from fastapi.testclient import TestClient

    from sleitp.service import create_app
    from tests.service_support import TODAY, service_settings

    app = create_app(service_settings(), fhir_transport=httpx.MockTransport(handler), today=lambda: TODAY)
    r = TestClient(app).post(PV, json=cds_example("request-patient-view.json"), headers=bearer(sign()))
    assert r.status_code == 200, r.text
    assert page2 in calls and elsewhere not in calls
    assert "Platelets 15 x10^9/L (2024-06-30)" in " ".join(c["summary"] for c in r.json()["cards"])


def test_request_with_extension_is_accepted():
    server = MockFhirServer([patient(), *LOW_PLATELETS, sle_condition()])
    req = cds_example("request-with-extension.json")
    # as published it has no context.patientId (a fragment showing "extension"): a clear 400 naming it
    r = client_for(server=server).post(PV, json=req, headers=bearer(sign()))
    assert r.status_code == 400 and "context.patientId" in r.json()["detail"]
    # with the patient the hook requires, the unknown extension is accepted and ignored
    req["context"]["patientId"] = PATIENT_ID
    req["fhirAuthorization"] = cds_example("request-fhirAuthorization.json")["fhirAuthorization"]
    r = client_for(server=server).post(PV, json=req, headers=bearer(sign()))
    assert r.status_code == 200, r.text
    assert_valid_cds_response(r.json())
    assert str(server.requests[0].url).startswith("http://fhir.example.org:9080/")


def test_malformed_cds_requests_are_400_or_422_never_500():
    c = client_for()
    token = lambda: bearer(sign())  # noqa: E731  (a fresh jti each call)
    r = c.post(PV, content=b"{not json", headers={**token(), "content-type": "application/json"})
    assert r.status_code == 400
    r = c.post(PV, json={"hook": "patient-view"}, headers=token())
    assert r.status_code == 422 and any("hookInstance" in e for e in r.json()["errors"])
    req = cds_example("request-patient-view.json")
    r = c.post(PV, json={**req, "hook": "order-sign"}, headers=token())
    assert r.status_code == 400 and "hook" in r.json()["detail"]
    r = c.post(PV, json={**req, "context": {"patientId": "../../etc/passwd"}}, headers=token())
    assert r.status_code == 400 and "patientId" in r.json()["detail"]
    r = c.post(PV, json={**req, "prefetch": {"patient": "Patient/1"}}, headers=token())
    assert r.status_code == 400 and "prefetch.patient" in r.json()["detail"]
    no_server = {k: v for k, v in req.items() if k != "fhirServer"}
    r = c.post(PV, json=no_server, headers=token())
    assert r.status_code == 400 and "fhirServer" in r.json()["detail"]
    r = c.post("/cds-services/no-such-service", json=req, headers=token())
    assert r.status_code == 404


# -- order-select / order-sign ---------------------------------------------------------------------------
def order_select_request(draft_orders: dict, selections: list[str]) -> dict:
    """order-select-r4-context.json is a context fragment; wrapped in the example request's envelope."""
    req = cds_example("request-patient-view.json")
    req["hook"] = "order-select"
    req["context"] = {**cds_example("order-select-r4-context.json")["context"]}
    req["context"]["draftOrders"] = draft_orders
    req["context"]["selections"] = selections
    del req["prefetch"]
    return req


def test_order_select_example_with_an_antibiotic_has_nothing_to_say():
    ctx = cds_example("order-select-r4-context.json")["context"]
    server = MockFhirServer([patient(), *LOW_PLATELETS, sle_condition()])
    req = order_select_request(ctx["draftOrders"], ctx["selections"])
    r = client_for(server=server).post(OS, json=req, headers=bearer(sign("sleitp-order-select")))
    assert r.status_code == 200, r.text
    assert r.json() == {"cards": []}  # amoxicillin/clavulanate and a diet are not ITP agents
    assert server.requests == []  # nothing to review, so no patient data was fetched


def test_order_select_contraindicated_agent_in_pregnancy_is_critical_with_a_remove_suggestion():
    server = MockFhirServer([patient(), *LOW_PLATELETS, pregnancy(), sle_condition()])
    ctx = cds_example("order-select-r4-context.json")["context"]
    bundle = copy.deepcopy(ctx["draftOrders"])
    bundle["entry"].append({"resource": medication_request("mmf-1", "7145")})  # RxNorm mycophenolic acid
    req = order_select_request(bundle, [*ctx["selections"], "MedicationRequest/mmf-1"])
    r = client_for(server=server).post(OS, json=req, headers=bearer(sign("sleitp-order-select")))
    assert r.status_code == 200, r.text
    body = r.json()
    assert_valid_cds_response(body)
    (card,) = body["cards"]
    assert card["indicator"] == "critical"
    assert card["summary"].startswith("mycophenolate is contraindicated for this patient")
    assert "pregnan" in card["summary"]
    assert "**Reported evidence**" in card["detail"]  # the agent's published response rates, with sources
    (suggestion,) = card["suggestions"]
    assert suggestion["actions"] == [
        {
            "type": "delete",
            "description": "Remove the draft mycophenolate order",
            "resourceId": "MedicationRequest/mmf-1",
        }
    ]


def test_order_select_reviews_only_the_selected_orders():
    server = MockFhirServer([patient(), *LOW_PLATELETS, sle_condition()])
    bundle = searchset([medication_request("mmf-1", "7145"), medication_request("pred-1", "8640")])
    req = order_select_request(bundle, ["MedicationRequest/pred-1"])
    r = client_for(server=server).post(OS, json=req, headers=bearer(sign("sleitp-order-select")))
    assert r.status_code == 200, r.text
    (card,) = r.json()["cards"]
    assert card["summary"].startswith("prednisone")
    assert card["indicator"] in ("info", "warning")


def test_order_sign_reviews_every_draft_order():
    server = MockFhirServer([patient(), *LOW_PLATELETS, sle_condition()])
    bundle = searchset([medication_request("mmf-1", "7145"), medication_request("pred-1", "8640")])
    req = order_select_request(bundle, [])
    req["hook"] = "order-sign"
    del req["context"]["selections"]
    r = client_for(server=server).post(SIGN, json=req, headers=bearer(sign("sleitp-order-sign")))
    assert r.status_code == 200, r.text
    summaries = [c["summary"] for c in r.json()["cards"]]
    assert len(summaries) == 2
    assert any(s.startswith("mycophenolate") for s in summaries)
    assert any(s.startswith("prednisone") for s in summaries)
    assert_valid_cds_response(r.json())


def test_order_select_needs_selections():
    bundle = searchset([medication_request("pred-1", "8640")])
    req = order_select_request(bundle, [])
    del req["context"]["selections"]
    r = client_for().post(OS, json=req, headers=bearer(sign("sleitp-order-select")))
    assert r.status_code == 400 and "selections" in r.json()["detail"]


def test_fhir_server_must_be_one_configured_for_the_ehr_when_a_list_is_given():
    from tests.service_support import ISSUER, public_jwks, service_settings

    listed = service_settings(
        cds_clients=[
            {"issuer": ISSUER, "jwks": public_jwks(), "fhir_servers": ["https://fhir.hospital.example/r4"]}
        ]
    )
    server = MockFhirServer([patient(), *LOW_PLATELETS, sle_condition()])
    req = cds_example("request-patient-view.json")  # fhirServer http://hooks.smarthealthit.org:9080
    r = client_for(listed, server=server).post(PV, json=req, headers=bearer(sign()))
    assert r.status_code == 400 and "fhir_servers" in r.json()["detail"]
    assert server.requests == []  # the access token went nowhere
    req["fhirServer"] = "https://fhir.hospital.example/r4/"
    r = client_for(listed, server=server).post(PV, json=req, headers=bearer(sign()))
    assert r.status_code == 200, r.text
    assert str(server.requests[0].url).startswith("https://fhir.hospital.example/r4/")


# -- scope and data age (issue 15): no card for an out-of-scope patient; a stale count is flagged -----------
NORMAL_PLATELETS = [platelet("plt1", "2024-06-28", 378)]


def test_an_out_of_scope_patient_gets_no_card():
    # no thrombocytopenia and no SLE (the Synthea patient of issue 15): the advice is not for this patient
    c = client_for(server=MockFhirServer([patient(), *NORMAL_PLATELETS]))
    r = c.post(PV, json=cds_example("request-patient-view.json"), headers=bearer(sign()))
    assert r.status_code == 200 and r.json() == {"cards": []}


def test_an_out_of_scope_patient_gets_one_info_card_when_the_ehr_asks():
    req = {**cds_example("request-patient-view.json"), "extension": {"sleitp-out-of-scope-card": True}}
    c = client_for(server=MockFhirServer([patient(), *NORMAL_PLATELETS]))
    r = c.post(PV, json=req, headers=bearer(sign()))
    cards = r.json()["cards"]
    assert len(cards) == 1 and cards[0]["indicator"] == "info"
    assert "no platelet count" in cards[0]["detail"] and "100" in cards[0]["detail"]
    assert_valid_cds_response(r.json())


def test_the_operator_setting_also_gives_the_out_of_scope_card():
    from tests.service_support import service_settings

    c = client_for(
        service_settings(cds_out_of_scope_card=True), server=MockFhirServer([patient(), *NORMAL_PLATELETS])
    )
    r = c.post(PV, json=cds_example("request-patient-view.json"), headers=bearer(sign()))
    assert [card["indicator"] for card in r.json()["cards"]] == ["info"]


def test_thrombocytopenia_without_sle_on_record_still_gets_its_cards_with_the_caveat():
    # withholding an emergency or admission alert because the lupus is not coded would be the greater hazard
    c = client_for(server=MockFhirServer([patient(), *LOW_PLATELETS]))
    r = c.post(PV, json=cds_example("request-patient-view.json"), headers=bearer(sign()))
    assert r.status_code == 200 and r.json()["cards"]


@pytest.mark.parametrize("count_day,stale", [("2024-06-24", False), ("2024-06-23", True)])
def test_a_platelet_count_older_than_7_days_gives_a_warning_card(count_day, stale):
    # TODAY is 2024-07-01: a count of 2024-06-24 is 7 days old (current), of 2024-06-23 8 days (stale)
    server = MockFhirServer([patient(), platelet("plt1", count_day, 35), sle_condition()])
    r = client_for(server=server).post(
        PV, json=cds_example("request-patient-view.json"), headers=bearer(sign())
    )
    assert r.status_code == 200, r.text
    warn = [c for c in r.json()["cards"] if "needs a current count" in c["summary"]]
    assert bool(warn) is stale
    if stale:
        assert warn[0]["indicator"] == "warning" and "8 days old" in warn[0]["summary"]
    status = [c for c in r.json()["cards"] if c["summary"].startswith("Platelets")][0]
    assert "**Data age:**" in status["detail"]
