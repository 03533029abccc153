"""Who may call the service.

* ``/api/*``: a bearer token from ``SLEITP_API_TOKENS`` (when tokens are configured), compared in
  constant time.
* ``/cds-services/{id}`` and ``/cds-services/{id}/feedback``: the EHR's signed JWT, checked as CDS Hooks
  2.0 says [CDSHOOKS2]: an asymmetric signature (``alg`` on an allow-list, by default ES384/RS384; never
  ``none`` or HMAC), ``iss`` on the list of trusted clients, the key from that client's configured JWK Set
  (or from its ``jku`` only if that URL is allow-listed), ``aud`` equal to the URL called (for feedback
  the service's own URL is accepted too), ``exp`` not passed, ``iat`` not in the future, and a ``jti``
  seen only once (replay cache kept until the token expires).

Every refusal is a 401 problem whose detail says which check failed; the token itself is never logged.
"""

from __future__ import annotations

import hmac
import json
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import httpx
import jwt
from jwt import PyJWK

from sleitp.errors import SettingsError
from sleitp.service.problems import Problem
from sleitp.service.settings import FORBIDDEN_ALGORITHMS, Settings, TrustedClient

__all__ = ["ApiTokenCheck", "CdsJwtVerifier", "JtiCache", "bearer_token"]

_BEARER = {"WWW-Authenticate": "Bearer"}


def _unauthorized(detail: str) -> Problem:
    return Problem(401, detail, headers=_BEARER)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer TOKEN`` header, else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class ApiTokenCheck:
    """Bearer tokens for ``/api/*``; with no tokens configured the API is open (bind to loopback then)."""

    def __init__(self, tokens: tuple[str, ...]) -> None:
        self._tokens = tuple(t.encode() for t in tokens)

    @property
    def enabled(self) -> bool:
        return bool(self._tokens)

    def __call__(self, authorization: str | None) -> None:
        if not self._tokens:
            return
        token = bearer_token(authorization)
        if token is None:
            raise _unauthorized("this API needs 'Authorization: Bearer TOKEN' (tokens are configured)")
        given = token.encode()
        # compare against every token, always, so timing does not tell which prefix matched
        ok = False
        for t in self._tokens:
            ok |= hmac.compare_digest(given, t)
        if not ok:
            raise _unauthorized("the bearer token is not valid")


