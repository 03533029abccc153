"""The cohort tables: the patient record (spec/record.md) as long tables, one row a fact.

``sleitp synth`` writes them, ``sleitp cohort derive`` reads them (spec/cli.md: each row carries
``patient_id``; ``labs`` is long, one row a result, value in the canonical unit). The schemas below are
the contract between the two; :func:`records_to_tables` and :func:`tables_to_records` convert small
cohorts (tests, the single-patient reference) between records and tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import pyarrow as pa

from sleitp.features import FEATURES
from sleitp.record import HISTORY_FLAGS, PatientRecord, parse_record

PATIENTS = pa.schema(
    [
        ("patient_id", pa.string()),
        ("sex", pa.string()),
        ("birth_date", pa.date32()),
        ("age_years", pa.float64()),
        ("pregnant", pa.bool_()),
        ("weight_kg", pa.float64()),
        ("sle_diagnosis_date", pa.date32()),
        ("itp_diagnosis_date", pa.date32()),
        ("assessment_date", pa.date32()),
    ]
    + [(f"history_{flag}", pa.bool_()) for flag in HISTORY_FLAGS]
)
LABS = pa.schema(
    [
        ("patient_id", pa.string()),
        ("date", pa.date32()),
        ("test", pa.string()),
        ("value", pa.float64()),  # canonical unit (sleitp.units)
        ("unit", pa.string()),
        ("result", pa.string()),  # "positive" | "negative" | null
        ("reference_low", pa.float64()),
        ("reference_high", pa.float64()),
    ]
)
TREATMENTS = pa.schema(
    [
        ("patient_id", pa.string()),
        ("agent", pa.string()),
        ("start", pa.date32()),
        ("end", pa.date32()),  # inclusive; null = ongoing at the assessment date
        ("dose", pa.float64()),
        ("dose_unit", pa.string()),
        ("frequency", pa.string()),
        ("route", pa.string()),
    ]
)
# Columns a source may lack (older synth tables, OMOP): read as null when absent. ``indication`` is why the
# course was given when the record says so (itp | sle | other; docs/iwg-response.md "Lines"): it wins over
# the inference of background therapy.
OPTIONAL_COLUMNS: dict[str, pa.Schema] = {"treatments": pa.schema([("indication", pa.string())])}
BLEEDING = pa.schema(
    [("patient_id", pa.string()), ("date", pa.date32()), ("who_grade", pa.int8()), ("site", pa.string())]
)
MANIFESTATIONS = pa.schema(
    [
        ("patient_id", pa.string()),
        ("date", pa.date32()),
        ("name", pa.string()),
        ("nephritis_class", pa.string()),
    ]
)
# What `sleitp cohort derive` writes (spec/cli.md): one row a patient and line ...
RESPONSES = pa.schema(
    [
        ("patient_id", pa.string()),
        ("line", pa.int32()),
        ("agents", pa.list_(pa.string())),
        ("start", pa.date32()),
        ("baseline_platelets", pa.float64()),
        ("category", pa.string()),
        ("time_to_response_days", pa.int32()),
        ("time_to_complete_response_days", pa.int32()),
        ("loss_of_response_date", pa.date32()),
        ("evaluation_end", pa.date32()),
    ]
)
# ... with, beyond the spec, each line read on its agents' clock (docs/iwg-response.md §11; the fields of
# sleitp.instruments.iwg.IwgResponse of the same names) ...
RESPONSE_STATUS = pa.schema(
    [
        ("expected_response_days", pa.int32()),  # the slowest agent's time to respond
        ("days_evaluated", pa.int32()),  # evaluation end - start
        ("status", pa.string()),  # under_evaluation | no_response | ... (IwgResponse.status)
        ("response_lost_date", pa.date32()),  # loss at the R level (what fails a line)
        ("last_given", pa.date32()),  # the last day a course of the line was given; null: still given
    ]
)
DERIVED_RESPONSES = pa.schema(list(RESPONSES) + list(RESPONSE_STATUS))  # what responses.parquet holds
# ... and one row a patient: the predictors of sleitp.features at the first line's start.
FEATURES_SCHEMA = pa.schema(
    [("patient_id", pa.string()), ("index_date", pa.date32()), ("first_line_agents", pa.list_(pa.string()))]
    + [(f.name, pa.float64() if f.kind == "numeric" else pa.bool_()) for f in FEATURES]
)

SCHEMAS: dict[str, pa.Schema] = {
    "patients": PATIENTS, "labs": LABS, "treatments": TREATMENTS, "bleeding": BLEEDING,
    "manifestations": MANIFESTATIONS,
}


# The DuckDB type of each Arrow type the tables use (the SQL that writes them: OMOP and FHIR views mapping)
SQL_TYPES = {
    "string": "VARCHAR", "date32[day]": "DATE", "double": "DOUBLE", "bool": "BOOLEAN", "int8": "TINYINT",
}


def sql_columns(name: str, *, optional: bool = True) -> str:
    """``CAST("c" AS TYPE) AS "c", ...``: a query's columns as table ``name`` holds them (with the optional
    columns unless ``optional`` is false)."""
    schema = table_schema(name) if optional else SCHEMAS[name]
    return ", ".join(f'CAST("{f.name}" AS {SQL_TYPES[str(f.type)]}) AS "{f.name}"' for f in schema)


def table_schema(name: str) -> pa.Schema:
    """The columns of table ``name`` as the engine holds them: the contract's, then the optional ones."""
    return pa.schema(list(SCHEMAS[name]) + list(OPTIONAL_COLUMNS.get(name, pa.schema([]))))


