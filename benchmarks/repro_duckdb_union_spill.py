"""Minimal reproduction, without sleitp, of the DuckDB 2.0 behaviour ``cohort/derive/iwg.patient_days`` works
around (issue #12): a hash group-by over ``large UNION ALL small`` runs out of memory where the same group-by
over the large input alone spills to disk. Not run by the tests: whether it fails depends on how the two
inputs' pipelines are scheduled, so the script counts failures over several runs, each a fresh process.

    .venv/bin/python benchmarks/repro_duckdb_union_spill.py            # 6 runs a form, 100 MB, 1 thread
    .venv/bin/python benchmarks/repro_duckdb_union_spill.py --threads 2 --runs 10

Seen on this 2-core machine (DuckDB 2.0.1, 3 M rows of 100k keys): at 100 MB and one thread, the large input
alone passed 6 of 6 runs (and passes at 60 MB), the UNION ALL failed 6 of 6 when run alone and 5 of 6 with a
second process running; with two threads 4 of 5. The outer join of two group-bys (sleitp's form) passes at
50 MB. The test that fails without the workaround is
``tests/cohort/derive/test_scale.py::test_patient_days_fit_where_the_group_by_over_a_union_all_ran_out``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

LARGE = (
    "SELECT 'SYN-' || lpad((i % 100000)::VARCHAR, 7, '0') AS k, (i // 100000)::INT AS d, "
    "1 + (hash(i) % 9973)::DOUBLE / 10 AS v FROM range(3000000) t(i)"
)
SMALL = "SELECT 'SYN-' || lpad(i::VARCHAR, 7, '0') AS k, -1 AS d, NULL::DOUBLE AS v FROM range(40000) t(i)"
FORMS = {
    "large alone": "SELECT k, d, min(v) FROM {large} GROUP BY k, d",
    "large UNION ALL small": "SELECT k, d, min(v) FROM (FROM {large} UNION ALL FROM {small}) GROUP BY k, d",
    "outer join of two group-bys": (
        "SELECT coalesce(a.k, b.k), coalesce(a.d, b.d), a.v FROM (SELECT k, d, min(v) v FROM {large} "
        "GROUP BY k, d) a FULL OUTER JOIN (SELECT DISTINCT k, d FROM {small}) b ON a.k = b.k AND a.d = b.d"
    ),
}

ONE_RUN = """
import duckdb, sys
folder, limit, threads, sql = sys.argv[1:5]
config = {"memory_limit": limit, "threads": int(threads), "temp_directory": folder + "/spill"}
con = duckdb.connect(config=config)
try:
    con.sql("CREATE TABLE r AS " + sql)
    print("ok")
except duckdb.OutOfMemoryException:
    print("out of memory")
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--memory", default="100MB")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=6)
    a = ap.parse_args()
    import duckdb

    with tempfile.TemporaryDirectory() as folder:
        large, small = Path(folder) / "large.parquet", Path(folder) / "small.parquet"
        duckdb.sql(f"COPY ({LARGE}) TO '{large}'")
        duckdb.sql(f"COPY ({SMALL}) TO '{small}'")
        print(f"DuckDB {duckdb.__version__}, memory_limit {a.memory}, {a.threads} thread(s), "
              f"{a.runs} runs a form")
        for name, form in FORMS.items():
            sql = form.format(large=f"'{large}'", small=f"'{small}'")
            said = [
                subprocess.run(
                    [sys.executable, "-c", ONE_RUN, folder, a.memory, str(a.threads), sql],
                    capture_output=True, text=True, check=True,
                ).stdout.strip()
                for _ in range(a.runs)
            ]
            print(f"  {name:<30} out of memory in {said.count('out of memory')} of {a.runs} runs")


if __name__ == "__main__":
    main()
