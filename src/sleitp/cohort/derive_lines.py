"""Treatment lines, set-based: the cohort twin of ``sleitp.instruments.iwg.treatment_lines``.

The rules (spec/record.md "responses"; docs/iwg-response.md) and how each becomes a set operation:

1. ITP-directed courses: every agent except hydroxychloroquine and platelet transfusion, started on or
   before the patient's assessment date (a filter).
2. A course of an agent *already running* (an earlier course of the same agent with no end, or ending on or
   after this start) does not start or join a line (a self-join on patient and agent).
3. A line starts at the first remaining course; every course starting within 7 days (inclusive) of the
   line's FIRST start joins it, with no chaining (starts 0, 5, 10: lines at 0 and 10). This is greedy, so
   it is found by iteration over the line index, never over patients: starts more than 7 days after the
   previous start open an "island" whose first start is certainly a line start; inside an island, the next
   line starts at the first start more than 7 days after the current one, one round a line. Each round is
   one set operation over every patient at once; typical data needs one or two rounds.
4. A line is evaluated until the day before the next line starts, else through the assessment date.
"""

from __future__ import annotations

import ibis

from ..instruments.iwg import CONTINUATION_GAP_DAYS, LINE_WINDOW_DAYS, NOT_LINE_FORMING
from .engine import Engine

MAX_ROUNDS = 10_000  # a guard only: each round removes at least one start of every island still open


def _days(n: int) -> ibis.expr.types.IntervalScalar:
    return ibis.interval(days=n)


def line_forming_courses(
    treatments: ibis.Table,
    assessment: ibis.Table,
    engine: Engine,
    *,
    continuation_gap_days: int = CONTINUATION_GAP_DAYS,
) -> ibis.Table:
    """The courses that start or join a line: ``patient_id, agent, start``."""
    c = treatments.join(assessment, "patient_id")
    # spec/record.md: hydroxychloroquine (background SLE therapy) and platelet transfusion (rescue) form
    # no line
    c = c.filter(~c.agent.isin(sorted(NOT_LINE_FORMING)), c.start <= c.at)
    c = engine.materialize(c.select("patient_id", "agent", "start", "end", "seq"))
    e = c.view()
    # spec/record.md: "a course of an agent already running does not start a new line": an earlier course
    # (earlier start, or same start and earlier in the record) of the same agent, open or ending on/after
    # this start (+ the continuation gap, 0 by default as in the reference)
    running = (
        c.join(
            e,
            [
                c.patient_id == e.patient_id,
                c.agent == e.agent,
                (e.start < c.start) | ((e.start == c.start) & (e.seq < c.seq)),
                e.end.isnull() | (c.start <= e.end + _days(continuation_gap_days)),
            ],
        )
        .select(patient_id=c.patient_id, seq=c.seq)
        .distinct()
    )
    return engine.materialize(
        c.anti_join(running, ["patient_id", "seq"]).select("patient_id", "agent", "start")
    )


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


def treatment_lines(
    treatments: ibis.Table,
    assessment: ibis.Table,
    engine: Engine,
    *,
    continuation_gap_days: int = CONTINUATION_GAP_DAYS,
) -> ibis.Table:
    """One row a line: ``patient_id, line, start, evaluation_end, agents`` (agents sorted by name).

    ``assessment`` has ``patient_id, at`` (the assessment date of every patient).
    """
    courses = line_forming_courses(
        treatments, assessment, engine, continuation_gap_days=continuation_gap_days
    )
    starts = _line_starts(courses, engine).join(assessment, "patient_id")
    w = ibis.window(group_by="patient_id", order_by="start")
    nxt = starts.start.lead().over(w)
    lines = starts.mutate(
        line=(ibis.row_number().over(w) + 1).cast("int32"),
        # spec/record.md: evaluated from the start until the next line starts (the day before), else at
        evaluation_end=ibis.ifelse(
            nxt.isnull(), starts.at, (nxt - _days(1)).cast("timestamp").date()
        ),  # DuckDB: date - interval is a timestamp
    )
    lines = engine.materialize(lines.select("patient_id", "line", "start", "evaluation_end"))
    # every line-forming course belongs to the line whose first start is at most 7 days before it
    j = courses.join(
        lines,
        [
            courses.patient_id == lines.patient_id,
            courses.start >= lines.start,
            courses.start <= lines.start + _days(LINE_WINDOW_DAYS),
        ],
    )
    agents = j.group_by([lines.patient_id, lines.line]).agg(agents=j.agent.collect(distinct=True))
    agents = agents.mutate(agents=agents.agents.sort())
    out = lines.join(agents, ["patient_id", "line"])
    return engine.materialize(out.select("patient_id", "line", "start", "evaluation_end", "agents"))


__all__ = ["line_forming_courses", "treatment_lines"]
