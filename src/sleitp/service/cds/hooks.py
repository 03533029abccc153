"""CDS Hooks 2.0 [CDSHOOKS2]: discovery and three services.

* ``GET /cds-services`` — discovery: the services, their hooks and prefetch templates.
* ``POST /cds-services/sleitp-patient-view`` (``patient-view``) — the patient's platelet trajectory,
  ITP phase and IWG responses, alerts, ranked options and (with a model) the predicted response.
* ``POST /cds-services/sleitp-order-select`` (``order-select``) and ``.../sleitp-order-sign``
  (``order-sign``) — each proposed medication in ``context.draftOrders`` that is an ITP/SLE agent is
  reviewed against this patient: contraindicated, cautions, or its rank among the options, with sources.

The EHR authenticates with a signed JWT (:mod:`sleitp.service.auth`); the patient's data come from the
prefetch or from the EHR's FHIR server (:mod:`sleitp.service.cds.prefetch`); the FHIR mapping is
``sleitp.fhir``; the clinical content is ``sleitp.decision.assess``; cards are laid out by
:mod:`sleitp.service.cds.cards`. Unknown request members (``extension``) are accepted and ignored. What the
clinician did with a card comes back on ``POST /cds-services/{id}/feedback``
(:mod:`sleitp.service.cds.feedback`).
"""

from __future__ import annotations

import re
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from sleitp.decision.review import draft_order_agents, review_orders
from sleitp.inputs import read_patient
from sleitp.service.cds.cards import (
    order_review_cards,
    out_of_scope_card,
    patient_view_cards,
    stale_data_card,
)
from sleitp.service.cds.catalog import SERVICES, ServiceId, service_named
from sleitp.service.cds.prefetch import gather_resources, prefetch_templates
from sleitp.service.context import ServiceContext
from sleitp.service.json_body import decode_json, problem_answers, request_body, require_json, validated
from sleitp.service.one_patient import run_assess
from sleitp.service.problems import Problem

__all__ = ["CdsRequest", "cds_router"]

_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")

# [CDSHOOKS2] requests may carry an ``extension`` object; with this member true, an out-of-scope patient
# gets one info card saying why instead of no card (docs/service.md "Scope"); also a service setting
OUT_OF_SCOPE_EXTENSION = "sleitp-out-of-scope-card"


class FhirAuthorization(BaseModel):
    """[CDSHOOKS2] the access token the EHR grants for its FHIR server."""

    model_config = ConfigDict(extra="allow")
    access_token: str = Field(min_length=1)
    token_type: Literal["Bearer"]
    expires_in: int
    scope: str
    subject: str


class CdsRequest(BaseModel):
    """A CDS Hooks call [CDSHOOKS2]; unknown members (``extension``) are accepted."""

    model_config = ConfigDict(extra="allow")
    hook: str = Field(min_length=1)
    hookInstance: str = Field(min_length=1)
    fhirServer: str | None = None
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None


class Card(BaseModel):
    model_config = ConfigDict(extra="allow")
    uuid: str | None = None
    summary: str = Field(max_length=139)
    indicator: Literal["info", "warning", "critical"]
    detail: str | None = None
    source: dict[str, Any]
    overrideReasons: list[dict[str, str]] | None = None


class CdsResponse(BaseModel):
    cards: list[Card]


class Discovery(BaseModel):
    services: list[dict[str, Any]]


def _parse_request(data: Any) -> CdsRequest:
    return validated(CdsRequest, data, expected="a CDS Hooks request object", what="a CDS Hooks request")


def _asks_out_of_scope_card(body: CdsRequest) -> bool:
    extension = (body.model_extra or {}).get("extension")
    return isinstance(extension, dict) and extension.get(OUT_OF_SCOPE_EXTENSION) is True


def _ctx(request: Request) -> ServiceContext:
    return request.app.state.ctx


