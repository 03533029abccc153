"""Who may call: bearer tokens for /api/*, and the EHR's signed JWT for CDS Hooks [CDSHOOKS2].

The specification's own JWT (jwt-authorization-header.txt, exp 1422568860 = 2015-01-29) verifies with
jwks-public.json (testdata.md §3); positive HTTP paths sign fresh ES384 tokens with jwk-private.json.
"""

from __future__ import annotations

import asyncio
import base64
import json

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from sleitp.service.auth import ApiTokenCheck, CdsJwtVerifier, JtiCache
from sleitp.service.problems import Problem
from sleitp.service.settings import Settings, SettingsError, load_settings
from tests.service_support import (
    API_TOKEN,
    BASE_URL,
    CDS_DATA,
    ISSUER,
    LOW_PLATELETS,
    MockFhirServer,
    bearer,
    cds_example,
    client_for,
    patient,
    service_settings,
    sign,
)

EXAMPLE_TOKEN = (CDS_DATA / "jwt-authorization-header.txt").read_text().strip().split("Bearer ", 1)[1]
EXAMPLE_AUD_SERVICE = "some-service"  # aud https://cds.example.org/cds-services/some-service
BEFORE_EXPIRY = 1422568860 - 60  # a frozen clock one minute before the example's exp (2015-01-29)
PV = "/cds-services/sleitp-patient-view"


def verify(token: str | None, *, clock=None, service: str = EXAMPLE_AUD_SERVICE, settings_=None,
           http=None, verifier=None) -> dict:
    v = verifier or CdsJwtVerifier(settings_ or service_settings(), clock=clock or (lambda: BEFORE_EXPIRY),
                                   http=http)
    return asyncio.run(v.verify(None if token is None else f"Bearer {token}", service))


def refused(**kw) -> str:
    with pytest.raises(Problem) as e:
        verify(**kw)
    assert e.value.status_code == 401
    return str(e.value.detail)


def flip_signature_byte(token: str) -> str:
    head, payload, sig = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
    raw[10] ^= 0x01
    return ".".join([head, payload, base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()])


# -- the specification's example token --------------------------------------------------------------------
def test_example_token_verifies_with_a_frozen_clock_before_its_expiry():
    claims = verify(EXAMPLE_TOKEN)
    assert claims == cds_example("jwt-payload.json")


def test_example_token_is_expired_with_the_real_clock():
    import time

    assert "expired" in refused(token=EXAMPLE_TOKEN, clock=time.time)


def test_example_token_with_one_flipped_signature_byte_is_refused():
    assert "signature" in refused(token=flip_signature_byte(EXAMPLE_TOKEN))


def test_example_token_for_another_service_is_refused():
    assert "aud" in refused(token=EXAMPLE_TOKEN, service="sleitp-patient-view")


def test_example_token_from_an_issuer_not_on_the_allow_list_is_refused():
    other = service_settings(cds_clients=[{"issuer": "https://other-ehr.example.com/", "jwks": cds_example(
        "jwks-public.json")}])
    assert "issuer" in refused(token=EXAMPLE_TOKEN, settings_=other)


def test_example_token_replayed_is_refused():
    v = CdsJwtVerifier(service_settings(), clock=lambda: BEFORE_EXPIRY)
    verify(EXAMPLE_TOKEN, verifier=v)
    assert "replay" in refused(token=EXAMPLE_TOKEN, verifier=v)


def test_example_jku_must_be_on_the_allow_list_when_one_is_configured():
    jwks = cds_example("jwks-public.json")
    listed = service_settings(cds_clients=[{"issuer": ISSUER, "jwks": jwks,
                                            "jku_allow": ["https://fhir-ehr.example.com/jwk_uri"]}])
    assert verify(EXAMPLE_TOKEN, settings_=listed)["iss"] == ISSUER
    unlisted = service_settings(cds_clients=[{"issuer": ISSUER, "jwks": jwks,
                                              "jku_allow": ["https://elsewhere.example.com/jwks"]}])
    assert "jku" in refused(token=EXAMPLE_TOKEN, settings_=unlisted)


def test_keys_fetched_from_an_allow_listed_jku():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(200, json=cds_example("jwks-public.json"))

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    by_jku = service_settings(cds_clients=[{"issuer": ISSUER,
                                            "jku_allow": ["https://fhir-ehr.example.com/jwk_uri"]}])
    assert verify(EXAMPLE_TOKEN, settings_=by_jku, http=http)["jti"]
    assert calls == ["https://fhir-ehr.example.com/jwk_uri"]


