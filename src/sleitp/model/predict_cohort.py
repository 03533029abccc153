"""Scoring a whole derived cohort with a saved model (``sleitp predict MODEL DERIVED --out FILE.parquet``).

Set-based: the cohort's design matrix is built once (``Design.matrix`` on all rows) and the model's own
prediction and interval are computed on it as arrays - the same numbers ``predict_one`` gives one patient,
without a Python loop over patients (tests/model/test_predict_cohort.py holds the two to each other).

Rows: one per patient and line the model applies to.

* ``first_line_response`` (logistic, logistic-l2, logistic-prior, gbm) and ``time_to_response`` (Cox): line 1
  of every patient with a ``features.parquet`` row (predictors at line 1's start, the index date);
* ``loss_of_response`` (Cox): line 1 of the patients whose line 1 responded (R or CR with a time): the model's
  origin is the day of response;
* a model folder with landmark models (:mod:`.landmark`): also one row per landmark day L and line 1 at risk
  at L (``landmarks.parquet`` of the derived folder), scored by the landmark-L model (``landmark_day`` = L).

Intervals (the model's own method, as in :mod:`.predict`): logistic - 95% delta-method interval on the
linear predictor (coefficient covariance); Cox - the same on the Cox linear predictor, baseline hazard
uncertainty not included; gradient boosting - 2.5th-97.5th percentiles over the stored bootstrap refits
(``interval_missing_reason`` says why when there are fewer than two).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from sleitp.errors import SourceError
from sleitp.model.binary.landmark import landmark_models, landmark_rows
from sleitp.model.dataset import _as_float, _require, read_table
from sleitp.model.performance import auc_with_ci

__all__ = ["PREDICTIONS_SCHEMA", "ScoredCohort", "score_cohort", "score_frame"]

PREDICTIONS_SCHEMA = pa.schema(
    [
        ("patient_id", pa.string()),
        ("line", pa.int32()),
        ("landmark_day", pa.int32()),  # null: the baseline model (predictors at the line's start)
        ("model", pa.string()),
        ("outcome", pa.string()),
        ("horizon_days", pa.int32()),  # Cox: P(event by this day); null for binary outcomes
        ("probability", pa.float64()),
        ("ci_low", pa.float64()),
        ("ci_high", pa.float64()),
        ("interval_method", pa.string()),
        ("interval_missing_reason", pa.string()),  # null when the interval is given
        ("not_measured", pa.int32()),  # how many of the model's predictors were not measured (imputed)
        ("observed", pa.int8()),  # binary outcomes: the line's IWG response (1 R/CR, 0 NR; null NE)
    ]
)
_RESPONDED = {"CR": 1, "R": 1, "NR": 0}


@dataclass
class ScoredCohort:
    frame: pd.DataFrame  # the columns of PREDICTIONS_SCHEMA
    excluded: dict[str, int] = field(default_factory=dict)
    models: list[str] = field(default_factory=list)

    def to_arrow(self, metadata: dict) -> pa.Table:
        t = pa.Table.from_pandas(self.frame, schema=PREDICTIONS_SCHEMA, preserve_index=False)
        return t.replace_schema_metadata({b"sleitp": json.dumps(metadata, sort_keys=True).encode()})

    def summary(self) -> list[dict]:
        """Per model and landmark: rows, mean probability, observed events and, where the outcome is known
        (binary models), the AUC with its DeLong 95% CI [DELONG1988]; for a landmark model also the baseline
        model's AUC on the same lines (``baseline_auc_same_lines``: what the trajectory adds)."""
        out = []
        f = self.frame
        base = f[f["landmark_day"].isna()].set_index(["patient_id", "line"])["probability"]
        for (name, lm), g in f.groupby(["model", f["landmark_day"].fillna(-1)], sort=False):
            known = g[g["observed"].notna()]
            y = known["observed"].astype(int).to_numpy()
            row = {
                "model": name, "landmark_day": None if lm == -1 else int(lm), "rows": len(g),
                "mean_probability": float(g["probability"].mean()),
                "with_interval": int(g["ci_low"].notna().sum()),
                "observed_n": len(known), "observed_events": int(y.sum()),
                "auc": _auc(y, known["probability"].to_numpy()),
            }
            if lm != -1:
                keys = pd.MultiIndex.from_frame(known[["patient_id", "line"]])
                row["baseline_auc_same_lines"] = _auc(y, base.reindex(keys).to_numpy())
            out.append(row)
        return out


