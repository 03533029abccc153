"""The patient record (public contract: ../shared/spec/record.md, version 1; the full format, with every
field beyond the spec: docs/record.md).

One patient is one JSON object. Parsing validates it exactly and converts every measured lab value to
its canonical unit (``sleitp.units``), so the clinical instruments work on clean, canonical data.
Errors name the record, the list index, the field and what was expected, e.g.::

    record 'EX-4': labs[0].unit: 'mmol' is not a unit for c3 (expected g/L or mg/dL)

Strict by default: a field the format does not know, anywhere in the record, is an error that names its
path and the closest known name (``treatments[0].stop: unknown field; did you mean 'end'?``), because a
misspelled field silently changes the result ("stop" for "end" keeps a finished course running;
"pregant" switches the pregnancy rules off). ``parse_record(data, lenient=True)`` accepts such fields
and lists each in ``PatientRecord.warnings`` instead (every output must then show them).
"""

from __future__ import annotations

import difflib
import json
import math
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sleitp.errors import InputFileError, RecordError
from sleitp.units import TESTS, UnitError, to_canonical

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
    # beyond the spec's minimum vocabulary (docs/record.md): lupus therapies in EULAR 2023, the ICR 2019
    # emergency adjuncts, and the anticoagulant / antiplatelet drugs the rules must see (ASH 2019 1a remark)
    "anifrolumab", "obinutuzumab", "voclosporin", "cd19_car_t", "tranexamic_acid", "vincristine",
    "heparin", "lmwh", "warfarin", "doac", "aspirin", "clopidogrel",
)
Agent = Literal[AGENTS]  # type: ignore[valid-type]
# Why a course was given, when the record says so (it wins over inference: docs/iwg-response.md, "Lines"):
# itp = ITP-directed; sle = background lupus therapy; other = neither (e.g. an antiviral, an anticoagulant)
Indication = Literal["itp", "sle", "other"]
# mg/m2: per square metre of body-surface area (Mosteller formula, needs weight_kg and height_cm)
DoseUnit = Literal["mg", "mg/kg", "g/kg", "ug/kg", "mg/m2"]
DOSE_UNITS = ("mg", "mg/kg", "g/kg", "ug/kg", "mg/m2")
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
    indication: Indication | None = None

    @model_validator(mode="after")
    def _order(self) -> "Treatment":
        if self.end is not None and self.end < self.start:
            raise ValueError(f"end: {self.end} is before start {self.start}")
        if self.dose is not None and self.dose_unit is None:
            raise ValueError(f"dose_unit: a dose needs its unit ({', '.join(DOSE_UNITS)})")
        return self


class Bleeding(_Item):
    date: date
    who_grade: int = Field(ge=0, le=4)
    site: BleedingSite | None = None


class History(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)  # unknown flags: strict check in parse_record
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
    # beyond spec v1 (docs/record.md): completed weeks of gestation at the assessment date (implies
    # pregnant), the estimated date of delivery, the date of a recent delivery (post-partum), height
    gestational_weeks: float | None = Field(default=None, ge=0, le=45)
    due_date: date | None = None
    delivery_date: date | None = None
    weight_kg: float | None = Field(default=None, gt=0, le=400)
    height_cm: float | None = Field(default=None, ge=40, le=250)
    sle_diagnosis_date: date | None = None
    itp_diagnosis_date: date | None = None
    assessment_date: date | None = None
    labs: list[Lab] = []
    manifestations: list[Manifestation] = []
    treatments: list[Treatment] = []
    bleeding: list[Bleeding] = []
    history: History = History()

    @field_validator("sle_diagnosis_date", "itp_diagnosis_date", "assessment_date", "due_date",
                     "delivery_date", mode="before")
    @classmethod
    def _dates(cls, v: Any) -> Any:
        return None if v is None else parse_date(v)

    @model_validator(mode="after")
    def _pregnancy(self) -> "PatientRecord":
        if self.gestational_weeks is not None:
            if self.pregnant is False:
                raise ValueError(f"gestational_weeks: {self.gestational_weeks:g} weeks of gestation given "
                                 "but pregnant is false; remove one of them")
            object.__setattr__(self, "pregnant", True)  # gestational weeks at the assessment date imply it
        if (self.delivery_date is not None and self.assessment_date is not None
                and self.delivery_date > self.assessment_date):
            raise ValueError(f"delivery_date: {self.delivery_date} is after the assessment date "
                             f"{self.assessment_date}; an expected delivery is due_date")
        return self

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
        """Fields present in the input but not in the record format, accepted in lenient mode and ignored
        (never silently: every output shows these). Empty for a record parsed in the default strict mode,
        which refuses such fields. List indices are those of the parsed (date-sorted) lists."""
        out = [_unknown_message(k, _known(PatientRecord), "ignored") for k in (self.model_extra or {})]
        out += [_unknown_message(f"history.{k}", _known(History), "ignored")
                for k in (self.history.model_extra or {})]
        for name, model in _LISTS.items():
            for i, item in enumerate(getattr(self, name)):
                out += [_unknown_message(f"{name}[{i}].{k}", _known(model), "ignored")
                        for k in (item.model_extra or {})]
        return out

    @property
    def body_surface_area_m2(self) -> float | None:
        """Body-surface area by the Mosteller formula, sqrt(height_cm x weight_kg / 3600) [MOSTELLER1987];
        None when the record lacks the weight or the height."""
        return body_surface_area_m2(self.weight_kg, self.height_cm)

    @property
    def effective_assessment_date(self) -> date:
        """``assessment_date``, else the latest date found anywhere in the record (spec/record.md)."""
        if self.assessment_date is not None:
            return self.assessment_date
        dates = [d for d in (self.sle_diagnosis_date, self.itp_diagnosis_date) if d]
        dates += [x.date for x in self.labs] + [x.date for x in self.manifestations]
        dates += [x.date for x in self.bleeding]
        dates += [d for t in self.treatments for d in (t.start, t.end) if d]
        dates += [d for d in (self.delivery_date,) if d]  # an event; due_date is a forecast, not counted
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


