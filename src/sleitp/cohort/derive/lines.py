"""Treatment lines, set-based: the cohort twin of ``sleitp.instruments.iwg.treatment_lines``.

The rules (spec/record.md "responses"; docs/iwg-response.md "Lines") and how each becomes a set operation:

1. Which courses are ITP-directed: ``derive_roles.course_roles`` (ITP line, background SLE therapy, not ITP
   treatment, oseltamivir with dexamethasone only), started on or before the assessment date.
2. An ITP course of an agent *already running* (an earlier ITP course of the same agent with no end, or
   ending at most the continuation gap before this start) does not start or join a line (a self-join on
   patient and agent); it continues the latest line holding its agent (the highest line of the earlier
   line-forming courses of the agent), which matters for when the line was last given.
3. A line starts at the first remaining course; every course starting within 7 days (inclusive) of the
   line's FIRST start joins it, with no chaining (starts 0, 5, 10: lines at 0 and 10). This is greedy, so
   it is found by iteration over the line index, never over patients: starts more than 7 days after the
   previous start open an "island" whose first start is certainly a line start; inside an island, the next
   line starts at the first start more than 7 days after the current one, one round a line. Each round is
   one set operation over every patient at once; typical data needs one or two rounds.
4. Oseltamivir joins the line holding dexamethasone that started 0-7 days before it [SUN2021] (line starts
   are > 7 days apart, so at most one); otherwise it is no line's.
5. A line is evaluated until the day before the next line starts, else through the assessment date; it
   was last given on the latest day any of its courses was given (a single dose: its start day), or is
   still given when one of them runs on at the assessment date; its expected time to respond is its
   slowest agent's (``iwg.EXPECTED_RESPONSE_DAYS``).
"""

from __future__ import annotations

import ibis

from sleitp.cohort.derive.roles import ITP, WITH_DEX, course_roles, itp_onsets, single_dose
from sleitp.cohort.engine import Engine
from sleitp.instruments.iwg import (
    CONTINUATION_GAP_DAYS,
    DEFAULT_RESPONSE_DAYS,
    EXPECTED_RESPONSE_DAYS,
    LINE_WINDOW_DAYS,
)

MAX_ROUNDS = 10_000  # a guard only: each round removes at least one start of every island still open


def _days(n: int) -> ibis.expr.types.IntervalScalar:
    return ibis.interval(days=n)


def line_forming_courses(
    roles: ibis.Table, engine: Engine, *, continuation_gap_days: int
) -> tuple[ibis.Table, ibis.Table]:
    """``(line_forming, continuing)``: the ITP courses that start or join a line, and those that continue
    an ITP course already running (``patient_id, k, agent, start, end, frequency, at``)."""
    c = roles.filter(roles.role == ITP).drop("role")
    e = c.select("patient_id", ek="k", e_agent="agent", e_end="end")
    # spec/record.md: "a course of an agent already running does not start a new line": an earlier ITP
    # course (in the record's order) of the same agent, open or ending on/after this start (+ the gap)
    running = c.join(
        e,
        [
            c.patient_id == e.patient_id,
            c.agent == e.e_agent,
            e.ek < c.k,
            e.e_end.isnull() | (c.start <= (e.e_end + _days(continuation_gap_days)).cast("timestamp").date()),
        ],
    )
    running = engine.materialize(running.select(patient_id=c.patient_id, k=c.k).distinct())
    forming = engine.materialize(c.anti_join(running, ["patient_id", "k"]))
    continuing = engine.materialize(c.semi_join(running, ["patient_id", "k"]))
    return forming, continuing


def _line_starts(courses: ibis.Table, engine: Engine) -> ibis.Table:
    """``patient_id, start`` of every line (rule 3)."""
    starts = courses.select("patient_id", "start").distinct()
    w = ibis.window(group_by="patient_id", order_by="start")
    s = starts.mutate(prev=starts.start.lag().over(w))
    # a start more than 7 days after the previous start cannot belong to an earlier line: a new island
    s = s.mutate(opens=(s.prev.isnull() | (s.start > s.prev + _days(LINE_WINDOW_DAYS))).cast("int64"))
    s = s.select("patient_id", "start", island=s.opens.cumsum().over(w))
    s = engine.materialize(s)
    anchors = s.group_by(["patient_id", "island"]).agg(anchor=s.start.min())
    anchors = engine.materialize(anchors)
    found = [anchors.select("patient_id", start=anchors.anchor)]
    remaining = s
    for _ in range(MAX_ROUNDS):
        # [IWG2009] via spec/record.md: courses within 7 days (inclusive) of the line's first start join it
        r = remaining.join(anchors, ["patient_id", "island"])
        remaining = engine.materialize(
            r.filter(r.start > r.anchor + _days(LINE_WINDOW_DAYS)).select("patient_id", "island", "start")
        )
        if engine.count(remaining) == 0:
            break
        anchors = engine.materialize(
            remaining.group_by(["patient_id", "island"]).agg(anchor=remaining.start.min())
        )
        found.append(anchors.select("patient_id", start=anchors.anchor))
    return ibis.union(*found, distinct=False) if len(found) > 1 else found[0]


def _expected_days(agent: ibis.Value) -> ibis.Value:
    """iwg._expected_days of one agent: its time to respond, else DEFAULT_RESPONSE_DAYS."""
    return ibis.cases(
        *[(agent == a, days) for a, (days, _src) in EXPECTED_RESPONSE_DAYS.items()],
        else_=DEFAULT_RESPONSE_DAYS,
    )


