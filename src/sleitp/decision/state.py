"""The patient's state as the recommendation rules see it: plain facts read once from the record and the
instruments (``sleitp.score``), so that every rule in :mod:`sleitp.decision.rules` is a small function of
these facts and can be tested on a hand-built state.

How each fact is read (docs/decision-support.md, "What the engine reads"):

- bleeding: every event dated in the WHO-bleeding look-back window (default 7 days) up to ``at``;
- treatment lines and their IWG category from :func:`sleitp.instruments.iwg_responses`;
- antiphospholipid antibodies: lupus anticoagulant, anticardiolipin or anti-b2GP1 ever positive, or an
  antiphospholipid-syndrome history;
- hepatitis B: the history flag, else the latest HBsAg result; no result -> unknown (the history flag
  defaults to false in the record contract, so false cannot mean "tested negative");
- liver disease: the history flag, or the latest ALT above the laboratory's own ``reference_high``
  (no default upper limit: the shared reference gives none);
- glucocorticoid exposure: today's prednisone-equivalent dose and how long glucocorticoids have been given
  without a gap (days, inclusive) up to ``at``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from ..instruments.glucocorticoids import is_running
from ..record import GLUCOCORTICOIDS, PatientRecord
from ..score import ScoreReport

APL_TESTS = ("lupus_anticoagulant", "anticardiolipin", "anti_b2gp1")


@dataclass(frozen=True)
class BleedingEvent:
    date: date
    who_grade: int
    site: str | None


@dataclass(frozen=True)
class Line:
    """A treatment line with its IWG category [IWG2009]."""

    line: int
    agents: tuple[str, ...]
    start: date
    category: str  # CR | R | NR | NE
    loss_of_response_date: date | None = None

    @property
    def failed(self) -> bool:
        """NR, or a response that was lost (relapse) [IWG2009]."""
        return self.category == "NR" or self.loss_of_response_date is not None

    @property
    def responding(self) -> bool:
        return self.category in ("R", "CR") and self.loss_of_response_date is None


@dataclass(frozen=True)
class PatientState:
    patient_id: str
    at: date
    platelets: float | None = None  # latest count on or before `at` (10^9/L)
    platelets_date: date | None = None
    phase: str | None = None  # newly_diagnosed | persistent | chronic | None
    bleeding: tuple[BleedingEvent, ...] = ()
    lines: tuple[Line, ...] = ()
    steroid_dependent: bool | None = None
    running_agents: frozenset[str] = field(default_factory=frozenset)
    gc_mg_day: float | None = 0.0  # prednisone-equivalent mg/day at `at`
    gc_continuous_days: int = 0  # days of uninterrupted glucocorticoid exposure up to `at`, inclusive
    pregnant: bool = False
    antiphospholipid: bool = False
    thrombosis: bool = False
    hepatitis_b: bool | None = None  # True known; False HBsAg negative; None unknown
    active_infection: bool = False
    liver_disease: bool = False
    lupus_nephritis: bool = False
    splenectomised: bool = False

    @property
    def worst_bleeding(self) -> int | None:
        return max((b.who_grade for b in self.bleeding), default=None)

    @property
    def failed_lines(self) -> tuple[Line, ...]:
        return tuple(x for x in self.lines if x.failed)

    def failed_line_of(self, agent: str) -> Line | None:
        """The latest failed line that gave ``agent``, if any."""
        hits = [x for x in self.failed_lines if agent in x.agents]
        return hits[-1] if hits else None


def _ever_positive(record: PatientRecord, test: str, at: date) -> bool:
    return any(x.positive for x in record.labs_of(test, until=at))


def _hepatitis_b(record: PatientRecord, at: date) -> bool | None:
    if record.history.hepatitis_b:
        return True
    results = [x.positive for x in record.labs_of("hbsag", until=at) if x.positive is not None]
    return results[-1] if results else None  # the latest HBsAg result decides


def _alt_raised(record: PatientRecord, at: date) -> bool:
    alts = [x for x in record.labs_of("alt", until=at) if x.value is not None]
    if not alts or alts[-1].reference_high is None:
        return False  # no laboratory limit given: no default is invented (docs/decision-support.md)
    return alts[-1].value > alts[-1].reference_high


def _gc_continuous_days(record: PatientRecord, at: date) -> int:
    """Days (inclusive) of glucocorticoid courses covering every day from some start through ``at``.

    A course runs from its start through its end (no end: through ``at``); a single-dose (``once``) course
    runs on its start day only, as :func:`sleitp.instruments.glucocorticoids.is_running` reads it.
    """
    spans = []
    for t in record.treatments:
        if t.agent not in GLUCOCORTICOIDS or t.start > at:
            continue
        single = t.end is None and not is_running(t, t.start + timedelta(days=1))  # a "once" course
        end = t.start if single else (at if t.end is None or t.end > at else t.end)
        spans.append((t.start, end))
    if not any(s <= at <= e for s, e in spans):
        return 0
    start = at
    changed = True
    while changed:  # extend the covered span backwards through touching or overlapping courses
        changed = False
        for s, e in spans:
            if s < start and e >= start - timedelta(days=1):
                start, changed = s, True
    return (at - start).days + 1


def state_from(report: ScoreReport) -> PatientState:
    """Read the facts the rules need from a score report (and its record)."""
    rec, at = report.record, report.assessment_date
    window = report.bleeding.window_days
    bleeding = tuple(
        BleedingEvent(b.date, b.who_grade, b.site)
        for b in rec.bleeding
        if at - timedelta(days=window) <= b.date <= at
    )
    lines = tuple(
        Line(r.line, tuple(r.agents), r.start, r.category, r.loss_of_response_date) for r in report.responses
    )
    running = frozenset(t.agent for t in rec.treatments if t.start <= at and (t.end is None or t.end >= at))
    ever = {m.name for m in rec.manifestations if m.date <= at}
    return PatientState(
        patient_id=rec.id,
        at=at,
        platelets=report.platelets.latest,
        platelets_date=report.platelets.latest_date,
        phase=report.itp.phase,
        bleeding=bleeding,
        lines=lines,
        steroid_dependent=report.corticosteroid_dependence.dependent,
        running_agents=running,
        gc_mg_day=report.glucocorticoids.prednisone_equivalent_mg_day,
        gc_continuous_days=_gc_continuous_days(rec, at),
        pregnant=bool(rec.pregnant),
        antiphospholipid=rec.history.antiphospholipid_syndrome
        or any(_ever_positive(rec, t, at) for t in APL_TESTS),
        thrombosis=rec.history.thrombosis,
        hepatitis_b=_hepatitis_b(rec, at),
        active_infection=rec.history.active_infection,
        liver_disease=rec.history.liver_disease or _alt_raised(rec, at),
        lupus_nephritis=rec.history.lupus_nephritis or "lupus_nephritis" in ever,
        splenectomised=rec.history.splenectomy
        or any(t.agent == "splenectomy" and t.start <= at for t in rec.treatments),
    )


__all__ = ["APL_TESTS", "BleedingEvent", "Line", "PatientState", "state_from"]
