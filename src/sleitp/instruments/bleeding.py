"""WHO bleeding grade at the assessment date: the worst grade recorded in a look-back window [WHO-BLEED]."""

from __future__ import annotations

import datetime as dt

from sleitp.instruments._base import Result
from sleitp.record import PatientRecord

# The look-back window of "the worst WHO bleeding grade now": 7 days, both ends inclusive. A project choice
# (docs/decision-support.md "bleeding"); one value read by the score, the features and the cohort engine.
BLEEDING_WINDOW_DAYS = 7


class WhoBleeding(Result):
    who_grade: int | None  # worst grade recorded in the window; None when none recorded
    date: dt.date | None  # date of the worst event (the latest among events of that grade)
    site: str | None
    window_days: int
    source: str = "WHO-BLEED"


def who_bleeding(record: PatientRecord, at: dt.date, *, window_days: int = BLEEDING_WINDOW_DAYS
                ) -> WhoBleeding:
    """The worst WHO grade (0 none .. 4 debilitating [WHO-BLEED]) among bleeding events dated in
    ``[at - window_days, at]`` (both ends inclusive). None when no event is recorded in the window:
    "no record" is not "no bleeding" (a recorded grade 0 is)."""
    if window_days < 0:
        raise ValueError(f"window_days must be 0 or more (got {window_days})")
    since = at - dt.timedelta(days=window_days)
    events = [b for b in record.bleeding if since <= b.date <= at]
    if not events:
        return WhoBleeding(who_grade=None, date=None, site=None, window_days=window_days)
    # [WHO-BLEED] a higher grade is worse; among equal grades the latest event is reported
    worst = max(events, key=lambda b: (b.who_grade, b.date))
    return WhoBleeding(who_grade=worst.who_grade, date=worst.date, site=worst.site, window_days=window_days)


__all__ = ["WhoBleeding", "who_bleeding"]
