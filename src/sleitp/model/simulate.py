"""A derived cohort with known truth, straight at the features/responses level (tests and benchmarks).

This is a statistical test bench, not a clinical generator: it writes ``features.parquet``,
``responses.parquet`` and ``truth.parquet`` (the true probability of first-line response) for a
logistic data-generating model, so that the model code can be checked against the truth (does the
optimism-corrected AUC predict the AUC on fresh patients? is the fitted AUC close to the true one?).
The **effect sizes and distributions below are arbitrary test values, not estimates from any study**;
the clinical synthetic cohort, with record-level data and evidence-based rates, is ``sleitp synth``.
Missing values are missing completely at random with fixed rates (again test values).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.special import expit

from sleitp.features import FEATURE_NAMES, FEATURES

__all__ = ["TEST_EFFECTS", "simulate_features", "write_cohort"]

# Arbitrary test coefficients of the data-generating model (log-odds per unit); NOT clinical evidence.
TEST_INTERCEPT = 0.4
TEST_EFFECTS = {
    "baseline_platelets": 0.02,
    "platelets_below_20": -0.5,
    "low_c3": -0.6,
    "antiphospholipid": -0.5,
    "autoimmune_hemolysis": -0.4,
    "megakaryocytes_below_20": -0.7,
    "lupus_nephritis": -0.3,
    "hemoglobin": 0.01,
    "age_years": -0.01,
}
# Missingness rates by test (test values); predictors read from the same test are missing together.
MISSING_RATE = {
    ("c3", "low_c3"): 0.15,
    ("low_c4",): 0.2,
    ("megakaryocytes", "megakaryocytes_below_20"): 0.5,
    ("anticardiolipin",): 0.3,
    ("nlr", "sii"): 0.1,
    ("anti_tpo_receptor",): 0.8,
    ("antiplatelet_antibody",): 0.6,
    ("anti_sm",): 0.3,
    ("anti_ssa",): 0.3,
    ("hemoglobin",): 0.05,
    ("baseline_platelets", "platelets_below_20"): 0.02,
}
NOT_EVALUABLE_RATE = 0.05


def simulate_features(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """n patients' predictors (complete) and their true probability of first-line response."""
    rng = np.random.default_rng(seed)
    plt = np.clip(rng.gamma(2.0, 12.0, n), 1, 99)
    c3 = np.clip(rng.normal(0.85, 0.25, n), 0.1, 2.0)
    c4 = np.clip(rng.normal(0.15, 0.06, n), 0.01, 0.6)
    mk = rng.gamma(2.0, 25.0, n)
    neu = rng.gamma(4.0, 1.0, n)
    lym = np.clip(rng.gamma(3.0, 0.4, n), 0.1, None)
    pregnant = rng.random(n) < 0.03
    male = rng.random(n) < 0.12
    acl = rng.random(n) < 0.2
    df = pd.DataFrame(
        {
            "age_years": np.round(np.clip(rng.normal(36, 12, n), 14, 85), 1),
            "male": male,
            "baseline_platelets": np.round(plt, 0),
            "platelets_below_20": plt < 20,
            "c3": np.round(c3, 2),
            "low_c3": c3 < 0.9,
            "low_c4": c4 < 0.16,
            "anticardiolipin": acl,
            "antiphospholipid": acl | (rng.random(n) < 0.1),
            "autoimmune_hemolysis": rng.random(n) < 0.15,
            "pregnant": pregnant & ~male,
            "nlr": np.round(neu / lym, 2),
            "sii": np.round(plt * neu / lym, 1),
            "megakaryocytes": np.round(mk, 0),
            "megakaryocytes_below_20": mk < 20,
            "anti_tpo_receptor": rng.random(n) < 0.3,
            "antiplatelet_antibody": rng.random(n) < 0.4,
            "anti_sm": rng.random(n) < 0.25,
            "anti_ssa": rng.random(n) < 0.4,
            "hemoglobin": np.round(np.clip(rng.normal(110, 18, n), 50, 170), 0),
            "lupus_nephritis": rng.random(n) < 0.3,
            "who_bleeding_grade": rng.choice([0, 1, 2, 3], size=n, p=[0.4, 0.35, 0.2, 0.05]).astype(float),
        }
    )
    lp = TEST_INTERCEPT + sum(coef * df[name].astype(float) for name, coef in TEST_EFFECTS.items())
    return df, expit(lp.to_numpy())


def write_cohort(out: str | Path, n: int, seed: int) -> Path:
    """Write features.parquet, responses.parquet and truth.parquet of n simulated patients to ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed + 1_000_003)
    df, p = simulate_features(n, seed)
    ids = [f"SIM{seed}-{i:06d}" for i in range(n)]
    y = rng.random(n) < p
    start0 = date(2015, 1, 1)
    starts = [start0 + timedelta(days=int(d)) for d in rng.integers(0, 3000, n)]
    kind = {f.name: f.kind for f in FEATURES}
    cols: dict[str, pa.Array] = {
        "patient_id": pa.array(ids),
        "index_date": pa.array(starts, pa.date32()),
        "first_line_agents": pa.array([["prednisone"]] * n, pa.list_(pa.string())),
    }
    missing = {name: np.zeros(n, dtype=bool) for name in FEATURE_NAMES}
    for group, rate in MISSING_RATE.items():
        m = rng.random(n) < rate
        for name in group:
            missing[name] = m
    for name in FEATURE_NAMES:
        v = df[name].to_numpy()
        miss = missing[name]
        if kind[name] == "binary":
            cols[name] = pa.array([None if m else bool(x) for x, m in zip(v, miss, strict=False)], pa.bool_())
        else:
            cols[name] = pa.array(
                [None if m else float(x) for x, m in zip(v, miss, strict=False)], pa.float64()
            )
    pq.write_table(pa.table(cols), out / "features.parquet")

    category = np.where(y, np.where(rng.random(n) < 0.5, "CR", "R"), "NR")
    category = np.where(rng.random(n) < NOT_EVALUABLE_RATE, "NE", category)
    ttr = [int(rng.integers(7, 60)) if c in ("R", "CR") else None for c in category]
    resp = pa.table(
        {
            "patient_id": pa.array(ids),
            "line": pa.array([1] * n, pa.int32()),
            "agents": pa.array([["prednisone"]] * n, pa.list_(pa.string())),
            "start": pa.array(starts, pa.date32()),
            "baseline_platelets": cols["baseline_platelets"],
            "category": pa.array(category.tolist()),
            "time_to_response_days": pa.array(ttr, pa.int32()),
            "time_to_complete_response_days": pa.array(
                [t if c == "CR" else None for t, c in zip(ttr, category, strict=False)], pa.int32()
            ),
            "loss_of_response_date": pa.array([None] * n, pa.date32()),
            "evaluation_end": pa.array([s + timedelta(days=180) for s in starts], pa.date32()),
        }
    )
    pq.write_table(resp, out / "responses.parquet")
    pq.write_table(
        pa.table({"patient_id": pa.array(ids), "p_first_line_response": pa.array(p)}), out / "truth.parquet"
    )
    return out
