"""The patient record (public contract: ../shared/spec/record.md, version 1).

One patient is one JSON object. Parsing validates it exactly and converts every measured lab value to
its canonical unit (``sleitp.units``), so the clinical instruments work on clean, canonical data.
Errors name the record, the list index, the field and what was expected, e.g.::

    record 'EX-4': labs[0].unit: 'mmol' is not a unit for c3 (expected g/L or mg/dL)

Fields not in the contract are kept out of the model but reported in ``PatientRecord.warnings``, so a
typo ("asessment_date") is never silently ignored.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import RecordError
from .units import TESTS, UnitError, to_canonical

Sex = Literal["female", "male", "other", "unknown"]

MANIFESTATIONS = (
    "seizure", "psychosis", "organic_brain_syndrome", "delirium", "visual_disturbance",
    "cranial_nerve_disorder", "lupus_headache", "cva", "vasculitis", "arthritis", "myositis",
    "urinary_casts", "rash", "alopecia", "non_scarring_alopecia", "mucosal_ulcers", "oral_ulcers",
    "pleurisy", "pericarditis", "pleural_effusion", "pericardial_effusion", "acute_pericarditis", "fever",
    "acute_cutaneous_lupus", "subacute_cutaneous_lupus", "discoid_lupus", "joint_involvement",
    "autoimmune_hemolysis", "lupus_nephritis",
)
Manifestation_ = Literal[MANIFESTATIONS]  # type: ignore[valid-type]

GLUCOCORTICOIDS = ("prednisone", "prednisolone", "methylprednisolone", "dexamethasone", "hydrocortisone")
AGENTS = GLUCOCORTICOIDS + (
    "ivig", "hydroxychloroquine", "mycophenolate", "azathioprine", "cyclosporine", "tacrolimus",
    "cyclophosphamide", "danazol", "sirolimus", "rituximab", "belimumab", "telitacicept", "daratumumab",
    "bortezomib", "eltrombopag", "romiplostim", "avatrombopag", "hetrombopag", "rhtpo", "fostamatinib",
    "rilzabrutinib", "efgartigimod", "oseltamivir", "splenectomy", "platelet_transfusion",
)
Agent = Literal[AGENTS]  # type: ignore[valid-type]
DoseUnit = Literal["mg", "mg/kg", "g/kg", "ug/kg"]
BleedingSite = Literal["skin", "mucosal", "epistaxis", "gi", "gu", "menorrhagia", "intracranial", "other"]
HISTORY_FLAGS = (
    "antiphospholipid_syndrome", "thrombosis", "lupus_nephritis", "active_infection", "hepatitis_b",
    "splenectomy", "liver_disease",
)


def parse_date(value: Any) -> date:
    """ISO 8601 date; a date-time is accepted and its date is used (spec/record.md)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO 8601 date (YYYY-MM-DD), got {value!r}")
    text = value.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        raise ValueError(f"expected an ISO 8601 date (YYYY-MM-DD), got {value!r}") from None


