"""Benchmark of `sleitp cohort derive` on the path a user takes (issue #12). Not run by the tests.

    .venv/bin/python benchmarks/bench_derive.py                        # 10k, 100k, 1M; Spark local on 100k
    .venv/bin/python benchmarks/bench_derive.py --sizes 10000 --no-spark    # a quick look

For each size, `sleitp synth --patients N --seed 8` writes the cohort (as a user would), then each of these
runs as a whole process of its own (wall time and that process's peak resident memory, from ``wait4``), on
the same files, in the same run, so the ratios hold on a noisy machine:

- **one count a day** (the anchor): ``select patient_id, date, min(value) from labs where test =
  'platelets' group by all``, written to Parquet, in DuckDB. Every correct derive needs at least this step:
  the IWG criteria read one count a day, the lowest (docs/iwg-response.md);
- **group-by floor**: a plain group-by per patient over the labs (count, min, max), written to Parquet;
- **derive**: the CLI, ``sleitp cohort derive TABLES --out OUT --json``, with its steps' times;
- **spark**: the same with ``--backend spark`` (local mode) on the sizes of ``--spark-sizes``;
- **naive**: the single-patient references (``iwg_responses`` + ``patient_features``) looped over a sample
  of patients, extrapolated per patient to the cohort (what a per-patient Python pipeline would cost).

Targets (issue #12): on 1M synth patients derive <= 2x the one-count-a-day step and <= 4 GB peak memory.
The generator of the first cohorts benchmark (issue #4) is gone: its cohorts had one file a table and no
dose or background therapy, so they hid the 1M failure a user met; the synth runs show everything it did.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
SEED = 8

BOUND = '''
import duckdb, sys
con = duckdb.connect(config={"memory_limit": "2500MB", "preserve_insertion_order": False})
labs = f"read_parquet('{sys.argv[1]}/labs-*.parquet')"
con.execute(f"""COPY (SELECT patient_id, date, min(value) AS platelets FROM {labs} WHERE test = 'platelets'
              GROUP BY ALL) TO '{sys.argv[2]}' (FORMAT parquet)""")
'''
FLOOR = '''
import duckdb, sys
con = duckdb.connect(config={"memory_limit": "2500MB", "preserve_insertion_order": False})
labs = f"read_parquet('{sys.argv[1]}/labs-*.parquet')"
con.execute(f"""COPY (SELECT patient_id, count(*) AS n, min(value) AS lo, max(value) AS hi FROM {labs}
              GROUP BY patient_id) TO '{sys.argv[2]}' (FORMAT parquet)""")
'''
NAIVE = """
import json, sys, time
import duckdb, pyarrow as pa
from sleitp.cohort.tables import SCHEMAS, tables_to_records
from sleitp.features import patient_features
from sleitp.instruments.iwg import iwg_responses
tables, sample = sys.argv[1], int(sys.argv[2])
con = duckdb.connect()
ids = f"(SELECT patient_id FROM read_parquet('{tables}/patients-*.parquet') ORDER BY 1 LIMIT {sample})"
tabs = {}
for name in SCHEMAS:
    q = f"SELECT * FROM read_parquet('{tables}/{name}-*.parquet') WHERE patient_id IN {ids}"
    tabs[name] = pa.Table.from_batches(con.sql(q).to_arrow_table().to_batches()).select(
        SCHEMAS[name].names).cast(SCHEMAS[name])
t = time.perf_counter()
records = tables_to_records(tabs)
for rec in records:  # the naive way: one patient at a time
    rs = iwg_responses(rec, rec.effective_assessment_date)
    if rs:
        patient_features(rec, rs[0].start)
print(json.dumps({"per_patient": (time.perf_counter() - t) / max(1, len(records)), "sample": len(records)}))
"""


def run_measured(cmd: list[str], env: dict | None = None) -> dict:
    """One whole process: wall seconds, that child's own peak RSS (``wait4`` on a child reaped here: the
    children's getrusage would be the maximum over every child so far), and its stdout."""
    t = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=dict(os.environ, **(env or {})))
        _pid, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        wall = time.perf_counter() - t
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:5])} ... failed ({p.returncode}):\n{stderr[-3000:]}")
    return {"wall": wall, "peak": usage.ru_maxrss * 1024, "stdout": stdout}


