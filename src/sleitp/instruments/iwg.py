"""Treatment lines and their International Working Group response (Rodeghiero 2009), as spec/record.md
operationalizes it; corticosteroid dependence.

This module is the single-patient reference of the IWG response: the cohort engine derives the same
lines and categories set-based and is tested against these functions. Every rule below is written out,
with its boundaries, in docs/iwg-response.md; a change here is a change there.

Vocabulary (one platelet "count" per day: the lowest count of that day; a "bleeding day" is a day with a
bleeding event of WHO grade >= 1):

- a count *qualifies for CR* when it is >= 100 x10^9/L and not on a bleeding day;
- it *qualifies for R* when it is >= 30 x10^9/L **and** >= 2 x baseline and not on a bleeding day;
- it is *R-or-better* when it qualifies for R or for CR (without a baseline: only CR can qualify);
- a qualifying count is *confirmed* by a later qualifying count at least 7 days after it, with no
  non-qualifying count and no bleeding day strictly between them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

from sleitp.instruments._base import Finding, Result
from sleitp.instruments.glucocorticoids import DEXAMETHASONE_MG_PER_5MG_PREDNISONE as _DEX
from sleitp.instruments.glucocorticoids import course_daily_prednisone_equivalent, is_running
from sleitp.record import GLUCOCORTICOIDS, PatientRecord, Treatment
from sleitp.timeline import BASELINE_LOOKBACK_DAYS, SINGLE_DOSE_WORDS, Timeline

# spec/record.md: every agent forms lines except background SLE therapy and rescue transfusion; the agents the
# project added beyond the spec that do not raise the count are not ITP treatment either
# (docs/iwg-response.md)
NOT_LINE_FORMING = frozenset({"hydroxychloroquine", "platelet_transfusion"})
NOT_ITP_TREATMENT = frozenset({  # haemostatic adjunct [ICR2019]; anticoagulants / antiplatelets [ASH2019] 1a
    "platelet_transfusion", "tranexamic_acid", "heparin", "lmwh", "warfarin", "doac", "aspirin",
    "clopidogrel",
})
# [SUN2021] oseltamivir was an ITP treatment only with high-dose dexamethasone: alone it is an antiviral
WITH_DEXAMETHASONE_ONLY = frozenset({"oseltamivir"})
# Agents with a lupus indication of their own: a course of one of them that started before ITP onset, or while
# platelets were >= 100, is background SLE therapy, not an ITP line, unless the record says indication "itp"
# [IWG2009] (response is judged for "the investigated treatment", baseline "at the time of starting" it).
# Every other agent (IVIG, TPO-RAs, danazol, SYK/BTK/FcRn agents, splenectomy, vinca alkaloids) is
# ITP-directed.
SLE_THERAPIES = frozenset({
    "prednisone", "prednisolone", "methylprednisolone", "dexamethasone", "hydrocortisone",
    "hydroxychloroquine",
    "mycophenolate", "azathioprine", "cyclosporine", "tacrolimus", "voclosporin", "cyclophosphamide",
    "sirolimus", "rituximab", "obinutuzumab", "belimumab", "anifrolumab", "telitacicept", "daratumumab",
    "bortezomib", "cd19_car_t",
})
ITP_COUNT = 100.0  # [IWG2009] ITP: platelets < 100 x10^9/L; a course started at >= 100 is not an ITP line
LINE_WINDOW_DAYS = 7  # [IWG2009] via spec/record.md: courses starting within 7 days form one line
R_MIN_PLATELETS = 30.0  # [IWG2009] R: >= 30 x10^9/L ...
R_MIN_FOLD = 2.0  # [IWG2009] ... and at least 2-fold the baseline count
CR_MIN_PLATELETS = 100.0  # [IWG2009] CR: >= 100 x10^9/L
CONFIRM_MIN_DAYS = 7  # [IWG2009] footnote: CR, R confirmed on 2 occasions at least 7 days apart
# [IWG2009] footnote: NR and loss of response on 2 occasions "1 day apart" (at least 1: clinical.md §7)
NR_MIN_DAYS_APART = 1
DEPENDENCE_MIN_DAYS = 60  # [IWG2009] corticosteroid dependence "for at least 2 months" (read as 60 days)
DEPENDENCE_PLATELETS = 30.0  # [IWG2009] dependence: "to maintain a platelet count at or above 30 x10^9/L"
# [GC-REGIMENS] pulsed dexamethasone every 14 days (clinical.md §1.8): pauses <= 14 days are "repeated doses"
DEPENDENCE_MAX_GAP_DAYS = 14
DEPENDENCE_FALL_WINDOW_DAYS = 30  # project choice (no source gives one): a fall within 30 days of a reduction

Category = Literal["CR", "R", "NR", "NE"]

# -- the agent's clock: how long before a line without response may be called a failure -----------------
# [IWG2009] "timing of assessment: variable, depends on the type of treatment" (its Table 3 was not read).
# Each window is the time a source gives for a response to appear: twice the typical (median or usual) time
# where one is given, else the upper end of a reported range; an agent with no time read gets
# DEFAULT_RESPONSE_DAYS (CHOICE, docs/clinical-choices.md). A line's window is its slowest agent's.
DEFAULT_RESPONSE_DAYS = 90  # CHOICE: immunosuppressants and agents with no time to response read (~3 months)
# CHOICE (decision/data_age.py, docs/cli.md "Data age"; not sourced): a platelet count up to 7 days old is
# current. A line without response is judged by a count current when its agents' time passes, or later:
# one taken on or after (start + expected_response_days - CURRENT_COUNT_DAYS) (docs/iwg-response.md §11)
CURRENT_COUNT_DAYS = 7
EXPECTED_RESPONSE_DAYS: dict[str, tuple[int, str]] = {
    "dexamethasone": (10, "WEI2016"),  # [WEI2016] a second 4-day course at day 10 if platelets stayed < 30
    "prednisone": (28, "WEI2016"),  # [WEI2016] prednisone 1 mg/kg/day for 4 weeks, then taper
    "prednisolone": (28, "WEI2016"),
    "hydrocortisone": (28, "WEI2016"),
    "methylprednisolone": (28, "WEI2016"),  # pulses are followed by oral glucocorticoids: the same 4 weeks
    "ivig": (7, "KADO2019"),  # [KADO2019] [ICR2019] rapid response, within days
    "platelet_transfusion": (1, "ICR2019"),
    "rituximab": (84, "RTX-LOWDOSE2011"),  # [RTX-LOWDOSE2011] CR 20% at week 4 -> 60% at week 12
    "eltrombopag": (28, "ELTROMBOPAG-CTD2024"),  # [ELTROMBOPAG-CTD2024] median 14 days (x2)
    "romiplostim": (28, "KUTER2008"),  # clinical.md §3: ~1-2 weeks (upper end 2 weeks, x2 as a median)
    "avatrombopag": (28, "ELTROMBOPAG-CTD2024"),  # TPO-RA class: its own time not read (clinical.md §3)
    "hetrombopag": (56, "HETROMBOPAG2021"),  # [HETROMBOPAG2021] primary end point at week 8
    "rhtpo": (14, "RHTPO-TRIAL"),  # [RHTPO-TRIAL] median 10 days to >= 100, given up to 14 days
    "danazol": (120, "CERVERA1995"),  # [CERVERA1995] CR "2 months after starting" (range 6 weeks - 8 months)
    "hydroxychloroquine": (90, "KHELLAF2014"),  # [KHELLAF2014] months (>= 3 months in one study)
    "telitacicept": (150, "TELITACICEPT-CASES"),  # 3-5 months in the case reports
    "fostamatinib": (30, "FIT2018"),  # [FIT2018] median time to response 15 days (x2)
    "rilzabrutinib": (30, "LUNA3"),  # [LUNA3] median first response 15 days (x2)
    "splenectomy": (24, "SPLENECTOMY2004"),  # clinical.md §3: response in 1-24 days
    # [SUN2021] with high-dose dexamethasone only; the trial's co-primary end point was the 14-day response
    "oseltamivir": (14, "SUN2021"),
}
# [WEI2016] sustained response: maintained "for 6 months following achievement of initial response"
DURABLE_RESPONSE_DAYS = 180


class CourseRole(Result):
    """What one treatment course is, as the lines read it (docs/iwg-response.md, "Lines")."""

    agent: str
    start: date
    end: date | None
    role: Literal["itp_line", "background", "not_itp_treatment"]
    line: int | None  # the line it started or joined (role itp_line)
    reason: str


class TreatmentLine(Result):
    line: int
    agents: list[str]
    start: date
    end: date | None  # evaluation ends the day before the next line starts, or at the assessment date
    courses: int = 1  # ITP-directed courses that started this line or joined it within 7 days


def line_clock(days_evaluated: int, expected_response_days: int, days_counted: int | None) -> str:
    """Where a line without response stands on its agents' clock, in words, for every face: "day 3 of about
    28", or, once that time has passed with no count since, "no platelet count since day 3 (about 28 days to
    respond): a current count is needed to judge it"."""
    if days_evaluated < expected_response_days:
        return f"day {days_evaluated} of about {expected_response_days}"
    since = "the start" if days_counted is None else f"day {days_counted}"
    return (f"no platelet count since {since} (about {expected_response_days} days to respond): a current "
            f"count is needed to judge it")