def _auc(y: np.ndarray, p: np.ndarray) -> dict | None:
    ok = np.isfinite(p)
    y, p = y[ok], p[ok]
    if y.size == 0 or y.min() == y.max():
        return None
    est, lo, hi = auc_with_ci(y, p)
    return {"estimate": est, "ci_low": lo, "ci_high": hi}


def score_frame(model, X: pd.DataFrame) -> dict[str, np.ndarray | str | None]:
    """probability, ci_low, ci_high (arrays), interval_method and interval_missing_reason for every row of X
    (a column per predictor of the model's design, NaN = not measured), set-based: ``model.score``."""
    return model.score(X)


def _rows(model, X: pd.DataFrame, keys: pd.DataFrame, *, landmark_day: int | None, observed) -> pd.DataFrame:
    s = score_frame(model, X)
    n = len(X)
    horizon = model.horizon_days  # None: a binary outcome
    missing = X[model.design.predictors].isna().sum(axis=1).to_numpy() if model.design.predictors else 0
    return pd.DataFrame(
        {
            "patient_id": keys["patient_id"].astype(str).to_numpy(),
            "line": keys["line"].astype("int32").to_numpy(),
            "landmark_day": pd.array([landmark_day] * n, dtype="Int32"),
            "model": model.name,
            "outcome": model.outcome,
            "horizon_days": pd.array([horizon] * n, dtype="Int32"),
            "probability": np.asarray(s["probability"], dtype=float),
            "ci_low": np.asarray(s["ci_low"], dtype=float),
            "ci_high": np.asarray(s["ci_high"], dtype=float),
            "interval_method": s["interval_method"],
            "interval_missing_reason": s["interval_missing_reason"],
            "not_measured": np.asarray(missing, dtype="int32") * np.ones(n, dtype="int32"),
            "observed": pd.array(observed, dtype="Int8"),
        }
    )


def score_cohort(model, derived_dir: str | Path) -> ScoredCohort:
    """Score every patient and line of DERIVED_DIR the model applies to (see the module docstring)."""
    d = Path(derived_dir)
    if not d.is_dir():
        raise SourceError(f"{d}: not a directory (expected the output folder of `sleitp cohort derive`)")
    f_path, r_path = d / "features.parquet", d / "responses.parquet"
    feats, resp = read_table(f_path), read_table(r_path)
    names = model.design.predictors
    _require(feats, ["patient_id", *names], f_path)
    _require(resp, ["patient_id", "line", "category", "time_to_response_days"], r_path)
    if feats["patient_id"].duplicated().any():
        dup = feats.loc[feats["patient_id"].duplicated(), "patient_id"].iloc[0]
        raise SourceError(f"{f_path}: patient_id {dup!r} appears more than once (expected one row a patient)")
    first = resp[resp["line"] == 1]
    m = feats.merge(first[["patient_id", "line", "category", "time_to_response_days"]], on="patient_id",
                    how="left", indicator=True)
    excluded = {"no_first_line": int((m["_merge"] == "left_only").sum())}
    m = m[m["_merge"] == "both"].reset_index(drop=True)
    responded = m["category"].isin(["R", "CR"]) & m["time_to_response_days"].notna()
    if model.outcome == "loss_of_response":
        excluded["not_responders"] = int((~responded).sum())
        m = m[responded].reset_index(drop=True)
    X = pd.DataFrame({n: _as_float(m[n], f_path, n) for n in names})
    binary = model.horizon_days is None  # the outcome is the line's response, known from responses.parquet
    observed = m["category"].map(_RESPONDED).astype("Float64") if binary else [None] * len(m)
    frames = [_rows(model, X, m, landmark_day=None, observed=observed)]
    used = [model.name]

    lms = landmark_models(model)
    if lms:
        for day, lm in sorted(lms.items()):
            keys, XL, obs = landmark_rows(lm, d, day)
            frames.append(_rows(lm, XL, keys, landmark_day=day, observed=obs))
            used.append(lm.name)
    frame = pd.concat(frames, ignore_index=True)
    return ScoredCohort(frame, excluded, used)