def records_to_tables(records: Iterable[PatientRecord]) -> dict[str, pa.Table]:
    """Records -> the five tables (Python-level; for small cohorts and tests), with the optional columns."""
    rows: dict[str, list[dict]] = {name: [] for name in SCHEMAS}
    for r in records:
        p = {"patient_id": r.id, "sex": r.sex, "birth_date": r.birth_date, "age_years": r.age_years,
             "pregnant": r.pregnant, "weight_kg": r.weight_kg, "sle_diagnosis_date": r.sle_diagnosis_date,
             "itp_diagnosis_date": r.itp_diagnosis_date, "assessment_date": r.effective_assessment_date}
        p.update({f"history_{f}": getattr(r.history, f) for f in HISTORY_FLAGS})
        rows["patients"].append(p)
        rows["labs"] += [{"patient_id": r.id, "date": x.date, "test": x.test, "value": x.value,
                          "unit": x.unit, "result": x.result, "reference_low": x.reference_low,
                          "reference_high": x.reference_high} for x in r.labs]
        rows["treatments"] += [{"patient_id": r.id, "agent": t.agent, "start": t.start, "end": t.end,
                                "dose": t.dose, "dose_unit": t.dose_unit, "frequency": t.frequency,
                                "route": t.route, "indication": t.indication} for t in r.treatments]
        rows["bleeding"] += [{"patient_id": r.id, "date": b.date, "who_grade": b.who_grade, "site": b.site}
                             for b in r.bleeding]
        rows["manifestations"] += [{"patient_id": r.id, "date": m.date, "name": m.name,
                                    "nephritis_class": m.nephritis_class} for m in r.manifestations]
    return {name: pa.Table.from_pylist(rows[name], schema=table_schema(name)) for name in SCHEMAS}


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def tables_to_records(tables: dict[str, pa.Table]) -> list[PatientRecord]:
    """The five tables -> validated records (Python-level; for small cohorts and tests)."""
    by_id: dict[str, dict] = {}
    for p in tables["patients"].to_pylist():
        rec = {k: v for k, v in p.items() if not k.startswith("history_") and v is not None}
        rec["id"] = rec.pop("patient_id")
        rec["history"] = {f: bool(p[f"history_{f}"]) for f in HISTORY_FLAGS
                          if p.get(f"history_{f}") is not None}
        for k in ("birth_date", "sle_diagnosis_date", "itp_diagnosis_date", "assessment_date"):
            if k in rec:
                rec[k] = _iso(rec[k])
        rec.update(labs=[], treatments=[], bleeding=[], manifestations=[])
        by_id[rec["id"]] = rec
    for x in tables["labs"].to_pylist():
        lab = {"date": _iso(x["date"]), "test": x["test"]}
        if x["value"] is not None:
            lab.update(value=x["value"], unit=x["unit"])
        if x["result"] is not None:
            lab["result"] = x["result"]
        for k in ("reference_low", "reference_high"):
            if x[k] is not None:
                lab[k] = x[k]
        by_id[x["patient_id"]]["labs"].append(lab)
    for t in tables["treatments"].to_pylist():
        by_id[t["patient_id"]]["treatments"].append(
            {k: (_iso(v) if k in ("start", "end") else v) for k, v in t.items()
             if k != "patient_id" and v is not None})
    for b in tables["bleeding"].to_pylist():
        by_id[b["patient_id"]]["bleeding"].append(
            {k: (_iso(v) if k == "date" else v) for k, v in b.items()
             if k != "patient_id" and v is not None})
    for m in tables["manifestations"].to_pylist():
        item = {"date": _iso(m["date"]), "name": m["name"]}
        if m["nephritis_class"]:
            item["details"] = {"class": m["nephritis_class"]}
        by_id[m["patient_id"]]["manifestations"].append(item)
    return [parse_record(rec) for rec in by_id.values()]


__all__ = ["BLEEDING", "DERIVED_RESPONSES", "FEATURES_SCHEMA", "LABS", "MANIFESTATIONS", "OPTIONAL_COLUMNS",
           "PATIENTS", "RESPONSES", "RESPONSE_STATUS", "SCHEMAS", "SQL_TYPES", "TREATMENTS",
           "records_to_tables", "sql_columns", "table_schema", "tables_to_records"]
