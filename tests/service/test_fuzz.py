"""Fuzzing the API with schemathesis against its own OpenAPI document: no input may produce a 5xx.

Bounded: at most a few dozen generated requests per operation (positive and negative generation), no
deadline.
CDS Hooks calls run in the unauthenticated sandbox mode so that generated bodies reach the request
handling behind the JWT check, and the FHIR server is a mock transport that answers every query with an
empty searchset (never the network).
"""

from __future__ import annotations

import httpx
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from sleitp.service import create_app
from tests.service_support import TODAY, searchset, service_settings


def _fhir(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=searchset([]))


app = create_app(service_settings(cds_allow_unauthenticated=True, max_body_bytes=65_536),
                 fhir_transport=httpx.MockTransport(_fhir), today=lambda: TODAY)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)
# valid bodies (reach the clinical code) and invalid ones (reach the error handling)
schema.config.generation.modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
# bounded: the exhaustive "coverage" phase (about a thousand requests an operation) is left out; the
# examples and fuzzing phases give at most max_examples an operation (7 operations -> ~150-300 requests)
schema.config.phases.coverage.enabled = False


@schema.parametrize()
@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.data_too_large])
def test_no_server_error(case):
    response = case.call()
    case.validate_response(response, checks=[not_a_server_error])
    assert response.status_code < 500, (response.status_code, response.text[:500])
