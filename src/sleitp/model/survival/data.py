"""A derived cohort -> the time-to-event data of a Cox model (docs/model.md "Time-to-event outcomes").

Both outcomes use line 1 of ``responses.parquet`` (one row a patient and line) joined to
``features.parquet`` (the predictors at the first line's start), exactly as the binary outcome does.

- ``time_to_response``: origin = the first line's ``start``. Event = the line reached R or CR
  [IWG2009] ("time from starting treatment to time of achievement of CR or R"), at
  ``time_to_response_days``. No response (NR): censored at ``evaluation_end`` (days from ``start``).
- ``loss_of_response``: only line-1 responders (R or CR). Origin = ``start`` + ``time_to_response_days``
  (the day response was reached). Event = ``loss_of_response_date`` (days from the origin); otherwise
  censored at ``evaluation_end`` (days from the origin).

Excluded and counted, never silently: no first line, no features row, NE (not evaluable) line 1,
(loss_of_response) non-responders, a responder without ``time_to_response_days``, a row without a usable
``evaluation_end``, and a negative time (an end before the origin: inconsistent data).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sleitp.errors import SourceError
from sleitp.model.dataset import (
    PatientData,
    _as_float,
    _require,
    first_lines,
    index_date_range,
    read_derived,
)

__all__ = ["SURVIVAL_OUTCOMES", "SurvivalDataset", "load_survival_cohort"]

SURVIVAL_OUTCOMES = {
    "time_to_response": "days from the first line's start to IWG response (R or CR) [IWG2009]; "
    "non-responders (NR) censored at the line's evaluation end; NE excluded",
    "loss_of_response": "among first-line responders (R or CR): days from the day response was reached "
    "(start + time_to_response_days) to loss_of_response_date; censored at the line's evaluation end",
}
CENSORING = {
    "time_to_response": "no response (NR): censored at evaluation_end - start (days)",
    "loss_of_response": "no loss of response: censored at "
    "evaluation_end - (start + time_to_response_days) (days)",
}
_RESPONDED = {"R", "CR"}


@dataclass
class SurvivalDataset(PatientData):
    X: pd.DataFrame  # one row a patient, predictor columns, float (NaN = not measured)
    time: np.ndarray  # days, float
    event: np.ndarray  # 0/1
    patient_ids: list[str]
    outcome: str
    source: str
    excluded: dict[str, int] = field(default_factory=dict)
    index_dates: tuple[str | None, str | None] = (None, None)

    outcome_events = property(lambda self: self.event)

    @property
    def censored(self) -> int:
        return self.n - self.events


def _days(later: pd.Series, earlier: pd.Series) -> pd.Series:
    return (pd.to_datetime(later) - pd.to_datetime(earlier)).dt.days.astype(float)


def load_survival_cohort(
    cohort_dir: str | Path, *, outcome: str, predictors: list[str] | None = None
) -> SurvivalDataset:
    """Read COHORT_DIR and build the time-to-event data of ``outcome`` (see the module docstring)."""
    if outcome not in SURVIVAL_OUTCOMES:
        raise SourceError(
            f"outcome {outcome!r} is not a time-to-event outcome "
            f"(expected one of: {', '.join(SURVIVAL_OUTCOMES)})"
        )
    names, feats, resp, f_path, r_path = read_derived(cohort_dir, predictors)
    needed = ["patient_id", "line", "category", "start", "time_to_response_days", "evaluation_end"]
    if outcome == "loss_of_response":
        needed.append("loss_of_response_date")
    _require(resp, needed, r_path)
    first = first_lines(feats, resp, f_path, r_path)
    cols = [c for c in needed if c != "line"]
    m = feats.merge(first[cols], on="patient_id", how="outer", indicator=True)
    excluded = {
        "no_first_line": int((m["_merge"] == "left_only").sum()),
        "no_features_row": int((m["_merge"] == "right_only").sum()),
    }
    m = m[m["_merge"] == "both"]
    excluded["not_evaluable"] = int((m["category"] == "NE").sum())
    m = m[m["category"] != "NE"]
    responded = m["category"].isin(_RESPONDED)
    ttr = pd.to_numeric(m["time_to_response_days"], errors="coerce").astype(float)
    # a responder must carry the day of response; without it neither outcome has a time
    no_time = responded & ttr.isna()
    excluded["responder_without_time_to_response"] = int(no_time.sum())
    m, ttr, responded = m[~no_time], ttr[~no_time], responded[~no_time]
    follow = _days(m["evaluation_end"], m["start"])  # days from the line's start to its evaluation end
    if outcome == "time_to_response":
        # [IWG2009] time to response: from starting treatment to achievement of CR or R
        event = responded.astype(int)
        time = ttr.where(responded, follow)  # NR: censored at evaluation_end
    else:
        excluded["not_responders"] = int((~responded).sum())
        m, ttr, follow = m[responded], ttr[responded], follow[responded]
        loss = _days(m["loss_of_response_date"], m["start"]) - ttr  # days from the day of response
        event = loss.notna().astype(int)
        time = loss.where(loss.notna(), follow - ttr)  # no loss: censored at evaluation_end
    no_end = time.isna()
    excluded["no_evaluation_end"] = int(no_end.sum())
    negative = time < 0
    excluded["negative_time"] = int(negative.sum())
    keep = ~(no_end | negative)
    m, time, event = m[keep].reset_index(drop=True), time[keep].to_numpy(float), event[keep].to_numpy(int)
    X = pd.DataFrame({name: _as_float(m[name], f_path, name) for name in names})
    return SurvivalDataset(
        X=X,
        time=time,
        event=event,
        patient_ids=m["patient_id"].astype(str).tolist(),
        outcome=outcome,
        source=str(cohort_dir),
        excluded=excluded,
        index_dates=index_date_range(m),
    )