def body_surface_area_m2(weight_kg: float | None, height_cm: float | None) -> float | None:
    """Mosteller RD, N Engl J Med 1987;317:1098: BSA (m2) = sqrt(height (cm) x weight (kg) / 3600)
    [MOSTELLER1987]. None when either is missing."""
    if weight_kg is None or height_cm is None:
        return None
    return math.sqrt(height_cm * weight_kg / 3600.0)  # [MOSTELLER1987]


# -- strict input: the known names of every object of the record ----------------------------------------
def _known(model: type[BaseModel]) -> tuple[str, ...]:
    return tuple(model.model_fields)


_LISTS: dict[str, type[BaseModel]] = {
    "labs": Lab, "manifestations": Manifestation, "treatments": Treatment, "bleeding": Bleeding,
}


def _closest(name: str, known: tuple[str, ...]) -> str | None:
    """The known field a misspelled one most likely means ("stop" -> "end" by meaning, else by spelling)."""
    meant = _MEANT.get(name.strip().lower())
    if meant in known:
        return meant
    hits = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if not hits:  # case and separators: "Weight-KG" -> weight_kg
        folded = {k.replace("_", ""): k for k in known}
        hits = difflib.get_close_matches(name.lower().replace("-", "").replace("_", ""), list(folded), n=1,
                                         cutoff=0.6)
        hits = [folded[h] for h in hits]
    return hits[0] if hits else None


# words a user writes for a field of another name (spelling distance alone would not find these)
_MEANT = {
    "stop": "end", "stopped": "end", "end_date": "end", "stop_date": "end", "start_date": "start",
    "drug": "agent", "medication": "agent", "name": "agent", "units": "unit", "grade": "who_grade",
    "dob": "birth_date", "gender": "sex", "age": "age_years", "weight": "weight_kg", "height": "height_cm",
    "edd": "due_date", "gestational_age": "gestational_weeks", "gestation_weeks": "gestational_weeks",
}


def _unknown_message(path: str, known: tuple[str, ...], consequence: str = "") -> str:
    name = path.rsplit(".", 1)[-1]
    hint = _closest(name, known)
    tail = f"; did you mean {hint!r}?" if hint else f" (known fields: {', '.join(known)})"
    if consequence:
        return f"{path}: unknown field, {consequence}{tail}"
    return f"{path}: unknown field{tail}"


def unknown_fields(data: dict[str, Any]) -> list[str]:
    """One message per field of ``data`` (a record dict) that the record format does not know, with its
    path in the input (list indices as given, before sorting) and the closest known name."""
    out = [_unknown_message(k, _known(PatientRecord)) for k in data if k not in PatientRecord.model_fields]
    history = data.get("history")
    if isinstance(history, dict):
        out += [_unknown_message(f"history.{k}", _known(History))
                for k in history if k not in History.model_fields]
    for name, model in _LISTS.items():
        items = data.get(name)
        if not isinstance(items, list):
            continue
        for i, item in enumerate(items):
            if isinstance(item, dict):
                out += [_unknown_message(f"{name}[{i}].{k}", _known(model))
                        for k in item if k not in model.model_fields]
    return out


_FHIR_TYPE_KEY = "resourceType"


