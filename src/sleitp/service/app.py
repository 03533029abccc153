"""The FastAPI application: :func:`create_app` wires settings, authentication, the REST API, CDS Hooks,
the page, problem documents and the request middlewares together. It holds no clinical logic.

Everything a request needs (settings, keys, the model, example patients, the FHIR HTTP client) is built
once here, so no request reads a file.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles

from sleitp import __version__
from sleitp.model import load_model
from sleitp.record import PatientRecord
from sleitp.service.api import api_router
from sleitp.service.auth import ApiTokenCheck, CdsJwtVerifier
from sleitp.service.cds.cards import CardSource
from sleitp.service.cds.feedback import FeedbackLog, FeedbackRequest, IssuedCards, feedback_router
from sleitp.service.cds.hooks import CdsRequest, cds_router
from sleitp.service.cds.prefetch import FhirAccess
from sleitp.service.context import ServiceContext, reference_urls, today_utc
from sleitp.service.logs import quiet_url_loggers
from sleitp.service.middleware import BodyLimit, RequestContext
from sleitp.service.problems import install_problem_handlers
from sleitp.service.settings import Settings, load_settings
from sleitp.service.web import HERE, load_examples, web_router

__all__ = ["DEFAULT_EXAMPLES_DIR", "create_app", "load_model_for"]

log = logging.getLogger("sleitp.service")

# examples/ of a source checkout (src/sleitp/service/app.py -> repository root)
DEFAULT_EXAMPLES_DIR = Path(__file__).resolve().parents[3] / "examples"

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "instance": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "string"}},
    },
}
FHIR_BUNDLE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A FHIR R4 Bundle of one patient (Patient, Observation, Condition, "
                   "MedicationRequest, ...)",
    "required": ["resourceType"],
    "properties": {"resourceType": {"const": "Bundle"}, "type": {"type": "string"},
                   "entry": {"type": "array", "items": {"type": "object"}}},
}


def load_model_for(settings: Settings) -> Any:
    """The prediction model of ``settings.model_dir`` (a ModelError stops the start-up), else None."""
    if settings.model_dir is None:
        return None
    return load_model(settings.model_dir)


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description,
                             routes=app.routes)
        comps = schema.setdefault("components", {}).setdefault("schemas", {})
        comps["Problem"] = PROBLEM_SCHEMA
        comps["FhirBundle"] = FHIR_BUNDLE_SCHEMA
        record = PatientRecord.model_json_schema(ref_template="#/components/schemas/Record{model}")
        for name, sub in record.pop("$defs", {}).items():
            comps[f"Record{name}"] = sub
        comps["RecordPatientRecord"] = record
        cds = CdsRequest.model_json_schema(ref_template="#/components/schemas/Cds{model}")
        for name, sub in cds.pop("$defs", {}).items():
            comps[f"Cds{name}"] = sub
        comps["CdsRequest"] = cds
        feedback = FeedbackRequest.model_json_schema(ref_template="#/components/schemas/Cds{model}")
        for name, sub in feedback.pop("$defs", {}).items():
            comps[f"Cds{name}"] = sub
        comps["CdsFeedbackRequest"] = feedback
        schema["components"]["securitySchemes"] = {
            "apiToken": {"type": "http", "scheme": "bearer",
                         "description": "SLEITP_API_TOKENS, when configured (/api/*)"},
            "ehrJwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                       "description": "CDS Hooks 2.0 client JWT signed by a trusted EHR "
                                      "(/cds-services/{id}, /cds-services/{id}/feedback)"},
        }
        for path, item in schema.get("paths", {}).items():
            for op in item.values():
                if path.startswith("/api/"):
                    op["security"] = [{"apiToken": []}, {}]
                elif path in ("/cds-services/{service_id}", "/cds-services/{service_id}/feedback"):
                    op["security"] = [{"ehrJwt": []}]
        app.openapi_schema = schema
        return schema

    return build


def create_app(settings: Settings | None = None, *, fhir_transport: httpx.AsyncBaseTransport | None = None,
               clock: Callable[[], float] = time.time, today: Callable[[], date] = today_utc,
               model: Any = None) -> FastAPI:
    """The service. ``settings`` default to the environment (:func:`load_settings`).

    For tests: ``fhir_transport`` replaces the network for FHIR server and JWK Set fetches, ``clock``
    is the JWT clock (seconds since the epoch), ``today`` the point-of-care date of CDS Hooks calls, and
    ``model`` an already loaded prediction model (else the one of ``settings.model_dir``).
    """
    settings = settings or load_settings()
    quiet_url_loggers()
    http = httpx.AsyncClient(transport=fhir_transport, timeout=settings.fhir_timeout_seconds,
                             follow_redirects=False)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await http.aclose()

    app = FastAPI(
        title="sleitp", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
        description="Decision support for immune thrombocytopenia in SLE: REST API, CDS Hooks 2.0 and a "
                    "web page. Decision support, not a prescription.",
    )
    issued = IssuedCards()  # card uuid -> kind, so that feedback is counted per kind of advice
    app.state.ctx = ServiceContext(
        settings=settings,
        api_tokens=ApiTokenCheck(settings.api_tokens),
        cds_jwt=CdsJwtVerifier(settings, http=http, clock=clock),
        fhir=FhirAccess(http, allow_http=settings.fhir_allow_http, max_pages=settings.fhir_max_pages),
        cards=CardSource(settings.base_url, reference_urls(), issued=issued),
        http=http,
        model=model if model is not None else load_model_for(settings),
        examples=load_examples(settings.examples_dir or DEFAULT_EXAMPLES_DIR),
        today=today,
        feedback=FeedbackLog(settings.feedback_file, keep_comments=settings.feedback_keep_comments,
                             issued=issued),
    )
    install_problem_handlers(app)
    app.include_router(api_router())
    app.include_router(cds_router())
    app.include_router(feedback_router())
    app.include_router(web_router())
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.openapi = _openapi(app)  # type: ignore[method-assign]

    # middlewares: the last added runs first
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["GET", "POST"], allow_headers=["Authorization", "Content-Type"],
                           allow_credentials=False)
    app.add_middleware(RequestContext)
    return app
