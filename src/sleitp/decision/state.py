"""The patient's state as the recommendation rules see it: plain facts read once from the record and the
instruments (``sleitp.score``), so that every rule in :mod:`sleitp.decision.rules` is a small function of
these facts and can be tested on a hand-built state.

How each fact is read (docs/decision-support.md, "What the engine reads"):

- bleeding: every event of WHO grade >= 1 dated in the WHO-bleeding look-back window (default 7 days) up to
  ``at`` (grade 0 records "assessed, no bleeding", whatever its site);
- critical-site bleeding (intracranial, GI of WHO grade >= 3, any WHO grade 4): kept for
  ``CRITICAL_BLEED_DAYS`` (30) after the event, not the 7-day window;
- treatment lines, their IWG category and their status on the agents' clock (under evaluation, failed,
  relapse after a durable response) from :func:`sleitp.instruments.iwg_responses`; background lupus therapy
  is not a line;
- running agents: the courses given at ``at`` (a single dose only on its day: :mod:`sleitp.timeline`);
- active infection: the history flag, or an antimicrobial (oseltamivir) given now;
- lupus activity other than the thrombocytopenia: SLEDAI-2K items other than ``thrombocytopenia``, and
  major-organ activity (renal, neuropsychiatric, vasculitis descriptors, or a lupus-nephritis finding in the
  last 90 days);
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

from sleitp.instruments.iwg import line_clock
from sleitp.record import GLUCOCORTICOIDS, PatientRecord
from sleitp.score import ScoreReport
from sleitp.timeline import APL_TESTS, Timeline, is_running, timeline

# CHOICE (docs/clinical-choices.md): no source read gives how long a critical-site bleed keeps the emergency;
# the review's lead: ">= 30 days". [ICR2019] "life-threatening bleeding, especially intracranial haemorrhage"
CRITICAL_BLEED_DAYS = 30
ANTIMICROBIALS = ("oseltamivir",)  # an antimicrobial given now means an infection is being treated
# SLEDAI-2K descriptors of major-organ activity [SLEDAI2K]; EULAR 2023 treats these as organ-threatening
MAJOR_ORGAN_ITEMS = frozenset(
    {
        "seizure",
        "psychosis",
        "organic_brain_syndrome",
        "visual_disturbance",
        "cranial_nerve_disorder",
        "lupus_headache",
        "cva",
        "vasculitis",
        "urinary_casts",
        "hematuria",
        "proteinuria",
        "pyuria",
    }
)
RECENT_NEPHRITIS_DAYS = (
    90  # CHOICE: a lupus-nephritis finding (biopsy) in the last 90 days is active nephritis
)


@dataclass(frozen=True)
class BleedingEvent:
    date: date
    who_grade: int
    site: str | None


@dataclass(frozen=True)
class Line:
    """A treatment line with its IWG category [IWG2009] and its status on the agents' clock."""

    line: int
    agents: tuple[str, ...]
    start: date
    category: str  # CR | R | NR | NE
    loss_of_response_date: date | None = None  # loss of the level reached (CR: a count < 100)
    status: str | None = None  # IwgResponse.status; None: read from the IWG category alone (hand-built lines)
    response_lost_date: date | None = None  # loss of any response (R level)
    days_evaluated: int = 0
    expected_response_days: int = 0
    days_counted: int | None = None  # IwgResponse.days_counted: the last count after the start (days)

    def __post_init__(self) -> None:
        if self.status is None:  # a line given by its IWG category only: NR failed, a loss lost, else held
            status = (
                "response_lost_on_treatment"
                if self.loss_of_response_date
                else {"NR": "no_response", "CR": "complete_response", "R": "response"}.get(
                    self.category, "not_evaluable"
                )
            )
            object.__setattr__(self, "status", status)
            object.__setattr__(
                self, "response_lost_date", self.response_lost_date or self.loss_of_response_date
            )

    @property
    def failed(self) -> bool:
        """No response once the agents' time has passed, or a response lost on treatment or soon after
        stopping [IWG2009]; a relapse after a durable response is not a failure of the agent."""
        return self.status in ("no_response", "response_lost_on_treatment", "relapse_after_stopping")

    @property
    def responding(self) -> bool:
        return self.status in ("complete_response", "response")

    @property
    def under_evaluation(self) -> bool:
        return self.status == "under_evaluation"

    @property
    def clock(self) -> str:
        """Where the line stands on its agents' clock, in words (``iwg.line_clock``)."""
        return line_clock(self.days_evaluated, self.expected_response_days, self.days_counted)

    @property
    def durable_relapse(self) -> bool:
        return self.status == "relapse_after_durable_response"


