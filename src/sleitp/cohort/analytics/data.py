"""Reading a ``cohort derive`` output directory for analysis, and the outcomes analysed.

A derive directory holds ``responses.parquet`` (one row a patient and line) and ``features.parquet``
(one row a patient: the predictors at the first line's start), spec/cli.md. Missing files or columns
are a :class:`~sleitp.errors.SourceError` that names the file and the column. Frames are read fresh
and only copies are handed to libraries (tableone is known to mutate its input, software.md #205).

Outcome ``first_line_response`` [IWG2009]: line 1 reached R or CR -> 1; NR -> 0; NE (not evaluable) or
no first line -> excluded, and the number excluded is always reported, never dropped in silence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from sleitp.cohort.tables import FEATURES_SCHEMA, RESPONSES
from sleitp.errors import SourceError
from sleitp.features import FEATURES

RESPONSE_COLUMNS = tuple(RESPONSES.names)
FEATURE_COLUMNS = tuple(FEATURES_SCHEMA.names)
OUTCOMES = ("first_line_response",)
BINARY = tuple(f.name for f in FEATURES if f.kind == "binary")
NUMERIC = tuple(f.name for f in FEATURES if f.kind == "numeric")
UNITS = {f.name: f.unit for f in FEATURES}


@dataclass(frozen=True)
class DerivedCohort:
    """The two tables of a derive directory (read-only by convention: analyses work on copies)."""

    source: str
    responses: pd.DataFrame
    features: pd.DataFrame

    def patients(self) -> pd.DataFrame:
        """One row a patient: the features plus line 1's category and the outcome ``first_line_response``
        (1.0 / 0.0 / NaN when not evaluable or no first line). A new frame every call."""
        first = self.responses.loc[self.responses["line"] == 1, ["patient_id", "category"]]
        out = self.features.merge(
            first.rename(columns={"category": "first_line_category"}), on="patient_id", how="left"
        )
        cat = out["first_line_category"]
        # [IWG2009] R or CR = response; NR = no response; NE / no line = not evaluable
        out["first_line_response"] = cat.map({"CR": 1.0, "R": 1.0, "NR": 0.0})
        return out


@dataclass(frozen=True)
class Exclusions:
    """Patients left out of an analysis, per reason (stated in every output)."""

    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_json(self) -> dict:
        return {"total": self.total, "by_reason": dict(self.counts)}


def _read(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    if not path.is_file():
        raise SourceError(
            f"{path}: not found; expected the output of `sleitp cohort derive` "
            f"(responses.parquet and features.parquet)"
        )
    try:
        schema = pq.read_schema(path)
    except Exception as e:  # pyarrow raises several types for a file that is not parquet
        raise SourceError(f"{path}: not a readable parquet file ({e})") from None
    missing = [c for c in columns if c not in schema.names]
    if missing:
        raise SourceError(f"{path}: missing column(s) {', '.join(missing)} (expected {', '.join(columns)})")
    return pq.read_table(path).to_pandas()


def load_derived(directory: str | Path) -> DerivedCohort:
    """Read ``DIR/responses.parquet`` and ``DIR/features.parquet``."""
    d = Path(directory)
    if not d.is_dir():
        raise SourceError(f"{d}: not a directory; expected the output directory of `sleitp cohort derive`")
    responses = _read(d / "responses.parquet", RESPONSE_COLUMNS)
    features = _read(d / "features.parquet", FEATURE_COLUMNS)
    if features["patient_id"].duplicated().any():
        dup = features.loc[features["patient_id"].duplicated(), "patient_id"].iloc[0]
        raise SourceError(
            f"{d / 'features.parquet'}: patient_id {dup!r} appears more than once "
            f"(expected one row a patient)"
        )
    for c in BINARY:  # nullable booleans: keep "not measured" as missing, never as False
        features[c] = features[c].astype("boolean")
    for c in NUMERIC:
        features[c] = pd.to_numeric(features[c], errors="raise").astype("float64")
    return DerivedCohort(str(d), responses, features)


def outcome_frame(cohort: DerivedCohort, outcome: str) -> tuple[pd.DataFrame, Exclusions]:
    """Patients with an evaluable ``outcome`` (column ``outcome`` as 0/1) and the exclusions, per reason."""
    if outcome not in OUTCOMES:
        raise SourceError(f"--outcome: {outcome!r} is not an outcome (expected one of {', '.join(OUTCOMES)})")
    p = cohort.patients()
    cat = p["first_line_category"]
    excl = Exclusions(
        {
            "line 1 not evaluable (NE)": int((cat == "NE").sum()),
            "no treatment line": int(cat.isna().sum()),
        }
    )
    return p.loc[p[outcome].notna()].reset_index(drop=True), excl


__all__ = [
    "BINARY",
    "FEATURE_COLUMNS",
    "NUMERIC",
    "OUTCOMES",
    "RESPONSE_COLUMNS",
    "UNITS",
    "DerivedCohort",
    "Exclusions",
    "load_derived",
    "outcome_frame",
]
