"""WHO bleeding grade at the assessment date."""

from __future__ import annotations

import datetime as dt

from ..record import PatientRecord
from ._base import Result


class WhoBleeding(Result):
    who_grade: int | None  # worst grade recorded in the window; None when none recorded
    date: dt.date | None
    site: str | None
    window_days: int
    source: str = "WHO-BLEED"


def who_bleeding(record: PatientRecord, at: dt.date, *, window_days: int = 7) -> WhoBleeding:
    raise NotImplementedError


__all__ = ["WhoBleeding", "who_bleeding"]
