"""Landmark data (``sleitp cohort landmarks SOURCE DERIVED --days 3,7,14``): the first line's platelet
trajectory up to each landmark day, in the engine, for the lines still at risk then (docs/landmark.md).

A landmark data set [VANHOUWELINGEN2007] holds the patients still at risk at the landmark day L, with what
has been observed by then fixed at its value on day L. Here, per landmark day L and **line 1**:

* **at risk at L**: the line is still evaluated on day L (``evaluation_end - start >= L``: no next line and
  follow-up through day L) and has **no confirmed response by day L**. A response is confirmed by a second
  count at least 7 days after the first [IWG2009], so a line with ``time_to_response_days = t`` is known
  to have responded from day t + 7 at the earliest: at risk when ``t`` is null or ``t + 7 > L``. (The
  bedside sees a response only once it is confirmed, so this is the set a day-L prediction is made for.)
* trajectory, from the daily counts (the lowest count of a day, as for the IWG baseline; only plausible
  values, ``derive_iwg.platelet_counts``), day k = date - start:
  - ``latest_platelets``: the count of the latest day with k in [-30, L] (the baseline window, then the
    line's first L days): the last count known on day L;
  - ``fold_change_platelets``: ``latest_platelets / baseline_platelets`` (null without a baseline > 0);
  - ``days_platelets_ge_30``: the number of days with k in [1, L] and a count >= 30 (x10^9/L; the IWG R
    threshold [IWG2009]);
  - ``platelet_slope``: the least-squares slope of count on day over the days with k in [0, L] (per day;
    null with fewer than 2 such days);
  - ``counts_by_landmark``: the number of days with a count with k in [0, L].

Every step is an Ibis expression over all lines at once (DuckDB or Spark); the single-patient reference is
``sleitp.model.binary.landmark.bedside_trajectory`` (tests/model/binary/test_landmark.py holds them to each
other).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import ibis
import pyarrow as pa

from sleitp.cohort.derive.iwg import platelet_counts
from sleitp.cohort.engine import Engine, connect
from sleitp.cohort.sources import open_source
from sleitp.errors import SourceError

CONFIRM_DAYS = 7  # [IWG2009] "two occasions at least 7 days apart": the earliest day a response is known
LOOKBACK_DAYS = 30  # the IWG baseline window (spec/record.md), for the latest count known at the landmark
R_THRESHOLD = 30.0  # [IWG2009] R: platelets >= 30 x10^9/L (and doubling)
TRAJECTORY = ("latest_platelets", "fold_change_platelets", "days_platelets_ge_30", "platelet_slope")
LANDMARKS_FILE = "landmarks.parquet"
LANDMARKS = pa.schema(
    [
        ("patient_id", pa.string()),
        ("line", pa.int32()),
        ("landmark_day", pa.int32()),
        ("latest_platelets", pa.float64()),
        ("fold_change_platelets", pa.float64()),
        ("days_platelets_ge_30", pa.float64()),
        ("platelet_slope", pa.float64()),
        ("counts_by_landmark", pa.int32()),
    ]
)

__all__ = ["CONFIRM_DAYS", "LANDMARKS", "LANDMARKS_FILE", "TRAJECTORY", "landmark_table", "write_landmarks"]


def parse_days(text: str | list[int]) -> list[int]:
    """``"3,7,14"`` -> [3, 7, 14] (sorted, distinct, each >= 1); a SourceError otherwise."""
    items = text if isinstance(text, list) else [x.strip() for x in str(text).split(",") if x.strip()]
    try:
        days = sorted({int(x) for x in items})
    except ValueError:
        raise SourceError(
            f"--days: {text!r} is not a comma-separated list of whole days (e.g. 3,7,14)"
        ) from None
    if not days or days[0] < 1:
        raise SourceError(f"--days: {text!r}: give at least one landmark day, each 1 or more")
    return days


def landmark_table(responses: ibis.Table, counts: ibis.Table, days: list[int], engine: Engine) -> ibis.Table:
    """The columns of :data:`LANDMARKS` for every line 1 at risk at each of ``days`` (module docstring)."""
    r = responses.filter(responses.line == 1)
    lines = r.select(
        "patient_id",
        "start",
        "baseline_platelets",
        "time_to_response_days",
        line=r.line.cast("int32"),
        evaluated=r.evaluation_end.delta(r.start, unit="day"),
    )
    grid = engine.lookup_table([{"landmark_day": float(d)} for d in days], {"landmark_day": "float64"})
    grid = grid.select(landmark_day=grid.landmark_day.cast("int32"))
    at = lines.cross_join(grid)
    ttr = at.time_to_response_days
    at = engine.materialize(
        at.filter(
            at.evaluated.notnull(),
            at.evaluated >= at.landmark_day,
            ttr.isnull() | (ttr + CONFIRM_DAYS > at.landmark_day),
        ).select("patient_id", "line", "start", "baseline_platelets", "landmark_day")
    )
    daily = counts.group_by(["patient_id", "date"]).agg(plt=counts.platelets.min())
    j = at.select("patient_id", "line", "landmark_day", s=at.start).join(daily, "patient_id")
    j = j.mutate(k=j.date.delta(j.s, unit="day").cast("float64"))
    j = j.filter(j.k >= -LOOKBACK_DAYS, j.k <= j.landmark_day)
    on = j.k >= 0
    agg = j.group_by(["patient_id", "line", "landmark_day"]).agg(
        latest=engine.arg_max(j.plt, j.k),
        n=on.cast("int64").sum(),
        sk=j.k.sum(where=on),
        sy=j.plt.sum(where=on),
        sky=(j.k * j.plt).sum(where=on),
        skk=(j.k * j.k).sum(where=on),
        ge30=((j.k >= 1) & (j.plt >= R_THRESHOLD)).cast("int64").sum(),
    )
    x = at.left_join(agg, ["patient_id", "line", "landmark_day"])
    n = x.n.fill_null(0)
    denominator = n * x.skk - x.sk * x.sk
    slope = ibis.cases(((n >= 2) & (denominator > 0), (n * x.sky - x.sk * x.sy) / denominator), else_=None)
    fold = ibis.cases((x.baseline_platelets > 0, x.latest / x.baseline_platelets), else_=None)
    return x.select(
        patient_id=x.patient_id,
        line=x.line,
        landmark_day=x.landmark_day,
        latest_platelets=x.latest.cast("float64"),
        fold_change_platelets=fold.cast("float64"),
        days_platelets_ge_30=x.ge30.fill_null(0).cast("float64"),
        platelet_slope=slope.cast("float64"),
        counts_by_landmark=n.cast("int32"),
    )


def write_landmarks(
    source: str | Path,
    derived: str | Path,
    days: list[int],
    *,
    backend: str = "duckdb",
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Compute :func:`landmark_table` from ``source`` (the counts) and ``derived/responses.parquet`` (the
    lines, from a `cohort derive` of the same source) and write ``derived/landmarks.parquet`` (an existing
    one only with ``overwrite``)."""
    derived = Path(derived)
    rpath = derived / "responses.parquet"
    if not rpath.exists():
        raise SourceError(f"{rpath}: not found; expected the output folder of `sleitp cohort derive`")
    if (derived / LANDMARKS_FILE).exists() and not overwrite:
        raise SourceError(f"{derived / LANDMARKS_FILE} exists; give --overwrite to replace it")
    eng = connect(backend)
    try:
        src = open_source(source, eng)
        if progress:
            progress("read")
        files = sorted(rpath.glob("*.parquet")) if rpath.is_dir() else [rpath]
        responses = eng.read_parquet(files)
        missing = [c for c in ("patient_id", "line", "start", "baseline_platelets", "time_to_response_days",
                               "evaluation_end") if c not in responses.columns]
        if missing:
            raise SourceError(f"{rpath}: missing column(s) {', '.join(missing)}")
        ids = src.tables.patients.select("patient_id")
        stray = eng.count(responses.filter(responses.line == 1).anti_join(ids, "patient_id"))
        if stray:
            raise SourceError(
                f"{rpath}: {stray} first line(s) belong to patients not in {source}; derive that folder "
                f"from this source (`sleitp cohort derive {source} --out ...`)"
            )
        table = landmark_table(responses, platelet_counts(src.tables.labs), days, eng)
        n = eng.write_parquet(table, derived / LANDMARKS_FILE, LANDMARKS)
        if progress:
            progress("landmarks")
        per_day = eng.to_arrow(table.group_by("landmark_day").agg(n=table.count())).to_pylist()
        return {"out": str(derived / LANDMARKS_FILE), "rows": n, "days": days,
                "at_risk": {int(r["landmark_day"]): int(r["n"]) for r in per_day}}
    finally:
        eng.close()
