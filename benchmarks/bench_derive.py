"""Benchmark of `sleitp cohort derive` (issue #4 part 4). Not run by the tests.

    .venv/bin/python benchmarks/bench_derive.py                    # 10k, 100k, 1M on DuckDB; Spark on 100k
    .venv/bin/python benchmarks/bench_derive.py --sizes 10000 --no-spark    # quick look

For each size it generates a synthetic cohort as `sleitp.cohort.tables` Parquet files (with `sleitp synth`
when ``--synth`` is given, else with the minimal DuckDB generator below, which follows SCHEMAS), then
measures, each in its own process so that peak memory is that step's alone:

- **floor**: a plain DuckDB group-by over the same labs table (count, min, max of value per patient),
  read from the same Parquet files, in the same run;
- **lower bounds**: steps that any correct derive needs, each alone on the same files: one count a day (a
  group-by on patient and day), and each patient's counts in time order (as date-sorted lists, the cheapest
  way found, and as a window over patient ordered by date);
- **derive**: `sleitp.cohort.derive.derive` on DuckDB (wall time, peak RSS);
- **naive**: the single-patient references (`iwg_responses` + `patient_features`) looped over a sample of
  patients, extrapolated per patient to the whole cohort;
- **spark**: derive with `backend="spark"` (PySpark local mode) on the size(s) given by ``--spark-sizes``.

Targets (issue #4): on 1M patients derive within 3x the floor and within 4 GB of peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve()


# -- a minimal generator (SCHEMAS of sleitp.cohort.tables), in DuckDB SQL ------------------------------------
def generate(n: int, out: Path, seed: int = 7) -> dict[str, int]:
    """N patients: 1-3 treatment courses, ~24 platelet counts around them, complement, CBC, some bleeding.
    Written as NAME.parquet in ``out``. Returns row counts."""
    import duckdb

    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(
        config={"threads": os.cpu_count() or 2, "memory_limit": "3GB", "preserve_insertion_order": False}
    )
    con.execute(f"SELECT setseed({(seed % 1000) / 1000})")
    con.execute(f"""CREATE TEMP TABLE p AS SELECT i, 'P' || lpad(CAST(i AS VARCHAR), 8, '0') AS patient_id,
                    DATE '2015-01-01' + CAST(floor(random() * 2500) AS INTEGER) AS t0, random() AS u
                    FROM range({n}) r(i)""")

    def copy(sql: str, name: str) -> int:
        con.execute(f"COPY ({sql}) TO '{out / (name + '.parquet')}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)")
        return con.execute(f"SELECT count(*) FROM read_parquet('{out / (name + '.parquet')}')").fetchall()[0][
            0
        ]

    counts = {}
    counts["patients"] = copy(
        """
        SELECT patient_id, CASE WHEN u < 0.88 THEN 'female' ELSE 'male' END AS sex,
               CAST(t0 - INTERVAL (7000 + CAST(floor(u * 12000) AS INTEGER)) DAY AS DATE) AS birth_date,
               CAST(NULL AS DOUBLE) AS age_years, CAST(NULL AS BOOLEAN) AS pregnant,
               CAST(NULL AS DOUBLE) AS weight_kg,
               CAST(t0 - INTERVAL 400 DAY AS DATE) AS sle_diagnosis_date,
               CAST(t0 - INTERVAL 10 DAY AS DATE) AS itp_diagnosis_date,
               CAST(t0 + INTERVAL 365 DAY AS DATE) AS assessment_date,
               u < 0.1 AS history_antiphospholipid_syndrome, false AS history_thrombosis,
               u > 0.7 AS history_lupus_nephritis, false AS history_active_infection,
               false AS history_hepatitis_b,
               false AS history_splenectomy, false AS history_liver_disease
        FROM p""",
        "patients",
    )
    counts["treatments"] = copy(
        """
        SELECT patient_id,
               (['prednisone', 'ivig', 'rituximab', 'eltrombopag', 'hydroxychloroquine'])
                   [1 + CAST(floor(random() * 5) AS INTEGER)] AS agent,
               CAST(t0 + INTERVAL (k * 90 + CAST(floor(random() * 10) AS INTEGER)) DAY AS DATE) AS start,
               CASE WHEN random() < 0.5 THEN CAST(t0 + INTERVAL (k * 90 + 40) DAY AS DATE) END AS "end",
               CAST(NULL AS DOUBLE) AS dose, CAST(NULL AS VARCHAR) AS dose_unit,
               CAST(NULL AS VARCHAR) AS frequency,
               CAST(NULL AS VARCHAR) AS route
        FROM p, range(1 + CAST(floor(u * 3) AS INTEGER)) r(k)""",
        "treatments",
    )
    counts["labs"] = copy(
        """
        SELECT patient_id,
               CAST(t0 + INTERVAL (-20 + j * 11 + CAST(floor(random() * 4) AS INTEGER)) DAY AS DATE) AS date,
               'platelets' AS test, round(greatest(1, 15 + j * random() * 12 * u), 1) AS value,
               '10^9/L' AS unit, CAST(NULL AS VARCHAR) AS result, CAST(NULL AS DOUBLE) AS reference_low,
               CAST(NULL AS DOUBLE) AS reference_high
        FROM p, range(24) r(j)
        UNION ALL
        SELECT patient_id, CAST(t0 - INTERVAL (j * 20) DAY AS DATE),
               (['c3', 'c4', 'neutrophils', 'lymphocytes', 'hemoglobin'])[1 + (j % 5)],
               (ARRAY[0.4 + random(), 0.05 + random() * 0.3, 1 + random() * 6, 0.3 + random() * 2,
                      70 + random() * 70])[1 + (j % 5)],
               (['g/L', 'g/L', '10^9/L', '10^9/L', 'g/L'])[1 + (j % 5)], NULL, NULL, NULL
        FROM p, range(5) r(j)
        UNION ALL
        SELECT patient_id, CAST(t0 - INTERVAL 30 DAY AS DATE), 'anticardiolipin', NULL, NULL,
               CASE WHEN random() < 0.2 THEN 'positive' ELSE 'negative' END, NULL, NULL
        FROM p WHERE u < 0.6""",
        "labs",
    )
    counts["bleeding"] = copy(
        """
        SELECT patient_id,
               CAST(t0 + INTERVAL (CAST(floor(random() * 60) AS INTEGER) - 5) DAY AS DATE) AS date,
               CAST(1 + floor(random() * 3) AS TINYINT) AS who_grade, 'skin' AS site
        FROM p WHERE random() < 0.3""",
        "bleeding",
    )
    counts["manifestations"] = copy(
        """
        SELECT patient_id, CAST(t0 - INTERVAL 100 DAY AS DATE) AS date,
               CASE WHEN u < 0.15 THEN 'autoimmune_hemolysis' ELSE 'lupus_nephritis' END AS name,
               CAST(NULL AS VARCHAR) AS nephritis_class
        FROM p WHERE u < 0.35""",
        "manifestations",
    )
    con.close()
    return counts


# -- measurements, each in a child process -------------------------------------------------------------------
class PeakRss:
    """Peak resident memory of this process: a sampling thread (10 ms) plus getrusage at the end."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with open("/proc/self/status") as fh:
                    for line in fh:
                        if line.startswith("VmRSS:"):
                            self.peak = max(self.peak, int(line.split()[1]) * 1024)
            except OSError:
                pass
            time.sleep(0.01)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def _child(kind: str, tables: str, arg: str) -> dict:
    if kind == "floor":
        import duckdb

        with PeakRss() as m:
            t = time.perf_counter()
            con = duckdb.connect(config={"memory_limit": "3GB"})
            rows = con.execute(
                f"""SELECT count(*) FROM (SELECT patient_id, count(*), min(value), max(value)
                   FROM read_parquet('{tables}/labs*.parquet') GROUP BY patient_id)"""
            ).fetchall()
            wall = time.perf_counter() - t
        return {"wall": wall, "peak": m.peak, "groups": rows[0][0]}
    if kind == "bounds":
        # Lower bounds: steps that any correct derive needs, each alone, on the same files and engine. IWG
        # (docs/iwg-response.md) takes one count a day (the lowest), and confirmation ("2 counts >= 7 days
        # apart, nothing failing between") needs each patient's counts in time order.
        import duckdb

        con = duckdb.connect(config={"memory_limit": "3GB", "preserve_insertion_order": False})
        plt = f"(SELECT * FROM read_parquet('{tables}/labs*.parquet') WHERE test = 'platelets')"
        queries = {
            # one count a day: a group-by on (patient, day)
            "one_count_a_day": (
                f"SELECT count(*) FROM (SELECT patient_id, date, min(value) FROM {plt} GROUP BY ALL)"
            ),
            # time order, the cheapest way found: a hash group-by a patient gathering its counts as a list,
            # each list then sorted by date (1M short lists; cheaper than a sort or window over all counts)
            "time_ordered_lists": f"""SELECT sum(len(l)) FROM (SELECT patient_id,
                list_sort(list(struct_pack(d := date, v := value))) AS l FROM {plt} GROUP BY patient_id)""",
            # time order the relational way: a window over patient ordered by date (one sort)
            "time_ordered_window": f"""SELECT count(*), count(p) FROM (SELECT lag(value)
                OVER (PARTITION BY patient_id ORDER BY date) AS p FROM {plt})""",
        }
        out = {}
        for name, sql in queries.items():
            t = time.perf_counter()
            con.execute(sql).fetchall()
            out[name] = time.perf_counter() - t
        return out
    if kind in ("duckdb", "spark"):
        from sleitp.cohort.derive import derive

        with PeakRss() as m:
            t = time.perf_counter()
            res = derive(tables, arg, backend=kind)
            wall = time.perf_counter() - t
        return {
            "wall": wall,
            "peak": m.peak,
            "lines": res.lines,
            "patients": res.patients,
            "steps": res.seconds,
        }
    if kind == "naive":
        import duckdb
        import pyarrow as pa

        from sleitp.cohort.tables import SCHEMAS, tables_to_records
        from sleitp.features import patient_features
        from sleitp.instruments.iwg import iwg_responses

        sample = int(arg)
        con = duckdb.connect()
        ids = (
            f"(SELECT patient_id FROM read_parquet('{tables}/patients*.parquet')"
            f" ORDER BY patient_id LIMIT {sample})"
        )
        tabs = {}
        for name in SCHEMAS:
            q = f"SELECT * FROM read_parquet('{tables}/{name}*.parquet') WHERE patient_id IN {ids}"
            tabs[name] = (
                pa.Table.from_batches(
                    con.sql(q).to_arrow_table().to_batches(),
                )
                .select(SCHEMAS[name].names)
                .cast(SCHEMAS[name])
            )
        t = time.perf_counter()
        records = tables_to_records(tabs)
        for rec in records:  # the naive way: one patient at a time
            at = rec.effective_assessment_date
            rs = iwg_responses(rec, at)
            if rs:
                patient_features(rec, rs[0].start)
        wall = time.perf_counter() - t
        return {"wall": wall, "sample": len(records), "per_patient": wall / max(1, len(records))}
    raise SystemExit(f"unknown step {kind}")


