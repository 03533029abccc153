"""IWG response of every treatment line, set-based: the cohort twin of
``sleitp.instruments.iwg.iwg_responses``.

The rules are the reference's, written out in docs/iwg-response.md; here is how each becomes a set
operation (no loop over patients or lines):

- one platelet count a day, the lowest of the day (group by patient and date); bleeding days are days with
  a WHO grade >= 1 event;
- every line gets one key (``lk``: an int64 on DuckDB; the string ``patient_id:line`` on Spark, where a
  global row_number would run in one partition), so the joins, sorts and group-bys below use one column;
- the patient-days that matter (count days, flagged when also bleeding days, and bleeding days without a
  count) are joined to the lines ONCE, from 30 days before the start through the evaluation end (one range
  join, materialized); the baseline and the evaluation window are both read from that table;
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
  of two consecutive count days that both fail that level, or the first bleeding day, whichever is first.
"""

from __future__ import annotations

import ibis

from ..instruments.iwg import (
    BASELINE_LOOKBACK_DAYS,
    CONFIRM_MIN_DAYS,
    CR_MIN_PLATELETS,
    NR_MIN_DAYS_APART,
    R_MIN_FOLD,
    R_MIN_PLATELETS,
)
from .engine import Engine
from .sources import plausible


def _days(n: int):
    return ibis.interval(days=n)


def daily_counts(labs: ibis.Table, assessment: ibis.Table) -> ibis.Table:
    """``patient_id, date, platelets``: one count a day, the lowest of the day, up to the assessment date."""
    p = labs.filter(labs.test == "platelets", plausible(labs, ["platelets"]))
    p = p.join(assessment, "patient_id")
    p = p.filter(p.date <= p.at)
    return p.group_by(["patient_id", "date"]).agg(platelets=p.value.min())


def bleeding_days(bleeding: ibis.Table, assessment: ibis.Table) -> ibis.Table:
    """``patient_id, date``: days with a bleeding event of WHO grade >= 1, up to the assessment date."""
    b = bleeding.filter(bleeding.who_grade >= 1).join(assessment, "patient_id")
    b = b.filter(b.date <= b.at)
    return b.select("patient_id", "date").distinct()


