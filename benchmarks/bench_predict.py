"""Benchmark of `sleitp predict` (issue #16 item 5): the set-based scorer against a per-patient loop.

A logistic and a gradient-boosting model are trained on 5,000 simulated patients (sleitp.model.simulate,
bootstrap 0), then a fresh cohort of N patients (default 20,000) is scored two ways in the same run:

* set-based: ``sleitp.model.predict_cohort.score_cohort`` (the design matrix of all rows at once);
* the baseline: ``TrainedModel.predict_features`` one patient at a time (the bedside path), timed on a
  sample of rows and scaled to N.

Printed: rows, seconds, rows per second and the ratio baseline / set-based; and the largest difference of
probability and interval between the two on the sample (must be ~0: the same numbers).

Run: .venv/bin/python benchmarks/bench_predict.py [--patients 20000] [--sample 100]
(the per-patient boosting path takes about a second a patient on a loaded 2-core machine: it also
computes each predictor's contribution, hence the small default sample)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from sleitp.model import load_model, train
from sleitp.model.predict_cohort import score_cohort
from sleitp.model.simulate import write_cohort


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=20_000)
    ap.add_argument("--sample", type=int, default=100)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-predict-") as tmp:
        root = Path(tmp)
        dev = write_cohort(root / "dev", 5000, 1)
        fresh = write_cohort(root / "fresh", args.patients, 2)
        feats = pd.read_parquet(fresh / "features.parquet").set_index("patient_id")
        print(f"{'model':<10} {'way':<22} {'rows':>8} {'seconds':>9} {'rows/s':>10} {'ratio':>7}")
        for method in ("logistic", "gbm"):
            train(dev, method=method, bootstrap=0, out=root / method)
            model = load_model(root / method)
            t0 = time.perf_counter()
            scored = score_cohort(model, fresh).frame
            t_set = time.perf_counter() - t0
            sample = scored.sample(min(args.sample, len(scored)), random_state=0)
            t0 = time.perf_counter()
            worst = 0.0
            for _, r in sample.iterrows():
                row = feats.loc[r["patient_id"]]
                values = {n: None if pd.isna(row[n]) else float(row[n]) for n in model.design.predictors}
                p = model.predict_features(values)
                worst = max(worst, abs(p.probability - r["probability"]), abs(p.interval[0] - r["ci_low"]),
                            abs(p.interval[1] - r["ci_high"]))
            t_loop = (time.perf_counter() - t0) * len(scored) / len(sample)
            n = len(scored)
            print(f"{method:<10} {'set-based':<22} {n:>8} {t_set:>9.2f} {n / t_set:>10.0f} {1.0:>7.1f}")
            print(f"{method:<10} {'per patient (scaled)':<22} {n:>8} {t_loop:>9.2f} {n / t_loop:>10.0f} "
                  f"{t_loop / t_set:>7.1f}")
            print(f"{method:<10} largest difference on {len(sample)} rows: {worst:.2e}")
            assert np.isfinite(worst)


if __name__ == "__main__":
    main()