class IwgResponse(Result):
    line: int
    agents: list[str]
    start: date
    baseline_platelets: float | None
    baseline_date: date | None
    category: Literal["CR", "R", "NR", "NE"]
    time_to_response_days: int | None
    time_to_complete_response_days: int | None
    loss_of_response_date: date | None
    evaluation_end: date
    findings: list[Finding]  # the counts and bleeding events that decided the category
    source: str = "IWG2009"
    response_confirmed_date: date | None = None  # the confirming count of the first R-or-better pair
    complete_response_confirmed_date: date | None = None  # the confirming count of the first CR pair
    # -- beyond the spec (docs/iwg-response.md §11): the line read on its agents' clock ---------------------
    expected_response_days: int = DEFAULT_RESPONSE_DAYS  # the slowest agent's time to respond
    expected_response_source: str = ""
    days_evaluated: int = 0  # evaluation end - start (days)
    # the last platelet count after the start, in days from the start (None: no count after the start): a
    # line without response is judged only by a count taken once its agents' time to respond has passed
    days_counted: int | None = None
    # complete_response | response | under_evaluation | changed_before_evaluable | no_response |
    # not_evaluable |
    # response_lost_on_treatment | relapse_after_stopping | relapse_after_durable_response
    status: str = "not_evaluable"
    response_lost_date: date | None = None  # loss of any response (R level), which is what fails a line
    last_given: date | None = None  # the last day any of the line's courses was given (None: still given)

    @property
    def failed(self) -> bool:
        """No response once the agents' time has passed, or a response lost (not a durable relapse)."""
        return self.status in ("no_response", "response_lost_on_treatment", "relapse_after_stopping")

    @property
    def under_evaluation(self) -> bool:
        return self.status == "under_evaluation"

    @property
    def count_overdue(self) -> bool:
        """The agents' time to respond has passed (NR / NE so far): only the lack of a current count keeps the
        line from being judged."""
        return self.days_evaluated >= self.expected_response_days

    @property
    def _last_count(self) -> str:
        return "none after the start" if self.days_counted is None else f"day {self.days_counted}"

    @property
    def clock(self) -> str:
        return line_clock(self.days_evaluated, self.expected_response_days, self.days_counted)

    @property
    def status_text(self) -> str:
        """The line's state in a clinician's words, one wording for every face (CLI, report, CDS card)."""
        lost = self.response_lost_date
        words = {
            "complete_response": "CR" + (f" (CR lost on {self.loss_of_response_date}, still a response)"
                                         if self.loss_of_response_date else ""),
            "response": "R",
            "under_evaluation": f"{self.category} so far: under evaluation, {self.clock}",
            "changed_before_evaluable": f"{self.category}: changed on day {self.days_evaluated}, before "
                                        + ("its time to respond" if not self.count_overdue else
                                           f"a count at its time to respond (last count {self._last_count})")
                                        + f" (about {self.expected_response_days} days)",
            "no_response": "NR (no response)",
            "not_evaluable": "NE (not evaluable)",
            "response_lost_on_treatment": f"{self.category}, lost on {lost} on treatment",
            "relapse_after_stopping": f"{self.category}, lost on {lost} after it was stopped",
            "relapse_after_durable_response": f"{self.category}, relapse after a durable response on {lost}",
        }
        return words.get(self.status, self.status)


