"""One reading of the patient: the record laid out in time, once, for every reader.

The instruments (:mod:`sleitp.instruments`), the predictors (:mod:`sleitp.features`) and the decision state
(:mod:`sleitp.decision.state`) all read the patient through a :class:`Timeline`, so that each patient fact
has exactly one definition (docs/architecture.md, "One reading of the patient"):

- **daily platelet counts**: one count a day, the lowest of that day (a day qualifies for an IWG response
  only if all its counts do) [IWG2009, spec/record.md];
- **baseline** on a day: the last daily count on or before it, at most 30 days before (spec/record.md);
- **bleeding days**: days with a bleeding event of WHO grade >= 1 (grade 0 records "assessed, no
  bleeding") [WHO-BLEED];
- **running**: whether a course is given on a day (a ``once`` course on its start day only; ``weekly``
  courses between doses count as running), from :func:`sleitp.instruments.glucocorticoids.is_running`;
- **latest value** of a test in a window, and **ever positive** / **persistently positive** (two positive
  results at least 12 weeks apart, the laboratory criterion of antiphospholipid antibodies [SYDNEY2006]);
- **ITP onset**: ``itp_diagnosis_date``, else the first platelet count < 100 x10^9/L (spec/record.md);
- **pregnant**: the record's flag at the assessment date.

A timeline is built for one assessment date ``at``: nothing after it is visible.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property

from sleitp.record import Lab, PatientRecord, Treatment

BASELINE_LOOKBACK_DAYS = 30  # spec/record.md: baseline within 30 days on or before the line start
# the antiphospholipid antibodies of the record vocabulary: lupus anticoagulant, aCL, anti-b2GPI [SLICC2012]
APL_TESTS = ("lupus_anticoagulant", "anticardiolipin", "anti_b2gp1")
ITP_COUNT_THRESHOLD = (
    100.0  # [IWG2009] ITP: platelets < 100 x10^9/L; spec/record.md: onset = first count < 100
)
APL_PERSISTENCE_DAYS = 84  # [SYDNEY2006] aPL positive "on 2 or more occasions at least 12 weeks apart"
SINGLE_DOSE_WORDS = frozenset(
    {"once", "single", "stat", "single dose"}
)  # a course given on its start day only


def is_running(course: Treatment, day: date) -> bool:
    """True when ``course`` is given on ``day``: start <= day <= end (no end: runs on, spec/record.md); a
    single-dose (``once``) course and a procedure (splenectomy) are given on their start day only."""
    if (course.frequency or "").strip().lower() in SINGLE_DOSE_WORDS or course.agent == "splenectomy":
        return day == course.start
    return course.start <= day and (course.end is None or day <= course.end)


@dataclass(frozen=True)
class Timeline:
    record: PatientRecord
    at: date

    # -- platelets -----------------------------------------------------------------------------------------
    @cached_property
    def daily_counts(self) -> dict[date, float]:
        """One platelet count a day, the lowest of that day, in date order, up to ``at``."""
        out: dict[date, float] = {}
        for lab in self.record.platelet_counts(until=self.at):
            out[lab.date] = lab.value if lab.date not in out else min(out[lab.date], lab.value)
        return dict(sorted(out.items()))

    def baseline(self, day: date, lookback_days: int = BASELINE_LOOKBACK_DAYS) -> tuple[date, float] | None:
        """(date, count) of the last daily count on or before ``day``, within ``lookback_days``."""
        before = [d for d in self.daily_counts if day - timedelta(days=lookback_days) <= d <= day]
        return (before[-1], self.daily_counts[before[-1]]) if before else None

    def latest_count(self, day: date | None = None) -> tuple[date, float] | None:
        """(date, count) of the last daily count on or before ``day`` (default ``at``), any age."""
        day = day or self.at
        before = [d for d in self.daily_counts if d <= day]
        return (before[-1], self.daily_counts[before[-1]]) if before else None

    @cached_property
    def itp_onset(self) -> date | None:
        """``itp_diagnosis_date``, else the first platelet count < 100 x10^9/L (spec/record.md)."""
        if self.record.itp_diagnosis_date is not None:
            return self.record.itp_diagnosis_date
        return next((d for d, v in self.daily_counts.items() if v < ITP_COUNT_THRESHOLD), None)

    # -- bleeding ------------------------------------------------------------------------------------------
    @cached_property
    def bleeding_days(self) -> list[date]:
        """Days with a bleeding event of WHO grade >= 1 up to ``at`` [WHO-BLEED]."""
        return sorted({b.date for b in self.record.bleeding if b.who_grade >= 1 and b.date <= self.at})

    def bleeding_events(self, since: date):
        """Bleeding events of WHO grade >= 1 dated from ``since`` through ``at`` (grade 0 is no bleeding)."""
        return [b for b in self.record.bleeding if b.who_grade >= 1 and since <= b.date <= self.at]

    # -- treatments ----------------------------------------------------------------------------------------
    def courses(self, *agents: str) -> list[Treatment]:
        """Courses started on or before ``at`` (of ``agents``, when given), in start order."""
        return [t for t in self.record.treatments if t.start <= self.at and (not agents or t.agent in agents)]

    def is_given(self, course: Treatment, day: date | None = None) -> bool:
        """Whether ``course`` is being given on ``day`` (default ``at``): a single dose only on its day."""
        day = day or self.at
        return course.start <= day and is_running(course, day)

    def running_agents(self, day: date | None = None) -> frozenset[str]:
        """Agents given on ``day`` (default ``at``)."""
        return frozenset(t.agent for t in self.courses() if self.is_given(t, day))

    # -- labs ----------------------------------------------------------------------------------------------
    def labs(self, test: str) -> list[Lab]:
        return self.record.labs_of(test, until=self.at)

    def latest(self, test: str, within_days: int | None = None, day: date | None = None) -> Lab | None:
        """The latest result of ``test`` on or before ``day`` (default ``at``), within ``within_days``."""
        day = day or self.at
        hits = [
            x
            for x in self.labs(test)
            if x.date <= day
            and (within_days is None or x.date >= day - timedelta(days=within_days))
            and (x.value is not None or x.result is not None)
        ]
        return hits[-1] if hits else None

    def latest_value(
        self, test: str, within_days: int | None = None, day: date | None = None
    ) -> float | None:
        day = day or self.at
        hits = [
            x
            for x in self.labs(test)
            if x.value is not None
            and x.date <= day
            and (within_days is None or x.date >= day - timedelta(days=within_days))
        ]
        return hits[-1].value if hits else None

    def ever_positive(self, test: str, day: date | None = None) -> bool | None:
        """True if any result up to ``day`` was positive; False if all were negative; None: never tested."""
        day = day or self.at
        results = [x.positive for x in self.labs(test) if x.positive is not None and x.date <= day]
        return any(results) if results else None

    def persistently_positive(
        self, test: str, day: date | None = None, min_days: int = APL_PERSISTENCE_DAYS
    ) -> bool:
        """Two positive results at least ``min_days`` apart up to ``day`` [SYDNEY2006]."""
        day = day or self.at
        pos = [x.date for x in self.labs(test) if x.positive and x.date <= day]
        return bool(pos) and (pos[-1] - pos[0]).days >= min_days

    def manifestations_ever(self, day: date | None = None) -> set[str]:
        day = day or self.at
        return {m.name for m in self.record.manifestations if m.date <= day}


def timeline(record: PatientRecord, at: date | None = None) -> Timeline:
    """The timeline of ``record`` at ``at`` (default: the record's assessment date)."""
    return Timeline(record, at or record.effective_assessment_date)


__all__ = [
    "SINGLE_DOSE_WORDS",
    "is_running",
    "APL_PERSISTENCE_DAYS",
    "APL_TESTS",
    "BASELINE_LOOKBACK_DAYS",
    "ITP_COUNT_THRESHOLD",
    "Timeline",
    "timeline",
]