def _fhir_problem(data: dict[str, Any]) -> str | None:
    """A record that is really a FHIR resource (or a Bundle whose resourceType is misspelled) gets a message
    saying what sleitp expected, instead of a list of unknown record fields."""
    key = next((k for k in data if k.replace("_", "").lower() == "resourcetype"), None)
    if key is None:
        return None
    value = data[key]
    if key != _FHIR_TYPE_KEY:
        return (f"{key}: FHIR spells it 'resourceType' (with a capital T); sleitp reads a FHIR Bundle "
                f"(resourceType 'Bundle') or a patient record (docs/record.md)")
    if value == "Bundle":
        return ("resourceType: a FHIR Bundle was given where a patient record is expected "
                "(this input reads records)")
    if isinstance(value, str) and difflib.get_close_matches(value, ["Bundle"], n=1, cutoff=0.7):
        return (f"resourceType: {value!r} is not a FHIR type sleitp reads (type names are case-sensitive); "
                f"did you mean 'Bundle'?")
    shown = repr(value) if isinstance(value, str) and value else "an empty or non-text value"
    return (f"resourceType: a FHIR resource of type {shown} was given; sleitp reads a FHIR R4 Bundle "
            f"(resourceType 'Bundle') holding one patient's resources, or a patient record (docs/record.md)")


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


def parse_record(data: Any, *, source: str | None = None, lenient: bool = False) -> PatientRecord:
    """Validate one record (a dict as in docs/record.md) or raise :class:`RecordError`.

    Strict by default: an unknown field anywhere (top level, ``history``, ``labs[i]``, ``treatments[i]``,
    ``bleeding[i]``, ``manifestations[i]``) is an error naming its path and the closest known name.
    ``lenient=True`` accepts unknown fields, ignores them and lists them in ``record.warnings``.
    """
    if not isinstance(data, dict):
        raise RecordError(None, [f"expected a JSON object for a patient record, got {type(data).__name__}"],
                          source=source)
    rid = data.get("id")
    rid = str(rid) if isinstance(rid, (str, int)) and not isinstance(rid, bool) and rid != "" else None
    fhir = _fhir_problem(data)
    if fhir is not None:  # not a record at all: the message names the input, not "record (no id)"
        raise InputFileError(source, fhir) if source else RecordError(rid, [fhir])
    problems = [] if lenient else unknown_fields(data)
    try:
        record = PatientRecord.model_validate(data)
    except ValidationError as e:
        raise RecordError(rid, problems + [_message(err) for err in e.errors()], source=source) from None
    if problems:
        raise RecordError(rid, problems, source=source)
    return record


def read_json_file(path: str | Path) -> Any:
    """Read a JSON file (UTF-8, with or without a byte-order mark) with an error that names the file and
    says what is wrong in words (:class:`InputFileError`: a file problem, not a record problem)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise InputFileError(p, "file not found") from None
    except IsADirectoryError:
        raise InputFileError(p, "is a directory, not a file (give the path of one .json file)") from None
    except PermissionError:
        raise InputFileError(p, "permission denied (the file cannot be read by this user)") from None
    except OSError as e:
        raise InputFileError(p, f"cannot be read ({e.strerror or 'input/output error'})") from None
    if p.is_dir():  # some platforms read a directory without IsADirectoryError
        raise InputFileError(p, "is a directory, not a file (give the path of one .json file)")
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark (Windows editors) is accepted and dropped
    except UnicodeDecodeError as e:
        raise InputFileError(p, f"is not UTF-8 text (byte {e.start} cannot be read); save it as UTF-8"
                             ) from None
    if not text.strip():
        raise InputFileError(p, "is empty (expected a JSON object: a patient record or a FHIR Bundle)")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputFileError(p, f"is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    except RecursionError:
        raise InputFileError(p, "nests too deeply to be a patient record") from None


def load_record(path: str | Path, *, lenient: bool = False) -> PatientRecord:
    """Load one patient record from a JSON file (docs/record.md).

    ``lenient``: unknown record fields become ``record.warnings`` instead of an error (parse_record). A FHIR
    Bundle is a RecordError here: the record layer sits below the FHIR mapping, so a file that may hold either
    is read with :func:`sleitp.inputs.read_patient`, the one dispatcher every face uses.
    """
    return parse_record(read_json_file(path), source=str(path), lenient=lenient)


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
    "AGENTS", "DOSE_UNITS", "GLUCOCORTICOIDS", "HISTORY_FLAGS", "MANIFESTATIONS", "Bleeding", "History",
    "Lab",
    "Manifestation", "PatientRecord", "Treatment", "body_surface_area_m2", "load_record", "parse_date",
    "parse_record", "read_json_file", "record_json_schema", "unknown_fields",
]