@dataclass(frozen=True)
class PatientState:
    patient_id: str
    at: date
    platelets: float | None = None  # latest count on or before `at` (10^9/L)
    platelets_date: date | None = None
    phase: str | None = None  # newly_diagnosed | persistent | chronic | None
    bleeding: tuple[BleedingEvent, ...] = ()
    critical_bleeding: tuple[BleedingEvent, ...] = ()  # critical-site bleeds of the last 30 days
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
    lupus_activity: tuple[str, ...] = ()  # SLEDAI-2K items other than thrombocytopenia, in the window
    major_organ_activity: tuple[
        str, ...
    ] = ()  # what shows active major-organ lupus (items, nephritis finding)
    sledai_assessable: bool = True
    background_agents: frozenset[str] = field(default_factory=frozenset)  # background lupus therapy given now
    timeline: Timeline | None = None  # the one reading of the patient (sleitp.timeline), for every rule

    @property
    def critical_bleeds(self) -> tuple[BleedingEvent, ...]:
        """Critical-site bleeds of the last 30 days (and any in the 7-day window)."""
        extra = tuple(b for b in self.bleeding if is_critical_site(b) and b not in self.critical_bleeding)
        return (*self.critical_bleeding, *extra)

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


def is_critical_site(b) -> bool:
    """[ICR2019] intracranial bleeding; [WHO-BLEED] gross GI blood loss (grade >= 3), grade 4 at any site."""
    return b.who_grade >= 1 and (
        b.site == "intracranial" or b.who_grade >= 4 or (b.site == "gi" and b.who_grade >= 3)
    )


def state_from(report: ScoreReport) -> PatientState:
    """Read the facts the rules need from a score report (and, through its timeline, the record)."""
    rec, at = report.record, report.assessment_date
    tl = timeline(rec, at)
    window = report.bleeding.window_days

    def event(b) -> BleedingEvent:
        return BleedingEvent(b.date, b.who_grade, b.site)

    bleeding = tuple(event(b) for b in tl.bleeding_events(since=at - timedelta(days=window)))
    critical = tuple(
        event(b)
        for b in tl.bleeding_events(since=at - timedelta(days=CRITICAL_BLEED_DAYS))
        if is_critical_site(b)
    )
    lines = tuple(
        Line(
            r.line,
            tuple(r.agents),
            r.start,
            r.category,
            r.loss_of_response_date,
            r.status,
            r.response_lost_date,
            r.days_evaluated,
            r.expected_response_days,
            r.days_counted,
        )
        for r in report.responses
    )
    running = tl.running_agents()
    background = frozenset(
        c.agent
        for c in report.courses
        if c.role == "background"
        and any(t.agent == c.agent and t.start == c.start and tl.is_given(t) for t in rec.treatments)
    )
    activity = tuple(i for i in report.sledai.items if i != "thrombocytopenia")
    since = at - timedelta(days=RECENT_NEPHRITIS_DAYS)
    nephritis_now = [m for m in rec.manifestations if m.name == "lupus_nephritis" and since <= m.date <= at]
    major = tuple(i for i in activity if i in MAJOR_ORGAN_ITEMS) + (
        (
            f"lupus nephritis recorded on {nephritis_now[-1].date.isoformat()}"
            + (f" (class {nephritis_now[-1].nephritis_class})" if nephritis_now[-1].nephritis_class else ""),
        )
        if nephritis_now
        else ()
    )
    ever = tl.manifestations_ever()
    return PatientState(
        patient_id=rec.id,
        at=at,
        platelets=report.platelets.latest,
        platelets_date=report.platelets.latest_date,
        phase=report.itp.phase,
        bleeding=bleeding,
        critical_bleeding=critical,
        lines=lines,
        steroid_dependent=report.corticosteroid_dependence.dependent,
        running_agents=running,
        gc_mg_day=report.glucocorticoids.prednisone_equivalent_mg_day,
        gc_continuous_days=_gc_continuous_days(rec, at),
        pregnant=bool(rec.pregnant),
        antiphospholipid=rec.history.antiphospholipid_syndrome or any(tl.ever_positive(t) for t in APL_TESTS),
        thrombosis=rec.history.thrombosis,
        hepatitis_b=_hepatitis_b(rec, at),
        active_infection=rec.history.active_infection or bool(running & set(ANTIMICROBIALS)),
        liver_disease=rec.history.liver_disease or _alt_raised(rec, at),
        lupus_nephritis=rec.history.lupus_nephritis or "lupus_nephritis" in ever,
        splenectomised=rec.history.splenectomy
        or any(t.agent == "splenectomy" and t.start <= at for t in rec.treatments),
        lupus_activity=activity,
        major_organ_activity=major,
        sledai_assessable=report.sledai.assessable,
        background_agents=background,
        timeline=tl,
    )


__all__ = [
    "APL_TESTS",
    "CRITICAL_BLEED_DAYS",
    "BleedingEvent",
    "Line",
    "PatientState",
    "is_critical_site",
    "state_from",
]
