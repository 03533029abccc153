"""Benchmark of `sleitp cohort derive` on an OMOP CDM v5.4 (issue #4: the data team's source). Not run by
the tests.

    .venv/bin/python benchmarks/bench_omop.py                      # 100k and 1M patients
    .venv/bin/python benchmarks/bench_omop.py --sizes 10000        # quick look

For each size it generates the cohort of ``bench_derive.generate`` (sleitp tables as Parquet), writes the
same patients as an OMOP CDM (person, measurement, drug_exposure, condition_occurrence and a concept table,
as Parquet files), then measures in separate processes:

- **tables**: derive from the sleitp tables (the baseline of the same run);
- **omop**: derive from the CDM, mapping included (codes resolved through the concept table, units
  converted, rows counted per reason), with wall time and peak memory.

Both derives read the same facts (``restrict``: what the CDM can carry) and must give the same responses and
features; the ratio omop / tables is the cost
of reading OMOP. The concept table is the benchmark's own: concept_ids numbered here for the codes of
codes.yaml it uses, as a site's Athena download would number them. No sleitp code knows these ids.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))

from bench_derive import PeakRss, generate  # noqa: E402 - the sibling benchmark's generator

# the benchmark's vocabulary: (concept_id, vocabulary_id, concept_code); codes from codes.yaml
LOINC = {"platelets": "777-3", "c3": "4485-9", "c4": "4498-2", "neutrophils": "751-8",
         "lymphocytes": "731-0", "hemoglobin": "718-7", "anticardiolipin": "3181-5"}  # fmt: skip
RXNORM = {"prednisone": "8640", "rituximab": "121191", "eltrombopag": "711942",
          "hydroxychloroquine": "5521"}  # fmt: skip
UCUM = {"10^9/L": "10*9/L", "g/L": "g/L"}


def concepts() -> list[tuple[int, str, str]]:
    rows = [(1, "Gender", "F"), (2, "Gender", "M"), (3, "SNOMED", "10828004"), (4, "SNOMED", "260385009")]
    rows.append((5, "SNOMED", "55464009"))  # SLE
    rows.append((6, "SNOMED", "128091003"))  # ITP
    for i, code in enumerate(LOINC.values()):
        rows.append((100 + i, "LOINC", code))
    for i, code in enumerate(RXNORM.values()):
        rows.append((200 + i, "RxNorm", code))
    for i, code in enumerate(UCUM.values()):
        rows.append((300 + i, "UCUM", code))
    return rows


def write_cdm(tables: Path, cdm: Path) -> dict[str, int]:
    """The sleitp tables of ``tables`` as an OMOP CDM in ``cdm`` (Parquet). Returns row counts."""
    import duckdb

    cdm.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    ids = {code: cid for cid, _, code in concepts()}
    con.execute("CREATE TABLE concept (concept_id BIGINT, vocabulary_id VARCHAR, concept_code VARCHAR)")
    con.executemany("INSERT INTO concept VALUES (?, ?, ?)", concepts())

    def case(column: str, mapping: dict[str, str]) -> str:
        return "CASE " + " ".join(f"WHEN {column} = '{k}' THEN {ids[v]}" for k, v in mapping.items()) + " END"

    # person_id: the number in the bench generator's patient_id ('P00000042' -> 42)
    pid = "CAST(substr(patient_id, 2) AS BIGINT)"
    queries = {
        "concept": "SELECT * FROM concept",
        "person": f"""SELECT {pid} AS person_id,
                CASE WHEN sex = 'male' THEN 2 ELSE 1 END AS gender_concept_id,
                year(birth_date) AS year_of_birth, month(birth_date) AS month_of_birth,
                day(birth_date) AS day_of_birth FROM read_parquet('{tables}/patients.parquet')""",
        "condition_occurrence": f"""
                SELECT {pid} AS person_id, {ids["55464009"]} AS condition_concept_id,
                       sle_diagnosis_date AS condition_start_date
                FROM read_parquet('{tables}/patients.parquet')
                UNION ALL SELECT {pid}, {ids["128091003"]}, itp_diagnosis_date
                FROM read_parquet('{tables}/patients.parquet')""",
        "drug_exposure": f"""
                SELECT row_number() OVER () AS drug_exposure_id, {pid} AS person_id,
                       {case("agent", RXNORM)} AS drug_concept_id, start AS drug_exposure_start_date,
                       "end" AS drug_exposure_end_date
                FROM read_parquet('{tables}/treatments.parquet') WHERE agent IN {tuple(RXNORM)}""",
        "measurement": f"""
                SELECT row_number() OVER () AS measurement_id, {pid} AS person_id,
                       {case("test", LOINC)} AS measurement_concept_id, date AS measurement_date,
                       value AS value_as_number, {case("unit", UCUM)} AS unit_concept_id,
                       CASE result WHEN 'positive' THEN {ids["10828004"]}
                                   WHEN 'negative' THEN {ids["260385009"]} END AS value_as_concept_id
                FROM read_parquet('{tables}/labs.parquet')""",
    }
    counts = {}
    for name, sql in queries.items():
        con.execute(f"COPY ({sql}) TO '{cdm / (name + '.parquet')}' (FORMAT parquet)")
        counts[name] = con.execute(
            f"SELECT count(*) FROM read_parquet('{cdm / (name + '.parquet')}')"
        ).fetchone()[0]
    con.close()
    return counts


def _child(source: str, out: str) -> dict:
    from sleitp.cohort.derive.run import derive

    with PeakRss() as m:
        t = time.perf_counter()
        res = derive(source, out)
        wall = time.perf_counter() - t
    return {"wall": wall, "peak": m.peak, "lines": res.lines, "categories": res.categories,
            "unmapped": res.unmapped.to_json()["by_reason"], "steps": res.seconds}  # fmt: skip


def run_child(source: Path, out: Path) -> dict:
    p = subprocess.run(
        [sys.executable, str(HERE), "_child", str(source), str(out)], capture_output=True, text=True
    )
    if p.returncode != 0:
        raise SystemExit(f"derive {source} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def same_outputs(tables_out: Path, omop_out: Path) -> bool:
    """The two derives give the same responses and features (person_id 42 is patient 'P00000042')."""
    import duckdb

    con = duckdb.connect()
    for name in ("responses", "features"):
        t = (
            f"SELECT * REPLACE (CAST(CAST(substr(patient_id, 2) AS BIGINT) AS VARCHAR) AS patient_id) "
            f"FROM read_parquet('{tables_out / (name + '.parquet')}')"
        )
        o = f"SELECT * FROM read_parquet('{omop_out / (name + '.parquet')}')"
        for x, y in ((t, o), (o, t)):
            if con.execute(f"SELECT count(*) FROM (({x}) EXCEPT ALL ({y}))").fetchone()[0]:
                return False
    return True


def restrict(tables: Path, out: Path) -> None:
    """The facts an OMOP CDM carries here, as sleitp tables: the same patients without an assessment date
    or history flags, the agents with an RxNorm ingredient in codes.yaml, no bleeding or manifestations
    (no sourced OMOP codes for them yet). Both derives read exactly these facts."""
    import duckdb

    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(f"""COPY (SELECT * REPLACE (NULL::DATE AS assessment_date,
        NULL::BOOLEAN AS history_antiphospholipid_syndrome, NULL::BOOLEAN AS history_lupus_nephritis,
        NULL::BOOLEAN AS history_thrombosis, NULL::BOOLEAN AS history_active_infection,
        NULL::BOOLEAN AS history_hepatitis_b, NULL::BOOLEAN AS history_splenectomy,
        NULL::BOOLEAN AS history_liver_disease)
        FROM read_parquet('{tables}/patients.parquet')) TO '{out}/patients.parquet' (FORMAT parquet)""")
    con.execute(f"""COPY (SELECT * FROM read_parquet('{tables}/treatments.parquet')
        WHERE agent IN {tuple(RXNORM)}) TO '{out}/treatments.parquet' (FORMAT parquet)""")
    con.execute(
        f"COPY (SELECT * FROM read_parquet('{tables}/labs.parquet')) TO '{out}/labs.parquet' (FORMAT parquet)"
    )
    con.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--work", default=None, help="folder for the generated data (default: a temp folder)")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="sleitp-bench-omop-"))
    rows = []
    for n in [int(s) for s in args.sizes.split(",") if s]:
        d = work / f"n{n}"
        counts = generate(n, d / "generated")
        restrict(d / "generated", d / "tables")
        t = time.perf_counter()
        cdm_counts = write_cdm(d / "tables", d / "cdm")
        write_s = time.perf_counter() - t
        tab = run_child(d / "tables", d / "out-tables")
        omop = run_child(d / "cdm", d / "out-omop")
        row = {"patients": n, "lab_rows": counts["labs"], "cdm_rows": cdm_counts, "write_cdm_s": write_s,
               "tables_s": tab["wall"], "tables_peak": tab["peak"], "omop_s": omop["wall"],
               "omop_peak": omop["peak"], "ratio": omop["wall"] / tab["wall"], "omop_steps": omop["steps"],
               "omop_unmapped": omop["unmapped"],
               "same_outputs": same_outputs(d / "out-tables", d / "out-omop")}  # fmt: skip
        rows.append(row)
        print(json.dumps(row), flush=True)

    from rich.console import Console
    from rich.table import Table

    t = Table(title="sleitp cohort derive from an OMOP CDM (DuckDB), 2-core machine", title_justify="left")
    for col in ("patients", "measurement rows", "from sleitp tables", "from OMOP", "x tables", "peak memory",
                "same outputs"):  # fmt: skip
        t.add_column(col, justify="right")
    for r in rows:
        t.add_row(f"{r['patients']:,}", f"{r['cdm_rows']['measurement']:,}", f"{r['tables_s']:.1f} s",
                  f"{r['omop_s']:.1f} s", f"{r['ratio']:.2f}", f"{r['omop_peak'] / 1e9:.2f} GB",
                  "yes" if r["same_outputs"] else "NO")  # fmt: skip
    Console(width=140).print(t)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        print(json.dumps(_child(sys.argv[2], sys.argv[3])))
    else:
        main()
