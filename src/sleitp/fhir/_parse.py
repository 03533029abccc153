"""Reading FHIR R4 JSON: validation with fhir.resources (R4B models), references, dates.

Resources of the types the mapping uses are validated with the ``fhir.resources.R4B`` models
(software.md §3.6: R4 JSON of these resources parses as R4B; the library checks structure and data
types but not required code bindings, so the mapping checks ``status`` itself). Values are then read
from the validated JSON. Other resource types (Claim, Immunization, Goal ...) are not validated;
they are counted as not used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from sleitp.errors import FhirInvalid

USED_TYPES = (
    "Patient",
    "Observation",
    "DiagnosticReport",
    "Condition",
    "Procedure",
    "Encounter",
    "Medication",
    "MedicationRequest",
    "MedicationStatement",
    "MedicationAdministration",
)


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (("." if out else "") + str(part))
    return out


def validate(resource: Any, where: str) -> None:
    """Validate one resource of a used type with its R4B model; raise :class:`FhirInvalid` naming the
    entry, the resource and each failing field."""
    if not isinstance(resource, dict):
        raise FhirInvalid(where, [f"expected a JSON object (a FHIR resource), got {type(resource).__name__}"])
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str) or not rtype:
        raise FhirInvalid(where, ['resourceType: is required (e.g. "Observation")'])
    if rtype not in USED_TYPES:
        return
    label = f"{where} ({rtype}/{resource.get('id', '?')})"
    try:
        get_fhir_model_class(rtype).model_validate(resource)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            msg = str(err.get("msg", "")).removeprefix("Value error, ")
            loc = _loc(err.get("loc", ()))
            if err.get("type") == "extra_forbidden":
                msg = "is not an element of FHIR R4 " + rtype
            elif isinstance(err.get("input"), (str, int, float)) and len(str(err["input"])) <= 40:
                msg += f" (got {err['input']!r})"
            problems.append(f"{loc}: {msg}" if loc else msg)
        raise FhirInvalid(label, problems) from None


# -- resources and references -------------------------------------------------------------------------
@dataclass
class Res:
    """One resource with where it came from."""

    raw: dict[str, Any]
    where: str  # "entry[3]" / "resource[3]" / "Observation.ndjson line 12"
    full_url: str | None = None

    @property
    def type(self) -> str:
        return str(self.raw.get("resourceType", ""))

    @property
    def id(self) -> str | None:
        rid = self.raw.get("id")
        return str(rid) if rid is not None else None

    @property
    def ref(self) -> str:
        """How reports name this resource: Type/id, else its place."""
        return f"{self.type}/{self.id}" if self.id else f"{self.type} at {self.where}"


@dataclass
class Index:
    """Resolves references between the resources of one Bundle / prefetch / patient group."""

    by_key: dict[str, Res] = field(default_factory=dict)

    def add(self, res: Res) -> None:
        if res.id:
            self.by_key.setdefault(f"{res.type}/{res.id}", res)
        if res.full_url:
            self.by_key.setdefault(res.full_url, res)

    def resolve(self, reference: str | None) -> Res | None:
        if not reference:
            return None
        if reference in self.by_key:
            return self.by_key[reference]
        tail = relative(reference)
        return self.by_key.get(tail) if tail else None


_REL = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")


def relative(reference: str) -> str | None:
    """ "Patient/pat2" for "Patient/pat2" or "https://example.com/base/Patient/pat2"; None otherwise."""
    m = _REL.search(reference)
    return f"{m.group(1)}/{m.group(2)}" if m else None


def reference_of(value: Any) -> str | None:
    if isinstance(value, dict):
        ref = value.get("reference")
        return ref if isinstance(ref, str) and ref else None
    return None


# -- dates ------------------------------------------------------------------------------------------
_FULL_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


def fhir_date(value: Any) -> date | None:
    """The calendar date of a FHIR date/dateTime/instant as written (its own time zone, so
    2011-03-04T08:30:00+11:00 is 2011-03-04). None for an absent or partial ("2015", "2015-01") date."""
    if not isinstance(value, str):
        return None
    m = _FULL_DATE.match(value.strip())
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def is_partial_date(value: Any) -> bool:
    return isinstance(value, str) and bool(re.fullmatch(r"\d{4}(-\d{2})?", value.strip()))


_DURATION_DAYS = {"d": 1, "wk": 7, "day": 1, "days": 1, "week": 7, "weeks": 7}


def duration_days(duration: Any) -> float | None:
    """Days in a FHIR Duration/Quantity of days or weeks (UCUM d, wk); None for other units."""
    if not isinstance(duration, dict) or not isinstance(duration.get("value"), (int, float)):
        return None
    unit = duration.get("code") or duration.get("unit")
    factor = _DURATION_DAYS.get(str(unit).strip().lower()) if unit else None
    return duration["value"] * factor if factor else None


def error_fields(error: Exception) -> str:
    """The fields a pydantic ValidationError names ("end", "unit"), never the values it quotes."""
    fields = set()
    for err in getattr(error, "errors", list)():
        if err.get("loc"):
            fields.add(str(err["loc"][-1]))
            continue
        head = str(err.get("msg", "")).removeprefix("Value error, ").split(":", 1)[0]
        if re.fullmatch(r"[a-z_]+", head):
            fields.add(head)
    return ", ".join(sorted(fields)) or "invalid"


def plus_days(day: date, days: float) -> date:
    return day + timedelta(days=days)


__all__ = [
    "USED_TYPES",
    "FhirInvalid",
    "Index",
    "Res",
    "duration_days",
    "error_fields",
    "fhir_date",
    "is_partial_date",
    "plus_days",
    "reference_of",
    "relative",
    "validate",
]