def treatment_lines(
    treatments: ibis.Table,
    assessment: ibis.Table,
    engine: Engine,
    *,
    patients: ibis.Table,
    counts: ibis.Table,
    continuation_gap_days: int = CONTINUATION_GAP_DAYS,
) -> ibis.Table:
    """One row a line: ``patient_id, line, start, evaluation_end, agents`` (agents sorted by name),
    ``expected_response_days, at, last_given``.

    ``assessment`` has ``patient_id, at`` (the assessment date of every patient); ``patients`` the patients
    table (ITP diagnosis date, weight); ``counts`` the platelet counts, one a day
    (``derive_iwg.daily_counts``: ``course_roles`` relies on it).
    """
    onsets = engine.materialize(itp_onsets(assessment, patients, counts))
    roles = course_roles(treatments, onsets, counts, engine, continuation_gap_days=continuation_gap_days)
    forming, continuing = line_forming_courses(roles, engine, continuation_gap_days=continuation_gap_days)
    starts = _line_starts(forming.select("patient_id", "start"), engine).join(assessment, "patient_id")
    w = ibis.window(group_by="patient_id", order_by="start")
    nxt = starts.start.lead().over(w)
    lines = starts.mutate(
        line=(ibis.row_number().over(w) + 1).cast("int32"),
        # spec/record.md: evaluated from the start until the next line starts (the day before), else at
        evaluation_end=ibis.ifelse(
            nxt.isnull(), starts.at, (nxt - _days(1)).cast("timestamp").date()
        ),  # DuckDB: date - interval is a timestamp
    )
    lines = engine.materialize(lines.select("patient_id", "line", "start", "evaluation_end", "at"))
    # every line-forming course belongs to the line whose first start is at most 7 days before it
    j = forming.join(
        lines,
        [
            forming.patient_id == lines.patient_id,
            forming.start >= lines.start,
            forming.start <= lines.start + _days(LINE_WINDOW_DAYS),
        ],
    )
    members = engine.materialize(
        j.select(patient_id=forming.patient_id, line=lines.line, k=forming.k, agent=forming.agent,
                 start=forming.start, end=forming.end, frequency=forming.frequency)
    )
    # a continuing course belongs to the latest line holding its agent (iwg._build_lines: "joined")
    m = members.select("patient_id", m_line="line", m_k="k", m_agent="agent")
    cj = continuing.join(
        m, [continuing.patient_id == m.patient_id, continuing.agent == m.m_agent, m.m_k < continuing.k]
    )
    cont = cj.group_by([continuing.patient_id, continuing.k]).agg(line=cj.m_line.max())
    cont = continuing.join(cont, ["patient_id", "k"]).select("patient_id", "k", l_cont="line")
    # [SUN2021] oseltamivir with high-dose dexamethasone: the dexamethasone line started 0-7 days before it
    dex = members.filter(members.agent == "dexamethasone").select("patient_id", "line").distinct()
    hosts = dex.join(lines, ["patient_id", "line"]).select("patient_id", h_line="line", h_start="start")
    adj = roles.filter(roles.role == WITH_DEX)
    aj = adj.join(
        hosts,
        [
            adj.patient_id == hosts.patient_id,
            adj.start >= hosts.h_start,
            adj.start <= hosts.h_start + _days(LINE_WINDOW_DAYS),
        ],
    )
    hosted = aj.select(patient_id=adj.patient_id, k=adj.k, l_host=aj.h_line)
    # every course of a line (opening or joining, continuing, with dexamethasone), as left joins of the
    # courses to the three (course -> line) maps: a UNION of checkpointed views, empty ones among them,
    # fails in Spark 4 ("key not found: start#..." in localCheckpoint)
    every = roles.left_join(members.select("patient_id", "k", l_form="line"), ["patient_id", "k"])
    every = every.drop("patient_id_right", "k_right").left_join(cont, ["patient_id", "k"])
    every = every.drop("patient_id_right", "k_right").left_join(hosted, ["patient_id", "k"])
    every = every.drop("patient_id_right", "k_right")
    every = every.mutate(line=ibis.coalesce(every.l_form, every.l_cont, every.l_host))
    every = engine.materialize(
        every.filter(every.line.notnull()).select(
            "patient_id", "line", "agent", "start", "end", "frequency", "at"
        )
    )
    once = single_dose(every)
    still_given = ~once & (every.end.isnull() | (every.end >= every.at))
    per_line = every.group_by(["patient_id", "line"]).agg(
        agents=every.agent.collect(distinct=True),
        # the slowest agent's time to respond (the line's agents: opening, joining and with-dexamethasone)
        expected_response_days=_expected_days(every.agent).max().cast("int32"),
        # iwg._last_given: None while a course runs on at the assessment date, else the last day given
        still=still_given.any(),
        last=ibis.ifelse(once, every.start, every.end).max(),
    )
    per_line = per_line.mutate(agents=per_line.agents.sort())
    out = lines.join(per_line, ["patient_id", "line"])
    return engine.materialize(
        out.select(
            "patient_id", "line", "start", "evaluation_end", "agents", "expected_response_days", "at",
            last_given=ibis.ifelse(out.still, ibis.null("date"), out.last),
        )
    )


__all__ = ["line_forming_courses", "treatment_lines"]
