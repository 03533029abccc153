"""``sleitp synth --fhir``: the synth tables of a cohort as a FHIR R4 bulk export (``DIR/fhir/``).

The same patients as ``DIR/tables`` (spec/cli.md), written as a bulk export: one NDJSON file a resource
type plus ``manifest.json``, the body of the ``$export`` status response of the Bulk Data Access IG
(``transactionTime``, ``request``, ``requiresAccessToken``, ``output[]`` of ``type``/``url``/``count``;
``url`` is the file name, relative to the manifest). Codes and units are those a real system sends and
``sleitp.fhir`` reads, every one taken from ``src/sleitp/evidence/codes.yaml`` with its source there:

==========================  ===============================================================================
table row                   resource
==========================  ===============================================================================
patients                    Patient (gender, birthDate); Observation pregnancy status LOINC 82810-3 with
                            SNOMED CT 77386006 / 60001007 [HL7-IPS] when ``pregnant`` is known; Encounter
                            (the assessment date as the last contact, which ``sleitp.fhir`` reads)
sle / itp diagnosis date    Condition SNOMED CT 55464009 [SW-REF]; SNOMED CT 128091003 + ICD-10-CM D69.3
labs                        Observation, the first LOINC code of codes.yaml for the test; measured values
                            as valueQuantity in UCUM (10*9/L, g/L, IU per mL, {titer}) [HL7-UCUM];
                            positive/negative as SNOMED CT 10828004 / 260385009 [LOINC-ORG];
                            reference limits as referenceRange
treatments                  MedicationRequest (one dosageInstruction: timing.repeat.boundsPeriod, start and
                            end inclusive [FHIR-R4], frequency, doseAndRate.doseQuantity in UCUM, route);
                            a one-off dose (frequency ``once``) as MedicationAdministration; the agent as
                            its RxNorm ingredient (else ATC, else the name only, which sleitp.fhir reads
                            by its display-text rule); ``splenectomy`` as a completed Procedure
manifestations             lupus nephritis as Condition ICD-10-CM M32.14 (the ISN/RPS class in stage);
                            autoimmune haemolysis as ICD-10-CM D59.10 [ICD10CM-AIHA]; antiphospholipid
                            syndrome (history) as ICD-10-CM D68.61 [ICD10CM-LISTS]
==========================  ===============================================================================

Facts for which codes.yaml lists no verified code (three lab tests: lupus anticoagulant, bone-marrow
megakaryocytes, anti-TPO-receptor; the other manifestations; bleeding
events; the other history flags) are written with a code of the local system :data:`LOCAL_SYSTEM` and
their text, as a site sends its local codes: the export holds every fact of the tables, and
``sleitp.fhir`` counts each such resource in its report under the reason why it was not mapped
(docs/synthetic-fhir.md lists them and what the derived features then lack).

The work is set-based: each resource type is one DuckDB ``COPY (SELECT ...)`` over the Parquet parts
that builds each resource as JSON text, no Python per row. A member whose value is NULL is left out
(``concat_ws`` skips NULLs; an object that would be empty is not written), as FHIR JSON requires no null
and no empty element; strings go through ``to_json`` (escaped). The lines are written with DuckDB's CSV
writer with a delimiter, quote, escape and comment character that JSON text never holds (JSON escapes
every control character), i.e. one JSON text a line, as NDJSON requires. No join and no sort, on one
thread: the rows keep the order of the Parquet parts, so the same tables give byte-identical files.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from sleitp.cohort.sources import table_files
from sleitp.cohort.tables import table_schema
from sleitp.errors import SourceError, SynthFhirError
from sleitp.fhir._codes import CODES_FILE, load_codes
from sleitp.record import HISTORY_FLAGS
from sleitp.units import UnitError, to_canonical

LOCAL_SYSTEM = "urn:sleitp:synth"  # local codes (urn:sleitp:synth:lab ...): facts without a verified code
RESOURCE_TYPES = (
    "Patient",
    "Encounter",
    "Condition",
    "Observation",
    "MedicationRequest",
    "MedicationAdministration",
    "Procedure",
)
_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"  # [FHIR-R4] observation-category
_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
_CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
# UCUM code of each canonical unit of sleitp.units that UCUM spells otherwise (codes.yaml ``ucum_units``
# holds the aliases the mapping reads back; 10*9/L and g/L are read as written) [HL7-UCUM]
_UCUM = {"10^9/L": "10*9/L", "g/L": "g/L", "IU/mL": "[IU]/mL", "titer": "{titer}", "mg/dL": "mg/dL",
         "U/L": "U/L", "umol/L": "umol/L", "mg/g": "mg/g", "%": "%"}
# RxNorm ingredient names (the display of an ingredient concept is its name; 7145 is mycophenolic acid)
_INGREDIENT_NAMES = {"mycophenolate": "mycophenolic acid",
                     "ivig": "immunoglobulins, normal human, for intravascular adm."}  # ATC J06BA02
_LOCAL_TEXT = {  # display text of the local codes
    "lupus_anticoagulant": "Lupus anticoagulant",
    "direct_coombs": "Direct antiglobulin test (direct Coombs)",
    "anti_sm": "Smith (Sm) antibody",
    "anti_ssa": "SS-A (Ro) antibody",
    "megakaryocytes": "Megakaryocytes in bone marrow",
    "anti_tpo_receptor": "Anti-thrombopoietin-receptor antibody",
    "antiplatelet_antibody": "Antiplatelet antibody",
    "autoimmune_hemolysis": "Autoimmune haemolytic anaemia",
    "oral_ulcers": "Oral ulcers",
}


@dataclass(frozen=True)
class FhirExportSummary:
    out: str
    resources: dict[str, int] = field(default_factory=dict)  # resource type -> lines written
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.resources.values())

    def to_json(self) -> dict:
        return {"out": self.out, "resources": dict(self.resources), "total": self.total,
                "seconds": self.seconds}


# ------------------------------------------------------------------------------------------ literals
def _lit(text: str | None) -> str:
    """A SQL string literal (or NULL)."""
    return "NULL" if text is None else "'" + str(text).replace("'", "''") + "'"


def _json_lit(value: object) -> str:
    """A JSON value as a SQL literal of its JSON text."""
    return _lit(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def _case(column: str, mapping: dict[str, object], as_json: bool = True) -> str:
    """``CASE column WHEN key THEN value ... END`` (NULL for other keys): a lookup without a join; the
    values as JSON text (``as_json``) or as plain text."""
    if not mapping:
        return "NULL"
    arms = " ".join(
        f"WHEN {_lit(k)} THEN {_json_lit(v) if as_json else _lit(v)}" for k, v in mapping.items()
    )
    return f"(CASE {column} {arms} END)"


def _v(expr: str) -> str:
    """A scalar column or expression as JSON text (strings escaped, dates "YYYY-MM-DD"); NULL stays NULL."""
    return f"to_json({expr})::VARCHAR"


def _obj(*members: tuple[str, str]) -> str:
    """A JSON object as text from ``(key, JSON text expression)`` pairs; a NULL member is left out
    (``concat_ws`` skips NULLs), so the object holds no null, as FHIR JSON requires. The caller makes
    sure that at least one member is present (FHIR forbids an empty object too)."""
    parts = ", ".join(f"{_lit(json.dumps(k) + ':')} || {v}" for k, v in members)
    return f"('{{' || concat_ws(',', {parts}) || '}}')"


def _arr(expr: str) -> str:
    """A one-element JSON array (NULL when the element is NULL)."""
    return f"('[' || {expr} || ']')"


def _coding(system: str, code: str, display: str | None = None) -> dict:
    return {"system": system, "code": code, **({"display": display} if display else {})}


def _local(kind: str, name: str, text: str | None = None) -> dict:
    label = text or _LOCAL_TEXT.get(name) or name.replace("_", " ").capitalize()
    return {"coding": [_coding(f"{LOCAL_SYSTEM}:{kind}", name, label)], "text": label}


# ------------------------------------------------------------------------------------------ vocabulary
@dataclass(frozen=True)
class _Vocabulary:
    systems: dict[str, str]
    lab_codes: dict[str, dict]  # record test -> Observation.code
    positive: dict
    negative: dict
    pregnant: dict  # True/False -> valueCodeableConcept
    pregnancy_code: dict
    medications: dict[str, dict]  # agent -> medicationCodeableConcept
    conditions: dict[str, dict]  # sle, itp, lupus_nephritis, antiphospholipid_syndrome, autoimmune_hemolysis


def _vocabulary() -> _Vocabulary:
    """The codes of the export, each read from codes.yaml (the first entry of a concept wins)."""
    load_codes()  # the mapping's own checks of codes.yaml (every entry sourced) run first
    data = yaml.safe_load(CODES_FILE.read_text(encoding="utf-8"))
    systems = data["systems"]
    labs: dict[str, dict] = {}
    for e in data["labs"]:
        if e["test"] not in labs:
            labs[e["test"]] = {"coding": [_coding(systems["loinc"], e["code"], e.get("display"))],
                               "text": e.get("display") or e["test"]}
    answers = {(a["system"], a["result"]): a for a in data["qualitative_answers"]}

    def answer(result: str) -> dict:
        a = answers[("snomed", result)]
        coding = _coding(systems["snomed"], a["code"], a.get("display"))
        return {"coding": [coding], "text": result.capitalize()}

    preg = data["pregnancy_status"]
    pregnant = {}
    for flag in (True, False):
        a = next(x for x in preg["answers"] if x["system"] == "snomed" and bool(x["pregnant"]) is flag)
        pregnant[flag] = {"coding": [_coding(systems["snomed"], a["code"], a.get("display"))],
                          "text": a.get("display")}
    meds: dict[str, dict] = {}
    for system in ("rxnorm", "atc"):  # RxNorm first: what US systems send; ATC where no RxCUI is listed
        for m in data["medications"]:
            if m["system"] == system and m["kind"] == "ingredient" and m["agent"] not in meds:
                name = _INGREDIENT_NAMES.get(m["agent"], m["agent"])
                meds[m["agent"]] = {"coding": [_coding(systems[system], str(m["code"]), name)], "text": name}
    conditions: dict[str, dict] = {}
    wanted = {("snomed", "55464009"): "sle", ("snomed", "128091003"): "itp", ("icd10cm", "D69.3"): "itp",
              ("icd10cm", "M32.14"): "lupus_nephritis", ("icd10cm", "D68.61"): "antiphospholipid_syndrome",
              ("icd10cm", "D59.10"): "autoimmune_hemolysis"}
    for c in data["conditions"]:
        concept = wanted.get((c["system"], str(c["code"])))
        if concept is None:
            continue
        coding = _coding(systems[c["system"]], str(c["code"]), c.get("display"))
        if concept in conditions:
            conditions[concept]["coding"].append(coding)
        else:
            conditions[concept] = {"coding": [coding], "text": c.get("display")}
    missing = set(wanted.values()) - set(conditions)
    if missing:
        raise SynthFhirError(f"codes.yaml: no condition code for {', '.join(sorted(missing))}")
    return _Vocabulary(
        systems=systems,
        lab_codes=labs,
        positive=answer("positive"),
        negative=answer("negative"),
        pregnant=pregnant,
        pregnancy_code={"coding": [_coding(systems["loinc"], preg["code"], "Pregnancy status")],
                        "text": "Pregnancy status"},
        medications=meds,
        conditions=conditions,
    )


# ------------------------------------------------------------------------------------------ SQL
def _ref(column: str = "patient_id") -> str:
    return _obj(("reference", _v(f"'Patient/' || {column}")))


def _select(rtype: str, members: list[tuple[str, str]], source: str) -> str:
    """``SELECT`` one resource a row as JSON text, its members in order, without the null ones."""
    return f"SELECT {_obj(('resourceType', _json_lit(rtype)), *members)} FROM {source}"


def _quantity(value: str, unit: str, ucum: dict[str, str]) -> str:
    """A Quantity in UCUM when the unit has a UCUM code (else the unit text only)."""
    code = _case(unit, ucum, as_json=False)
    return _obj(("value", _v(value)), ("unit", _v(unit)),
                ("system", f"CASE WHEN {code} IS NOT NULL THEN '\"http://unitsofmeasure.org\"' END"),
                ("code", _v(code)))


def _checked_units(con, labs: str) -> dict[str, str]:
    """UCUM code of each unit in the labs table, checked: sleitp.units reads it as the same unit."""
    aliases = load_codes().ucum_units  # how sleitp.fhir spells a UCUM code for sleitp.units
    ucum = {}
    pairs = con.execute(f"SELECT DISTINCT test, unit FROM {labs} WHERE unit IS NOT NULL").fetchall()
    for test, unit in pairs:
        code = _UCUM.get(unit)
        if code is None:
            continue
        try:
            same = to_canonical(test, 1.0, aliases.get(code, code)) == to_canonical(test, 1.0, unit)
        except (UnitError, KeyError):
            same = False
        if not same:
            raise SynthFhirError(f"labs: UCUM code {code!r} is not read as {unit!r} for {test}")
        ucum[unit] = code
    return ucum


_REPEAT = _obj(  # Timing.repeat of a course: its bounds (inclusive [FHIR-R4]) and frequency
    ("boundsPeriod", _obj(("start", _v("start")), ("end", _v('"end"')))),
    ("frequency", "CASE frequency WHEN 'daily' THEN '1' WHEN 'bid' THEN '2' WHEN 'tid' THEN '3' "
                  "WHEN 'qid' THEN '4' WHEN 'weekly' THEN '1' END"),
    ("period", "CASE WHEN frequency IN ('daily', 'bid', 'tid', 'qid', 'weekly') THEN '1' END"),
    ("periodUnit", "CASE WHEN frequency = 'weekly' THEN '\"wk\"' "
                   "WHEN frequency IN ('daily', 'bid', 'tid', 'qid') THEN '\"d\"' END"),
)
_DOSE_UNITS = ("mg", "g", "ug", "mg/kg", "g/kg", "ug/kg", "mg/m2")  # UCUM as written; sleitp.fhir reads them


def _queries(con, sources: dict[str, str], voc: _Vocabulary) -> dict[str, list[str]]:
    """Resource type -> the SELECTs of its lines (one JSON text each)."""
    p, labs, tr, bl, mx = (sources[n] for n in ("patients", "labs", "treatments", "bleeding",
                                                 "manifestations"))
    ucum = _checked_units(con, labs)
    out: dict[str, list[str]] = {t: [] for t in RESOURCE_TYPES}
    subject = ("subject", _ref())
    row_id = "_part || '-' || file_row_number"

    # -- Patient, Encounter (the assessment date: the last contact)
    identifier = _arr(_obj(("system", _json_lit(LOCAL_SYSTEM + ":patient")), ("value", _v("patient_id"))))
    out["Patient"].append(_select("Patient", [
        ("id", _v("patient_id")), ("identifier", identifier), ("gender", _v("coalesce(sex, 'unknown')")),
        ("birthDate", _v("birth_date")),
    ], p))
    out["Encounter"].append(_select("Encounter", [
        ("id", _v("'enc-' || patient_id")), ("status", _json_lit("finished")),
        ("class", _json_lit(_coding(_ACT_CODE, "AMB", "ambulatory"))),
        ("type", _json_lit([_local("encounter", "assessment", "Assessment (last follow-up)")])),
        subject, ("period", _obj(("start", _v("assessment_date")), ("end", _v("assessment_date")))),
    ], f"{p} WHERE assessment_date IS NOT NULL"))

    # -- Condition: diagnoses, manifestations, history flags
    def condition(rid: str, code: str, onset: str, source: str, *extra: tuple[str, str]) -> str:
        return _select("Condition", [
            ("id", _v(rid)),
            ("clinicalStatus", _json_lit({"coding": [_coding(_CLINICAL, "active")]})),
            ("verificationStatus", _json_lit({"coding": [_coding(_VERIFICATION, "confirmed")]})),
            ("category", _json_lit([{"coding": [_coding(_CONDITION_CATEGORY, "problem-list-item")]}])),
            ("code", code), subject, ("onsetDateTime", _v(onset)), *extra,
        ], source)

    c = out["Condition"]
    c.append(condition("'sle-' || patient_id", _json_lit(voc.conditions["sle"]), "sle_diagnosis_date",
                       f"{p} WHERE sle_diagnosis_date IS NOT NULL"))
    c.append(condition("'itp-' || patient_id", _json_lit(voc.conditions["itp"]), "itp_diagnosis_date",
                       f"{p} WHERE itp_diagnosis_date IS NOT NULL"))
    ln = _json_lit(voc.conditions["lupus_nephritis"])
    names = [n for (n,) in con.execute(f"SELECT DISTINCT name FROM {mx} WHERE name IS NOT NULL").fetchall()]
    # the manifestations codes.yaml has a code for; the others with a local code
    coded = {n: voc.conditions[n] for n in ("lupus_nephritis", "autoimmune_hemolysis")}
    others = {n: coded.get(n) or _local("condition", n) for n in sorted(names)}
    summary = _obj(("summary", _obj(("text", _v("'ISN/RPS class ' || nephritis_class")))))
    stage = ("stage", f"CASE WHEN nephritis_class IS NOT NULL THEN {_arr(summary)} END")
    c.append(condition(f"'mx-' || {row_id}",
                       _case("name", others),
                       "date", f"{mx} WHERE name IS NOT NULL", stage))
    # a history flag without a dated row: the diagnosis without an onset (sleitp.fhir notes it)
    c.append(condition("'hx-ln-' || patient_id", ln, "NULL",
                       f"{p} WHERE history_lupus_nephritis AND patient_id NOT IN "
                       f"(SELECT patient_id FROM {mx} WHERE name = 'lupus_nephritis')"))
    c.append(condition("'hx-aps-' || patient_id", _json_lit(voc.conditions["antiphospholipid_syndrome"]),
                       "NULL", f"{p} WHERE history_antiphospholipid_syndrome"))
    for flag in HISTORY_FLAGS:
        if flag not in ("lupus_nephritis", "splenectomy", "antiphospholipid_syndrome"):
            c.append(condition(f"'hx-{flag.replace('_', '-')}-' || patient_id",
                               _json_lit(_local("condition", flag)), "NULL", f"{p} WHERE history_{flag}"))

    # -- Observation: labs, pregnancy status, bleeding
    tested = [t for (t,) in con.execute(f"SELECT DISTINCT test FROM {labs} WHERE test IS NOT NULL").fetchall()
              ]
    codes = {t: voc.lab_codes.get(t) or _local("lab", t) for t in sorted(tested)}
    low = f"CASE WHEN reference_low IS NOT NULL THEN {_quantity('reference_low', 'unit', ucum)} END"
    high = f"CASE WHEN reference_high IS NOT NULL THEN {_quantity('reference_high', 'unit', ucum)} END"
    ref_range = (f"CASE WHEN reference_low IS NOT NULL OR reference_high IS NOT NULL THEN "
                 f"{_arr(_obj(('low', low), ('high', high)))} END")
    answer = (f"CASE WHEN value IS NULL AND result = 'positive' THEN {_json_lit(voc.positive)} "
              f"WHEN value IS NULL AND result = 'negative' THEN {_json_lit(voc.negative)} END")
    o = out["Observation"]
    o.append(_select("Observation", [
        ("id", _v(f"'lab-' || {row_id}")), ("status", _json_lit("final")),
        ("category", _json_lit([{"coding": [_coding(_CATEGORY, "laboratory", "Laboratory")]}])),
        ("code", _case("test", codes)), subject, ("effectiveDateTime", _v("date")),
        ("valueQuantity", f"CASE WHEN value IS NOT NULL THEN {_quantity('value', 'unit', ucum)} END"),
        ("valueCodeableConcept", answer), ("referenceRange", ref_range),
    ], labs))
    when = "coalesce(itp_diagnosis_date, assessment_date)"  # pregnancy is checked at the ITP work-up
    o.append(_select("Observation", [
        ("id", _v("'preg-' || patient_id")), ("status", _json_lit("final")),
        ("category", _json_lit([{"coding": [_coding(_CATEGORY, "social-history", "Social History")]}])),
        ("code", _json_lit(voc.pregnancy_code)), subject, ("effectiveDateTime", _v(when)),
        ("valueCodeableConcept",
         f"CASE WHEN pregnant THEN {_json_lit(voc.pregnant[True])} "
         f"ELSE {_json_lit(voc.pregnant[False])} END"),
    ], f"{p} WHERE pregnant IS NOT NULL AND {when} IS NOT NULL"))
    o.append(_select("Observation", [
        ("id", _v(f"'bleed-' || {row_id}")), ("status", _json_lit("final")),
        ("category", _json_lit([{"coding": [_coding(_CATEGORY, "exam", "Exam")]}])),
        ("code", _json_lit(_local("observation", "who_bleeding_grade", "WHO bleeding grade"))),
        subject, ("effectiveDateTime", _v("date")), ("valueInteger", _v("CAST(who_grade AS INTEGER)")),
        ("bodySite", f"CASE WHEN site IS NOT NULL THEN {_obj(('text', _v('site')))} END"),
    ], bl))

    # -- treatments: MedicationRequest, MedicationAdministration (one-off doses), Procedure (splenectomy)
    agents = [a for (a,) in con.execute(
        f"SELECT DISTINCT agent FROM {tr} WHERE agent IS NOT NULL AND agent <> 'splenectomy'").fetchall()]
    concept = _case("agent", {a: voc.medications.get(a) or {"text": a} for a in sorted(agents)})
    dose_q = _quantity("dose", "dose_unit", {u: u for u in _DOSE_UNITS})
    dose = f"CASE WHEN dose IS NOT NULL THEN {dose_q} END"
    route = f"CASE WHEN route IS NOT NULL THEN {_obj(('text', _v('route')))} END"
    rid = ("id", _v(f"'rx-' || {row_id}"))
    dose_and_rate = f"CASE WHEN dose IS NOT NULL THEN {_arr(_obj(('doseQuantity', dose)))} END"
    dosage = _obj(("timing", _obj(("repeat", _REPEAT))), ("route", route), ("doseAndRate", dose_and_rate))
    out["MedicationRequest"].append(_select("MedicationRequest", [
        rid, ("status", "CASE WHEN \"end\" IS NULL THEN '\"active\"' ELSE '\"completed\"' END"),
        ("intent", _json_lit("order")), ("medicationCodeableConcept", concept), subject,
        ("authoredOn", _v("start")), ("dosageInstruction", _arr(dosage)),
    ], f"{tr} WHERE agent <> 'splenectomy' AND coalesce(frequency, '') <> 'once'"))
    period = _obj(("start", _v("start")), ("end", _v('"end"')))
    out["MedicationAdministration"].append(_select("MedicationAdministration", [
        rid, ("status", _json_lit("completed")), ("medicationCodeableConcept", concept), subject,
        ("effectiveDateTime", _v('CASE WHEN "end" IS NULL OR "end" = start THEN start END')),
        ("effectivePeriod",
         f"CASE WHEN \"end\" > start THEN {period} END"),
        ("dosage", f"CASE WHEN route IS NOT NULL OR dose IS NOT NULL THEN "
                   f"{_obj(('route', route), ('dose', dose))} END"),
    ], f"{tr} WHERE agent <> 'splenectomy' AND frequency = 'once'"))
    out["Procedure"].append(_select("Procedure", [
        rid, ("status", _json_lit("completed")), ("code", _json_lit({"text": "Splenectomy"})), subject,
        ("performedDateTime", _v("start")),
    ], f"{tr} WHERE agent = 'splenectomy'"))
    return out


# ------------------------------------------------------------------------------------------ writer
def _sources(con, tables: Path) -> dict[str, str]:
    """A view a table over its Parquet parts, with ``_part`` (the part's index) and ``file_row_number``:
    together a stable id of each row."""
    out = {}
    for name in ("patients", "labs", "treatments", "bleeding", "manifestations"):
        files = table_files(tables, name)
        view = f"src_{name}"
        schema = table_schema(name)
        if not files:
            if name in ("patients", "labs", "treatments"):
                raise SourceError(f"{tables}: no {name}.parquet or {name}-*.parquet (expected synth tables)")
            cols = ", ".join(f'NULL::{_duck(f.type)} AS "{f.name}"' for f in schema)
            con.execute(f"CREATE TEMP VIEW {view} AS SELECT {cols}, 0 AS _part, 0::BIGINT AS file_row_number "
                        f"WHERE false")
        else:
            paths = "[" + ", ".join(_lit(str(f)) for f in files) + "]"
            have = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet({paths})").fetchall()}
            cols = ", ".join(f'"{f.name}"' if f.name in have else f'NULL::{_duck(f.type)} AS "{f.name}"'
                             for f in schema)
            con.execute(
                f"CREATE TEMP VIEW {view} AS SELECT {cols}, list_position({paths}, filename) - 1 AS _part, "
                f"file_row_number FROM read_parquet({paths}, filename = true, file_row_number = true)"
            )
        out[name] = view
    return out


def _duck(t) -> str:
    import pyarrow as pa

    if pa.types.is_date(t):
        return "DATE"
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if pa.types.is_floating(t):
        return "DOUBLE"
    if pa.types.is_integer(t):
        return "INTEGER"
    return "VARCHAR"


def write_fhir(
    tables: str | Path,
    out: str | Path,
    *,
    request: str = "sleitp synth --fhir",
    on_type: Callable[[str, int], None] | None = None,
) -> FhirExportSummary:
    """Write the synth ``tables`` folder as a FHIR R4 bulk export in ``out`` (new or empty folder):
    ``TYPE.ndjson`` per resource type and ``manifest.json``. ``on_type(type, lines)`` after each file."""
    import duckdb

    tables, out = Path(tables), Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SynthFhirError(f"{out}: exists and is not an empty folder (nothing is overwritten)")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    voc = _vocabulary()
    # One thread: the rows then stream out in the order of the parts, with little memory. With several
    # threads DuckDB keeps the insertion order by holding the out-of-order batches (1.7 GB for 20k
    # patients, measured), and without the order the bytes differ from run to run.
    con = duckdb.connect(config={"threads": 1})
    con.execute("SET enable_progress_bar = false")
    counts: dict[str, int] = {}
    try:
        src = _sources(con, tables)
        for rtype, selects in _queries(con, src, voc).items():
            path = out / f"{rtype}.ndjson"
            union = " UNION ALL ".join(f"({s})" for s in selects)
            # one JSON text a line: JSON text holds no control character, so none is quoted (the CSV
            # writer quotes a value holding its delimiter, quote, escape or comment character)
            n = con.execute(
                f"COPY ({union}) TO {_lit(str(path))} "
                f"(FORMAT csv, HEADER false, DELIMITER '\x01', QUOTE '\x02', ESCAPE '\x02', COMMENT '\x03')"
            ).fetchone()[0]
            counts[rtype] = int(n)
            if on_type is not None:
                on_type(rtype, int(n))
        latest = con.execute(f"SELECT max(assessment_date) FROM {src['patients']}").fetchone()[0]
    finally:
        con.close()
    manifest = {
        # the data are as of the latest assessment date (deterministic: the same tables, the same bytes)
        "transactionTime": f"{latest.isoformat()}T00:00:00Z" if latest else "1970-01-01T00:00:00Z",
        "request": request,
        "requiresAccessToken": False,
        "output": [{"type": t, "url": f"{t}.ndjson", "count": n} for t, n in counts.items()],
        "error": [],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return FhirExportSummary(str(out), counts, round(time.perf_counter() - t0, 3))


def write_fhir_with_progress(tables: str | Path, out: str | Path, *, request: str, console=None,
                             disable: bool = False) -> FhirExportSummary:
    """:func:`write_fhir` with a rich progress bar a resource type (``sleitp synth --fhir``)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("fhir {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("resource types"), TimeElapsedColumn(), console=console, disable=disable) as bar:
        task = bar.add_task(RESOURCE_TYPES[0], total=len(RESOURCE_TYPES))
        order = list(RESOURCE_TYPES)

        def done(rtype: str, _n: int) -> None:
            i = order.index(rtype)
            bar.update(task, advance=1, description=order[i + 1] if i + 1 < len(order) else "done")

        return write_fhir(tables, out, request=request, on_type=done)


__all__ = ["LOCAL_SYSTEM", "RESOURCE_TYPES", "FhirExportSummary", "SynthFhirError", "write_fhir",
           "write_fhir_with_progress"]
