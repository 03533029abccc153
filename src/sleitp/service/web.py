"""The page for clinicians at ``/``: pick an example, paste or upload a record or FHIR Bundle, and get
the same report as ``sleitp assess --html`` (``sleitp.report.render_html``), platelet plot included.

Server-rendered with Jinja2 (autoescaped), a plain HTML form and one stylesheet: no script, no build step,
no CDN. The report comes back as its own document with a one-line banner linking back to the form. Input
errors re-show the form with the problems listed (what field, what was expected).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from sleitp.errors import RecordError, SleitpError
from sleitp.service.context import ServiceContext
from sleitp.service.json_body import decode_json
from sleitp.service.one_patient import check_assessment_date, input_from_json, parse_at, run_assess
from sleitp.service.problems import Problem

__all__ = ["HERE", "load_examples", "templates", "web_router"]

HERE = Path(__file__).resolve().parent
templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))

_BODY_OPEN = re.compile(r"<body[^>]*>", re.IGNORECASE)


def load_examples(folder: Path | None) -> dict[str, dict[str, Any]]:
    """Example patients (``*.json`` in ``folder``) read once at start-up: name -> parsed JSON."""
    if folder is None or not folder.is_dir():
        return {}
    out = {}
    for path in sorted(folder.glob("*.json")):
        try:
            out[path.stem] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            continue  # a broken example is the example's problem; it is simply not offered
    return out


def _label(name: str) -> str:
    return name.replace("_", " ").replace("-", " ")


def _form(ctx: ServiceContext, *, status: int = 200, errors: list[str] | None = None, error_title: str = "",
          pasted: str = "", chosen: str = "", at: str = "", lenient: bool = False) -> HTMLResponse:
    html = templates.get_template("index.html").render(
        examples=[(n, _label(n)) for n in ctx.examples], errors=errors or [], error_title=error_title,
        pasted=pasted, chosen_example=chosen, at=at, lenient=lenient)
    return HTMLResponse(html, status_code=status)


def _with_banner(report_html: str) -> str:
    banner = ('<div class="sleitp-banner" id="sleitp-banner"><a href="/">&larr; Assess another patient</a>'
              ' &middot; sleitp decision support, not a prescription</div>'
              '<link rel="stylesheet" href="/static/style.css">')
    m = _BODY_OPEN.search(report_html)
    if m is None:
        return (f"<!doctype html><html><head><meta charset='utf-8'></head><body>{banner}{report_html}"
                "</body></html>")
    return report_html[: m.end()] + banner + report_html[m.end():]


def _render_report(record: Any, at: Any, model: Any, mapping: Any = None) -> str:
    # lazy: the report loads matplotlib (its plot), about a second; only the page's report needs it
    from sleitp.report import render_html

    return render_html(run_assess(record, at, model), mapping=mapping, service=True)


def web_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/", response_class=HTMLResponse)
    async def index(request: Request) -> HTMLResponse:
        return _form(request.app.state.ctx)

    @router.get("/favicon.ico")
    async def favicon() -> Response:
        return Response(status_code=204)  # no icon; answered so browsers do not log a 404

    @router.get("/about", response_class=HTMLResponse)
    async def about(request: Request) -> HTMLResponse:
        ctx: ServiceContext = request.app.state.ctx
        name = getattr(ctx.model, "name", None) or ("loaded" if ctx.model is not None else None)
        return HTMLResponse(templates.get_template("about.html").render(model=name))

    @router.post("/report", response_class=HTMLResponse)
    async def report(request: Request) -> HTMLResponse:
        ctx: ServiceContext = request.app.state.ctx
        ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if ctype not in ("multipart/form-data", "application/x-www-form-urlencoded"):
            raise Problem(415, "the page's form is sent as multipart/form-data")
        try:
            form = await request.form(max_files=1, max_fields=10)
        except Problem:
            raise
        except Exception:  # the multipart parser refused the body
            return _form(ctx, status=400, errors=["the form could not be read"], error_title="Bad request")
        example = str(form.get("example") or "")
        pasted = form.get("record")
        pasted = pasted if isinstance(pasted, str) else ""
        at_text = form.get("at")
        at_text = at_text if isinstance(at_text, str) else ""
        upload = form.get("file")
        lenient = str(form.get("lenient") or "") in ("1", "on", "true")
        keep = {"pasted": pasted, "chosen": example, "at": at_text, "lenient": lenient}
        try:
            raw: bytes | None = None
            source = "the form"
            if isinstance(upload, UploadFile) and upload.filename:
                raw, source = await upload.read(), "the uploaded file"
            elif pasted.strip():
                raw, source = pasted.encode("utf-8"), "the pasted text"
            if raw is not None:
                data = decode_json(raw, what=source)
            elif example:
                if example not in ctx.examples:
                    return _form(ctx, status=422, errors=[f"example: no example patient called {example!r}"],
                                 error_title="Unknown example", **keep)
                data = ctx.examples[example]
            else:
                return _form(ctx, status=422, errors=["choose an example, paste a record or upload a file"],
                             error_title="Nothing to assess", **keep)
            at = parse_at(at_text)
            one = await run_in_threadpool(input_from_json, data, source=source, lenient=lenient)
            day = check_assessment_date(one.record, at, ctx.today())
            html = await run_in_threadpool(_render_report, one.record, day, ctx.model, one.mapping)
        except Problem as p:
            if p.status_code == 413:
                raise
            return _form(ctx, status=p.status_code, errors=[str(p.detail)],
                         error_title="The input is not JSON", **keep)
        except RecordError as e:
            return _form(ctx, status=422, errors=e.problems, error_title="The record is not valid", **keep)
        except SleitpError as e:
            return _form(ctx, status=422, errors=[str(e)], error_title="The input cannot be used", **keep)
        return HTMLResponse(_with_banner(html))

    return router