class JtiCache:
    """``(iss, jti)`` pairs already used, each kept until its token expires [CDSHOOKS2] (replay defence).

    Bounded: when full, the entry that expires first is dropped (it is the closest to being refused by
    ``exp`` anyway).
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()

    def use(self, iss: str, jti: str, exp: float, now: float) -> bool:
        """Record a use; False when the pair was already used and has not expired."""
        for key in [k for k, e in self._seen.items() if e < now]:
            del self._seen[key]
        key = (iss, jti)
        if key in self._seen:
            return False
        if len(self._seen) >= self.capacity:
            oldest = min(self._seen, key=self._seen.__getitem__)
            del self._seen[oldest]
        self._seen[key] = exp
        return True


class CdsJwtVerifier:
    """Checks the ``Authorization`` header of a CDS Hooks call; returns the verified claims.

    ``clock`` returns the current time in seconds since the epoch (tests freeze it); ``http`` fetches
    JWK Sets from ``jwks_url`` / allow-listed ``jku`` (tests give it a mock transport).
    """

    JWKS_TTL_SECONDS = 3600.0

    def __init__(self, settings: Settings, *, http: httpx.AsyncClient | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.http = http
        self.clients = {c.issuer: c for c in settings.cds_clients}
        self.algorithms = tuple(a for a in settings.jwt_algorithms if a not in FORBIDDEN_ALGORITHMS)
        self.replays = JtiCache(settings.jti_cache_size)
        self._static: dict[str, list[dict[str, Any]]] = {
            c.issuer: _static_keys(c) for c in settings.cds_clients
            if c.jwks is not None or c.jwks_file is not None}
        self._fetched: dict[str, tuple[float, list[dict[str, Any]]]] = {}

    async def verify(self, authorization: str | None, service_id: str, *, feedback: bool = False
                     ) -> dict[str, Any]:
        """The claims of a valid token for a call of ``service_id`` (or of its feedback endpoint, whose
        ``aud`` is ``{service URL}/feedback``; the service URL itself is accepted there too)."""
        token = bearer_token(authorization)
        if token is None:
            raise _unauthorized("CDS Hooks calls need 'Authorization: Bearer JWT' signed by a trusted EHR")
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise _unauthorized("the bearer token is not a well-formed JWT") from None
        alg = header.get("alg")
        if alg not in self.algorithms:  # [CDSHOOKS2] no 'none', no HMAC
            raise _unauthorized(f"JWT alg {alg!r} is not accepted (expected one of {list(self.algorithms)})")
        iss = unverified.get("iss")
        client = self.clients.get(iss) if isinstance(iss, str) else None
        if client is None:  # [CDSHOOKS2] issuer allow-list
            raise _unauthorized("JWT issuer is not a trusted CDS client")
        jku = header.get("jku")
        if jku is not None and client.jku_allow and jku not in client.jku_allow:  # [CDSHOOKS2] jku allow-list
            raise _unauthorized("JWT jku is not on the issuer's allow-list")
        keys = await self._keys(client, jku)
        key = _select_key(keys, header.get("kid"), alg)
        expected_aud = self.settings.cds_service_url(service_id)
        audiences = [f"{expected_aud}/feedback", expected_aud] if feedback else [expected_aud]
        try:
            claims = jwt.decode(
                token, key=key, algorithms=[alg], audience=audiences, issuer=client.issuer,
                options={"require": ["iss", "aud", "exp", "iat", "jti"], "verify_exp": False,
                         "verify_iat": False, "verify_nbf": False},
            )
        except jwt.InvalidAudienceError:  # [CDSHOOKS2] aud = the service's own URL
            raise _unauthorized(f"JWT aud is not this service ({audiences[0]})") from None
        except jwt.InvalidSignatureError:
            raise _unauthorized("JWT signature does not verify with the issuer's keys") from None
        except jwt.MissingRequiredClaimError as e:
            raise _unauthorized(f"JWT lacks the required claim {e.claim!r}") from None
        except jwt.PyJWTError as e:
            raise _unauthorized(f"JWT rejected ({type(e).__name__})") from None
        self._check_times(claims)
        if not isinstance(claims["jti"], str) or not claims["jti"]:
            raise _unauthorized("JWT jti must be a non-empty string")
        if not self.replays.use(client.issuer, claims["jti"], float(claims["exp"]), self.clock()):
            raise _unauthorized("JWT jti was already used (replay)")
        return claims

    def _check_times(self, claims: dict[str, Any]) -> None:
        now, leeway = self.clock(), self.settings.jwt_leeway_seconds
        for name in ("exp", "iat"):
            if isinstance(claims[name], bool) or not isinstance(claims[name], (int, float)):
                raise _unauthorized(f"JWT {name} must be a number (seconds since the epoch)")
        if claims["exp"] + leeway <= now:
            raise _unauthorized("JWT has expired (exp)")
        if claims["iat"] - leeway > now:
            raise _unauthorized("JWT iat is in the future")
        nbf = claims.get("nbf")
        if isinstance(nbf, (int, float)) and not isinstance(nbf, bool) and nbf - leeway > now:
            raise _unauthorized("JWT is not valid yet (nbf)")

    async def _keys(self, client: TrustedClient, jku: str | None) -> list[dict[str, Any]]:
        if client.issuer in self._static:
            return self._static[client.issuer]
        url = client.jwks_url or (jku if jku in client.jku_allow else None)
        if url is None:
            raise _unauthorized("no keys for this issuer: its jku is missing or not allow-listed")
        cached = self._fetched.get(url)
        now = self.clock()
        if cached and now - cached[0] < self.JWKS_TTL_SECONDS:
            return cached[1]
        keys = await self._fetch_jwks(url)
        self._fetched[url] = (now, keys)
        return keys

    async def _fetch_jwks(self, url: str) -> list[dict[str, Any]]:
        if not url.startswith("https://"):
            raise _unauthorized("JWK Set URLs must be https")
        http = self.http or httpx.AsyncClient(timeout=self.settings.fhir_timeout_seconds)
        try:
            resp = await http.get(url, headers={"Accept": "application/json"})
            data = resp.json() if resp.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            data = None
        finally:
            if self.http is None:
                await http.aclose()
        if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
            raise _unauthorized("the issuer's JWK Set could not be fetched")
        return [k for k in data["keys"] if isinstance(k, dict)]


def _static_keys(client: TrustedClient) -> list[dict[str, Any]]:
    if client.jwks is not None:
        return list(client.jwks["keys"])
    assert client.jwks_file is not None
    try:
        data = json.loads(client.jwks_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise SettingsError(f"jwks_file of issuer {client.issuer!r}: cannot read a JWK Set ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise SettingsError(f"jwks_file of issuer {client.issuer!r}: expected a JWK Set {{\"keys\": [...]}}")
    return list(data["keys"])


def _select_key(keys: list[dict[str, Any]], kid: str | None, alg: str) -> Any:
    candidates = [k for k in keys if kid is None or k.get("kid") == kid]
    candidates = [k for k in candidates if k.get("alg") in (None, alg) and k.get("use") in (None, "sig")]
    if len(candidates) != 1:
        raise _unauthorized("no single key of the issuer matches the JWT's kid and alg")
    jwk = dict(candidates[0])
    jwk.pop("d", None)  # never use a private component, even if a JWK Set carried one
    try:
        return PyJWK(jwk, algorithm=alg).key
    except jwt.PyJWTError:
        raise _unauthorized("the issuer's key cannot be used for this alg") from None
