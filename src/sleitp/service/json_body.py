"""A JSON request body, read the same way by the REST API, CDS Hooks and the feedback endpoint: the media
types accepted, the Content-Type check, the decoding, and the problem answers the OpenAPI document lists.

Below every router (api, cds.hooks, cds.feedback), so that they share it without importing each other.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from sleitp.service.problems import Problem

__all__ = ["JSON_MEDIA_TYPES", "PROBLEM_CONTENT", "PROBLEM_RESPONSES", "decode_json", "problem_answers",
           "request_body", "require_json", "validated"]

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


def problem_answers(*answers: tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the problem answers of an endpoint: (status, what it means)."""
    return {code: {"description": what, **PROBLEM_CONTENT} for code, what in answers}


def request_body(schema: str) -> dict[str, Any]:
    """The ``openapi_extra`` of an endpoint whose JSON body is the named component schema (read by hand
    from the raw body, so FastAPI does not document it itself)."""
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{schema}"}}}}}


M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], data: Any, *, expected: str, what: str) -> M:
    """``data`` (decoded JSON) as ``model``: a 400 problem when it is not an object (``expected`` says what
    was), a 422 naming every field at fault (``what`` the body is not) otherwise."""
    if not isinstance(data, dict):
        raise Problem(400, f"expected {expected}")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        errors = [f"{'.'.join(str(p) for p in err['loc']) or 'body'}: "
                  f"{err['msg'].removeprefix('Value error, ')}" for err in e.errors()]
        raise Problem(422, f"not {what}: {errors[0]}", errors=errors) from None
