"""Two ASGI middlewares that every request passes through.

:class:`RequestContext` (outermost of ours): gives the request an id (``X-Request-ID``), adds the security
headers, writes one access-log line — request id, method, route template, status, duration; never the
query string, the body or a path that matched no route, since any of those can carry patient data — and
turns an unexpected exception into a 500 problem document without letting the exception (whose message
may quote a record) reach the server's own log.

:class:`BodyLimit`: refuses bodies over the configured size with 413. It checks ``Content-Length`` first
and then counts the bytes as they stream in, so a chunked upload without a length is stopped too.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sleitp.service.error_page import error_page_html, is_page_path
from sleitp.service.problems import PROBLEM_MEDIA_TYPE, TITLES, Problem, where

__all__ = ["PAGE_CSP", "BodyLimit", "RequestContext", "SECURITY_HEADERS"]

access_log = logging.getLogger("sleitp.service.access")
error_log = logging.getLogger("sleitp.service")

# The page and the report are served from here only: no CDN, no inline script. Inline styles are
# allowed because the report (sleitp.report) carries its stylesheet inline; images may be data: URIs
# (the platelet plot).
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
            "base-uri 'none'; object-src 'none'")

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": PAGE_CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "(no route)"


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                for name, value in SECURITY_HEADERS.items():
                    if name.lower().encode() not in present:
                        headers.append((name.lower().encode(), value.encode()))
                headers.append((b"x-request-id", rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:  # a bug in sleitp: answer 500, log where, never the message
            error_log.error("internal error request_id=%s type=%s at=%s", rid, type(exc).__name__, where(exc))
            if not response_started:
                await _send_problem(send_with_headers, 500, "an internal error occurred; the request id "
                                    "identifies it in the service log", rid, path=scope.get("path", ""))
            status = 500
        finally:
            access_log.info("request_id=%s method=%s route=%s status=%d duration_ms=%.1f", rid,
                            scope.get("method", "-"), _route_template(scope), status,
                            (time.perf_counter() - started) * 1000)


async def _send_problem(send: Send, status: int, detail: str, rid: str | None, *, path: str = "",
                        max_bytes: int | None = None) -> None:
    if is_page_path(path):  # the clinician's page: a readable page, not a JSON document
        raw = error_page_html(status, detail, request_id=rid, max_bytes=max_bytes).encode()
        ctype = b"text/html; charset=utf-8"
    else:
        body: dict[str, Any] = {"type": "about:blank", "title": TITLES.get(status, "Error"), "status": status,
                                "detail": detail}
        if rid:
            body["instance"] = f"urn:sleitp:request:{rid}"
        raw = json.dumps(body).encode()
        ctype = PROBLEM_MEDIA_TYPE.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", ctype),
                            (b"content-length", str(len(raw)).encode()), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": raw})


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        detail = f"the request body is larger than the limit of {limit} bytes"
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0:
                    await _send_problem(send, 400, "Content-Length is not a number", None)
                    return
                if declared > limit:
                    await _send_problem(send, 413, detail, scope.get("state", {}).get("request_id"),
                                        path=scope.get("path", ""), max_bytes=limit)
                    return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # raised inside the endpoint's body read; the problem handler answers 413
                    raise Problem(413, detail)
            return message

        await self.app(scope, counting_receive, send)
