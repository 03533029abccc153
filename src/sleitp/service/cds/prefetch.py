"""CDS Hooks prefetch: the templates sleitp asks the EHR to fill, and what it does with the answer.

For each template key the request can be in one of three states, each handled differently [CDSHOOKS2]:

* **absent** — the EHR chose not to (or could not) prefetch it: sleitp fetches it itself from
  ``fhirServer`` with the ``fhirAuthorization`` bearer token; with no ``fhirServer`` it answers 412.
* **null** — the EHR looked and there is no data: taken as "nothing recorded", no fetch.
* **an OperationOutcome** — the EHR tried and failed. The specification sends it "to prevent the CDS
  Service from incurring an unneeded follow-up query", so sleitp does not retry; advice built on a
  record with a hole in it could be unsafe (a missing antiphospholipid condition hides a caution), so it
  answers 412 naming the key.

Keys sleitp did not define (``patientToGreet`` in the specification's example) are ignored. Resources are
merged across keys without duplicates (the lab and platelet searches overlap). FHIR server fetches stay
on the server the EHR named: a ``next`` page link to another origin is not followed (the access token
must not leak), and at most ``fhir_max_pages`` pages are read per key.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import yaml

from sleitp.service.problems import Problem

__all__ = ["FhirAccess", "PrefetchOutcome", "gather_resources", "lab_codes", "prefetch_templates"]

# FHIR id: [A-Za-z0-9\-\.]{1,64} (FHIR R4 datatypes, id). Checked before a context value enters a URL.
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_TOKEN = re.compile(r"\{\{\s*([A-Za-z.]+)\s*\}\}")


@lru_cache(maxsize=1)
def lab_codes() -> dict[str, tuple[str, ...]]:
    """LOINC codes by record test, from the FHIR mapping's vocabulary (evidence/codes.yaml)."""
    path = Path(__file__).resolve().parents[2] / "evidence" / "codes.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    out: dict[str, list[str]] = {}
    for row in data.get("labs", []):
        out.setdefault(row["test"], []).append(str(row["code"]))
    preg = (data.get("pregnancy_status") or {}).get("code")
    if preg:
        out["pregnancy_status"] = [str(preg)]
    return {k: tuple(v) for k, v in out.items()}


def prefetch_templates(hook: str) -> dict[str, str]:
    """The prefetch of sleitp's services: the Patient, platelet counts and the other labs sleitp reads
    (LOINC, from the mapping's code list), the latest pregnancy status (LOINC 82810-3: pregnancy changes
    contraindications), Conditions, medications and procedures (splenectomy)."""
    codes = lab_codes()
    loinc = "http://loinc.org|"
    platelets = ",".join(loinc + c for c in codes.get("platelets", ()))
    others = ",".join(loinc + c for test, cs in codes.items() if test not in ("platelets", "pregnancy_status")
                      for c in cs)
    pregnancy = ",".join(loinc + c for c in codes.get("pregnancy_status", ()))
    pid = "{{context.patientId}}"
    templates = {
        "patient": f"Patient/{pid}",
        "platelets": f"Observation?patient={pid}&code={platelets}&_sort=-date&_count=500",
        "labs": f"Observation?patient={pid}&code={others}&_sort=-date&_count=500",
        "pregnancy": f"Observation?patient={pid}&code={pregnancy}&_sort=-date&_count=1",
        "conditions": f"Condition?patient={pid}",
        "medications": f"MedicationRequest?patient={pid}",
        "procedures": f"Procedure?patient={pid}",
    }
    if hook not in ("patient-view", "order-select", "order-sign"):
        raise ValueError(f"no prefetch for hook {hook!r}")
    return templates


def fill_template(template: str, context: dict[str, Any]) -> str:
    """Replace ``{{context.X}}`` tokens with first-level primitive context values [CDSHOOKS2]."""

    def value(m: re.Match[str]) -> str:
        path = m.group(1)
        if not path.startswith("context.") or path.count(".") != 1:
            raise Problem(400, f"prefetch token {{{{{path}}}}} is not supported")
        v = context.get(path.removeprefix("context."))
        if not isinstance(v, str) or not _FHIR_ID.match(v):
            raise Problem(400, f"{path}: expected a FHIR id (letters, digits, '-', '.', at most 64)")
        return quote(v, safe="")

    return _TOKEN.sub(value, template)


@dataclass
class PrefetchOutcome:
    """What was gathered: the resources, and where each template key came from (for the card detail)."""

    resources: list[dict[str, Any]] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # key -> "prefetch" | "null" | "fhirServer"


