"""IWG response of every treatment line, set-based: the cohort twin of
``sleitp.instruments.iwg.iwg_responses``.

The rules are the reference's, written out in docs/iwg-response.md; here is how each becomes a set
operation (no loop over patients or lines):

- every line gets one key (``lk``: an int64 on DuckDB; the string ``patient_id:line`` on Spark, where a
  global row_number would run in one partition), so the joins, sorts and group-bys below use one column;
- the counts from 30 days before the start through the evaluation end, and the bleeding events (WHO grade
  >= 1) after the start, are joined to the lines (a range join), then grouped ONCE by line and day: one
  count a day, the lowest of the day, flagged when it is also a bleeding day (a day may be a bleeding day
  without a count); the baseline and the evaluation window are both read from that table;
- baseline: the last count day within 30 days on or before the line start (an arg-max);
- the evaluation window: count days and bleeding days strictly after the start, through the evaluation end
  (windows of one patient do not overlap);
- a count day qualifies for CR when >= 100 and not a bleeding day; it is R-or-better when it qualifies for
  CR or is >= 30 and >= 2 x baseline (not a bleeding day);
- confirmation: a qualifying day is confirmed by a qualifying day >= 7 days later with nothing
  non-qualifying (count or bleeding day) strictly between. Every non-qualifying event closes a *run*
  (a running sum over the window in date order); a qualifying day is confirmed exactly when the last
  qualifying day of its run is >= 7 days later. The first confirmed day gives the time to response; its
  confirmation is the first qualifying day of the same run >= 7 days after it;
- NR: no R-or-better pair and >= 2 count days that surely fail (bleeding, or < 30 without a baseline, or
  not R-or-better with one); NE otherwise;
- loss of response after the confirming count of the category reached (CR, else R-or-better): the first
  of two consecutive count days that both fail that level, or the first bleeding day, whichever is first;
  ``response_lost_date`` the same at the R level (a fall from CR that stays an R is no loss of response);
- status (``line_status``, beyond the spec: docs/iwg-response.md §11): under evaluation while a line without
  a response has been evaluated fewer days than its slowest agent needs (changed before evaluable when a
  later line cut it short); then no response / not evaluable;
  a lost response is lost on treatment (lost on or before the last day given, or still given), a relapse
  after a durable response (held >= 180 days from the first R-or-better count), or a relapse after stopping.
"""

from __future__ import annotations

import ibis

from sleitp.cohort.engine import Engine
from sleitp.cohort.sources import plausible
from sleitp.instruments.iwg import (
    BASELINE_LOOKBACK_DAYS,
    CONFIRM_MIN_DAYS,
    CR_MIN_PLATELETS,
    CURRENT_COUNT_DAYS,
    DURABLE_RESPONSE_DAYS,
    NR_MIN_DAYS_APART,
    R_MIN_FOLD,
    R_MIN_PLATELETS,
)

_RUN_SPLIT = 1 << 32  # the two running counts of a line-day packed in one int64 (iwg_responses)


def _days(n: int):
    return ibis.interval(days=n)


def _date(x: ibis.Value) -> ibis.Value:
    """A date shifted by an interval, as a date again (DuckDB gives a timestamp, and comparing a date
    column with a timestamp casts every row: ~0.25 s per 30 M rows)."""
    return x.cast("timestamp").date()


def _days_after(later: ibis.Value, earlier: ibis.Value) -> ibis.Value:
    """Whole days from ``earlier`` to ``later`` (an integer: no per-row timestamp cast)."""
    return later.delta(earlier, unit="day")


def platelet_counts(labs: ibis.Table) -> ibis.Table:
    """``patient_id, date, platelets``: every plausible platelet count (several a day possible)."""
    p = labs.filter(labs.test == "platelets", plausible(labs, ["platelets"]))
    return p.select("patient_id", "date", platelets=p.value)


def bleeding_events(bleeding: ibis.Table) -> ibis.Table:
    """``patient_id, date``: bleeding events of WHO grade >= 1 (several a day possible)."""
    return bleeding.filter(bleeding.who_grade >= 1).select("patient_id", "date")


