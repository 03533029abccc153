"""How old the data behind an assessment are, at the assessment date.

Every assessment states the age in days of the latest platelet count and of the latest result of every
other lab test the record holds (the inputs the rules read: HBsAg, ALT, aPL, complement, ...), all on or
before the assessment date.

**Limit: a platelet count older than 7 days is stale** (:data:`STALE_PLATELET_DAYS`). This is a project
choice, not a sourced threshold: no source read for sleitp states how recent "a current count" must be
(searched, not found; docs/cli.md "Data age"). Seven days is the window sleitp already takes as "now" for
bleeding (``ScoreOptions.bleeding_window_days``), and the setting rules act on the latest count as the
patient's present state (emergency below 20, admission, first line), which a count older than a week
does not describe in a disease whose counts can fall within days. Day 7 is still current; day 8 is stale.
Beyond the limit the outputs warn: "needs a current count".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sleitp.instruments.iwg import CURRENT_COUNT_DAYS
from sleitp.score import ScoreReport

__all__ = ["STALE_PLATELET_DAYS", "DataAge", "InputAge", "data_age"]

# project choice (module docstring; docs/cli.md "Data age"); not sourced. Defined with the IWG instrument,
# which judges a line by a current count (iwg.CURRENT_COUNT_DAYS): one limit for "current"
STALE_PLATELET_DAYS = CURRENT_COUNT_DAYS


@dataclass(frozen=True)
class InputAge:
    input: str  # a lab test name (record vocabulary)
    date: date
    days: int

    def to_json(self) -> dict:
        return {"input": self.input, "date": self.date.isoformat(), "days": self.days}


@dataclass(frozen=True)
class DataAge:
    platelets_days: int | None  # None: no platelet count on or before the assessment date
    stale: bool
    message: str
    inputs: tuple[InputAge, ...] = field(default_factory=tuple)

    def to_json(self) -> dict:
        return {"platelets_days": self.platelets_days, "stale": self.stale, "message": self.message,
                "inputs": [i.to_json() for i in self.inputs]}


def data_age(report: ScoreReport, limit_days: int = STALE_PLATELET_DAYS) -> DataAge:
    """The age of the latest platelet count and of every other latest lab result at the assessment date."""
    day = report.assessment_date
    latest: dict[str, date] = {}
    for lab in report.record.labs:
        if lab.date <= day and (lab.value is not None or getattr(lab, "result", None) is not None):
            latest[lab.test] = max(lab.date, latest.get(lab.test, lab.date))
    inputs = tuple(InputAge(t, d, (day - d).days) for t, d in sorted(latest.items(), key=lambda kv: kv[0]))
    plt_date = report.platelets.latest_date
    if plt_date is None:
        return DataAge(None, True, "no platelet count on or before the assessment date: needs a current "
                       "count", inputs)
    days = (day - plt_date).days
    stale = days > limit_days
    if stale:
        msg = (f"the latest platelet count is {days} days old (from {plt_date.isoformat()}; limit "
               f"{limit_days} days): needs a current count before acting on this assessment")
    else:
        unit = "day" if days == 1 else "days"
        msg = f"the latest platelet count is {days} {unit} old ({plt_date.isoformat()})"
    return DataAge(days, stale, msg, inputs)
