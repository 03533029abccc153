"""Benchmark of the synthetic FHIR bulk export and of derive from it (issue #13 items 4-5). Not a test.

    .venv/bin/python benchmarks/bench_fhir.py                       # 10k and 100k patients
    .venv/bin/python benchmarks/bench_fhir.py --sizes 10000         # quick look
    .venv/bin/python benchmarks/bench_fhir.py --million             # adds 1M (export + tables derive only)
    .venv/bin/python benchmarks/bench_fhir.py --sizes --million     # 1M alone (writes ~30 GB, deleted after)

For each size, in the same run and each step in its own process (so peak memory is that step's alone,
imports included):

- **synth**: ``sleitp.cohort.synth.generate.synthesize`` writes the tables (records.jsonl off), the
baseline of
- **export**: ``sleitp.cohort.synth.fhir.write_fhir`` writes the same patients as ``fhir/*.ndjson``
  (resources/s, MB written);
- **derive tables**: ``sleitp.cohort.derive.run.derive`` of ``DIR/tables`` (the baseline of)
- **derive fhir**: ``derive`` of ``DIR/fhir`` through today's per-resource FHIR mapping
  (``sleitp.cohort.sources.fhir``: resources/s). Run only up to ``--fhir-max`` patients (default 10k): at
  about a thousand resources a second, 100k patients (5.5 M resources) take well over an hour, and 1M
  never runs through it; larger sizes show the time extrapolated from the measured rate, marked ``~``.
- **derive views** (``--views``): ``derive`` of ``DIR/fhir`` with ``fhir_mapping="views"`` (the SQL on FHIR
  ViewDefinitions of ``sleitp/fhir/views``, ``sleitp.cohort.sources.fhir_views``), at every size, with its
  ratio to derive tables (and to derive fhir where that ran).

Peak memory is the child's ``ru_maxrss``. The table ends with the ratios export/synth and derive fhir /
derive tables (time and peak memory).
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
kind, a, b = sys.argv[1], sys.argv[2], sys.argv[3]
t0 = time.perf_counter()
out = {}
if kind == "synth":
    from sleitp.cohort.synth.generate import synthesize
    s = synthesize(int(a), 42, b, jsonl=False)
    out["rows"] = sum(s.rows.values())
elif kind == "export":
    from sleitp.cohort.synth.fhir import write_fhir
    s = write_fhir(a, b)
    out["resources"] = s.total
    out["mb"] = round(sum(p.stat().st_size for p in Path(b).iterdir()) / 2**20)
else:
    from sleitp.cohort.derive.run import derive
    r = derive(a, b, fhir_mapping="views" if kind == "derive-views" else "python")
    out.update(patients=r.patients, lines=r.lines, unmapped=r.unmapped.total)
out["seconds"] = time.perf_counter() - t0
out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def _run(kind: str, a: Path | int, b: Path) -> dict:
    cmd = [sys.executable, "-c", _CHILD, kind, str(a), str(b)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _same(a: Path, b: Path) -> str:
    """Whether the two derives wrote the same rows (count of responses and features rows)."""
    import pyarrow.parquet as pq

    return "/".join(
        f"{pq.read_metadata(a / f).num_rows}:{pq.read_metadata(b / f).num_rows}"
        for f in ("responses.parquet", "features.parquet")
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    ap.add_argument("--million", action="store_true", help="add 1M patients (FHIR derive extrapolated)")
    ap.add_argument("--fhir-max", type=int, default=10_000,
                    help="largest size derived through the per-resource FHIR path (default 10000)")
    ap.add_argument("--tmp", default=None, help="where to write the cohorts (default: system temp)")
    ap.add_argument("--views", action="store_true",
                    help="also derive through the SQL on FHIR ViewDefinitions (--fhir-mapping views)")
    args = ap.parse_args()
    sizes = args.sizes + ([1_000_000] if args.million else [])
    head = (f"{'patients':>9} {'step':<14} {'seconds':>9} {'peak MB':>8} {'items/s':>10}  note")
    print(head)
    rate = None  # resources/s of the per-resource FHIR derive, measured at the largest size run
    for n in sizes:
        tmp = Path(tempfile.mkdtemp(prefix="bench-fhir-", dir=args.tmp))
        try:
            d = tmp / "c"
            synth = _run("synth", n, d)
            export = _run("export", d / "tables", d / "fhir")
            tables = _run("derive", d / "tables", tmp / "out-tables")
            res = export["resources"]

            def row(step: str, r: dict, items: float, note: str = "", approx: bool = False,
                    n: int = n) -> None:
                secs = f"{'~' if approx else ''}{r['seconds']:.1f}"
                peak = f"{r['peak_mb']:.0f}" if r.get("peak_mb") is not None else "-"
                print(f"{n:>9,} {step:<14} {secs:>9} {peak:>8} {items / r['seconds']:>10,.0f}  {note}",
                      flush=True)

            row("synth", synth, synth["rows"], "table rows/s")
            row("export", export, res, f"resources/s; {res:,} resources, {export['mb']:,} MB")
            row("derive tables", tables, synth["rows"], "table rows/s")
            if n <= args.fhir_max:
                fhir = _run("derive", d / "fhir", tmp / "out-fhir")
                rate = res / fhir["seconds"]
                same = _same(tmp / "out-tables", tmp / "out-fhir")
                row("derive fhir", fhir, res, f"resources/s; rows {same} (tables:fhir responses/features); "
                    f"{fhir['unmapped']:,} resources unmapped")
            elif rate is not None:
                fhir = {"seconds": res / rate, "peak_mb": None}
                row("derive fhir", fhir, res, "not run: extrapolated from the measured rate", approx=True)
            else:
                fhir = None
            if args.views:
                views = _run("derive-views", d / "fhir", tmp / "out-views")
                same = _same(tmp / "out-tables", tmp / "out-views")
                row("derive views", views, res, f"resources/s; rows {same} (tables:views "
                    f"responses/features); {views['unmapped']:,} resources unmapped")
                print(f"{n:>9,} {'ratios':<14} derive views/tables time "
                      f"{views['seconds'] / tables['seconds']:.1f}x, "
                      f"peak {views['peak_mb'] / tables['peak_mb']:.2f}x"
                      + (f"; derive fhir/views time {fhir['seconds'] / views['seconds']:.1f}x"
                         + (" (fhir extrapolated)" if fhir.get("peak_mb") is None else "") if fhir else ""),
                      flush=True)
            print(f"{n:>9,} {'ratios':<14} export/synth time {export['seconds'] / synth['seconds']:.2f}x, "
                  f"peak {export['peak_mb'] / synth['peak_mb']:.2f}x"
                  + (f"; derive fhir/tables time {fhir['seconds'] / tables['seconds']:.1f}x"
                     + (f", peak {fhir['peak_mb'] / tables['peak_mb']:.2f}x" if fhir.get("peak_mb") else "")
                     if fhir else ""), flush=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