class CorticosteroidDependence(Result):
    dependent: bool | None  # None: the data cannot show it either way
    detail: str
    findings: list[Finding]
    source: str = "IWG2009"
    # [IWG2009] "patients with corticosteroid dependence are considered nonresponders"
    considered_nonresponder: bool = False
    reduction_date: date | None = None  # the glucocorticoid stop or dose reduction that the fall followed
    fall_date: date | None = None  # the count < 30 x10^9/L or bleeding that showed the need
    longest_exposure_days: int = 0  # longest glucocorticoid episode (pauses <= 14 days bridged), through at


# -- lines -------------------------------------------------------------------------------------------------
@dataclass
class _Line:
    start: date
    agents: set[str] = field(default_factory=set)
    courses: int = 0
    course_list: list[Treatment] = field(default_factory=list)


# A course of an agent "already running" does not start a line (spec/record.md). CHOICE: a course that starts
# the day after the previous course of the same agent ended continues it (the drug was given without a day's
# break: a dose change or a taper written as consecutive courses), so the default joins start <= end + 1.
# 0 is the narrowest reading (overlap only); larger values bridge short gaps (docs/iwg-response.md).
CONTINUATION_GAP_DAYS = 1


def _continues(course: Treatment, earlier: list[Treatment], gap: int) -> Treatment | None:
    """The earlier course of the same agent that ``course`` continues (no end, or ended <= gap days
    before)."""
    hits = [e for e in earlier if e.agent == course.agent
            and (e.end is None or course.start <= e.end + timedelta(days=gap))]
    return hits[-1] if hits else None


def _daily_amount(course: Treatment, weight_kg: float | None, height_cm: float | None = None) -> float | None:
    """The course's amount a day, comparable between two courses of one agent (None: not comparable)."""
    if course.agent in GLUCOCORTICOIDS:
        return course_daily_prednisone_equivalent(course, weight_kg, dexamethasone_mg_per_5mg_prednisone=_DEX,
                                                  height_cm=height_cm)
    if course.dose is None:
        return None
    per_day = {"daily": 1.0, "qd": 1.0, "od": 1.0, "bid": 2.0, "tid": 3.0, "qid": 4.0, "weekly": 1 / 7}
    freq = (course.frequency or "daily").strip().lower()
    return course.dose * per_day[freq] if freq in per_day else None


def _escalates(course: Treatment, background: Treatment, weight_kg: float | None) -> bool:
    """A higher daily amount of a background agent (same dose unit): an ITP-directed escalation."""
    if course.dose_unit != background.dose_unit and course.agent not in GLUCOCORTICOIDS:
        return False
    new, old = _daily_amount(course, weight_kg), _daily_amount(background, weight_kg)
    return new is not None and old is not None and new > old


def _role(course: Treatment, tl: Timeline, background: list[Treatment], placed: list[Treatment], gap: int,
          weight_kg: float | None) -> tuple[str, str]:
    """("itp_line" | "background" | "not_itp_treatment" | "with_dexamethasone", why) of one course."""
    agent = course.agent
    if agent in NOT_ITP_TREATMENT:
        return "not_itp_treatment", "not an ITP treatment (does not raise the platelet count)"
    if agent in WITH_DEXAMETHASONE_ONLY:  # [SUN2021] never a line alone, whatever the indication says
        return "with_dexamethasone", "an antiviral: part of a line only with high-dose dexamethasone"
    if course.indication in ("sle", "other"):
        return ("background" if course.indication == "sle" else "not_itp_treatment",
                f"the record gives indication '{course.indication}'")
    if course.indication == "itp":
        return "itp_line", "the record gives indication 'itp'"
    if agent in NOT_LINE_FORMING:  # spec/record.md: hydroxychloroquine is background SLE therapy
        return "background", "background SLE therapy (spec/record.md)"
    if agent not in SLE_THERAPIES:
        return "itp_line", "an ITP-directed agent"
    onset = tl.itp_onset
    if onset is None:  # nothing dates the ITP: the course is read as the spec reads every agent
        return "itp_line", ("no ITP onset in the record (no count < 100, no itp_diagnosis_date): read as "
                            "a line")
    if course.start < onset:
        if tl.record.itp_diagnosis_date is not None:
            return "background", f"started before the ITP diagnosis date ({onset.isoformat()})"
        # onset inferred from the first count < 100: the course is background only if a count >= 100 in the
        # baseline window before it or while it ran before onset shows it was not started for ITP (without
        # one, the low count may simply not have been recorded: read as a line, as the spec does)
        since = course.start - timedelta(days=BASELINE_LOOKBACK_DAYS)
        normal = [d for d in tl.daily_counts if since <= d < onset]
        if normal:
            return "background", (f"started before ITP onset ({onset.isoformat()}, the first count < "
                                  f"{ITP_COUNT:g}): platelets {_count(tl.daily_counts[normal[-1]])} on "
                                  f"{normal[-1].isoformat()}")
    base = tl.baseline(course.start)
    on_itp_treatment = any(tl.is_given(c, course.start) for c in placed)
    if base is not None and base[1] >= ITP_COUNT and not on_itp_treatment:
        # [IWG2009] ITP means a count < 100: started in remission, off ITP treatment, it treats the lupus
        # (a new episode begins with the next count < 100)
        return "background", (f"started with platelets {_count(base[1])} on {base[0].isoformat()} (>= "
                              f"{ITP_COUNT:g}) and no ITP treatment running: background lupus therapy")
    prior = _continues(course, background, gap)
    if prior is not None and not _escalates(course, prior, weight_kg):
        return "background", f"continues background {agent} from {prior.start.isoformat()} without escalation"
    if prior is not None:
        return "itp_line", f"escalation of background {agent} after ITP onset"
    return "itp_line", f"started after ITP onset ({onset.isoformat()}) with platelets < {ITP_COUNT:g}"


