"""Benchmark of ``sleitp synth``: patients per second and peak memory, per cohort size.

Run (not part of the tests):

    .venv/bin/python benchmarks/bench_synth.py                 # 10k, 100k and 1M patients
    .venv/bin/python benchmarks/bench_synth.py --patients 100000 --chunk-size 50000

Each size runs in a fresh Python process, so the peak resident memory reported (``ru_maxrss`` of that
process) is the generator's own, imports included. Output goes to a temporary directory that is
deleted afterwards (1M patients write ~3.7 GB of records.jsonl and ~0.5 GB of Parquet).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from sleitp.cohort.synth.generate import synthesize
n, chunk, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
t0 = time.perf_counter()
s = synthesize(n, 42, out, chunk_size=chunk)
wall = time.perf_counter() - t0
size = sum(p.stat().st_size for p in Path(out).rglob("*") if p.is_file())
jsonl = Path(out, "records.jsonl").stat().st_size
print(json.dumps({"patients": n, "chunk_size": chunk, "seconds": round(wall, 1),
                  "patients_per_second": round(n / wall), "peak_rss_mb": round(resource.getrusage(
                      resource.RUSAGE_SELF).ru_maxrss / 1024), "output_mb": round(size / 2**20),
                  "records_jsonl_mb": round(jsonl / 2**20), "lab_rows": s.rows["labs"],
                  "mean_true_p": s.first_line_response_rate}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--chunk-size", type=int, default=50_000)
    ap.add_argument("--tmp", default=None, help="where to write the cohorts (default: system temp)")
    args = ap.parse_args()
    print(f"{'patients':>10} {'seconds':>8} {'patients/s':>11} {'peak RSS MB':>12} {'output MB':>10}")
    for n in args.patients:
        tmp = Path(tempfile.mkdtemp(prefix="bench-synth-", dir=args.tmp))
        try:
            proc = subprocess.run(
                [sys.executable, "-c", _CHILD, str(n), str(args.chunk_size), str(tmp / "c")],
                capture_output=True,
                text=True,
                check=True,
            )
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            print(
                f"{r['patients']:>10,} {r['seconds']:>8} {r['patients_per_second']:>11,} "
                f"{r['peak_rss_mb']:>12,} {r['output_mb']:>10,}   {json.dumps(r)}",
                flush=True,
            )
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
