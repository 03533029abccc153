"""Service settings: from the environment (``SLEITP_*``) and an optional settings file (JSON or TOML).

A value in the environment wins over the same value in the file, so an operator can override one
setting without editing the file. Nothing here holds patient data.

Environment variables (all optional):

==============================  =====================================================================
``SLEITP_SETTINGS``             path of a settings file (``.json`` or ``.toml``) with the fields below
``SLEITP_MODEL_DIR``            a trained model directory (``sleitp train``); predictions are off without
``SLEITP_API_TOKENS``           comma-separated bearer tokens for ``/api/*`` (unset: ``/api/*`` is open)
``SLEITP_BASE_URL``             the service's public URL; CDS Hooks JWTs must have ``aud`` =
                                ``{base_url}/cds-services/{id}`` [CDSHOOKS2]
``SLEITP_CDS_CLIENTS``          JSON list of trusted CDS clients (see :class:`TrustedClient`)
``SLEITP_CDS_ALLOW_UNAUTHENTICATED``  ``1`` to accept CDS Hooks calls without a JWT (sandbox use only)
``SLEITP_CDS_OUT_OF_SCOPE_CARD``  ``1``: an out-of-scope patient (not SLE with thrombocytopenia) gets one
                                ``info`` card saying why, instead of no card
``SLEITP_MAX_BODY_BYTES``       request body limit in bytes (default 1 MiB); larger bodies get 413
``SLEITP_CORS_ORIGINS``         comma-separated origins allowed by CORS (default: none)
``SLEITP_EXAMPLES_DIR``         folder of example patient records shown on the page
``SLEITP_FHIR_ALLOW_HTTP``      ``1`` to let CDS Hooks fetch from a plain-http ``fhirServer`` (testing)
``SLEITP_FEEDBACK_FILE``        JSON Lines file the CDS Hooks feedback is appended to (unset: memory only)
``SLEITP_FEEDBACK_KEEP_COMMENTS``  ``1`` to keep the clinician's override comment text in that file
==============================  =====================================================================
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sleitp.errors import SettingsError

__all__ = ["FORBIDDEN_ALGORITHMS", "Settings", "SettingsError", "TrustedClient", "load_settings"]

# [CDSHOOKS2] "no none, no HMAC": the EHR signs with its private key; ES384 and RS384 are recommended.
FORBIDDEN_ALGORITHMS = frozenset({"none", "HS256", "HS384", "HS512"})


class TrustedClient(BaseModel):
    """One EHR allowed to call the CDS services: its issuer (``iss``) and where its public keys are.

    Keys come from exactly one of: ``jwks`` (an inline JWK Set ``{"keys": [...]}``), ``jwks_file`` (a file
    holding one), ``jwks_url`` (fetched over HTTPS and cached), or, when none is given, the token's ``jku``
    header — only if that URL is on ``jku_allow`` [CDSHOOKS2]. A token whose ``jku`` is not on a
    non-empty ``jku_allow`` list is refused even when keys are configured. ``fhir_servers``, when given,
    lists the FHIR base URLs this EHR may send as ``fhirServer``: sleitp sends the EHR's access token only
    there (another URL is answered 400).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    issuer: str = Field(min_length=1)
    jwks: dict[str, Any] | None = None
    jwks_file: Path | None = None
    jwks_url: str | None = None
    jku_allow: tuple[str, ...] = ()
    fhir_servers: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _one_key_source(self) -> "TrustedClient":
        given = [k for k in ("jwks", "jwks_file", "jwks_url") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of jwks, jwks_file, jwks_url for issuer {self.issuer!r}, not {given}")
        if not given and not self.jku_allow:
            raise ValueError(f"issuer {self.issuer!r} has no keys: give jwks, jwks_file, jwks_url "
                             "or jku_allow")
        if self.jwks is not None and not isinstance(self.jwks.get("keys"), list):
            raise ValueError(f"jwks of issuer {self.issuer!r}: expected a JWK Set {{\"keys\": [...]}}")
        return self


class Settings(BaseModel):
    """Everything the service needs to know about its deployment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_dir: Path | None = None
    api_tokens: tuple[str, ...] = ()
    base_url: str = "http://127.0.0.1:8000"
    cds_clients: tuple[TrustedClient, ...] = ()
    cds_allow_unauthenticated: bool = False
    cds_out_of_scope_card: bool = False  # one info card for an out-of-scope patient (else no card)
    jwt_algorithms: tuple[str, ...] = ("ES384", "RS384")
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300)
    jti_cache_size: int = Field(default=100_000, ge=1)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    cors_origins: tuple[str, ...] = ()
    examples_dir: Path | None = None
    fhir_allow_http: bool = False
    fhir_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    fhir_max_pages: int = Field(default=10, ge=1, le=100)
    # CDS Hooks feedback (sleitp.service.cds.feedback): stored without patient data; the free-text comment of
    # an override is kept only when feedback_keep_comments is true (it may name the patient)
    feedback_file: Path | None = None
    feedback_keep_comments: bool = False

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"expected an absolute http(s) URL, got {v!r}")
        return v.rstrip("/")

    @field_validator("api_tokens")
    @classmethod
    def _tokens(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        tokens = tuple(t.strip() for t in v if t.strip())
        if any(len(t) < 16 for t in tokens):
            raise ValueError("each API token must be at least 16 characters long")
        return tokens

    @field_validator("jwt_algorithms")
    @classmethod
    def _algorithms(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [a for a in v if a in FORBIDDEN_ALGORITHMS or a.lower() == "none"]
        if bad:
            raise ValueError(f"{bad} not allowed: CDS Hooks JWTs are signed with a private key "
                             "(ES384/RS384), never 'none' or HMAC")
        if not v:
            raise ValueError("at least one algorithm (ES384 or RS384)")
        return v

    def cds_service_url(self, service_id: str) -> str:
        """The ``aud`` a CDS Hooks JWT must carry for this service [CDSHOOKS2]."""
        return f"{self.base_url}/cds-services/{service_id}"


_ENV_FIELDS: dict[str, str] = {
    "SLEITP_MODEL_DIR": "model_dir",
    "SLEITP_API_TOKENS": "api_tokens",
    "SLEITP_BASE_URL": "base_url",
    "SLEITP_CDS_CLIENTS": "cds_clients",
    "SLEITP_CDS_ALLOW_UNAUTHENTICATED": "cds_allow_unauthenticated",
    "SLEITP_CDS_OUT_OF_SCOPE_CARD": "cds_out_of_scope_card",
    "SLEITP_MAX_BODY_BYTES": "max_body_bytes",
    "SLEITP_CORS_ORIGINS": "cors_origins",
    "SLEITP_EXAMPLES_DIR": "examples_dir",
    "SLEITP_FHIR_ALLOW_HTTP": "fhir_allow_http",
    "SLEITP_FEEDBACK_FILE": "feedback_file",
    "SLEITP_FEEDBACK_KEEP_COMMENTS": "feedback_keep_comments",
}
_BOOLEAN_FIELDS = ("cds_allow_unauthenticated", "cds_out_of_scope_card", "fhir_allow_http",
                   "feedback_keep_comments")


def _env_value(name: str, field: str, raw: str) -> Any:
    if field in ("api_tokens", "cors_origins"):
        return [x.strip() for x in raw.split(",") if x.strip()]
    if field == "cds_clients":
        try:
            return json.loads(raw)
        except json.JSONDecodeError as e:
            raise SettingsError(f"{name}: expected a JSON list of trusted clients ({e.msg})") from None
    if field == "feedback_file" and not raw.strip():
        return None
    if field in _BOOLEAN_FIELDS:
        if raw.strip().lower() not in ("0", "1", "true", "false", "yes", "no", ""):
            raise SettingsError(f"{name}: expected 1/0 (or true/false), got {raw!r}")
        return raw.strip().lower() in ("1", "true", "yes")
    return raw


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise SettingsError(f"settings file {path}: cannot read it ({e.strerror})") from None
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
        raise SettingsError(f"settings file {path}: not valid {'TOML' if path.suffix == '.toml' else 'JSON'}"
                            f" ({e})") from None
    if not isinstance(data, dict):
        raise SettingsError(f"settings file {path}: expected an object of settings")
    # paths in the file are relative to the file, like any configuration file
    for key in ("model_dir", "examples_dir", "feedback_file"):
        if isinstance(data.get(key), str) and not Path(data[key]).is_absolute():
            data[key] = str(path.parent / data[key])
    for client in data.get("cds_clients", []) or []:
        if isinstance(client, dict) and isinstance(client.get("jwks_file"), str):
            if not Path(client["jwks_file"]).is_absolute():
                client["jwks_file"] = str(path.parent / client["jwks_file"])
    return data


def load_settings(file: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Settings from ``file`` (else ``$SLEITP_SETTINGS``) overridden by ``SLEITP_*`` variables."""
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    file = file or env.get("SLEITP_SETTINGS") or None
    if file:
        data.update(_read_file(Path(file)))
    for name, field in _ENV_FIELDS.items():
        if name in env:
            data[field] = _env_value(name, field, env[name])
    try:
        return Settings.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg'].removeprefix('Value error, ')}"
            for err in e.errors()
        )
        raise SettingsError(f"service settings: {problems}") from None