def _build_lines(record: PatientRecord, at: date, continuation_gap_days: int
                 ) -> tuple[list[_Line], list[tuple[Treatment, str, int | None, str]]]:
    """The ITP lines, and every course with its role (role, line index or None, why)."""
    if continuation_gap_days < 0:
        raise ValueError(f"continuation_gap_days: expected 0 or more days, got {continuation_gap_days!r}")
    tl = Timeline(record, at)
    lines: list[_Line] = []
    placed: list[Treatment] = []  # ITP-directed courses seen so far (earlier or same start)
    background: list[Treatment] = []
    roles: list[tuple[Treatment, str, int | None, str]] = []
    adjuncts: list[Treatment] = []
    for course in record.treatments:  # sorted by (start, agent) by the record model
        if course.start > at:
            continue
        role, why = _role(course, tl, background, placed, continuation_gap_days, record.weight_kg)
        if role == "with_dexamethasone":
            adjuncts.append(course)
            continue
        if role != "itp_line":
            if role == "background":
                background.append(course)
            roles.append((course, role, None, why))
            continue
        # spec/record.md: a course of an agent already running does not start a new line (a dose change,
        # a refill); "running": an earlier ITP course of the same agent with no end or ending on/after this
        # start
        running = _continues(course, placed, continuation_gap_days) is not None
        placed.append(course)
        if running:
            joined = next(i for i in range(len(lines) - 1, -1, -1)
                          if any(c.agent == course.agent for c in lines[i].course_list))
            lines[joined].course_list.append(course)
            roles.append((course, "itp_line", joined, why + "; continues the course already running"))
            continue
        # [IWG2009] via spec/record.md: within 7 days (inclusive) of the line's FIRST course, no chaining
        if lines and (course.start - lines[-1].start).days <= LINE_WINDOW_DAYS:
            lines[-1].agents.add(course.agent)
            lines[-1].courses += 1
            lines[-1].course_list.append(course)
        else:
            lines.append(_Line(start=course.start, agents={course.agent}, courses=1, course_list=[course]))
        roles.append((course, "itp_line", len(lines) - 1, why))
    for course in adjuncts:  # [SUN2021] oseltamivir with high-dose dexamethasone started within 7 days
        host = next((i for i, ln in enumerate(lines) if "dexamethasone" in ln.agents
                     and 0 <= (course.start - ln.start).days <= LINE_WINDOW_DAYS), None)
        if host is not None:
            lines[host].agents.add(course.agent)
            lines[host].courses += 1
            lines[host].course_list.append(course)
            roles.append((course, "itp_line", host, "with high-dose dexamethasone (the one trial's regimen)"))
        else:
            roles.append((course, "not_itp_treatment",
                          None, "an antiviral without high-dose dexamethasone: not an ITP line"))
    roles.sort(key=lambda r: (r[0].start, r[0].agent))
    return lines, roles


def _evaluation_ends(lines: list[_Line], at: date) -> list[date]:
    """spec/record.md: a line is evaluated until the day before the next line starts, else through ``at``."""
    return [lines[i + 1].start - timedelta(days=1) if i + 1 < len(lines) else at for i in range(len(lines))]


def treatment_lines(record: PatientRecord, at: date, *,
                    continuation_gap_days: int = CONTINUATION_GAP_DAYS) -> list[TreatmentLine]:
    """The lines of ITP-directed treatment started on or before ``at``, numbered 1.. in start order.

    ``continuation_gap_days`` (default :data:`CONTINUATION_GAP_DAYS` = 1): a course of an agent whose earlier
    course ended at most this many days before it still counts as "already running", so a taper written as
    consecutive courses stays one line. With 0 (the narrowest reading of spec/record.md) a taper step that
    starts the day after the previous step ended is a new course (docs/iwg-response.md).
    """
    lines, _ = _build_lines(record, at, continuation_gap_days)
    ends = _evaluation_ends(lines, at)
    return [TreatmentLine(line=i + 1, agents=sorted(ln.agents), start=ln.start, end=ends[i],
                          courses=ln.courses) for i, ln in enumerate(lines)]


# -- response -----------------------------------------------------------------------------------------------
def _count(v: float) -> str:
    return f"{v:g} x10^9/L"


@dataclass(frozen=True)
class _Pair:
    first: date
    confirm: date


def _first_confirmed_pair(days: list[date], qualifies: Callable[[date], bool], bleeding: list[date]
                          ) -> _Pair | None:
    """The earliest qualifying count with a confirmation, and its earliest confirmation.

    [IWG2009] confirmed: another qualifying count at least 7 days later, with no non-qualifying count and
    no bleeding strictly between them. The pair with the earliest first count also has the earliest
    confirming count (docs/iwg-response.md), so "first" is unambiguous.
    """
    for i, a in enumerate(days):
        if not qualifies(a):
            continue
        for b in days[i + 1:]:
            if any(a < x < b for x in bleeding):
                break  # a bleeding day between a and any later count breaks the pair
            if not qualifies(b):
                break  # a non-qualifying count between a and any later count breaks the pair
            if (b - a).days >= CONFIRM_MIN_DAYS:  # [IWG2009] at least 7 days apart (exactly 7 confirms)
                return _Pair(a, b)
    return None


