"""Cohort sources: records.jsonl, synth tables (single files and parts), FHIR; bad rows counted per reason."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sleitp.cohort.derive.run import derive
from sleitp.cohort.sources import source_kind
from sleitp.cohort.tables import SCHEMAS, records_to_tables
from sleitp.errors import SourceError
from sleitp.record import parse_record

DATA = Path(__file__).resolve().parents[4] / "shared" / "data"


def _records():
    return [
        parse_record(
            {
                "id": "A",
                "sex": "female",
                "age_years": 30,
                "assessment_date": "2024-03-01",
                "labs": [
                    {"date": "2024-01-01", "test": "platelets", "value": 10, "unit": "10^9/L"},
                    {"date": "2024-01-10", "test": "platelets", "value": 40, "unit": "10^9/L"},
                    {"date": "2024-01-17", "test": "platelets", "value": 45, "unit": "10^9/L"},
                    {"date": "2024-01-01", "test": "c3", "value": 0.5, "unit": "g/L"},
                ],
                "treatments": [{"agent": "prednisone", "start": "2024-01-02"}],
            }
        ),
        parse_record(
            {
                "id": "B",
                "sex": "male",
                "birth_date": "1970-01-01",
                "labs": [
                    {"date": "2024-02-01", "test": "platelets", "value": 8, "unit": "10^9/L"},
                    {"date": "2024-02-05", "test": "platelets", "value": 9, "unit": "10^9/L"},
                    {"date": "2024-02-06", "test": "platelets", "value": 7, "unit": "10^9/L"},
                ],
                "treatments": [{"agent": "ivig", "start": "2024-02-01", "end": "2024-02-02"}],
                "bleeding": [{"date": "2024-02-05", "who_grade": 2}],
            }
        ),
    ]


def _write_tables(folder: Path, tables: dict[str, pa.Table], parts: bool) -> None:
    folder.mkdir(parents=True)
    for name, t in tables.items():
        if parts and t.num_rows > 1:
            half = t.num_rows // 2
            pq.write_table(t.slice(0, half), folder / f"{name}-0000.parquet")
            pq.write_table(t.slice(half), folder / f"{name}-0001.parquet")
        else:
            pq.write_table(t, folder / f"{name}.parquet")


def _rows(out: Path, name: str) -> list[dict]:
    return sorted(
        pq.read_table(out / f"{name}.parquet").to_pylist(), key=lambda r: (r["patient_id"], r.get("line", 0))
    )


@pytest.mark.parametrize("parts", [False, True])
def test_tables_folder_gives_the_same_as_records_jsonl(tmp_path, parts):
    recs = _records()
    jsonl = tmp_path / "records.jsonl"
    jsonl.write_text("".join(json.dumps(r.model_dump(mode="json", exclude_none=True)) + "\n" for r in recs))
    _write_tables(tmp_path / "synth" / "tables", records_to_tables(recs), parts)
    assert source_kind(tmp_path / "synth") == "tables"
    a = derive(jsonl, tmp_path / "a")
    b = derive(tmp_path / "synth", tmp_path / "b")
    assert (a.source_kind, b.source_kind) == ("records", "tables")
    for name in ("responses", "features"):
        assert _rows(tmp_path / "a", name) == _rows(tmp_path / "b", name)
    resp = _rows(tmp_path / "b", "responses")
    # A: baseline 10, 40 on day 8 and 45 on day 15 (7 days later) -> R, time to response 8 days
    # B: counts 9 (bleeding day) and 7 after the start, baseline 8 -> both fail, 1 day apart -> NR
    assert [(r["patient_id"], r["category"], r["time_to_response_days"]) for r in resp] == [
        ("A", "R", 8),
        ("B", "NR", None),
    ]
    assert b.unmapped.total == 0


def test_bad_table_rows_are_counted_per_reason_and_left_out(tmp_path):
    t = records_to_tables(_records())
    labs = t["labs"].to_pylist() + [
        {"patient_id": "A", "date": date(2024, 1, 20), "test": "platelet", "value": 50.0, "unit": "10^9/L"},
        {
            "patient_id": "A",
            "date": date(2024, 1, 21),
            "test": "platelets",
            "value": 5000.0,
            "unit": "10^9/L",
        },
        {"patient_id": "Z", "date": date(2024, 1, 21), "test": "platelets", "value": 50.0, "unit": "10^9/L"},
        {"patient_id": "A", "date": None, "test": "platelets", "value": 50.0, "unit": "10^9/L"},
    ]
    tr = t["treatments"].to_pylist() + [
        {"patient_id": "A", "agent": "asprin", "start": date(2024, 1, 5)},
        {"patient_id": "A", "agent": "rituximab", "start": date(2024, 1, 5), "end": date(2024, 1, 1)},
    ]
    t["labs"] = pa.Table.from_pylist(labs, schema=SCHEMAS["labs"])
    t["treatments"] = pa.Table.from_pylist(tr, schema=SCHEMAS["treatments"])
    _write_tables(tmp_path / "tables", t, parts=False)
    res = derive(tmp_path / "tables", tmp_path / "out")
    assert dict(res.unmapped.counts) == {
        "labs: test not in the record vocabulary (spec/record.md)": 1,
        "labs: platelets value outside 0-2000 10^9/L": 1,
        "labs: patient_id not in the patients table": 1,
        "labs: no date": 1,
        "treatments: agent not in the record vocabulary (spec/record.md)": 1,
        "treatments: end before start": 1,
    }
    report = json.loads((tmp_path / "out" / "unmapped.json").read_text())
    assert report["total"] == 6
    # the good rows still give the same answers
    assert [r["category"] for r in _rows(tmp_path / "out", "responses")] == ["R", "NR"]


def test_missing_column_names_file_column_and_type(tmp_path):
    t = records_to_tables(_records())
    _write_tables(tmp_path / "tables", t, parts=False)
    pq.write_table(t["labs"].drop(["value"]), tmp_path / "tables" / "labs.parquet")
    with pytest.raises(SourceError, match=r"labs.parquet: column 'value' is missing \(expected double"):
        derive(tmp_path / "tables", tmp_path / "out")


def test_duplicate_patient_rows_are_an_error(tmp_path):
    t = records_to_tables(_records())
    t["patients"] = pa.concat_tables([t["patients"], t["patients"].slice(0, 1)])
    _write_tables(tmp_path / "tables", t, parts=False)
    with pytest.raises(SourceError, match="more than once"):
        derive(tmp_path / "tables", tmp_path / "out")


def test_unknown_source_is_a_clear_error(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(SourceError, match="found no source"):
        source_kind(tmp_path)
    with pytest.raises(SourceError, match="not a source"):
        source_kind(tmp_path / "notes.txt")


@pytest.mark.skipif(not DATA.exists(), reason="../shared/data not present")
def test_fhir_bundle_hl7_cbc_example(tmp_path):
    # testdata.md §2: Bundle-101 has one platelet count 777-3 = 444 10*9/L for Patient/pat2, no treatment
    res = derive(DATA / "fhir-r4-official" / "Bundle-101.json", tmp_path / "out")
    assert (res.source_kind, res.patients, res.lines) == ("fhir", 1, 0)
    # what the FHIR mapping did not map is carried into the cohort report, per reason
    assert res.unmapped.total > 0 and all(k.startswith("FHIR ") for k in res.unmapped.counts)


@pytest.mark.skipif(not DATA.exists(), reason="../shared/data not present")
def test_fhir_folder_of_bundles_synthea(tmp_path):
    res = derive(DATA / "synthea-fhir-r4", tmp_path / "out")
    feats = pq.read_table(tmp_path / "out" / "features.parquet")
    assert (res.source_kind, res.patients, feats.num_rows, res.lines) == ("fhir", 1, 1, 0)


@pytest.mark.skipif(not DATA.exists(), reason="../shared/data not present")
def test_fhir_bulk_ndjson_gives_the_same_as_the_bundle(tmp_path):
    # the Synthea Bundle's resources written as a bulk export (one NDJSON file a resource type)
    bundle_file = next((DATA / "synthea-fhir-r4").glob("*.json"))
    bundle = json.loads(bundle_file.read_text())
    bulk = tmp_path / "bulk"
    bulk.mkdir()
    by_type: dict[str, list[str]] = {}
    for entry in bundle["entry"]:
        res = entry["resource"]
        by_type.setdefault(res["resourceType"], []).append(json.dumps(res))
    for rtype, lines in by_type.items():
        (bulk / f"{rtype}.ndjson").write_text("\n".join(lines) + "\n")
    a = derive(bundle_file.parent, tmp_path / "a")
    b = derive(bulk, tmp_path / "b")
    assert (a.source_kind, b.source_kind, a.patients, b.patients) == ("fhir", "fhir", 1, 1)
    fa = pq.read_table(tmp_path / "a" / "features.parquet").drop(["patient_id"]).to_pylist()
    fb = pq.read_table(tmp_path / "b" / "features.parquet").drop(["patient_id"]).to_pylist()
    assert fa == fb