class _Item(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    @field_validator("date", "start", "end", "birth_date", mode="before", check_fields=False)
    @classmethod
    def _date(cls, v: Any) -> Any:
        return None if v is None else parse_date(v)


class Lab(_Item):
    """One laboratory result; ``value`` is in the canonical unit after validation."""

    date: date
    test: str
    value: float | None = None
    unit: str | None = None
    result: Literal["positive", "negative"] | None = None
    reference_low: float | None = None
    reference_high: float | None = None
    original_value: float | None = Field(default=None, description="value as given, before conversion")
    original_unit: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _convert(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError("expected an object {date, test, value, unit} or {date, test, result}")
        data = dict(data)
        test = data.get("test")
        if not isinstance(test, str) or test not in TESTS:
            raise ValueError(f"test: unknown test {test!r} (expected one of {', '.join(sorted(TESTS))})")
        spec = TESTS[test]
        for key in ("unit",):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise ValueError(f"{key}: expected a unit string, got {data[key]!r}")
        for key in ("reference_low", "reference_high"):
            ref = data.get(key)
            if ref is not None and (isinstance(ref, bool) or not isinstance(ref, (int, float)) or ref != ref):
                raise ValueError(f"{key}: expected a number in the result's unit, got {ref!r}")
        value, result = data.get("value"), data.get("result")
        if value is None and result is None:
            raise ValueError(f"{test}: needs a 'value' with a 'unit', or a 'result' (positive/negative)")
        if result is not None:
            if not spec.qualitative:
                raise ValueError(f"result: {test} is a measured test; give value and unit "
                                 f"({spec.canonical_unit}), not a result")
            if result not in ("positive", "negative"):
                raise ValueError(f"result: expected 'positive' or 'negative', got {result!r}")
            if value is None:
                return data
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"value: expected a number, got {value!r}")
        if value != value:  # NaN
            raise ValueError("value: expected a number, got NaN")
        if spec.canonical_unit is None:  # qualitative test reported as a measured value
            if data.get("reference_high") is None:
                raise ValueError(f"reference_high: a measured {test} needs the laboratory's reference_high "
                                 f"(in the same unit) to be read as positive or negative, or give a result")
            if value < 0:
                raise ValueError(f"value: {test} cannot be negative (got {value})")
            if result is None:
                data["result"] = "positive" if value > data["reference_high"] else "negative"
            return data
        try:
            canonical = to_canonical(test, float(value), data.get("unit"))
        except UnitError as e:
            raise ValueError(f"unit: {e}") from None
        lo, hi = spec.bounds or (float("-inf"), float("inf"))
        if not lo <= canonical <= hi:
            raise ValueError(
                f"value: {value} {data.get('unit')} is outside the plausible range for {test} "
                f"({lo:g} to {hi:g} {spec.canonical_unit})"
            )
        factor = canonical / value if value else to_canonical(test, 1.0, data.get("unit"))
        data["original_value"], data["original_unit"] = value, data.get("unit")
        data["value"], data["unit"] = canonical, spec.canonical_unit
        for k in ("reference_low", "reference_high"):
            if data.get(k) is not None:
                data[k] = float(data[k]) * factor
        return data

    @property
    def positive(self) -> bool | None:
        """Qualitative reading: True/False for a result, None when only a value is known."""
        return None if self.result is None else self.result == "positive"


class Manifestation(_Item):
    date: date
    name: Manifestation_
    details: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _nephritis_class(self) -> "Manifestation":
        if self.name == "lupus_nephritis" and self.details and "class" in self.details:
            if str(self.details["class"]).upper() not in ("I", "II", "III", "IV", "V", "VI"):
                raise ValueError(
                    f"details.class: expected a lupus nephritis class II..V, got {self.details['class']!r}"
                )
        return self

    @property
    def nephritis_class(self) -> str | None:
        if self.details and "class" in self.details:
            return str(self.details["class"]).upper()
        return None


class Treatment(_Item):
    agent: Agent
    start: date
    end: date | None = None
    dose: float | None = Field(default=None, ge=0)
    dose_unit: DoseUnit | None = None
    frequency: str | None = None
    route: str | None = None

    @model_validator(mode="after")
    def _order(self) -> "Treatment":
        if self.end is not None and self.end < self.start:
            raise ValueError(f"end: {self.end} is before start {self.start}")
        if self.dose is not None and self.dose_unit is None:
            raise ValueError("dose_unit: a dose needs its unit (mg, mg/kg, g/kg or ug/kg)")
        return self


class Bleeding(_Item):
    date: date
    who_grade: int = Field(ge=0, le=4)
    site: BleedingSite | None = None


class History(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    antiphospholipid_syndrome: bool = False
    thrombosis: bool = False
    lupus_nephritis: bool = False
    active_infection: bool = False
    hepatitis_b: bool = False
    splenectomy: bool = False
    liver_disease: bool = False


class PatientRecord(_Item):
    """One patient (spec/record.md). Lists are kept in date order."""

    id: str = Field(min_length=1)
    sex: Sex = "unknown"
    birth_date: date | None = None
    age_years: float | None = Field(default=None, ge=0, le=130)
    pregnant: bool | None = None
    weight_kg: float | None = Field(default=None, gt=0, le=400)
    sle_diagnosis_date: date | None = None
    itp_diagnosis_date: date | None = None
    assessment_date: date | None = None
    labs: list[Lab] = []
    manifestations: list[Manifestation] = []
    treatments: list[Treatment] = []
    bleeding: list[Bleeding] = []
    history: History = History()

    @field_validator("sle_diagnosis_date", "itp_diagnosis_date", "assessment_date", mode="before")
    @classmethod
    def _dates(cls, v: Any) -> Any:
        return None if v is None else parse_date(v)

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, v: Any) -> Any:
        if isinstance(v, int) and not isinstance(v, bool):
            return str(v)
        return v

    @model_validator(mode="after")
    def _sorted(self) -> "PatientRecord":
        object.__setattr__(self, "labs", sorted(self.labs, key=lambda x: x.date))
        object.__setattr__(self, "manifestations", sorted(self.manifestations, key=lambda x: x.date))
        object.__setattr__(self, "treatments", sorted(self.treatments, key=lambda x: (x.start, x.agent)))
        object.__setattr__(self, "bleeding", sorted(self.bleeding, key=lambda x: x.date))
        return self

    # -- derived views -------------------------------------------------------------------------
    @property
    def warnings(self) -> list[str]:
        """Fields present in the input but not in the contract (ignored, never silently)."""
        out = [f"{k}: not a field of the record contract; ignored" for k in (self.model_extra or {})]
        for name in ("labs", "manifestations", "treatments", "bleeding"):
            for i, item in enumerate(getattr(self, name)):
                out += [f"{name}[{i}].{k}: not a field of the record contract; ignored"
                        for k in (item.model_extra or {})]
        return out

    @property
    def effective_assessment_date(self) -> date:
        """``assessment_date``, else the latest date found anywhere in the record (spec/record.md)."""
        if self.assessment_date is not None:
            return self.assessment_date
        dates = [d for d in (self.sle_diagnosis_date, self.itp_diagnosis_date) if d]
        dates += [x.date for x in self.labs] + [x.date for x in self.manifestations]
        dates += [x.date for x in self.bleeding]
        dates += [d for t in self.treatments for d in (t.start, t.end) if d]
        if not dates:
            raise RecordError(
                self.id, ["assessment_date: the record has no dates at all; give assessment_date"]
            )
        return max(dates)

    def age_at(self, day: date) -> float | None:
        """Age in years at ``day``: from ``birth_date`` if given, else ``age_years`` (taken as of the
        assessment date)."""
        if self.birth_date is not None:
            return (day - self.birth_date).days / 365.25
        return self.age_years

    def labs_of(self, test: str, *, until: date | None = None) -> list[Lab]:
        return [x for x in self.labs if x.test == test and (until is None or x.date <= until)]

    def platelet_counts(self, *, until: date | None = None) -> list[Lab]:
        return [x for x in self.labs_of("platelets", until=until) if x.value is not None]


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after[_order()]", "function-after[_sorted()]") or str(part).startswith(
            ("function-", "literal[")
        ):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out


