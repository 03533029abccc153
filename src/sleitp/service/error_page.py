"""Errors on the clinician's page as a readable page, never a raw JSON problem document.

The REST API and CDS Hooks answer errors as RFC 9457 problem documents (:mod:`sleitp.service.problems`);
the page's own routes (:data:`PAGE_PATHS`) answer the same errors as an HTML page with what went wrong, in
words, and a link back to the form. Used by the problem handlers, the body-size limit (413) and the
internal-error guard (500) alike.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

__all__ = ["PAGE_PATHS", "error_page_html", "is_page_path"]

PAGE_PATHS = frozenset({"/", "/report", "/about"})

_env = Environment(loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
                   autoescape=select_autoescape(["html"]))

# what the clinician reads per status (the detail below says exactly what was wrong)
_HEADINGS = {
    400: "The input could not be read",
    401: "Not signed in",
    404: "No such page",
    405: "This page does not take that request",
    413: "The file or text is too large",
    415: "The form was not sent as a form",
    422: "The input cannot be used",
    500: "Something went wrong inside sleitp",
    503: "The service cannot answer now",
}


def is_page_path(path: str) -> bool:
    return path in PAGE_PATHS


def _size(n: int) -> str:
    return f"{n / 1_048_576:g} MiB" if n >= 1_048_576 else f"{n / 1024:g} KiB"


def error_page_html(status: int, detail: str, *, errors: list[str] | None = None,
                    request_id: str | None = None, max_bytes: int | None = None) -> str:
    """The error as a page: a heading for the status, the detail, the problems listed, the way back."""
    if status == 413 and max_bytes:
        detail = (f"{detail}. The page accepts records and Bundles up to {_size(max_bytes)}; send a smaller "
                  "Bundle (one patient, the resources sleitp reads) or use the REST API with a larger limit "
                  "(SLEITP_MAX_BODY_BYTES).")
    if status == 500:
        detail = ("An internal error occurred; it is a fault in sleitp, not in your input. Nothing you sent "
                  "was stored.")
    return _env.get_template("error.html").render(
        status=status, heading=_HEADINGS.get(status, "The request could not be answered"), detail=detail,
        errors=errors or [], request_id=request_id)