def patient_days(counts: ibis.Table, bleeds: ibis.Table) -> ibis.Table:
    """``patient_id, date, platelets, bleed``: one row a patient-day with a count or a bleeding event; the
    lowest count of the day (null on a bleeding day without a count) and whether it is a bleeding day.

    This is the one step every derive needs (one count a day per patient, the anchor of issue #12's
    benchmark): computed once and read by the onsets, the course roles and the responses.
    """
    # [IWG2009] via docs/iwg-response.md: one count a day, the lowest of the day
    lowest = counts.group_by(["patient_id", "date"]).agg(platelets=counts.platelets.min())
    bleeding_days = bleeds.select("patient_id", "date").distinct()
    # An outer join of the two per-day tables, not one group-by over ``counts UNION ALL bleeds``: DuckDB 2.0's
    # hash aggregate over a UNION ALL of a large and a small input does not spill, and ran out of memory
    # (issue #12: one 1M derive in four under 2.5 GB; 100k synth under 200 MB, where this form needs 60 MB;
    # reproduction without sleitp: benchmarks/repro_duckdb_union_spill.py; test in
    # tests/cohort/derive/test_scale.py)
    j = lowest.outer_join(
        bleeding_days,
        [lowest.patient_id == bleeding_days.patient_id, lowest.date == bleeding_days.date],
    )
    return j.select(
        patient_id=ibis.coalesce(lowest.patient_id, bleeding_days.patient_id),
        date=ibis.coalesce(lowest.date, bleeding_days.date),
        platelets=lowest.platelets,
        bleed=bleeding_days.patient_id.notnull(),
    )


def daily_counts(days: ibis.Table) -> ibis.Table:
    """``patient_id, date, platelets``: the days of ``patient_days`` with a count (one a day, the lowest)."""
    return days.filter(days.platelets.notnull()).select("patient_id", "date", "platelets")