def _message(err: dict) -> str:
    msg = err.get("msg", "")
    for prefix in ("Value error, ",):
        msg = msg.removeprefix(prefix)
    etype = err.get("type", "")
    loc = _loc(err.get("loc", ()))
    if etype == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        msg = f"got {err.get('input')!r}, expected one of {expected}"
    elif etype == "missing":
        msg = "is required"
    elif etype in ("extra_forbidden",):
        msg = "is not a field of the record contract"
    # a message that already starts with the field ("unit: ...") gives the field itself
    if ":" in msg and msg.split(":", 1)[0].replace("_", "").isalnum() and " " not in msg.split(":", 1)[0]:
        field_name, rest = msg.split(":", 1)
        if not loc.endswith(field_name):
            loc = f"{loc}.{field_name}" if loc else field_name
        msg = rest.strip()
    return f"{loc}: {msg}" if loc else msg


def parse_record(data: Any, *, source: str | None = None) -> PatientRecord:
    """Validate one record (a dict as in spec/record.md) or raise :class:`RecordError`."""
    if not isinstance(data, dict):
        raise RecordError(None, [f"expected a JSON object for a patient record, got {type(data).__name__}"],
                          source=source)
    rid = data.get("id")
    rid = str(rid) if isinstance(rid, (str, int)) and rid != "" else None
    try:
        return PatientRecord.model_validate(data)
    except ValidationError as e:
        raise RecordError(rid, [_message(err) for err in e.errors()], source=source) from None


def read_json_file(path: str | Path) -> Any:
    """Read a JSON file with an error that says which file and where it is broken."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecordError(None, [f"file not found: {p}"]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise RecordError(None, [f"cannot read {p}: {e}"]) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise RecordError(
            None, [f"{p} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})"]
        ) from None


def load_record(path: str | Path) -> PatientRecord:
    """Load one patient from a record JSON file or a FHIR R4 Bundle (resourceType "Bundle")."""
    data = read_json_file(path)
    if isinstance(data, dict) and data.get("resourceType") == "Bundle":
        from .fhir import bundle_to_record  # the FHIR mapping lives one layer up

        return bundle_to_record(data, source=str(path))
    return parse_record(data, source=str(path))


def record_json_schema() -> dict:
    """JSON Schema of the record (``sleitp schema``)."""
    schema = PatientRecord.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "sleitp patient record (version 1)"
    schema.setdefault("$defs", {}).setdefault("Lab", {})["description"] = (
        "A lab result. test one of: " + ", ".join(
            f"{t.name} [{t.canonical_unit or 'qualitative'}; "
            f"units: {', '.join(t.accepted_units) or 'result'}]"
            for t in TESTS.values()
        )
    )
    return schema


__all__ = [
    "AGENTS", "GLUCOCORTICOIDS", "HISTORY_FLAGS", "MANIFESTATIONS", "Bleeding", "History", "Lab",
    "Manifestation", "PatientRecord", "Treatment", "load_record", "parse_date", "parse_record",
    "read_json_file", "record_json_schema",
]