def _pair_findings(level: str, pair: _Pair, counts: dict[date, float], first_detail: str,
                   not_between: str) -> list[Finding]:
    """The two findings of a confirmed pair [IWG2009]: its first count, then the confirming count and how
    far apart they are, with nothing disqualifying (``not_between``, or bleeding) between them."""
    return [
        Finding(name=f"{level} count", date=pair.first, source="IWG2009",
                detail=f"{_count(counts[pair.first])}{first_detail}"),
        Finding(name=f"{level} confirmation", date=pair.confirm, source="IWG2009",
                detail=f"{_count(counts[pair.confirm])}, {(pair.confirm - pair.first).days} days later "
                       f"(>= {CONFIRM_MIN_DAYS}), no {not_between} or bleeding between"),
    ]


def _expected_days(agents: set[str]) -> tuple[int, str]:
    """The slowest agent's time to respond (EXPECTED_RESPONSE_DAYS), with its source."""
    return max((EXPECTED_RESPONSE_DAYS.get(a, (DEFAULT_RESPONSE_DAYS, "CHOICE")) for a in agents),
               key=lambda x: x[0])


def _last_given(line: _Line, at: date) -> date | None:
    """The last day the line's courses were given (a single dose: its day); None: still given at ``at``."""
    ends = []
    for c in line.course_list:
        if (c.frequency or "").strip().lower() in SINGLE_DOSE_WORDS or c.agent == "splenectomy":
            ends.append(c.start)
        elif c.end is None or c.end >= at:
            return None
        else:
            ends.append(c.end)
    return max(ends) if ends else None


def _status(r: IwgResponse, line: _Line, at: date, last_count: date | None) -> dict:
    """The line on its agents' clock, and which kind of failure or relapse it had
    (docs/iwg-response.md §11). ``last_count``: the line's last platelet count after its start."""
    window, source = _expected_days(line.agents)
    days = (r.evaluation_end - r.start).days
    counted = (last_count - r.start).days if last_count else None
    out = {"expected_response_days": window, "expected_response_source": source, "days_evaluated": days,
           "days_counted": counted, "last_given": _last_given(line, at)}
    if r.category in ("NR", "NE"):
        # [IWG2009] "timing of assessment ... depends on the type of treatment": a line without response is
        # judged once its agents' time has passed, by a count current then (CURRENT_COUNT_DAYS) or later, not
        # by the calendar alone (counts on days 2-3 and an assessment on day 30 are not a failure of
        # prednisone: clinical-review.md H2)
        if counted is None or counted < window - CURRENT_COUNT_DAYS or days < window:  # not yet a failure
            # the last line is still under evaluation; an earlier one was changed before it could be judged
            out["status"] = "under_evaluation" if r.evaluation_end >= at else "changed_before_evaluable"
        else:
            out["status"] = "no_response" if r.category == "NR" else "not_evaluable"
        return out
    lost = r.response_lost_date
    if lost is None:
        out["status"] = "complete_response" if r.category == "CR" else "response"
        return out
    last = out["last_given"]
    if last is None or lost <= last:
        out["status"] = "response_lost_on_treatment"
    elif r.time_to_response_days is not None and (
            lost - (r.start + timedelta(days=r.time_to_response_days))).days >= DURABLE_RESPONSE_DAYS:
        out["status"] = "relapse_after_durable_response"  # [WEI2016] response held >= 6 months
    else:
        out["status"] = "relapse_after_stopping"
    return out