def _gb(b: float) -> str:
    return f"{b / 1e9:.2f} GB"


def _json_tail(text: str) -> dict:
    return json.loads(text[text.index("{"):])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--spark-sizes", default="100000")
    ap.add_argument("--no-spark", action="store_true")
    ap.add_argument("--naive-sample", type=int, default=1000)
    ap.add_argument("--work", default=None, help="folder for the cohorts (default: a temp folder, removed)")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="sleitp-bench-"))
    sizes = [int(s) for s in args.sizes.split(",") if s]
    spark_sizes = set() if args.no_spark else {int(s) for s in args.spark_sizes.split(",") if s}
    py, sleitp = sys.executable, str(BIN / "sleitp")
    rows = []
    for n in sizes:
        d = work / f"n{n}"
        shutil.rmtree(d, ignore_errors=True)
        syn = run_measured([sleitp, "synth", "--patients", str(n), "--seed", str(SEED), "--out", str(d)])
        tables = d / "tables"
        bound = run_measured([py, "-c", BOUND, str(tables), str(d / "bound.parquet")])
        floor = run_measured([py, "-c", FLOOR, str(tables), str(d / "floor.parquet")])
        derive = run_measured([sleitp, "cohort", "derive", str(tables), "--out", str(d / "out"), "--json"])
        res = _json_tail(derive["stdout"])
        sample = str(min(args.naive_sample, n))
        naive = _json_tail(run_measured([py, "-c", NAIVE, str(tables), sample])["stdout"])
        row = {
            "patients": n,
            "synth_s": syn["wall"],
            "bound_s": bound["wall"],
            "bound_peak": bound["peak"],
            "floor_s": floor["wall"],
            "derive_s": derive["wall"],
            "derive_peak": derive["peak"],
            "x_bound": derive["wall"] / bound["wall"],
            "x_floor": derive["wall"] / floor["wall"],
            "lines": res["lines"],
            "steps": res["seconds"],
            "naive_extrapolated_s": naive["per_patient"] * n,
        }
        if n in spark_sizes:
            sp = run_measured(
                [sleitp, "cohort", "derive", str(tables), "--out", str(d / "out-spark"), "--backend", "spark",
                 "--json"],
                env={"SPARK_LOCAL_IP": "127.0.0.1"},
            )
            row.update(spark_s=sp["wall"], spark_peak=sp["peak"])
        rows.append(row)
        print(json.dumps(row), flush=True)
        if not args.work:
            shutil.rmtree(d, ignore_errors=True)

    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"sleitp cohort derive on `sleitp synth --seed {SEED}` cohorts (DuckDB; whole processes)",
              title_justify="left")
    for col in ("patients", "synth", "one count a day", "group-by floor", "derive", "x one count a day",
                "derive peak", "naive loop (extrap.)", "Spark local"):
        t.add_column(col, justify="right")
    for r in rows:
        t.add_row(
            f"{r['patients']:,}",
            f"{r['synth_s']:.1f} s",
            f"{r['bound_s']:.2f} s",
            f"{r['floor_s']:.2f} s",
            f"{r['derive_s']:.2f} s",
            f"{r['x_bound']:.2f}",
            _gb(r["derive_peak"]),
            f"{r['naive_extrapolated_s']:.0f} s",
            f"{r['spark_s']:.1f} s ({_gb(r['spark_peak'])})" if "spark_s" in r else "-",
        )
    console = Console(width=150)
    console.print(t)
    s = Table(title="derive's steps (seconds, from its --json)", title_justify="left")
    s.add_column("patients", justify="right")
    names = list(rows[0]["steps"]) if rows else []
    for k in names:
        s.add_column(k, justify="right")
    for r in rows:
        s.add_row(f"{r['patients']:,}", *[f"{r['steps'].get(k, 0):.2f}" for k in names])
    console.print(s)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
