"""``sleitp synth --fhir``: the FHIR R4 bulk export of a synth cohort round-trips through sleitp.fhir.

derive(DIR/fhir) is held, every row and column, to derive of the tables as the FHIR mapping can carry
them (what codes.yaml and sleitp.fhir read); what it cannot carry is pinned: the unmapped report names
each such resource under its reason, and the full equality with derive(DIR/tables) is a strict xfail
that turns into a failure the day the mapping reads the rest (docs/synthetic-fhir.md "What the mapping
does not read yet").
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fhir.resources.R4B import get_fhir_model_class
from typer.testing import CliRunner

from sleitp.cli import app
from sleitp.cohort.derive.run import derive
from sleitp.cohort.synth.fhir import RESOURCE_TYPES, SynthFhirError, write_fhir
from sleitp.cohort.synth.generate import synthesize
from sleitp.fhir import load_codes

N = 250
KEYS = {"responses": ["patient_id", "line"], "features": ["patient_id"]}


@pytest.fixture(scope="module", params=[1, 2])
def cohort(request, tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp(f"synth-fhir-{request.param}") / "c"
    synthesize(N, request.param, d, jsonl=False)
    write_fhir(d / "tables", d / "fhir")
    derive(d / "tables", d / "out-tables")
    derive(d / "fhir", d / "out-fhir")
    return d


def _sorted(path: Path, name: str) -> pa.Table:
    t = pq.read_table(path / f"{name}.parquet")
    return t.sort_by([(k, "ascending") for k in KEYS[name]])


def _carried(tables: Path, out: Path) -> None:
    """The synth tables as the FHIR mapping carries them: the assessment date (the Encounter of the last
    contact), lab tests with a LOINC code of codes.yaml only, no bleeding, manifestations
    lupus nephritis (ICD-10-CM M32.14; sleitp.fhir reads no class) and autoimmune haemolysis (D59.10) only."""
    coded = sorted(set(load_codes().labs.values()))
    out.mkdir(parents=True)
    con = duckdb.connect()
    q = {
        "patients": "SELECT * FROM read_parquet('{t}/patients-*.parquet')",
        "labs": f"SELECT * FROM read_parquet('{{t}}/labs-*.parquet') WHERE test IN {tuple(coded)!r}",
        "treatments": "SELECT * FROM read_parquet('{t}/treatments-*.parquet')",
        "bleeding": "SELECT * FROM read_parquet('{t}/bleeding-*.parquet') WHERE false",
        "manifestations": "SELECT * REPLACE (NULL::VARCHAR AS nephritis_class) "
        "FROM read_parquet('{t}/manifestations-*.parquet') "
        "WHERE name IN ('lupus_nephritis', 'autoimmune_hemolysis')",
    }
    for name, sql in q.items():
        con.execute(f"COPY ({sql.format(t=tables)}) TO '{out / name}.parquet' (FORMAT parquet)")
    con.close()


def _lines(folder: Path, rtype: str) -> list[str]:
    return (folder / f"{rtype}.ndjson").read_text(encoding="utf-8").splitlines()


def test_fhir_derive_equals_the_tables_the_mapping_carries(cohort: Path) -> None:
    _carried(cohort / "tables", cohort / "carried")
    derive(cohort / "carried", cohort / "out-carried")
    for name in KEYS:
        fhir, carried = _sorted(cohort / "out-fhir", name), _sorted(cohort / "out-carried", name)
        assert fhir.schema == carried.schema
        assert fhir.num_rows == carried.num_rows > 0
        for col in fhir.column_names:
            assert fhir.column(col).to_pylist() == carried.column(col).to_pylist(), f"{name}.{col}"


# What the FHIR mapping does not read yet (docs/synthetic-fhir.md): three lab tests without a verified LOINC
# code, bleeding events.
GAP = {
    "responses": set(),
    "features": {"megakaryocytes", "megakaryocytes_below_20", "anti_tpo_receptor", "who_bleeding_grade",
                 "antiphospholipid"},
}


def _differing(cohort: Path, name: str) -> set[str]:
    a, b = _sorted(cohort / "out-tables", name), _sorted(cohort / "out-fhir", name)
    assert a.schema == b.schema and a.num_rows == b.num_rows
    return {c for c in a.column_names if a.column(c).to_pylist() != b.column(c).to_pylist()}


def test_fhir_and_tables_differ_only_where_the_mapping_reads_nothing(cohort: Path) -> None:
    for name in KEYS:
        assert _differing(cohort, name) <= GAP[name], name


@pytest.mark.xfail(strict=True, reason="sleitp.fhir does not read bleeding and three lab tests yet "
                   "(docs/synthetic-fhir.md)")
def test_fhir_derive_equals_tables_derive(cohort: Path) -> None:
    for name in KEYS:
        assert _differing(cohort, name) == set(), name


def test_unmapped_report_is_exactly_what_the_mapping_cannot_read(cohort: Path) -> None:
    report = json.loads((cohort / "out-fhir" / "unmapped.json").read_text())
    assert json.loads((cohort / "out-tables" / "unmapped.json").read_text())["total"] == 0
    con = duckdb.connect()
    t = cohort / "tables"
    coded = tuple(sorted(set(load_codes().labs.values())))
    one = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
    expected = {
        "FHIR Observation: no LOINC code": one(
            f"SELECT count(*) FROM '{t}/labs-*.parquet' WHERE test NOT IN {coded!r}")
        + one(f"SELECT count(*) FROM '{t}/bleeding-*.parquet'"),
        "FHIR Condition: code not in the sleitp vocabulary": one(
            f"SELECT count(*) FROM '{t}/manifestations-*.parquet' "
            "WHERE name NOT IN ('lupus_nephritis', 'autoimmune_hemolysis')"),
    }
    assert all(n > 0 for n in expected.values())
    assert report["by_reason"] == expected


def _no_empty(value, where: str) -> None:
    """FHIR JSON: no null, empty string, empty object or empty array anywhere."""
    assert value not in (None, "", [], {}), where
    if isinstance(value, dict):
        for k, v in value.items():
            _no_empty(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _no_empty(v, f"{where}[{i}]")


def test_ndjson_validates_with_fhir_resources_and_manifest_counts_lines(cohort: Path) -> None:
    fhir = cohort / "fhir"
    manifest = json.loads((fhir / "manifest.json").read_text())
    assert manifest["requiresAccessToken"] is False and manifest["transactionTime"].endswith("Z")
    assert [o["type"] for o in manifest["output"]] == list(RESOURCE_TYPES)
    for out in manifest["output"]:
        lines = _lines(fhir, out["type"])
        assert out["url"] == f"{out['type']}.ndjson" and out["count"] == len(lines) > 0
        ids = set()
        step = max(1, len(lines) // 40)
        for i, line in enumerate(lines):
            res = json.loads(line)  # every line is one JSON resource
            assert res["resourceType"] == out["type"]
            ids.add(res["id"])
            if i % step == 0:  # a sample of each type through the R4B models (software.md §3.6)
                _no_empty(res, f"{out['type']} line {i + 1}")
                get_fhir_model_class(out["type"]).model_validate(res)
                if out["type"] != "Patient":
                    assert res["subject"]["reference"].startswith("Patient/SYN-")
        assert len(ids) == len(lines), f"{out['type']}: ids not unique"


def test_codes_and_units_are_the_ones_real_systems_send(cohort: Path) -> None:
    codes = load_codes()
    obs = [json.loads(x) for x in _lines(cohort / "fhir", "Observation")]
    platelets = [o for o in obs if o["code"].get("coding", [{}])[0].get("code") == "777-3"]
    assert platelets and all(
        o["valueQuantity"]["system"] == "http://unitsofmeasure.org" and o["valueQuantity"]["code"] == "10*9/L"
        for o in platelets)
    loinc = {c["code"] for o in obs for c in o["code"]["coding"] if c["system"] == codes.loinc}
    assert loinc <= set(codes.labs) | {codes.pregnancy_code}
    dsdna = next(o for o in obs if o["code"]["coding"][0]["code"] == "33799-8")
    assert dsdna["valueQuantity"]["code"] == "[IU]/mL" and dsdna["referenceRange"][0]["high"]["value"] == 30.0
    meds = [json.loads(x) for x in _lines(cohort / "fhir", "MedicationRequest")]
    rxnorm = {c["code"] for m in meds for c in m["medicationCodeableConcept"].get("coding", [])
              if c["system"] == codes.systems["rxnorm"]}
    assert "8640" in rxnorm  # prednisone
    assert all((codes.systems["rxnorm"], c) in codes.medications for c in rxnorm)


def test_same_tables_give_identical_files(cohort: Path, tmp_path: Path) -> None:
    write_fhir(cohort / "tables", tmp_path / "again")
    for rtype in RESOURCE_TYPES:
        assert (tmp_path / "again" / f"{rtype}.ndjson").read_bytes() == (
            cohort / "fhir" / f"{rtype}.ndjson").read_bytes()


def test_refuses_a_folder_that_is_not_empty(cohort: Path) -> None:
    with pytest.raises(SynthFhirError, match="not an empty folder"):
        write_fhir(cohort / "tables", cohort / "fhir")


def test_cli_synth_fhir(tmp_path: Path) -> None:
    out = tmp_path / "c"
    result = CliRunner().invoke(app, ["synth", "--patients", "30", "--seed", "3", "--out", str(out),
                                      "--fhir", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["fhir"]["resources"]["Patient"] == 30
    assert len(_lines(out / "fhir", "Patient")) == 30
    assert (out / "fhir" / "manifest.json").exists()
