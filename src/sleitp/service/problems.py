"""Errors as RFC 9457 problem documents (``application/problem+json``) [RFC9457].

Every error the service answers has the same shape: ``type``, ``title``, ``status``, ``detail`` and the
request id (``instance``), plus ``errors`` (one line a problem) when the input failed validation. Bad input
is a 4xx with a message that names the field; a 500 is reserved for a bug in sleitp and then says nothing
about the request (its content stays out of the answer and out of the log).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from sleitp.errors import ModelError, RecordError, SleitpError, SourceError
from sleitp.inputs import error_location as where
from sleitp.service.error_page import error_page_html, is_page_path

__all__ = ["PROBLEM_MEDIA_TYPE", "TITLES", "Problem", "install_problem_handlers", "problem_response", "where"]

PROBLEM_MEDIA_TYPE = "application/problem+json"

TITLES = {
    400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
    405: "Method not allowed", 412: "Precondition failed", 413: "Content too large",
    415: "Unsupported media type", 422: "Unprocessable content", 500: "Internal server error",
    501: "Not implemented", 503: "Service unavailable",
}

log = logging.getLogger("sleitp.service")


class Problem(StarletteHTTPException):
    """An error answered as a problem document. ``errors`` lists one line a problem (field: what is wrong)."""

    def __init__(self, status: int, detail: str, *, errors: list[str] | None = None,
                 headers: dict[str, str] | None = None, title: str | None = None):
        super().__init__(status_code=status, detail=detail, headers=headers)
        self.errors = errors or []
        self.title = title or TITLES.get(status, "Error")


def problem_response(request: Request | None, status: int, detail: str, *, errors: list[str] | None = None,
                     headers: dict[str, str] | None = None, title: str | None = None) -> Response:
    rid = getattr(request.state, "request_id", None) if request is not None else None
    if request is not None and is_page_path(request.url.path):
        # the clinician's page: the same error as a readable page, not a JSON document
        ctx = getattr(request.app.state, "ctx", None)
        limit = ctx.settings.max_body_bytes if ctx is not None else None
        html = error_page_html(status, detail, errors=errors, request_id=rid, max_bytes=limit)
        return HTMLResponse(html, status_code=status, headers=headers)
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if rid:
        body["instance"] = f"urn:sleitp:request:{rid}"
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def _validation_errors(exc: RequestValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        out.append(f"{loc}: {err.get('msg', 'invalid')}")
    return out


def install_problem_handlers(app: FastAPI) -> None:
    """Route every error through :func:`problem_response`."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Response:
        return problem_response(request, exc.status_code, str(exc.detail), errors=exc.errors,
                                headers=exc.headers, title=exc.title)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "Error")
        return problem_response(request, exc.status_code, detail, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return problem_response(request, 422, "the request does not match the API's schema",
                                errors=_validation_errors(exc))

    @app.exception_handler(RecordError)
    async def _record(request: Request, exc: RecordError) -> Response:
        # the problems name fields and expectations; the record's own id is the caller's, sent back to it
        return problem_response(request, 422, "the patient record is not valid (spec/record.md)",
                                errors=exc.problems)

    @app.exception_handler(SourceError)
    async def _source(request: Request, exc: SourceError) -> Response:
        return problem_response(request, 422, "the FHIR data cannot be used", errors=[str(exc)])

    @app.exception_handler(ModelError)
    async def _model(request: Request, exc: ModelError) -> Response:
        log.error("model error request_id=%s type=%s", getattr(request.state, "request_id", "-"),
                  type(exc).__name__)
        return problem_response(request, 503, "the prediction model cannot be used")

    @app.exception_handler(SleitpError)
    async def _sleitp(request: Request, exc: SleitpError) -> Response:
        return problem_response(request, 422, "the input cannot be used", errors=[str(exc)])

    @app.exception_handler(NotImplementedError)
    async def _not_implemented(request: Request, exc: NotImplementedError) -> Response:
        log.error("not implemented request_id=%s at=%s", getattr(request.state, "request_id", "-"),
                  where(exc))
        return problem_response(request, 501, "a part of sleitp this request needs is not implemented yet")