def iwg_responses(lines: ibis.Table, days: ibis.Table, engine: Engine) -> ibis.Table:
    """One row a line: the columns of ``tables.DERIVED_RESPONSES`` (``RESPONSES`` then ``RESPONSE_STATUS``).

    ``lines`` come from ``derive_lines.treatment_lines`` (with ``expected_response_days, last_given``);
    ``days`` from ``patient_days`` (materialized: it is read twice).
    """
    # one key a line for every join, sort and group-by below (the engine's cheapest: Engine.row_key)
    ln = engine.materialize(
        lines.mutate(
            lk=engine.row_key(lines, ["patient_id", "line"]),
            counts_from=_date(lines.start - _days(BASELINE_LOOKBACK_DAYS)),  # baseline candidates from here
        )
    )

    # -- every line-day that matters: the patient-days from 30 days before the start through the evaluation
    # end, joined to the lines (one range join). The patient-days are one row a day already, and a line is
    # one key, so (lk, date) is unique: no second group-by. ``after``: in the evaluation window (after the
    # start), else a baseline candidate (a bleeding day there is no baseline: its count is null or kept).
    j = days.join(ln, [days.patient_id == ln.patient_id, days.date >= ln.counts_from,
                       days.date <= ln.evaluation_end])
    j = j.filter((j.date > ln.start) | j.platelets.notnull())
    ev = engine.materialize(
        j.select(ln.lk, days.date, after=days.date > ln.start, platelets=days.platelets,
                 bleed=days.bleed & (days.date > ln.start))
    )

    # -- baseline: the last count day on or before the start, at most 30 days before (30 counts) ---------
    b = ev.filter(ev.platelets.notnull(), ~ev.after)
    baseline = engine.materialize(
        b.group_by("lk").agg(baseline_platelets=engine.arg_max(b.platelets, b.date))
    )

    # -- the window's events: count days and bleeding days, start < date <= evaluation end ---------------
    ev = ev.filter(ev.after).drop("after")
    ev = ev.left_join(baseline, "lk").drop("lk_right")
    v, base, bleed = ev.platelets, ev.baseline_platelets, ev.bleed
    is_count = v.notnull()
    # [IWG2009] CR: >= 100 x10^9/L and absence of bleeding
    q_cr = is_count & ~bleed & (v >= CR_MIN_PLATELETS)
    # [IWG2009] R: >= 30 AND at least 2-fold baseline, absence of bleeding (no baseline: only CR qualifies)
    q_r = is_count & ~bleed & base.notnull() & (v >= R_MIN_PLATELETS) & (v >= R_MIN_FOLD * base)
    q_rb = q_cr | q_r
    # surely non-qualifying (NR evidence): bleeding, or < 30 without a baseline, or not R-or-better with one
    fails = is_count & (bleed | ibis.ifelse(base.isnull(), v < R_MIN_PLATELETS, ~q_rb))
    ev = ev.mutate(q_cr=q_cr, q_rb=q_rb, fails=fails, is_count=is_count)
    w = ibis.window(group_by="lk", order_by="date", preceding=None, following=0)
    # every non-qualifying event (count or bleeding day) closes a run of qualifying days. Both levels'
    # running counts are ONE running sum (CR's in the high bits, R-or-better's in the low 32 bits: a
    # line has far fewer than 2^31 days), split again below: one sum over the window instead of two
    # (issue #12: the window is the costliest step of the responses)
    both = (~ev.q_cr).cast("int64") * _RUN_SPLIT + (~ev.q_rb).cast("int64")
    ev = ev.mutate(run=both.sum().over(w))
    ev = ev.mutate(run_cr=ev.run // _RUN_SPLIT, run_rb=ev.run % _RUN_SPLIT).drop("run")
    ev = engine.materialize(ev.drop("baseline_platelets", "platelets"))  # the flags say all that is needed

    # -- per line: the first confirmed day of each level, and the NR evidence -------------------------------
    # A run's first qualifying day is confirmed exactly when the run's last qualifying day is >= 7 days
    # later, and it is then the run's earliest confirmed day; so the line's first confirmed day is the
    # earliest such run start (hash aggregations, no second sort).
    per = ev.group_by("lk").agg(
        # [IWG2009] NR: 2 failing counts at least 1 day apart (count days are distinct days)
        fail_first=ev.date.min(where=ev.fails),
        fail_last=ev.date.max(where=ev.fails),
        last_count=ev.date.max(where=ev.is_count),  # iwg._status: the count that judges a line
    )
    for lvl in ("cr", "rb"):
        qd = ev.filter(ev[f"q_{lvl}"])
        runs = qd.group_by(["lk", qd[f"run_{lvl}"].name("run")]).agg(first=qd.date.min(), last=qd.date.max())
        # [IWG2009] confirmed by another qualifying count at least 7 days later, nothing failing between
        runs = runs.filter(_days_after(runs["last"], runs["first"]) >= CONFIRM_MIN_DAYS)
        best = runs.group_by("lk").agg(
            **{f"{lvl}_first": runs["first"].min(), f"{lvl}_run": engine.arg_min(runs.run, runs["first"])}
        )
        per = per.left_join(best, "lk").drop("lk_right")
    per = engine.materialize(per)
    # the confirming day of the first pair: the first qualifying day of its run >= 7 days after it
    j = ev.join(per.filter(per.rb_first.notnull()), "lk")
    conf = j.group_by("lk").agg(
        cr_confirm=j.date.min(
            where=j.q_cr & (j.run_cr == j.cr_run) & (_days_after(j.date, j.cr_first) >= CONFIRM_MIN_DAYS)
        ),
        rb_confirm=j.date.min(
            where=j.q_rb & (j.run_rb == j.rb_run) & (_days_after(j.date, j.rb_first) >= CONFIRM_MIN_DAYS)
        ),
    )
    per = engine.materialize(per.left_join(conf, "lk").drop("lk_right"))

    # -- loss of response, after the confirming count of the level reached ---------------------------------
    j = ev.join(per.filter(per.rb_first.notnull()), "lk")
    is_cr = j.cr_first.notnull()
    achieved = ibis.ifelse(is_cr, j.cr_confirm, j.rb_confirm)
    lost = j.filter(j.date > achieved).mutate(
        fails_level=ibis.ifelse(is_cr, ~j.q_cr, ~j.q_rb),
        fails_r=~j.q_rb,  # the R level, after the same confirming count (what fails a line)
    )
    counts_after = lost.filter(lost.is_count)
    wc = ibis.window(group_by="lk", order_by="date")
    # [IWG2009] loss: 2 failing counts at least 1 day apart with no qualifying count between them
    counts_after = counts_after.mutate(
        next_fails=counts_after.fails_level.lead().over(wc), next_fails_r=counts_after.fails_r.lead().over(wc)
    )
    pair = counts_after.group_by("lk").agg(
        pair_first=counts_after.date.min(
            where=counts_after.fails_level & counts_after.next_fails.fill_null(False)
        ),
        pair_r_first=counts_after.date.min(
            where=counts_after.fails_r & counts_after.next_fails_r.fill_null(False)
        ),
    )
    first_bleed = lost.group_by("lk").agg(bleed_first=lost.date.min(where=lost.bleed))
    loss = pair.outer_join(first_bleed, "lk")

    def first_of(pair_first: ibis.Value, bleed_first: ibis.Value) -> ibis.Value:
        # [IWG2009] loss of CR or R: whichever comes first, the failing pair or the bleeding
        return ibis.ifelse(
            pair_first.isnull(),
            bleed_first,
            ibis.ifelse(bleed_first.isnull() | (pair_first <= bleed_first), pair_first, bleed_first),
        )

    loss = loss.select(
        lk=ibis.coalesce(loss.lk, loss.lk_right),
        loss_of_response_date=first_of(loss.pair_first, loss.bleed_first),
        # a fall from CR that stays >= 30 and >= 2x baseline is still a response (iwg: response_lost_date)
        response_lost_date=first_of(loss.pair_r_first, loss.bleed_first),
    )

    # -- one row a line ------------------------------------------------------------------------------------
    out = ln.left_join(baseline, "lk").drop("lk_right")
    out = out.left_join(per, "lk").drop("lk_right")
    out = out.left_join(loss, "lk").drop("lk_right")
    two_fails = out.fail_last.notnull() & (_days_after(out.fail_last, out.fail_first) >= NR_MIN_DAYS_APART)
    category = ibis.cases(
        (out.cr_first.notnull(), "CR"),
        (out.rb_first.notnull(), "R"),
        (two_fails, "NR"),
        else_="NE",
    )
    out = out.mutate(
        category=category,
        days_evaluated=_days_after(out.evaluation_end, out.start).cast("int32"),
        time_to_response_days=out.rb_first.delta(out.start, unit="day").cast("int32"),
    )
    return out.select(
        "patient_id",
        "line",
        "agents",
        "start",
        "baseline_platelets",
        "category",
        "time_to_response_days",
        time_to_complete_response_days=out.cr_first.delta(out.start, unit="day").cast("int32"),
        loss_of_response_date=out.loss_of_response_date,
        evaluation_end=out.evaluation_end,
        expected_response_days=out.expected_response_days,
        days_evaluated=out.days_evaluated,
        status=line_status(out),
        response_lost_date=out.response_lost_date,
        last_given=out.last_given,
    )


def line_status(t: ibis.Table) -> ibis.Value:
    """iwg._status: the line on its agents' clock, and which kind of failure or relapse it had."""
    no_pair = t.category.isin(["NR", "NE"])
    # [IWG2009] judged once the agents' time has passed, by a count current then or later, not by the
    # calendar alone (iwg._status; clinical-review.md H2): no count after the start, or none since
    # (start + expected_response_days - CURRENT_COUNT_DAYS)
    counted = _days_after(t.last_count, t.start)
    early = no_pair & (
        (t.days_evaluated < t.expected_response_days)
        | t.last_count.isnull()
        | (counted < t.expected_response_days - CURRENT_COUNT_DAYS)
    )
    lost = t.response_lost_date
    # time from the first R-or-better count to the loss, in days
    held = _days_after(lost, t.start) - t.time_to_response_days
    return ibis.cases(
        # before the agents' time has passed a line without response is not a failure
        # the last line is still under evaluation; an earlier one was changed before it could be judged
        (early & (t.evaluation_end >= t.at), "under_evaluation"),
        (early, "changed_before_evaluable"),
        (t.category == "NR", "no_response"),
        (t.category == "NE", "not_evaluable"),
        (lost.isnull() & (t.category == "CR"), "complete_response"),
        (lost.isnull(), "response"),
        (t.last_given.isnull() | (lost <= t.last_given), "response_lost_on_treatment"),
        # [WEI2016] a response held >= 6 months, then lost after the agent was stopped
        (
            t.time_to_response_days.notnull() & (held >= DURABLE_RESPONSE_DAYS),
            "relapse_after_durable_response",
        ),
        else_="relapse_after_stopping",
    )


__all__ = [
    "bleeding_events", "daily_counts", "iwg_responses", "line_status", "patient_days", "platelet_counts",
]