def test_keys_fetched_from_jwks_url_once_then_cached():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(200, json=cds_example("jwks-public.json"))

    s = service_settings(cds_clients=[{"issuer": ISSUER, "jwks_url": "https://ehr.example/jwks.json"}])
    v = CdsJwtVerifier(s, http=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
                       clock=__import__("time").time)
    for _ in range(3):
        assert verify(sign(), verifier=v, service="sleitp-patient-view")["iss"] == ISSUER
    assert calls == ["https://ehr.example/jwks.json"]


def test_unreachable_jwks_url_is_401():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500)

    s = service_settings(cds_clients=[{"issuer": ISSUER, "jwks_url": "https://ehr.example/jwks.json"}])
    v = CdsJwtVerifier(s, http=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
                       clock=__import__("time").time)
    assert "JWK Set" in refused(token=sign(), verifier=v, service="sleitp-patient-view")


# -- tokens signed here with the specification's private key ----------------------------------------------
def test_fresh_token_is_accepted_over_http_and_then_refused_as_a_replay():
    server = MockFhirServer([patient(), *LOW_PLATELETS])
    c = client_for(server=server)
    token = sign()
    req = cds_example("request-patient-view.json")
    assert c.post(PV, json=req, headers=bearer(token)).status_code == 200
    r = c.post(PV, json=req, headers=bearer(token))
    assert r.status_code == 401 and "replay" in r.json()["detail"]
    assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("headers, reason", [
    ({}, "Authorization"),
    ({"Authorization": "Basic dXNlcjpwYXNz"}, "Authorization"),
    ({"Authorization": "Bearer not-a-jwt"}, "well-formed"),
])
def test_cds_call_without_a_usable_jwt_is_401(headers, reason):
    r = client_for().post(PV, json=cds_example("request-patient-view.json"), headers=headers)
    assert r.status_code == 401 and reason in r.json()["detail"]
    assert r.headers["content-type"] == "application/problem+json"


def test_cds_tokens_with_wrong_claims_are_401():
    c = client_for()
    req = cds_example("request-patient-view.json")
    cases = {
        "expired": sign(exp_in=-120),
        "iat": sign(iat=__import__("time").time() + 3600),
        "aud": sign(aud=f"{BASE_URL}/cds-services/sleitp-order-sign"),
        "issuer": sign(iss="https://rogue.example.com/"),
        "kid": sign(kid="another-kid"),
    }
    for reason, token in cases.items():
        r = c.post(PV, json=req, headers=bearer(token))
        assert r.status_code == 401, reason
        assert reason in r.json()["detail"], (reason, r.json()["detail"])


def test_tokens_signed_by_another_key_none_or_hmac_are_401():
    c = client_for()
    req = cds_example("request-patient-view.json")
    other_ec = ec.generate_private_key(ec.SECP384R1())
    r = c.post(PV, json=req, headers=bearer(sign(key=other_ec)))
    assert r.status_code == 401 and "signature" in r.json()["detail"]
    # alg none: an unsigned token must never pass
    unsigned = jwt.encode({"iss": ISSUER, "aud": f"{BASE_URL}/cds-services/sleitp-patient-view",
                           "exp": 4102444800, "iat": 1700000000, "jti": "x"}, None, algorithm="none")
    r = c.post(PV, json=req, headers=bearer(unsigned))
    assert r.status_code == 401 and "alg" in r.json()["detail"]
    # HMAC keyed with the public key (the classic alg-confusion attack), built by hand: PyJWT refuses to
    r = c.post(PV, json=req, headers=bearer(hand_made_hs384()))
    assert r.status_code == 401 and "alg" in r.json()["detail"]


def hand_made_hs384() -> str:
    import hashlib
    import hmac

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS384", "typ": "JWT", "kid": "example-kid"}).encode())
    body = b64(json.dumps({"iss": ISSUER, "aud": f"{BASE_URL}/cds-services/sleitp-patient-view",
                           "exp": 4102444800, "iat": 1700000000, "jti": "y"}).encode())
    secret = json.dumps(cds_example("jwks-public.json")["keys"][0]).encode()
    sig = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha384).digest()
    return f"{head}.{body}.{b64(sig)}"


def test_rs384_issuer_with_inline_keys():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    public.update(kid="rsa-1", alg="RS384", use="sig")
    s = service_settings(cds_clients=[{"issuer": "https://rsa-ehr.example.com/", "jwks": {"keys": [public]}}])
    token = sign(iss="https://rsa-ehr.example.com/", kid="rsa-1", alg="RS384", key=key)
    assert verify(token, settings_=s, service="sleitp-patient-view", clock=__import__("time").time)["jti"]