def cds_router() -> APIRouter:
    router = APIRouter(tags=["cds-hooks"])

    @router.get("/cds-services", response_model=Discovery, summary="CDS Hooks discovery")
    async def discovery() -> dict[str, Any]:
        return {"services": [s.discovery() for s in SERVICES.values()]}

    responses: dict[int | str, dict[str, Any]] = {200: {"model": CdsResponse, "description": "Cards"}}
    responses.update(problem_answers(
        (400, "Malformed request"), (401, "Missing or invalid EHR JWT"), (404, "No such service"),
        (412, "Prefetch missing and no usable FHIR server"), (413, "Body over the limit"),
        (415, "Body is not JSON"), (422, "Request or FHIR data not usable")))

    @router.post("/cds-services/{service_id}", responses=responses,
                 openapi_extra=request_body("CdsRequest"),
                 summary="Call a CDS service (CDS Hooks 2.0 request; EHR JWT in Authorization)")
    async def call(service_id: ServiceId,
                   request: Request,
                   authorization: Annotated[str | None, Header(include_in_schema=False)] = None
                   ) -> JSONResponse:
        ctx = _ctx(request)
        service = service_named(service_id)
        claims = None
        if not ctx.settings.cds_allow_unauthenticated:
            claims = await ctx.cds_jwt.verify(authorization, service_id)
        require_json(request)  # authenticated first, then the body is read
        body = _parse_request(decode_json(await request.body()))
        if body.hook != service.hook:
            raise Problem(400, f"hook: this service answers {service.hook!r}, not {body.hook!r}")
        if body.fhirAuthorization is not None and not body.fhirServer:
            raise Problem(400, "fhirServer: required when fhirAuthorization is given")
        if body.fhirServer and claims is not None:
            allowed = ctx.cds_jwt.clients[claims["iss"]].fhir_servers
            if allowed and body.fhirServer.rstrip("/") not in {a.rstrip("/") for a in allowed}:
                raise Problem(400, "fhirServer: not a FHIR server configured for this EHR (fhir_servers)")
        patient_id = body.context.get("patientId")
        if not isinstance(patient_id, str) or not _FHIR_ID.match(patient_id):
            raise Problem(400, "context.patientId: required, a FHIR id (letters, digits, '-', '.')")
        orders: list[tuple[str, str]] = []
        if service.hook in ("order-select", "order-sign"):
            selections = body.context.get("selections") if service.hook == "order-select" else None
            if service.hook == "order-select" and not (
                    isinstance(selections, list) and all(isinstance(s, str) for s in selections)):
                raise Problem(400, "context.selections: required for order-select, a list of references")
            draft = body.context.get("draftOrders")
            if not isinstance(draft, dict) or draft.get("resourceType") != "Bundle":
                raise Problem(400, "context.draftOrders: expected a FHIR Bundle of the orders being placed")
            entries = draft.get("entry")
            if entries is not None and not isinstance(entries, list):
                raise Problem(400, "context.draftOrders.entry: expected a list")
            orders = await run_in_threadpool(draft_order_agents, entries or [], selections, patient_id,
                                             ctx.today())
            if not orders:  # nothing sleitp knows about is being ordered: nothing to say
                return JSONResponse({"cards": []})
        gathered = await gather_resources(
            prefetch_templates(service.hook), context=body.context, prefetch=body.prefetch,
            fhir_server=body.fhirServer,
            access_token=body.fhirAuthorization.access_token if body.fhirAuthorization else None,
            access=ctx.fhir)
        patient = await run_in_threadpool(partial(read_patient, patient_id=patient_id, today=ctx.today()),
                                          gathered.resources)
        record, notes = patient.record, patient.notes
        assessment = await run_in_threadpool(run_assess, record, None, ctx.model)
        if not assessment.scope.in_scope:
            # sleitp's advice is for SLE-ITP only: nothing pushed into the EHR unless asked for
            asked = ctx.settings.cds_out_of_scope_card or _asks_out_of_scope_card(body)
            return JSONResponse({"cards": [out_of_scope_card(assessment, ctx.cards)] if asked else []})
        if orders:
            reviews = await run_in_threadpool(review_orders, assessment, orders)
            cards = order_review_cards(assessment, reviews, ctx.cards)
            stale = stale_data_card(assessment, ctx.cards) if cards else None
            return JSONResponse({"cards": ([stale] if stale else []) + cards})
        return JSONResponse({"cards": patient_view_cards(assessment, ctx.cards, notes=notes)})

    return router