def _flatten(value: dict[str, Any]) -> list[dict[str, Any]]:
    if value.get("resourceType") != "Bundle":
        return [value]
    out = []
    for entry in value.get("entry") or []:
        res = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(res, dict) or not isinstance(res.get("resourceType"), str):
            continue
        # a searchset may carry OperationOutcome entries (search.mode "outcome": warnings); not data
        if res["resourceType"] == "OperationOutcome":
            continue
        out.append(res)
    return out


def _merge(into: PrefetchOutcome, resources: list[dict[str, Any]], seen: set[tuple[str, str]]) -> None:
    for res in resources:
        rid = res.get("id")
        if isinstance(rid, str):
            key = (res["resourceType"], rid)
            if key in seen:
                continue
            seen.add(key)
        into.resources.append(res)


class FhirAccess:
    """Reads from the EHR's FHIR server with the access token the EHR handed over."""

    def __init__(self, http: httpx.AsyncClient, *, allow_http: bool, max_pages: int) -> None:
        self.http = http
        self.allow_http = allow_http
        self.max_pages = max_pages

    def check_server(self, server: str) -> str:
        parts = urlsplit(server)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise Problem(400, "fhirServer: expected an absolute https URL")
        if parts.scheme == "http" and not self.allow_http:
            # [CDSHOOKS2] data MUST travel over TLS; plain http only when the operator allows it (tests)
            raise Problem(400, "fhirServer: must be https (set SLEITP_FHIR_ALLOW_HTTP=1 for a test server)")
        return server.rstrip("/")

    async def search(self, server: str, query: str, token: str | None, key: str) -> list[dict[str, Any]]:
        headers = {"Accept": "application/fhir+json, application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        url: str | None = f"{server}/{query}"
        out: list[dict[str, Any]] = []
        pages = 0
        while url is not None and pages < self.max_pages:
            pages += 1
            try:
                resp = await self.http.get(url, headers=headers)
            except httpx.HTTPError:
                raise Problem(412, f"prefetch '{key}' was not sent and the FHIR server could not be reached"
                              ) from None
            if resp.status_code == 404 and query.startswith("Patient/"):
                raise Problem(412, f"prefetch '{key}': the FHIR server has no such patient")
            if resp.status_code != 200:
                raise Problem(412, f"prefetch '{key}' was not sent and the FHIR server answered "
                                   f"{resp.status_code}")
            try:
                data = resp.json()
            except ValueError:
                raise Problem(412, f"prefetch '{key}': the FHIR server did not answer JSON") from None
            if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
                raise Problem(412, f"prefetch '{key}': the FHIR server did not answer a FHIR resource")
            if data["resourceType"] == "OperationOutcome":
                raise Problem(412, f"prefetch '{key}': the FHIR server answered an OperationOutcome")
            out += _flatten(data)
            url = _next_link(data, server)
        return out


def _next_link(bundle: dict[str, Any], server: str) -> str | None:
    if bundle.get("resourceType") != "Bundle":
        return None
    for link in bundle.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            nxt = link["url"]
            # follow only links on the server the EHR named, so the token never goes elsewhere
            return nxt if nxt.startswith((server + "/", server + "?")) else None
    return None


async def gather_resources(templates: dict[str, str], *, context: dict[str, Any],
                           prefetch: dict[str, Any] | None, fhir_server: str | None,
                           access_token: str | None, access: FhirAccess) -> PrefetchOutcome:
    """Resources for the templates from the prefetch, fetching absent keys from ``fhir_server``."""
    outcome = PrefetchOutcome()
    seen: set[tuple[str, str]] = set()
    prefetch = prefetch or {}
    missing = []
    for key in templates:
        if key not in prefetch:  # absent: not satisfied by the EHR [CDSHOOKS2]
            missing.append(key)
            continue
        value = prefetch[key]
        if value is None:  # null: the EHR has no data for it [CDSHOOKS2]
            outcome.sources[key] = "null"
            continue
        if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
            raise Problem(400, f"prefetch.{key}: expected a FHIR resource, a Bundle or null")
        if value["resourceType"] == "OperationOutcome":  # the EHR's prefetch failed [CDSHOOKS2]
            raise Problem(412, f"prefetch '{key}' is an OperationOutcome: the EHR could not fetch it, and "
                               "sleitp does not advise on a partial record")
        _merge(outcome, _flatten(value), seen)
        outcome.sources[key] = "prefetch"
    if missing:
        if not fhir_server:  # [CDSHOOKS2] neither prefetch nor FHIR server access -> 412
            raise Problem(412, f"prefetch {missing} not sent and no fhirServer to fetch from")
        server = access.check_server(fhir_server)
        queries = {k: fill_template(templates[k], context) for k in missing}
        results = await asyncio.gather(*(access.search(server, q, access_token, k)
                                         for k, q in queries.items()))
        for key, resources in zip(queries, results, strict=True):
            _merge(outcome, resources, seen)
            outcome.sources[key] = "fhirServer"
    return outcome