def _line_response(line_no: int, line: _Line, end: date, counts: dict[date, float], bleeding: list[date],
                   at: date) -> IwgResponse:
    start = line.start
    findings: list[Finding] = []
    # spec/record.md: baseline = the last count on or before the start, at most 30 days before (30 counts)
    before = [d for d in counts if start - timedelta(days=BASELINE_LOOKBACK_DAYS) <= d <= start]
    baseline_date = max(before) if before else None
    baseline = counts[baseline_date] if baseline_date else None
    if baseline_date is not None:
        findings.append(Finding(name="baseline", date=baseline_date, source="IWG2009", detail=(
            f"platelets {_count(baseline)}, {(start - baseline_date).days} days before the line start "
            f"(last count on or before the start, within {BASELINE_LOOKBACK_DAYS} days)")))
    else:
        findings.append(Finding(name="no baseline", date=start, source="IWG2009", detail=(
            f"no platelet count in the {BASELINE_LOOKBACK_DAYS} days up to the line start: R needs a "
            f"baseline, only CR can be established")))

    # response counts: strictly after the start (a count on the start day is baseline material), to the end
    days = sorted(d for d in counts if start < d <= end)
    bleed = [d for d in bleeding if start < d <= end]
    bleed_set = set(bleed)

    def cr(d: date) -> bool:
        return counts[d] >= CR_MIN_PLATELETS and d not in bleed_set  # [IWG2009] CR: >= 100, no bleeding

    def r_or_better(d: date) -> bool:
        if d in bleed_set:
            return False  # [IWG2009] "and absence of bleeding"
        v = counts[d]
        # [IWG2009] R: >= 30 AND >= 2-fold baseline (IWG "and", not the "or" of some papers: clinical.md §1.2)
        r = baseline is not None and v >= R_MIN_PLATELETS and v >= R_MIN_FOLD * baseline
        return r or v >= CR_MIN_PLATELETS  # a CR count is R-or-better

    def surely_not_qualifying(d: date) -> bool:
        """Fails R and CR for certain: bleeding, or below R (without a baseline: below 30, or the 2-fold
        test cannot be made and the count is not evidence of non-response)."""
        if d in bleed_set:
            return True
        if baseline is None:
            return counts[d] < R_MIN_PLATELETS
        return not r_or_better(d)

    response_lost: date | None = None
    cr_pair = _first_confirmed_pair(days, cr, bleed)
    rb_pair = _first_confirmed_pair(days, r_or_better, bleed)  # every CR pair is also an R-or-better pair
    ttr = (rb_pair.first - start).days if rb_pair else None
    ttcr = (cr_pair.first - start).days if cr_pair else None
    loss: date | None = None
    if rb_pair:
        level = "CR" if cr_pair else "R-or-better"
        findings += _pair_findings("R-or-better", rb_pair, counts,
                                   f": first count of the first confirmed pair; time to response {ttr} days",
                                   "non-qualifying count")
        if cr_pair:
            findings += _pair_findings("CR", cr_pair, counts,
                                       f" >= {CR_MIN_PLATELETS:g}, no bleeding; time to complete response "
                                       f"{ttcr} days", f"count < {CR_MIN_PLATELETS:g}")
        category: Category = "CR" if cr_pair else "R"
        achieved = cr_pair or rb_pair
        loss, loss_findings = _loss_of_response(achieved.confirm, days, bleed, cr if cr_pair else r_or_better,
                                                counts, level)
        findings += loss_findings
        # a fall from CR that stays >= 30 and >= 2x baseline is still a response: only losing R fails the line
        response_lost = loss if not cr_pair or loss is None else _loss_of_response(
            achieved.confirm, days, bleed, r_or_better, counts, "R-or-better")[0]
    else:
        failing = [d for d in days if surely_not_qualifying(d)]
        # [IWG2009] NR: 2 non-qualifying counts (or counts on a bleeding day) at least 1 day apart
        if len(failing) >= 2 and (failing[-1] - failing[0]).days >= NR_MIN_DAYS_APART:
            category = "NR"
            findings += [Finding(name="non-qualifying count", date=d, source="IWG2009",
                                 detail=_why_not(counts[d], d in bleed_set, baseline)) for d in failing[:2]]
        else:
            category = "NE"
            findings.append(Finding(name="not evaluable", date=end, source="IWG2009",
                                    detail=_why_ne(days, r_or_better, failing, end, baseline is None)))
    r = IwgResponse(
        line=line_no, agents=sorted(line.agents), start=start, baseline_platelets=baseline,
        baseline_date=baseline_date, category=category, time_to_response_days=ttr,
        time_to_complete_response_days=ttcr, loss_of_response_date=loss, evaluation_end=end,
        findings=findings,
        response_confirmed_date=rb_pair.confirm if rb_pair else None,
        complete_response_confirmed_date=cr_pair.confirm if cr_pair else None,
        response_lost_date=response_lost,
    )
    return r.model_copy(update=_status(r, line, at, days[-1] if days else None))


def _why_not(v: float, bled: bool, baseline: float | None) -> str:
    if bled:
        return f"{_count(v)} on a day with bleeding (WHO grade >= 1)"
    if baseline is None:
        return f"{_count(v)} < {R_MIN_PLATELETS:g}"
    return (f"{_count(v)}: not >= {R_MIN_PLATELETS:g} and >= {R_MIN_FOLD:g} x baseline {baseline:g}, "
            f"nor >= {CR_MIN_PLATELETS:g}")


def _why_ne(days: list[date], qualifies: Callable[[date], bool], failing: list[date], end: date,
            no_baseline: bool) -> str:
    pending = [d for d in days if qualifies(d) and d + timedelta(days=CONFIRM_MIN_DAYS) > end]
    if pending:
        return (f"qualifying count on {pending[0].isoformat()} cannot be confirmed: a confirming count would "
                f"fall after the evaluation end {end.isoformat()}")
    why = (f"{len(days)} count(s) after the start, {len(failing)} surely non-qualifying: neither a "
           f"confirmed response nor 2 non-qualifying counts at least {NR_MIN_DAYS_APART} day apart")
    if no_baseline:
        why += (f"; without a baseline, counts from {R_MIN_PLATELETS:g} to under {CR_MIN_PLATELETS:g} "
                f"cannot be judged (R needs the 2-fold test)")
    return why


def _loss_of_response(achieved: date, days: list[date], bleeding: list[date],
                      qualifies: Callable[[date], bool], counts: dict[date, float],
                      level: str) -> tuple[date | None, list[Finding]]:
    """[IWG2009] loss, after the confirming count: 2 non-qualifying counts at least 1 day apart with no
    qualifying count between them, or bleeding; the date is the first of them (or the bleeding)."""
    later = [d for d in days if d > achieved]
    bleed = next((d for d in bleeding if d > achieved), None)
    pair: tuple[date, date] | None = None
    # consecutive count days: nothing qualifying between them
    for a, b in zip(later, later[1:], strict=False):
        if not qualifies(a) and not qualifies(b) and (b - a).days >= NR_MIN_DAYS_APART:
            pair = (a, b)
            break
    if pair and (bleed is None or pair[0] <= bleed):
        return pair[0], [Finding(name=f"loss of {level}", date=d, source="IWG2009",
                                 detail=f"{_count(counts[d])}{' on a bleeding day' if d in bleeding else ''} "
                                        f"no longer qualifies for {level}") for d in pair]
    if bleed is not None:
        return bleed, [Finding(name=f"loss of {level}", date=bleed, source="IWG2009",
                               detail="bleeding (WHO grade >= 1) after the response")]
    return None, []


def iwg_responses(
    record: PatientRecord, at: date, *, continuation_gap_days: int = CONTINUATION_GAP_DAYS
) -> list[IwgResponse]:
    """The IWG response of every treatment line started on or before ``at`` (spec/record.md "responses")."""
    lines, _ = _build_lines(record, at, continuation_gap_days)
    ends = _evaluation_ends(lines, at)
    tl = Timeline(record, at)
    return [_line_response(i + 1, ln, ends[i], tl.daily_counts, tl.bleeding_days, at)
            for i, ln in enumerate(lines)]


