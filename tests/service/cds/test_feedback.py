"""CDS Hooks feedback [CDSHOOKS2] with the specification's own examples (../shared/data/cds-hooks-2.0.1):
``feedback-accepted.json``, ``feedback-overridden.json``, ``feedback-overridden-with-reason.json``.

Covers: the endpoint's authentication, size limit and validation (problem documents naming the field);
what is stored (no comment text unless allowed) and counted (the summary); the cards' uuids and override
reasons; no comment and no patient data in the logs.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import uuid

import pytest

from sleitp.service.cds.feedback import FeedbackLog, FeedbackRequest, IssuedCards
from sleitp.service.cds.override_reasons import (
    OVERRIDE_REASON_SYSTEM,
    OVERRIDE_REASONS,
    REASONS_BY_KIND,
    override_reasons,
)
from sleitp.service.settings import SettingsError, load_settings
from tests.service.cds.test_hooks import NO_DATA, OS, PV, order_select_request
from tests.service_support import (
    API_TOKEN,
    BASE_URL,
    LOW_PLATELETS,
    MockFhirServer,
    bearer,
    cds_example,
    client_for,
    medication_request,
    patient,
    pregnancy,
    searchset,
    service_settings,
    sign,
    sle_condition,
)

EXAMPLES = ("feedback-accepted.json", "feedback-overridden.json", "feedback-overridden-with-reason.json")
COMMENT = cds_example("feedback-overridden-with-reason.json")["feedback"][0]["overrideReason"]["userComment"]
FB = f"{PV}/feedback"


def fb_token(service: str = "sleitp-patient-view") -> dict[str, str]:
    """A fresh EHR JWT whose aud is the feedback endpoint (the URL being called [CDSHOOKS2])."""
    return bearer(sign(service, aud=f"{BASE_URL}/cds-services/{service}/feedback"))


def problem(r, status: int) -> dict:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == status and body["detail"]
    return body


def entry(card: str | None = None, **over) -> dict:
    return {"card": card or str(uuid.uuid4()), "outcome": "overridden",
            "outcomeTimestamp": "2024-07-01T09:30:00Z", **over}


def patient_view_cards(c) -> list[dict]:
    req = cds_example("request-patient-view.json")
    req["prefetch"] = {**NO_DATA, "patient": patient(), "platelets": searchset(LOW_PLATELETS),
                      "conditions": searchset([sle_condition()])}
    r = c.post(PV, json=req, headers=bearer(sign()))
    assert r.status_code == 200, r.text
    return r.json()["cards"]


def read_lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# -- the specification's examples -----------------------------------------------------------------------
@pytest.mark.parametrize("name", EXAMPLES)
def test_the_specifications_feedback_examples_are_accepted(name):
    r = client_for().post(FB, json=cds_example(name), headers=fb_token())
    assert r.status_code == 200, r.text
    assert r.json() == {}


def test_every_service_has_a_feedback_endpoint_and_the_service_url_is_accepted_as_aud():
    c = client_for()
    for service in ("sleitp-patient-view", "sleitp-order-select", "sleitp-order-sign"):
        body = cds_example("feedback-overridden.json")
        r = c.post(f"/cds-services/{service}/feedback", json=body, headers=fb_token(service))
        assert r.status_code == 200, r.text
        # some EHRs sign with the service's own URL as aud: accepted for its feedback too
        r = c.post(f"/cds-services/{service}/feedback", json=body, headers=bearer(sign(service)))
        assert r.status_code == 200, r.text


# -- authentication, size, media type, unknown service --------------------------------------------------
def test_feedback_needs_a_valid_ehr_jwt():
    c = client_for()
    body = cds_example("feedback-accepted.json")
    assert "Bearer" in problem(c.post(FB, json=body), 401)["detail"]
    problem(c.post(FB, json=body, headers=bearer("not-a-jwt")), 401)
    # a token for another service's feedback endpoint
    wrong = bearer(sign(aud=f"{BASE_URL}/cds-services/sleitp-order-sign/feedback"))
    assert "aud" in problem(c.post(FB, json=body, headers=wrong), 401)["detail"]
    # replay: the same token twice
    token = fb_token()
    assert c.post(FB, json=body, headers=token).status_code == 200
    assert "replay" in problem(c.post(FB, json=body, headers=token), 401)["detail"]
    # unauthenticated sandbox mode: accepted without a token, like the hook calls
    open_ = client_for(service_settings(cds_allow_unauthenticated=True))
    assert open_.post(FB, json=body).status_code == 200


def test_feedback_body_over_the_limit_is_413():
    c = client_for(service_settings(max_body_bytes=2048))
    body = cds_example("feedback-overridden-with-reason.json")
    body["feedback"][0]["overrideReason"]["userComment"] = "x" * 4000
    assert "2048" in problem(c.post(FB, json=body, headers=fb_token()), 413)["detail"]


def test_unknown_service_is_404_and_wrong_media_type_415():
    c = client_for()
    body = cds_example("feedback-accepted.json")
    r = c.post("/cds-services/no-such-service/feedback", json=body, headers=fb_token("no-such-service"))
    assert "no-such-service" in problem(r, 404)["detail"]
    r = c.post(FB, content=json.dumps(body), headers={**fb_token(), "content-type": "text/plain"})
    problem(r, 415)
    r = c.post(FB, content=b"{not json", headers={**fb_token(), "content-type": "application/json"})
    problem(r, 400)
    problem(c.post(FB, json=[body], headers=fb_token()), 400)


# -- validation: problem documents naming the field ----------------------------------------------------
@pytest.mark.parametrize(("change", "field"), [
    (lambda f: f.update(outcome="maybe"), "feedback.0.outcome"),
    (lambda f: f.pop("card"), "feedback.0.card"),
    (lambda f: f.update(card="the card about Jane Doe"), "feedback.0.card"),  # sleitp issues uuids only
    (lambda f: f.pop("outcomeTimestamp"), "feedback.0.outcomeTimestamp"),
    (lambda f: f.update(outcomeTimestamp="2021-12-11T10:05:31"), "feedback.0.outcomeTimestamp"),  # no zone
    (lambda f: f.update(outcomeTimestamp="yesterday"), "feedback.0.outcomeTimestamp"),
    (lambda f: f.pop("acceptedSuggestions"), "acceptedSuggestions"),  # required when accepted
    (lambda f: f.update(acceptedSuggestions=[{"id": "x"}]), "feedback.0.acceptedSuggestions.0.id"),
    (lambda f: f.update(overrideReason={"userComment": "no"}), "overrideReason"),  # not when accepted
])
def test_malformed_feedback_is_422_naming_the_field(change, field):
    body = cds_example("feedback-accepted.json")
    change(body["feedback"][0])
    r = client_for().post(FB, json=body, headers=fb_token())
    doc = problem(r, 422)
    assert field in doc["detail"] and any(field in e for e in doc["errors"])


def test_malformed_override_reasons_are_422():
    c = client_for()
    for reason, field in (({}, "overrideReason"), ({"reason": {"code": "x"}}, "reason.system"),
                          ({"reason": {"system": "s", "code": ""}}, "reason.code")):
        body = {"feedback": [entry(overrideReason=reason)]}
        assert field in problem(c.post(FB, json=body, headers=fb_token()), 422)["detail"]
    body = {"feedback": [entry(acceptedSuggestions=[{"id": str(uuid.uuid4())}])]}  # overridden + accepted
    assert "acceptedSuggestions" in problem(c.post(FB, json=body, headers=fb_token()), 422)["detail"]
    assert "feedback" in problem(c.post(FB, json={"cards": []}, headers=fb_token()), 422)["detail"]


def test_timestamps_with_an_offset_are_kept_in_utc_and_extensions_ignored():
    body = FeedbackRequest.model_validate({"feedback": [entry(outcomeTimestamp="2024-07-01T11:30:00.5+02:00",
                                                              extension={"com.example": 1})],
                                           "extension": {"com.example.batch": 7}})
    assert body.feedback[0].outcomeTimestamp == "2024-07-01T09:30:00.500000Z"


# -- what is stored ------------------------------------------------------------------------------------
def test_stored_records_have_no_comment_text_and_no_patient_data(tmp_path):
    path = tmp_path / "feedback.jsonl"
    c = client_for(service_settings(feedback_file=path))
    for name in EXAMPLES:
        assert c.post(FB, json=cds_example(name), headers=fb_token()).status_code == 200
    text = path.read_text(encoding="utf-8")
    assert COMMENT not in text and "userComment" not in text and "comment\"" not in text
    records = read_lines(path)
    assert [r["outcome"] for r in records] == ["accepted", "overridden", "overridden"]
    accepted, plain, with_reason = records
    assert accepted["card"] == "4e0a3a1e-3283-4575-ab82-028d55fe2719"
    assert accepted["accepted_suggestions"] == ["e56e1945-20b3-4393-8503-a1a20fd73152"]
    assert accepted["outcome_timestamp"] == "2021-12-11T10:05:31Z"
    assert plain["override_reason"] is None and plain["comment_given"] is False
    assert with_reason["override_reason"] == {"system": "https://example.com/cds-hooks/override-reason-system",
                                              "code": "d7ecf885"}
    assert with_reason["comment_given"] is True
    for r in records:
        assert set(r) == {"received_at", "service", "card", "card_kind", "option", "outcome",
                          "accepted_suggestions", "override_reason", "comment_given", "outcome_timestamp"}
        assert r["service"] == "sleitp-patient-view" and r["card_kind"] == "unknown"  # not issued here
        assert r["received_at"].endswith("Z")
    assert path.stat().st_mode & 0o777 == 0o600


def test_comment_text_is_kept_only_when_the_setting_allows_it(tmp_path):
    path = tmp_path / "feedback.jsonl"
    c = client_for(service_settings(feedback_file=path, feedback_keep_comments=True))
    body = cds_example("feedback-overridden-with-reason.json")
    assert c.post(FB, json=body, headers=fb_token()).status_code == 200
    (record,) = read_lines(path)
    assert record["comment"] == COMMENT
    # the summary never shows it
    assert COMMENT not in c.get("/api/v1/feedback/summary").text


def test_counts_survive_a_restart_and_bad_lines_are_skipped(tmp_path):
    path = tmp_path / "feedback.jsonl"
    c = client_for(service_settings(feedback_file=path))
    for name in EXAMPLES:
        c.post(FB, json=cds_example(name), headers=fb_token())
    with path.open("a", encoding="utf-8") as f:
        f.write('{"torn line\n["not", "an", "entry"]\n')
    again = client_for(service_settings(feedback_file=path)).get("/api/v1/feedback/summary").json()
    assert again["outcomes"] == {"accepted": 1, "overridden": 2}
    assert again["stored_in_file"] is True
    first = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    assert again["counting_since"] == first["received_at"]  # counting since the first entry on file
    # a line torn by a crash (no newline at the end) does not swallow the next entry
    with path.open("a", encoding="utf-8") as f:
        f.write('{"outcome": "overr')
    c = client_for(service_settings(feedback_file=path))
    assert c.post(FB, json=cds_example(EXAMPLES[0]), headers=fb_token()).status_code == 200
    assert client_for(service_settings(feedback_file=path)).get("/api/v1/feedback/summary").json()[
        "outcomes"] == {"accepted": 2, "overridden": 2}


def test_an_unusable_feedback_file_stops_the_start_up(tmp_path):
    with pytest.raises(SettingsError, match="feedback_file"):
        client_for(service_settings(feedback_file=tmp_path / "no-such-dir" / "feedback.jsonl"))


def test_feedback_file_from_environment_and_settings_file(tmp_path):
    assert load_settings(env={"SLEITP_FEEDBACK_FILE": "/var/lib/sleitp/fb.jsonl"}).feedback_file is not None
    assert load_settings(env={"SLEITP_FEEDBACK_FILE": ""}).feedback_file is None
    assert load_settings(env={"SLEITP_FEEDBACK_KEEP_COMMENTS": "1"}).feedback_keep_comments is True
    with pytest.raises(SettingsError, match="SLEITP_FEEDBACK_KEEP_COMMENTS"):
        load_settings(env={"SLEITP_FEEDBACK_KEEP_COMMENTS": "maybe"})
    f = tmp_path / "service.json"
    f.write_text(json.dumps({"feedback_file": "data/feedback.jsonl"}), encoding="utf-8")
    assert load_settings(f, env={}).feedback_file == tmp_path / "data" / "feedback.jsonl"
    assert load_settings(env={}).feedback_file is None  # default: memory only


def test_concurrent_requests_append_whole_lines(tmp_path):
    path = tmp_path / "feedback.jsonl"
    store = FeedbackLog(path)
    body = FeedbackRequest.model_validate({"feedback": [entry() for _ in range(5)]})

    def send():
        for _ in range(20):
            store.record("sleitp-patient-view", body)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(read_lines(path)) == 8 * 20 * 5
    assert store.summary()["outcomes"]["overridden"] == 800
    assert FeedbackLog(path).summary()["outcomes"]["overridden"] == 800


# -- cards: uuid and override reasons ------------------------------------------------------------------
def test_patient_view_cards_carry_uuids_and_override_reasons():
    cards = patient_view_cards(client_for())
    uuids = [c["uuid"] for c in cards]
    assert len(set(uuids)) == len(uuids) and all(uuid.UUID(u).version == 4 for u in uuids)
    by_kind = {c["indicator"]: c for c in cards}
    options = next(c for c in cards if c["summary"].startswith("Options"))
    status = next(c for c in cards if c["summary"].startswith("Platelets"))
    assert [r["code"] for r in options["overrideReasons"]] == list(REASONS_BY_KIND["options"])
    assert "overrideReasons" not in status  # the status only informs: nothing to decline
    assert by_kind["critical"]["overrideReasons"] == override_reasons("alert")
    for card in cards:
        for reason in card.get("overrideReasons", []):
            assert reason["system"] == OVERRIDE_REASON_SYSTEM and reason["code"] and reason["display"]
    # a second call gives new uuids (random per response)
    assert not set(uuids) & {c["uuid"] for c in patient_view_cards(client_for())}


def test_contraindicated_order_card_has_reasons_and_a_suggestion_uuid():
    server = MockFhirServer([patient(), *LOW_PLATELETS, pregnancy(), sle_condition()])
    ctx = cds_example("order-select-r4-context.json")["context"]
    bundle = copy.deepcopy(ctx["draftOrders"])
    bundle["entry"].append({"resource": medication_request("mmf-1", "7145")})
    req = order_select_request(bundle, [*ctx["selections"], "MedicationRequest/mmf-1"])
    c = client_for(server=server)
    r = c.post(OS, json=req, headers=bearer(sign("sleitp-order-select")))
    (card,) = r.json()["cards"]
    assert [x["code"] for x in card["overrideReasons"]] == list(REASONS_BY_KIND["order-contraindicated"])
    (suggestion,) = card["suggestions"]
    assert uuid.UUID(suggestion["uuid"])
    # the clinician removes the draft: accepted, with the suggestion's uuid
    body = {"feedback": [{"card": card["uuid"], "outcome": "accepted", "acceptedSuggestions": [
        {"id": suggestion["uuid"]}], "outcomeTimestamp": "2024-07-01T10:00:00Z"}]}
    r = c.post(f"{OS}/feedback", json=body, headers=fb_token("sleitp-order-select"))
    assert r.status_code == 200, r.text
    (row,) = c.get("/api/v1/feedback/summary").json()["cards"]
    assert (row["service"], row["kind"], row["option"], row["accepted"]) == (
        "sleitp-order-select", "order-contraindicated", "mycophenolate", 1)


def test_override_reason_data_is_consistent():
    assert all(display and len(display) < 80 for display in OVERRIDE_REASONS.values())
    for kind, codes in REASONS_BY_KIND.items():
        assert len(set(codes)) == len(codes), kind
        assert set(codes) <= set(OVERRIDE_REASONS), kind
    used = {code for codes in REASONS_BY_KIND.values() for code in codes}
    assert used == set(OVERRIDE_REASONS)  # no reason defined and never offered


# -- the summary ---------------------------------------------------------------------------------------
def test_summary_counts_outcomes_per_card_kind_and_option_with_reasons():
    c = client_for()
    cards = patient_view_cards(c)
    options = next(c for c in cards if c["summary"].startswith("Options"))
    alert = next(c for c in cards if c["indicator"] == "critical")
    pref = {"reason": {"system": OVERRIDE_REASON_SYSTEM, "code": "patient-preference"}, "userComment": "x"}
    addressed = {"reason": {"system": OVERRIDE_REASON_SYSTEM, "code": "already-addressed",
                            "display": "whatever the EHR shows"}}
    body = {"feedback": [entry(options["uuid"], overrideReason=pref), entry(options["uuid"].upper()),
                         entry(alert["uuid"], overrideReason=addressed)]}
    assert c.post(FB, json=body, headers=fb_token()).status_code == 200
    for name in EXAMPLES:  # cards sleitp did not issue (in this process)
        assert c.post(FB, json=cds_example(name), headers=fb_token()).status_code == 200
    s = c.get("/api/v1/feedback/summary").json()
    assert s["outcomes"] == {"accepted": 1, "overridden": 5}
    rows = {(r["kind"], r["option"]): r for r in s["cards"]}
    opt = rows[("options", "prednisone")]
    assert (opt["accepted"], opt["overridden"], opt["comments"]) == (0, 2, 1)
    assert opt["override_reasons"] == [{"system": OVERRIDE_REASON_SYSTEM, "code": "patient-preference",
                                        "display": OVERRIDE_REASONS["patient-preference"], "count": 1}]
    assert rows[("alert", None)]["override_reasons"][0]["display"] == OVERRIDE_REASONS["already-addressed"]
    unknown = rows[("unknown", None)]
    assert (unknown["accepted"], unknown["overridden"], unknown["comments"]) == (1, 2, 1)
    assert {r["code"] for r in s["top_override_reasons"]} == {"patient-preference", "already-addressed",
                                                              "d7ecf885"}
    assert s["stored_in_file"] is False


def test_summary_needs_the_api_token_when_tokens_are_configured():
    c = client_for(service_settings(api_tokens=[API_TOKEN]))
    problem(c.get("/api/v1/feedback/summary"), 401)
    r = c.get("/api/v1/feedback/summary", headers=bearer(API_TOKEN))
    assert r.status_code == 200 and r.json()["outcomes"] == {"accepted": 0, "overridden": 0}


def test_foreign_reason_codes_are_pooled_beyond_a_bound():
    store = FeedbackLog(None, issued=IssuedCards())
    many = [entry(overrideReason={"reason": {"system": "https://ehr.example/reasons", "code": f"c{i}"}})
            for i in range(80)]
    store.record("sleitp-patient-view", FeedbackRequest.model_validate({"feedback": many}))
    (row,) = store.summary()["cards"]
    assert len(row["override_reasons"]) == 51  # 50 kept, the rest pooled
    assert {"system": "(other)", "code": "(other)", "count": 30} in row["override_reasons"]


def test_openapi_lists_the_feedback_endpoint_and_the_summary():
    spec = client_for().get("/openapi.json").json()
    op = spec["paths"]["/cds-services/{service_id}/feedback"]["post"]
    assert op["security"] == [{"ehrJwt": []}]
    assert op["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CdsFeedbackRequest"}
    assert {"CdsFeedbackRequest", "CdsFeedback", "CdsOverrideReason", "CdsCoding"} <= set(
        spec["components"]["schemas"])
    assert set(op["responses"]) >= {"200", "401", "404", "413", "422"}
    assert spec["paths"]["/api/v1/feedback/summary"]["get"]["security"] == [{"apiToken": []}, {}]


# -- logs ------------------------------------------------------------------------------------------------
def test_logs_carry_neither_the_comment_nor_patient_data(caplog, tmp_path):
    secret = "Zyxwvut Qponmlk refused, MRN 7731"
    c = client_for(service_settings(feedback_file=tmp_path / "fb.jsonl"))
    body = {"feedback": [entry(overrideReason={"userComment": secret})]}
    with caplog.at_level(logging.DEBUG):
        assert c.post(FB, json=body, headers=fb_token()).status_code == 200
        bad = {"feedback": [entry(card=secret, overrideReason={"userComment": secret})]}
        r = c.post(FB, json=bad, headers=fb_token())
        assert r.status_code == 422 and secret not in r.json()["detail"]
        assert c.get("/api/v1/feedback/summary").status_code == 200
    text = "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records)
    access = [r for r in caplog.records if r.name == "sleitp.service.access"]
    assert len(access) == 3
    assert "route=/cds-services/{service_id}/feedback" in access[0].getMessage()
    for word in ("Zyxwvut", "Qponmlk", "7731"):
        assert word not in text
    assert secret not in (tmp_path / "fb.jsonl").read_text(encoding="utf-8")
