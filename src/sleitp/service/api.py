"""The REST API (spec/cli.md "Service"): ``POST /api/v1/assess``, ``POST /api/v1/score``, ``GET /healthz``.

Bodies are a patient record (spec/record.md) or a FHIR R4 Bundle, as JSON. The answer is the same JSON
as ``sleitp assess --json`` / ``sleitp score --json``. With tokens configured, ``/api/*`` needs
``Authorization: Bearer TOKEN``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from sleitp.service.context import ServiceContext
from sleitp.service.json_body import JSON_MEDIA_TYPES, PROBLEM_RESPONSES, decode_json, require_json
from sleitp.service.one_patient import (
    OnePatient,
    assess_json,
    check_assessment_date,
    input_from_json,
    parse_at,
    score_json,
)

__all__ = ["api_router"]

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