def course_roles(record: PatientRecord, at: date, *, continuation_gap_days: int = CONTINUATION_GAP_DAYS
                 ) -> list[CourseRole]:
    """Every course started on or before ``at``: an ITP line's, background SLE therapy, or not ITP
    treatment."""
    _, roles = _build_lines(record, at, continuation_gap_days)
    return [CourseRole(agent=c.agent, start=c.start, end=c.end, role=role,
                       line=None if i is None else i + 1, reason=why) for c, role, i, why in roles]


# -- corticosteroid dependence ------------------------------------------------------------------------------
@dataclass(frozen=True)
class _GcDays:
    """Day by day from the first glucocorticoid course through ``at``: given or not, the total
    prednisone-equivalent dose (None: a running course's amount is unknown), and each day's episode start."""

    first: date
    on: list[bool]
    dose: list[float | None]
    episode_start: list[date | None]  # None: outside any episode (in a pause longer than max_gap_days)

    def day(self, k: int) -> date:
        return self.first + timedelta(days=k)

    def episodes(self) -> list[tuple[date, date]]:
        """(first day, last glucocorticoid day) of each episode, in order."""
        out: list[tuple[date, date]] = []
        for k, on in enumerate(self.on):
            if not on:
                continue
            start = self.episode_start[k]
            if out and out[-1][0] == start:
                out[-1] = (start, self.day(k))
            else:
                out.append((start, self.day(k)))
        return out


def _glucocorticoid_days(record: PatientRecord, at: date, max_gap_days: int, dex: float) -> _GcDays | None:
    courses = [c for c in record.treatments if c.agent in GLUCOCORTICOIDS and c.start <= at]
    if not courses:
        return None
    first = min(c.start for c in courses)
    n = (at - first).days + 1
    on, dose = [False] * n, [0.0] * n
    for c in courses:
        amount = course_daily_prednisone_equivalent(c, record.weight_kg,
                                                    dexamethasone_mg_per_5mg_prednisone=dex,
                                                    height_cm=record.height_cm)
        last = at if c.end is None or c.end > at else c.end
        for k in range((c.start - first).days, (last - first).days + 1):
            if is_running(c, first + timedelta(days=k)):
                on[k] = True
                dose[k] = None if dose[k] is None or amount is None else dose[k] + amount
    episode_start: list[date | None] = [None] * n
    start: date | None = None
    last_on: int | None = None
    for k in range(n):
        if on[k]:
            if last_on is None or k - last_on - 1 > max_gap_days:  # [GC-REGIMENS] pauses <= 14 days bridged
                start = first + timedelta(days=k)
            last_on = k
        if last_on is not None and k - last_on - 1 <= max_gap_days:
            episode_start[k] = start
    return _GcDays(first, on, dose, episode_start)


@dataclass(frozen=True)
class _Evidence:
    date: date  # the fall (dependent) or the count kept off glucocorticoids (not dependent)
    dependent: bool
    reduction: date
    detail: str
    findings: list[Finding]


def _reductions(gc: _GcDays) -> list[tuple[date, bool, str]]:
    """(day, is a stop, description) of each day given less than the day before."""
    out = []
    for k in range(1, len(gc.on)):
        if not gc.on[k - 1]:
            continue
        before, now = gc.dose[k - 1], gc.dose[k]
        if not gc.on[k]:
            out.append((gc.day(k), True, "stop"))
        elif before is not None and now is not None and now < before:
            out.append((gc.day(k), False, f"dose reduction {before:g} -> {now:g} mg/day prednisone-eq"))
    return out


def _fall_after(r: date, what: str, gc: _GcDays, counts: dict[date, float], bleeding: list[date],
                falls: list[date], at: date, min_exposure_days: int, window: int) -> _Evidence | None:
    """Dependence shown by reduction ``r``: 2 months in, a maintained count before it, a fall after it."""
    ep = gc.episode_start[(r - gc.first).days - 1]
    # [IWG2009] "for at least 2 months": the reduction came >= 60 days into the episode
    if ep is None or (r - ep).days < min_exposure_days:
        return None
    prior = [d for d in counts if ep <= d < r]
    if not prior:
        return None
    kept = max(prior)
    # [IWG2009] "to maintain a platelet count at or above 30": the last count before r, no bleeding since
    if counts[kept] < DEPENDENCE_PLATELETS or any(kept <= d < r for d in bleeding):
        return None
    fall = next((d for d in falls if r <= d <= min(r + timedelta(days=window), at)), None)
    if fall is None:
        return None
    low = fall in counts and counts[fall] < DEPENDENCE_PLATELETS
    fell = f"platelets {_count(counts[fall])}" if low else "bleeding (WHO grade >= 1)"
    return _Evidence(fall, True, r, (
        f"glucocorticoids ran {(r - ep).days} days (>= {min_exposure_days}) with platelets >= "
        f"{DEPENDENCE_PLATELETS:g}; after the {what} on {r.isoformat()}, {fell} on {fall.isoformat()}"), [
        Finding(name="maintained on glucocorticoids", date=kept, source="IWG2009",
                detail=f"{_count(counts[kept])} after {(r - ep).days} days of glucocorticoids "
                       f"(episode from {ep.isoformat()})"),
        Finding(name=f"glucocorticoid {what}", date=r, source="IWG2009"),
        Finding(name="fall after the reduction", date=fall, source="IWG2009",
                detail=f"{fell}, {(fall - r).days} days after the {what.split(' ')[0]}"),
    ])