def run_child(kind: str, tables: Path, arg: str = "") -> dict:
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", PYTHONWARNINGS="ignore")
    p = subprocess.run(
        [sys.executable, str(HERE), "_child", kind, str(tables), arg], capture_output=True, text=True, env=env
    )
    if p.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def _gb(b: float) -> str:
    return f"{b / 1e9:.2f} GB"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--spark-sizes", default="100000")
    ap.add_argument("--no-spark", action="store_true")
    ap.add_argument("--naive-sample", type=int, default=1000)
    ap.add_argument("--work", default=None, help="folder for the generated cohorts (default: a temp folder)")
    ap.add_argument("--synth", action="store_true", help="generate with `sleitp synth` instead")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="sleitp-bench-"))
    sizes = [int(s) for s in args.sizes.split(",") if s]
    spark_sizes = set() if args.no_spark else {int(s) for s in args.spark_sizes.split(",") if s}
    rows = []
    for n in sizes:
        d = work / f"n{n}"
        t = time.perf_counter()
        if args.synth:
            subprocess.run(
                [
                    str(Path(sys.executable).parent / "sleitp"),
                    "synth",
                    "--patients",
                    str(n),
                    "--seed",
                    "7",
                    "--out",
                    str(d),
                ],
                check=True,
            )
            tables = d / "tables"
            counts = {}
        else:
            tables = d / "tables"
            counts = generate(n, tables)
        gen = time.perf_counter() - t
        floor = run_child("floor", tables)
        bounds = run_child("bounds", tables)
        duck = run_child("duckdb", tables, str(d / "out-duckdb"))
        naive = run_child("naive", tables, str(min(args.naive_sample, n)))
        row = {
            "patients": n,
            "lab_rows": counts.get("labs"),
            "generate_s": gen,
            "floor_s": floor["wall"],
            "floor_peak": floor["peak"],
            "derive_s": duck["wall"],
            "derive_peak": duck["peak"],
            "ratio_to_floor": duck["wall"] / floor["wall"],
            "bounds_s": bounds,
            "lines": duck["lines"],
            "steps": duck["steps"],
            "naive_per_patient_s": naive["per_patient"],
            "naive_extrapolated_s": naive["per_patient"] * n,
            "naive_sample": naive["sample"],
        }
        if n in spark_sizes:
            sp = run_child("spark", tables, str(d / "out-spark"))
            row.update(spark_s=sp["wall"], spark_peak=sp["peak"])
        rows.append(row)
        print(json.dumps(row), flush=True)
        shutil.rmtree(d / "out-duckdb", ignore_errors=True)
        shutil.rmtree(d / "out-spark", ignore_errors=True)

    from rich.console import Console
    from rich.table import Table

    t = Table(title="sleitp cohort derive (DuckDB), 2-core machine", title_justify="left")
    for col in (
        "patients",
        "lab rows",
        "floor (group-by)",
        "derive",
        "x floor",
        "peak memory",
        "naive loop (extrap.)",
        "x derive",
        "Spark local",
    ):
        t.add_column(col, justify="right")
    for r in rows:
        t.add_row(
            f"{r['patients']:,}",
            f"{r['lab_rows']:,}" if r["lab_rows"] else "-",
            f"{r['floor_s']:.2f} s",
            f"{r['derive_s']:.2f} s",
            f"{r['ratio_to_floor']:.1f}",
            _gb(r["derive_peak"]),
            f"{r['naive_extrapolated_s']:.0f} s",
            f"{r['naive_extrapolated_s'] / r['derive_s']:.0f}",
            f"{r['spark_s']:.1f} s ({_gb(r['spark_peak'])})" if "spark_s" in r else "-",
        )
    console = Console(width=140)
    console.print(t)
    b = Table(
        title="Lower bounds: one step that any correct derive needs, alone (x the group-by floor)",
        title_justify="left",
    )
    for col in ("patients", "floor", "one count a day", "counts in time order (lists)", "(window)", "derive"):
        b.add_column(col, justify="right")
    for r in rows:
        f, bs = r["floor_s"], r["bounds_s"]
        b.add_row(
            f"{r['patients']:,}",
            f"{f:.2f} s",
            *[
                f"{bs[k]:.2f} s ({bs[k] / f:.1f}x)"
                for k in ("one_count_a_day", "time_ordered_lists", "time_ordered_window")
            ],
            f"{r['derive_s']:.2f} s ({r['ratio_to_floor']:.1f}x)",
        )
    console.print(b)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        print(json.dumps(_child(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else "")))
    else:
        main()
