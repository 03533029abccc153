"""A JSON request body, read the same way by the REST API, CDS Hooks and the feedback endpoint: the media
types accepted, the Content-Type check, the decoding, and the problem answers the OpenAPI document lists.

Below every router (api, cds.hooks, cds.feedback), so that they share it without importing each other.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from sleitp.service.problems import Problem

__all__ = ["JSON_MEDIA_TYPES", "PROBLEM_CONTENT", "PROBLEM_RESPONSES", "decode_json", "require_json"]

JSON_MEDIA_TYPES = ("application/json", "application/fhir+json")

PROBLEM_CONTENT = {"content": {"application/problem+json": {"schema": {
    "$ref": "#/components/schemas/Problem"}}}}
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed body (not JSON)", **PROBLEM_CONTENT},
    401: {"description": "Missing or wrong bearer token", **PROBLEM_CONTENT},
    413: {"description": "Body over the size limit", **PROBLEM_CONTENT},
    415: {"description": "Body is not JSON", **PROBLEM_CONTENT},
    422: {"description": "Not a valid patient record / FHIR Bundle (errors name the fields)",
          **PROBLEM_CONTENT},
}


def require_json(request: Request) -> None:
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype not in JSON_MEDIA_TYPES and not ctype.endswith("+json"):
        raise Problem(415, f"expected a JSON body (Content-Type application/json), got {ctype or 'none'!r}")


def decode_json(raw: bytes, *, what: str = "the request body") -> Any:
    """Parse JSON bytes or raise a 400 problem saying where the JSON is broken."""
    if not raw.strip():
        raise Problem(400, f"{what} is empty; expected a patient record or a FHIR Bundle as JSON")
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise Problem(400, f"{what} is not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise Problem(400, f"{what} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    except RecursionError:
        raise Problem(400, f"{what} nests too deeply to be a patient record") from None