def iwg_responses(lines: ibis.Table, counts: ibis.Table, bleeds: ibis.Table, engine: Engine) -> ibis.Table:
    """One row a line: ``patient_id, line, agents, start, baseline_platelets, category,
    time_to_response_days, time_to_complete_response_days, loss_of_response_date, evaluation_end``."""
    # one key a line for every join, sort and group-by below. On DuckDB an int64 (row_number) instead of
    # (patient_id string, line) is most of the saving at 1M patients; on Spark a global row_number would
    # sort every line in one partition, so the key there is the string "patient_id:line" (unique, shuffles).
    if engine.backend == "spark":
        key = lines.patient_id.concat(ibis.literal(":"), lines.line.cast("string"))
    else:
        key = ibis.row_number().over(ibis.window(order_by=["patient_id", "line"]))
    ln = engine.materialize(lines.mutate(lk=key))

    # -- every patient-day that matters, read once: count days (flagged when also a bleeding day) and
    # bleeding days without a count, from 30 days before the start through the evaluation end ----------
    bl = bleeds.select("patient_id", "date", bleed=ibis.literal(True))
    cb = counts.left_join(bl, ["patient_id", "date"])
    days = cb.select(cb.patient_id, cb.date, cb.platelets, bleed=cb.bleed.fill_null(False))
    only_bleed = bleeds.anti_join(counts, ["patient_id", "date"]).select(
        "patient_id", "date", platelets=ibis.null(counts.platelets.type()), bleed=ibis.literal(True)
    )
    days = days.union(only_bleed, distinct=False)
    j = days.join(
        ln,
        [
            days.patient_id == ln.patient_id,
            days.date >= ln.start - _days(BASELINE_LOOKBACK_DAYS),
            days.date <= ln.evaluation_end,
        ],
    )
    ev = engine.materialize(j.select(ln.lk, ln.start, days.date, days.platelets, days.bleed))

    # -- baseline: the last count day on or before the start, at most 30 days before (30 counts) ---------
    b = ev.filter(ev.platelets.notnull(), ev.date <= ev.start)
    baseline = engine.materialize(b.group_by("lk").agg(baseline_platelets=b.platelets.argmax(b.date)))

    # -- the window's events: count days and bleeding days, start < date <= evaluation end ---------------
    ev = ev.filter(ev.date > ev.start).drop("start")
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
    # every non-qualifying event (count or bleeding day) closes a run of qualifying days
    ev = ev.mutate(
        run_cr=(~ev.q_cr).cast("int64").sum().over(w), run_rb=(~ev.q_rb).cast("int64").sum().over(w)
    )
    ev = engine.materialize(ev.drop("baseline_platelets"))

    # -- per line: the first confirmed day of each level, and the NR evidence -------------------------------
    # A run's first qualifying day is confirmed exactly when the run's last qualifying day is >= 7 days
    # later, and it is then the run's earliest confirmed day; so the line's first confirmed day is the
    # earliest such run start (hash aggregations, no second sort).
    per = ev.group_by("lk").agg(
        # [IWG2009] NR: 2 failing counts at least 1 day apart (count days are distinct days)
        fail_first=ev.date.min(where=ev.fails),
        fail_last=ev.date.max(where=ev.fails),
    )
    for lvl in ("cr", "rb"):
        qd = ev.filter(ev[f"q_{lvl}"])
        runs = qd.group_by(["lk", qd[f"run_{lvl}"].name("run")]).agg(first=qd.date.min(), last=qd.date.max())
        # [IWG2009] confirmed by another qualifying count at least 7 days later, nothing failing between
        runs = runs.filter(runs["last"] >= runs["first"] + _days(CONFIRM_MIN_DAYS))
        best = runs.group_by("lk").agg(
            **{f"{lvl}_first": runs["first"].min(), f"{lvl}_run": runs.run.argmin(runs["first"])}
        )
        per = per.left_join(best, "lk").drop("lk_right")
    per = engine.materialize(per)
    # the confirming day of the first pair: the first qualifying day of its run >= 7 days after it
    j = ev.join(per.filter(per.rb_first.notnull()), "lk")
    conf = j.group_by("lk").agg(
        cr_confirm=j.date.min(
            where=j.q_cr & (j.run_cr == j.cr_run) & (j.date >= j.cr_first + _days(CONFIRM_MIN_DAYS))
        ),
        rb_confirm=j.date.min(
            where=j.q_rb & (j.run_rb == j.rb_run) & (j.date >= j.rb_first + _days(CONFIRM_MIN_DAYS))
        ),
    )
    per = engine.materialize(per.left_join(conf, "lk").drop("lk_right"))

    # -- loss of response, after the confirming count of the level reached ---------------------------------
    j = ev.join(per.filter(per.rb_first.notnull()), "lk")
    is_cr = j.cr_first.notnull()
    achieved = ibis.ifelse(is_cr, j.cr_confirm, j.rb_confirm)
    lost = j.filter(j.date > achieved).mutate(
        fails_level=ibis.ifelse(is_cr, ~j.q_cr, ~j.q_rb),
    )
    counts_after = lost.filter(lost.is_count)
    wc = ibis.window(group_by="lk", order_by="date")
    # [IWG2009] loss: 2 failing counts at least 1 day apart with no qualifying count between them
    counts_after = counts_after.mutate(next_fails=counts_after.fails_level.lead().over(wc))
    pair = counts_after.group_by("lk").agg(
        pair_first=counts_after.date.min(
            where=counts_after.fails_level & counts_after.next_fails.fill_null(False)
        )
    )
    first_bleed = lost.group_by("lk").agg(bleed_first=lost.date.min(where=lost.bleed))
    loss = pair.outer_join(first_bleed, "lk")
    loss = loss.select(
        lk=ibis.coalesce(loss.lk, loss.lk_right),
        # [IWG2009] loss of CR or R: whichever comes first, the failing pair or the bleeding
        loss_of_response_date=ibis.ifelse(
            loss.pair_first.isnull(),
            loss.bleed_first,
            ibis.ifelse(
                loss.bleed_first.isnull() | (loss.pair_first <= loss.bleed_first),
                loss.pair_first,
                loss.bleed_first,
            ),
        ),
    )

    # -- one row a line ------------------------------------------------------------------------------------
    out = ln.left_join(baseline, "lk").drop("lk_right")
    out = out.left_join(per, "lk").drop("lk_right")
    out = out.left_join(loss, "lk").drop("lk_right")
    two_fails = out.fail_last.notnull() & (out.fail_last >= out.fail_first + _days(NR_MIN_DAYS_APART))
    category = ibis.cases(
        (out.cr_first.notnull(), "CR"),
        (out.rb_first.notnull(), "R"),
        (two_fails, "NR"),
        else_="NE",
    )
    return out.select(
        "patient_id",
        "line",
        "agents",
        "start",
        "baseline_platelets",
        category=category,
        time_to_response_days=out.rb_first.delta(out.start, unit="day").cast("int32"),
        time_to_complete_response_days=out.cr_first.delta(out.start, unit="day").cast("int32"),
        loss_of_response_date=out.loss_of_response_date,
        evaluation_end=out.evaluation_end,
    )


__all__ = ["bleeding_days", "daily_counts", "iwg_responses"]
