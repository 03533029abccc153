"""The REST API (spec/cli.md "Service"): ``POST /api/v1/assess``, ``POST /api/v1/score``, ``GET /healthz``.

Bodies are a patient record (spec/record.md) or a FHIR R4 Bundle, as JSON. The answer is the same JSON
as ``sleitp assess --json`` / ``sleitp score --json``. With tokens configured, ``/api/*`` needs
``Authorization: Bearer TOKEN``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from sleitp.service.context import ServiceContext
from sleitp.service.one_patient import (
    OnePatient,
    assess_json,
    check_assessment_date,
    decode_json,
    input_from_json,
    parse_at,
    score_json,
)
from sleitp.service.problems import Problem

__all__ = ["JSON_MEDIA_TYPES", "PROBLEM_RESPONSES", "api_router", "require_json"]

JSON_MEDIA_TYPES = ("application/json", "application/fhir+json")

_PROBLEM = {"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed body (not JSON)", **_PROBLEM},
    401: {"description": "Missing or wrong bearer token", **_PROBLEM},
    413: {"description": "Body over the size limit", **_PROBLEM},
    415: {"description": "Body is not JSON", **_PROBLEM},
    422: {"description": "Not a valid patient record / FHIR Bundle (errors name the fields)", **_PROBLEM},
}

RECORD_BODY = {
    "required": True,
    "description": "A patient record (spec/record.md) or a FHIR R4 Bundle of one patient.",
    "content": {
        media: {"schema": {"anyOf": [{"$ref": "#/components/schemas/RecordPatientRecord"},
                                     {"$ref": "#/components/schemas/FhirBundle"}]}}
        for media in JSON_MEDIA_TYPES
    },
}

AtQuery = Annotated[str | None, Query(description="Assessment date YYYY-MM-DD (default: the record's)",
                                      pattern=r"^\d{4}-\d{2}-\d{2}$")]
LenientQuery = Annotated[bool, Query(description="Accept unknown record fields as warnings (shown in the "
                                                "JSON `warnings`) instead of answering 422")]
AuthHeader = Annotated[str | None, Header(alias="Authorization", include_in_schema=False)]


def require_json(request: Request) -> None:
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype not in JSON_MEDIA_TYPES and not ctype.endswith("+json"):
        raise Problem(415, f"expected a JSON body (Content-Type application/json), got {ctype or 'none'!r}")


def _ctx(request: Request) -> ServiceContext:
    return request.app.state.ctx


async def _record(request: Request, authorization: str | None, lenient: bool = False) -> OnePatient:
    ctx = _ctx(request)
    ctx.api_tokens(authorization)
    require_json(request)
    data = decode_json(await request.body())
    return await run_in_threadpool(input_from_json, data, source="request body", lenient=lenient)


def api_router() -> APIRouter:
    router = APIRouter()

    @router.get("/healthz", tags=["service"], summary="Liveness: the service answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.post("/api/v1/assess", tags=["api"], openapi_extra={"requestBody": RECORD_BODY},
                 responses=PROBLEM_RESPONSES,
                 summary="Scores, predictors, prediction, ranked options and alerts (sleitp assess --json)")
    async def assess(request: Request, at: AtQuery = None, lenient: LenientQuery = False,
                     authorization: AuthHeader = None) -> JSONResponse:
        one = await _record(request, authorization, lenient)
        day = check_assessment_date(one.record, parse_at(at), _ctx(request).today())
        body = await run_in_threadpool(assess_json, one.record, day, _ctx(request).model, one.mapping)
        return JSONResponse(body)

    @router.post("/api/v1/score", tags=["api"], openapi_extra={"requestBody": RECORD_BODY},
                 responses=PROBLEM_RESPONSES, summary="Clinical instruments (sleitp score --json)")
    async def score(request: Request, at: AtQuery = None, lenient: LenientQuery = False,
                    authorization: AuthHeader = None) -> JSONResponse:
        one = await _record(request, authorization, lenient)
        day = check_assessment_date(one.record, parse_at(at), _ctx(request).today())
        body = await run_in_threadpool(score_json, one.record, day)
        if one.mapping is not None:
            body["fhir_mapping"] = one.mapping.to_json()
        return JSONResponse(body)

    return router