def test_unauthenticated_mode_only_when_configured():
    server = MockFhirServer([patient(), *LOW_PLATELETS])
    c = client_for(service_settings(cds_allow_unauthenticated=True), server=server)
    assert c.post(PV, json=cds_example("request-patient-view.json")).status_code == 200


# -- the replay cache -----------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcde"), st.integers(0, 100)), max_size=40))
def test_jti_cache_refuses_a_pair_until_it_expires(uses):
    cache, live = JtiCache(capacity=1000), {}
    now = 0.0
    for jti, exp in uses:
        ok = cache.use("iss", jti, float(exp), now)
        assert ok == (jti not in live or live[jti] < now)
        if ok:
            live[jti] = exp
        now += 5


def test_jti_cache_is_bounded():
    cache = JtiCache(capacity=3)
    for i in range(10):
        assert cache.use("iss", str(i), 1000.0 + i, 0.0)
    assert len(cache._seen) == 3


# -- API bearer tokens ----------------------------------------------------------------------------------
def test_api_needs_the_configured_bearer_token():
    c = client_for(service_settings(api_tokens=[API_TOKEN]))
    record = {"id": "T1", "labs": [{"date": "2024-01-01", "test": "platelets", "value": 20,
                                    "unit": "10^9/L"}]}
    for path in ("/api/v1/score", "/api/v1/assess"):
        r = c.post(path, json=record)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert r.json()["status"] == 401
        assert c.post(path, json=record, headers=bearer("wrong-token-0123456789")).status_code == 401
        assert c.post(path, json=record, headers=bearer(API_TOKEN)).status_code == 200
    assert c.get("/healthz").status_code == 200  # liveness stays open
    assert c.get("/cds-services").status_code == 200  # discovery is public [CDSHOOKS2]


def test_api_token_check_without_tokens_is_open():
    ApiTokenCheck(())(None)
    with pytest.raises(Problem):
        ApiTokenCheck((API_TOKEN,))("Bearer " + API_TOKEN[:-1])


# -- settings -------------------------------------------------------------------------------------------
def test_settings_from_file_and_environment(tmp_path):
    f = tmp_path / "service.json"
    (tmp_path / "keys.json").write_text(json.dumps(cds_example("jwks-public.json")))
    f.write_text(json.dumps({"base_url": "https://cds.hospital.example/", "max_body_bytes": 4096,
                             "cds_clients": [{"issuer": ISSUER, "jwks_file": "keys.json"}]}))
    s = load_settings(f, env={"SLEITP_API_TOKENS": f"{API_TOKEN}, other-token-0123456789",
                              "SLEITP_MAX_BODY_BYTES": "8192"})
    assert s.base_url == "https://cds.hospital.example"
    assert s.max_body_bytes == 8192  # the environment wins over the file
    assert s.api_tokens == (API_TOKEN, "other-token-0123456789")
    assert s.cds_clients[0].jwks_file == tmp_path / "keys.json"
    assert s.cds_service_url("x") == "https://cds.hospital.example/cds-services/x"
    toml = tmp_path / "service.toml"
    toml.write_text('base_url = "https://a.example"\ncors_origins = ["https://ehr.example"]\n')
    assert load_settings(toml, env={}).cors_origins == ("https://ehr.example",)


@pytest.mark.parametrize("data, fragment", [
    ({"jwt_algorithms": ["HS256"]}, "never 'none' or HMAC"),
    ({"jwt_algorithms": ["none"]}, "never 'none' or HMAC"),
    ({"api_tokens": ["short"]}, "at least 16"),
    ({"base_url": "cds.example.org"}, "absolute"),
    ({"cds_clients": [{"issuer": "x"}]}, "no keys"),
    ({"max_body_bytes": 10}, "max_body_bytes"),
    ({"unknown_setting": 1}, "unknown_setting"),
])
def test_bad_settings_are_named(tmp_path, data, fragment):
    f = tmp_path / "s.json"
    f.write_text(json.dumps(data))
    with pytest.raises(SettingsError) as e:
        load_settings(f, env={})
    assert fragment in str(e.value)


def test_bad_settings_file_and_env_values_are_named(tmp_path):
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings(tmp_path / "missing.json", env={})
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(SettingsError, match="not valid JSON"):
        load_settings(tmp_path / "bad.json", env={})
    with pytest.raises(SettingsError, match="SLEITP_CDS_CLIENTS"):
        load_settings(env={"SLEITP_CDS_CLIENTS": "[{"})
    with pytest.raises(SettingsError, match="SLEITP_FHIR_ALLOW_HTTP"):
        load_settings(env={"SLEITP_FHIR_ALLOW_HTTP": "maybe"})
    assert isinstance(load_settings(env={}), Settings)
