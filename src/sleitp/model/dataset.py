"""A derived cohort (``sleitp cohort derive`` output) -> the predictors X and the outcome y of a model.

COHORT_DIR holds ``features.parquet`` (one row a patient: ``patient_id``, ``index_date``,
``first_line_agents`` and the predictors of :data:`sleitp.features.FEATURES`) and ``responses.parquet``
(one row a patient and treatment line, with the IWG ``category``).

Index date (``sleitp.features.index_date``): the predictors are those at line 1's start, the same date the
bedside model reads them; ``load_cohort`` refuses a folder where ``index_date`` and line 1's ``start``
differ.

Outcome ``first_line_response`` (docs/model.md): the first line's IWG category [IWG2009] R or CR -> 1,
NR -> 0; NE (not evaluable) is excluded, and so is a patient without a first line or without a
features row. Every exclusion is counted and reported in the model card; no row is ever dropped
silently. Missing predictor values stay missing (NaN) here; the design step decides what to do with them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from sleitp.errors import SourceError
from sleitp.features import FEATURE_NAMES

__all__ = ["OUTCOMES", "Dataset", "load_cohort", "read_table"]

# [IWG2009] response categories of a treatment line; spec/record.md "responses"
_RESPONDED = {"CR": 1, "R": 1, "NR": 0}
_NOT_EVALUABLE = "NE"
IWG_CATEGORIES = (*_RESPONDED, _NOT_EVALUABLE)
OUTCOMES = {
    "first_line_response": "IWG response (R or CR) of the first treatment line; NR = no response; "
    "NE (not evaluable) excluded [IWG2009]",
}


class PatientData:
    """What every modelling data set has (``X``: one row a patient; ``outcome_events``: 0/1 a patient, the
    response or the event): the number of patients, of events, and the missing predictor values."""

    X: pd.DataFrame
    outcome_events: np.ndarray

    @property
    def n(self) -> int:
        return int(self.outcome_events.size)

    @property
    def events(self) -> int:
        return int(self.outcome_events.sum())

    def missingness(self) -> list[dict]:
        """Per predictor: how many values are missing (TRIPOD item 13b)."""
        return predictor_missingness(self.X, self.n)


@dataclass
class Dataset(PatientData):
    """Predictors, outcome and the bookkeeping of who was left out and why."""

    X: pd.DataFrame  # one row a patient, columns = predictor names, float (NaN = not measured)
    y: np.ndarray  # 0/1
    patient_ids: list[str]
    outcome: str
    source: str
    excluded: dict[str, int] = field(default_factory=dict)  # reason -> number of patients
    index_dates: tuple[str | None, str | None] = (None, None)  # first and last index date (TRIPOD 4b)

    outcome_events = property(lambda self: self.y)


def read_table(path: Path) -> pd.DataFrame:
    """One parquet table, or its ``NAME-*.parquet`` parts, as pandas; a clear SourceError otherwise."""
    parts = [path] if path.exists() else sorted(path.parent.glob(f"{path.stem}-*.parquet"))
    if not parts:
        raise SourceError(f"{path}: file not found (expected the output of `sleitp cohort derive`)")
    try:
        frames = [pq.read_table(p).to_pandas() for p in parts]
    except Exception as e:  # noqa: BLE001  any arrow/IO failure becomes one readable message
        raise SourceError(f"{path}: cannot be read as Parquet ({type(e).__name__}: {e})") from None
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _require(df: pd.DataFrame, columns: list[str], path: Path) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise SourceError(
            f"{path}: missing column(s) {', '.join(missing)}; expected at least "
            f"{', '.join(columns)} (spec/cli.md, `sleitp cohort derive`)"
        )


def index_date_range(rows: pd.DataFrame) -> tuple[str | None, str | None]:
    """First and last index date of the patients kept (the model card's period of the data)."""
    if "index_date" not in rows.columns or not rows["index_date"].notna().any():
        return (None, None)
    d = pd.to_datetime(rows["index_date"])
    return (str(d.min().date()), str(d.max().date()))


def _as_float(series: pd.Series, path: Path, name: str) -> pd.Series:
    """bool / int / float (nullable) -> float with NaN for missing; anything else is an error."""
    s = series
    if s.dtype == object:
        bad = s.dropna().map(
            lambda v: not isinstance(v, (bool, int, float, np.bool_, np.integer, np.floating))
        )
        if bad.any():
            row = int(bad[bad].index[0])
            raise SourceError(
                f"{path}: row {row}, column {name!r}: {s.iloc[row]!r} is not a number or true/false"
            )
    try:
        return pd.to_numeric(s.astype("Float64"), errors="raise").astype(float)
    except (TypeError, ValueError) as e:
        raise SourceError(f"{path}: column {name!r} is not numeric or true/false ({e})") from None


def read_derived(cohort_dir: str | Path, predictors: list[str] | None):
    """The output of `sleitp cohort derive` -> (predictor names, features frame, responses frame, and their
    paths), with clear errors for a missing folder, unknown predictors or missing predictor columns."""
    cohort_dir = Path(cohort_dir)
    if not cohort_dir.is_dir():
        raise SourceError(
            f"{cohort_dir}: not a directory (expected the output folder of `sleitp cohort derive`)"
        )
    names = list(predictors) if predictors else list(FEATURE_NAMES)
    unknown = [p for p in names if p not in FEATURE_NAMES]
    if unknown:
        raise SourceError(
            f"unknown predictor(s) {', '.join(unknown)} (expected names of sleitp.features.FEATURES)"
        )
    f_path, r_path = cohort_dir / "features.parquet", cohort_dir / "responses.parquet"
    feats, resp = read_table(f_path), read_table(r_path)
    _require(feats, ["patient_id", *names], f_path)
    return names, feats, resp, f_path, r_path


def first_lines(feats: pd.DataFrame, resp: pd.DataFrame, f_path: Path, r_path: Path) -> pd.DataFrame:
    """Line 1 of each patient (the rows of ``resp`` with line 1), after the checks every outcome needs: one
    features row a patient, one line 1 a patient, an IWG category [IWG2009] on each line 1."""
    dup = feats["patient_id"][feats["patient_id"].duplicated()]
    if len(dup):
        raise SourceError(
            f"{f_path}: patient_id {dup.iloc[0]!r} appears more than once (expected one row a patient)"
        )
    first = resp[resp["line"] == 1]
    dup = first["patient_id"][first["patient_id"].duplicated()]
    if len(dup):
        raise SourceError(f"{r_path}: patient_id {dup.iloc[0]!r} has more than one line 1")
    bad = first[~first["category"].isin(IWG_CATEGORIES)]
    if len(bad):
        row = int(bad.index[0])
        raise SourceError(
            f"{r_path}: row {row}, column 'category': {bad['category'].iloc[0]!r} is not an IWG "
            "category (expected CR, R, NR or NE)"
        )
    return first


def predictor_missingness(X: pd.DataFrame, n: int) -> list[dict]:
    """Per predictor: how many of the n patients have no value (TRIPOD item 13b)."""
    out = []
    for name in X.columns:
        k = int(X[name].isna().sum())
        out.append({"name": name, "missing_n": k, "missing_fraction": round(k / max(n, 1), 4)})
    return out


def _same_index_date(feats: pd.DataFrame, first: pd.DataFrame, f_path: Path, r_path: Path) -> None:
    """One index date (sleitp.features.index_date): the predictors of a patient were read at the start of
    their line 1, the line whose outcome is modelled, as at the bedside. A folder where they differ was not
    written by one `sleitp cohort derive` run: an error, not a silent mismatch."""
    if "index_date" not in feats.columns or "start" not in first.columns:
        return
    j = feats[["patient_id", "index_date"]].merge(first[["patient_id", "start"]], on="patient_id")
    j = j[j["index_date"].notna() & j["start"].notna()]
    bad = j[pd.to_datetime(j["index_date"]) != pd.to_datetime(j["start"])]
    if len(bad):
        row = bad.iloc[0]
        raise SourceError(
            f"{f_path}: patient_id {row['patient_id']!r} has index_date {row['index_date']} but line 1 "
            f"starts on {row['start']} in {r_path.name}; the predictors must be read at line 1's start "
            f"(re-run `sleitp cohort derive`)"
        )


def load_cohort(
    cohort_dir: str | Path, *, outcome: str = "first_line_response", predictors: list[str] | None = None
) -> Dataset:
    """Read COHORT_DIR and build the modelling data set of ``outcome``."""
    if outcome not in OUTCOMES:
        raise SourceError(f"outcome {outcome!r} is not supported (expected one of: {', '.join(OUTCOMES)})")
    names, feats, resp, f_path, r_path = read_derived(cohort_dir, predictors)
    _require(resp, ["patient_id", "line", "category"], r_path)

    first = first_lines(feats, resp, f_path, r_path)
    _same_index_date(feats, first, f_path, r_path)
    merged = feats.merge(first[["patient_id", "category"]], on="patient_id", how="outer", indicator=True)
    excluded = {
        "no_first_line": int((merged["_merge"] == "left_only").sum()),
        "no_features_row": int((merged["_merge"] == "right_only").sum()),
        "not_evaluable": int(((merged["_merge"] == "both") & (merged["category"] == _NOT_EVALUABLE)).sum()),
    }
    keep = merged[(merged["_merge"] == "both") & (merged["category"] != _NOT_EVALUABLE)].reset_index(
        drop=True
    )
    X = pd.DataFrame({name: _as_float(keep[name], f_path, name) for name in names})
    y = keep["category"].map(_RESPONDED).to_numpy(dtype=int)
    return Dataset(
        X=X,
        y=y,
        patient_ids=keep["patient_id"].astype(str).tolist(),
        outcome=outcome,
        source=str(cohort_dir),
        excluded=excluded,
        index_dates=index_date_range(keep),
    )