def _kept_off(r: date, gc: _GcDays, counts: dict[date, float], falls: list[date], at: date,
              window: int) -> _Evidence | None:
    """No dependence shown by stop ``r``: off glucocorticoids, a count >= ``window`` days later, no fall."""
    k0 = (r - gc.first).days
    restart = next((gc.day(k) for k in range(k0, len(gc.on)) if gc.on[k]), None)
    late = [d for d in counts if r + timedelta(days=window) <= d <= at and (restart is None or d < restart)
            and not any(r <= x <= d for x in falls)]
    if not late:
        return None
    d = min(late)
    return _Evidence(d, False, r, (
        f"platelets stayed >= {DEPENDENCE_PLATELETS:g} off glucocorticoids for {(d - r).days} days "
        f"(>= {window}) after the stop on {r.isoformat()}"), [
        Finding(name="glucocorticoid stop", date=r, source="IWG2009"),
        Finding(name="maintained off glucocorticoids", date=d, source="IWG2009",
                detail=f"{_count(counts[d])}, {(d - r).days} days after the stop, no count < "
                       f"{DEPENDENCE_PLATELETS:g} or bleeding since"),
    ])


def corticosteroid_dependence(record: PatientRecord, at: date, *,
                              min_exposure_days: int = DEPENDENCE_MIN_DAYS,
                              max_gap_days: int = DEPENDENCE_MAX_GAP_DAYS,
                              fall_window_days: int = DEPENDENCE_FALL_WINDOW_DAYS,
                              dexamethasone_mg_per_5mg_prednisone: float = _DEX,
                              ) -> CorticosteroidDependence:
    """[IWG2009] "the need for ongoing or repeated doses administration of corticosteroids for at least 2
    months to maintain a platelet count at or above 30 x10^9/L and/or to avoid bleeding", read from what
    happened when the dose went down (docs/iwg-response.md §9):

    - **dependent** when a stop or dose reduction >= ``min_exposure_days`` into a glucocorticoid episode
      (pauses <= ``max_gap_days`` bridged), whose last count before it was >= 30 x10^9/L, was followed within
      ``fall_window_days`` by a count < 30 or a bleeding;
    - **not dependent** when counts stayed >= 30 off glucocorticoids for ``fall_window_days`` after a stop
      (unless a later episode has run ``min_exposure_days`` since), or glucocorticoids never ran
      ``min_exposure_days``, or no count on them reached 30;
    - the latest evidence decides; otherwise unknown (None).
    """
    for name, v in (("min_exposure_days", min_exposure_days), ("max_gap_days", max_gap_days),
                    ("fall_window_days", fall_window_days)):
        if not isinstance(v, int) or v < 0:
            raise ValueError(f"{name}: expected 0 or more days, got {v!r}")
    gc = _glucocorticoid_days(record, at, max_gap_days, dexamethasone_mg_per_5mg_prednisone)
    if gc is None:
        return CorticosteroidDependence(dependent=False, findings=[],
                                        detail="no glucocorticoid course up to the assessment date")
    tl = Timeline(record, at)
    counts, bleeding = tl.daily_counts, tl.bleeding_days
    falls = sorted({d for d, v in counts.items() if v < DEPENDENCE_PLATELETS} | set(bleeding))
    episodes = gc.episodes()
    longest = max((e - s).days + 1 for s, e in episodes)

    evidence: list[_Evidence] = []
    for r, stop, what in _reductions(gc):
        shown = _fall_after(r, what, gc, counts, bleeding, falls, at, min_exposure_days, fall_window_days)
        if shown:
            evidence.append(shown)
        elif stop and (kept := _kept_off(r, gc, counts, falls, at, fall_window_days)):
            evidence.append(kept)
    if evidence:
        latest = max(evidence, key=lambda e: (e.date, e.dependent, e.reduction))
        last_start, last_day = episodes[-1]
        # counts kept off glucocorticoids say nothing of a later episode that has itself run 2 months
        reopened = not latest.dependent and latest.date < last_start and (
            (last_day - last_start).days + 1 >= min_exposure_days)
        if not reopened:
            return CorticosteroidDependence(
                dependent=latest.dependent, detail=latest.detail, findings=latest.findings,
                considered_nonresponder=latest.dependent, reduction_date=latest.reduction,
                fall_date=latest.date if latest.dependent else None, longest_exposure_days=longest)
    if longest < min_exposure_days:
        # [IWG2009] "for at least 2 months": shorter exposure cannot be dependence
        return CorticosteroidDependence(
            dependent=False, findings=[], longest_exposure_days=longest,
            detail=f"glucocorticoids never ran {min_exposure_days} days (longest episode {longest} days)")
    if not any(v >= DEPENDENCE_PLATELETS and gc.first <= d and gc.on[(d - gc.first).days]
               for d, v in counts.items()):
        return CorticosteroidDependence(
            dependent=False, findings=[], longest_exposure_days=longest,
            detail=f"no platelet count on glucocorticoids reached {DEPENDENCE_PLATELETS:g}: they maintained "
                   f"nothing (see the line's IWG category)")
    return CorticosteroidDependence(
        dependent=None, findings=[], longest_exposure_days=longest,
        detail=f"glucocorticoids ran up to {longest} days with platelets >= {DEPENDENCE_PLATELETS:g}, but no "
               f"stop or reduction has yet shown whether they are needed")


__all__ = ["BASELINE_LOOKBACK_DAYS", "CONFIRM_MIN_DAYS", "CR_MIN_PLATELETS", "LINE_WINDOW_DAYS",
           "NOT_LINE_FORMING", "NR_MIN_DAYS_APART", "R_MIN_FOLD", "R_MIN_PLATELETS",
           "CorticosteroidDependence", "CourseRole", "IwgResponse", "NOT_ITP_TREATMENT", "SLE_THERAPIES",
           "TreatmentLine", "WITH_DEXAMETHASONE_ONLY", "corticosteroid_dependence", "course_roles",
           "iwg_responses", "treatment_lines"]
