"""What each treatment course is, set-based: the cohort twin of ``sleitp.instruments.iwg.course_roles``.

A course is an ITP line's (``itp_line``), background SLE therapy (``background``), not ITP treatment
(``not_itp_treatment``), or an antiviral that counts only with high-dose dexamethasone
(``with_dexamethasone``, placed on a line by ``derive_lines``). The rules are the reference's
(``iwg._role``, docs/iwg-response.md "Lines"), in its order:

1. anticoagulants, antiplatelets, tranexamic acid, platelet transfusion: not ITP treatment;
2. oseltamivir: with dexamethasone only [SUN2021], whatever the record's indication;
3. the record's ``indication`` wins: itp -> line, sle -> background, other -> not ITP treatment;
4. hydroxychloroquine: background (spec/record.md); an agent without a lupus indication: a line;
5. no ITP onset (no ``itp_diagnosis_date``, no count < 100): a line;
6. started before onset: background when onset is the diagnosis date, or when a count (>= 100, since
   onset is the first count < 100) lies in [start - 30 days, onset);
7. otherwise the course depends on the roles of the courses before it (in the record's order: start,
   agent, then row order): background when its baseline is >= 100 and no ITP course is given on its start
   day; else background when it continues (same agent, open or ended <= gap days before) the last
   background course of its agent without a higher daily amount; else a line.

Rules 1-6 are one CASE over all courses. Rule 7 is a recursion over earlier courses; it is solved by
rounds, each one set operation over every patient at once (never a loop over patients): a course is
decided in the round after every course it depends on (the earlier courses given on its start day, and the
earlier courses of its agent that it could continue) is decided. Rounds = the longest chain of such
dependencies (1-3 in typical data; most courses depend on nothing and are decided in the first).
The escalation test compares daily amounts (``iwg._daily_amount``): glucocorticoids in prednisone
equivalents [GC-EQUIV], other agents dose x administrations a day, both in set-based arithmetic.
"""

from __future__ import annotations

import ibis

from sleitp.cohort.engine import Engine
from sleitp.instruments.glucocorticoids import _ONCE, _PER_DAY, _WEEKLY, MG_EQUIVALENT_TO_5MG_PREDNISONE
from sleitp.instruments.iwg import _DEX as DEXAMETHASONE_MG_PER_5MG_PREDNISONE
from sleitp.instruments.iwg import (
    BASELINE_LOOKBACK_DAYS,
    ITP_COUNT,
    NOT_ITP_TREATMENT,
    NOT_LINE_FORMING,
    SLE_THERAPIES,
    WITH_DEXAMETHASONE_ONLY,
)
from sleitp.record import GLUCOCORTICOIDS
from sleitp.timeline import SINGLE_DOSE_WORDS

MAX_ROUNDS = 10_000  # a guard only: each round decides at least the first undecided course of each patient
ITP, BACKGROUND, NOT_ITP, WITH_DEX = "itp_line", "background", "not_itp_treatment", "with_dexamethasone"
# iwg._daily_amount, agents other than glucocorticoids: administrations a day of each frequency word
OTHER_PER_DAY = {"daily": 1.0, "qd": 1.0, "od": 1.0, "bid": 2.0, "tid": 3.0, "qid": 4.0, "weekly": 1 / 7}
PER_KG_MG = {"mg/kg": 1.0, "g/kg": 1000.0, "ug/kg": 0.001}  # unit arithmetic (glucocorticoids._read)


def _days(n: int):
    return ibis.interval(days=n)


def _date(x: ibis.Value) -> ibis.Value:
    return x.cast("timestamp").date()  # DuckDB: date +/- interval is a timestamp


def _word(frequency: ibis.Value) -> ibis.Value:
    return frequency.fill_null("").strip().lower()


def single_dose(t: ibis.Table) -> ibis.Value:
    """Given on its start day only (timeline.is_running): a ``once`` course, or a splenectomy."""
    return _word(t.frequency).isin(sorted(SINGLE_DOSE_WORDS)) | (t.agent == "splenectomy")


def _glucocorticoid_amount(t: ibis.Table) -> ibis.Value:
    """Prednisone-equivalent mg a day [GC-EQUIV] (glucocorticoids.course_daily_prednisone_equivalent with
    no height: mg/m2 is unknown), null when unknown; the same operations in the same order."""
    w = _word(t.frequency)
    per_day = ibis.cases(
        (w == "", 1.0),  # no frequency: daily
        *[(w == k, v) for k, v in _PER_DAY.items()],
        (w.isin(sorted(_WEEKLY)), 1.0 / 7.0),
        (w.isin(sorted(_ONCE)), 1.0),
        else_=ibis.null("float64"),
    )
    mg = ibis.cases(
        (t.dose_unit == "mg", t.dose),
        *[(t.dose_unit == u, t.dose * f * t.weight_kg) for u, f in PER_KG_MG.items()],
        else_=ibis.null("float64"),
    )
    factor = ibis.cases(
        (t.agent == "dexamethasone", 5.0 / DEXAMETHASONE_MG_PER_5MG_PREDNISONE),
        *[(t.agent == a, 5.0 / mg5) for a, mg5 in MG_EQUIVALENT_TO_5MG_PREDNISONE.items()],
        else_=ibis.null("float64"),
    )
    return mg * factor * per_day


def _other_amount(t: ibis.Table) -> ibis.Value:
    w = ibis.ifelse(t.frequency.isnull() | (t.frequency == ""), "daily", t.frequency).strip().lower()
    per_day = ibis.cases(*[(w == k, v) for k, v in OTHER_PER_DAY.items()], else_=ibis.null("float64"))
    return t.dose * per_day


def daily_amount(t: ibis.Table) -> ibis.Value:
    """iwg._daily_amount: the course's amount a day, comparable between two courses of one agent."""
    return ibis.ifelse(
        t.agent.isin(list(GLUCOCORTICOIDS)), _glucocorticoid_amount(t), _other_amount(t)
    ).cast("float64")


def itp_onsets(assessment: ibis.Table, patients: ibis.Table, counts: ibis.Table) -> ibis.Table:
    """``patient_id, at, onset, diagnosed``: ``itp_diagnosis_date``, else the first count < 100 up to
    ``at`` (Timeline.itp_onset); ``diagnosed``: the onset is the diagnosis date."""
    p = assessment.join(patients.select("patient_id", "itp_diagnosis_date", "weight_kg"), "patient_id")
    undated = p.filter(p.itp_diagnosis_date.isnull()).select("patient_id", "at")
    low = counts.join(undated, "patient_id")
    low = low.filter(low.platelets < ITP_COUNT, low.date <= low.at)  # [IWG2009] ITP: < 100
    first_low = low.group_by("patient_id").agg(first_low=low.date.min())
    j = p.left_join(first_low, "patient_id")
    return j.select(
        patient_id=p.patient_id,
        at=p.at,
        weight_kg=p.weight_kg,
        onset=ibis.coalesce(j.itp_diagnosis_date, j.first_low),
        diagnosed=j.itp_diagnosis_date.notnull(),
    )


def course_roles(
    treatments: ibis.Table,
    onsets: ibis.Table,
    counts: ibis.Table,
    engine: Engine,
    *,
    continuation_gap_days: int,
) -> ibis.Table:
    """Every course started on or before ``at``: ``patient_id, k`` (its place in the record's order),
    ``agent, start, end, frequency, at, role``."""
    c = treatments.join(onsets, "patient_id")
    c = c.filter(c.start <= c.at)
    w = ibis.window(group_by="patient_id", order_by=["start", "agent", "seq"])
    c = c.mutate(k=ibis.row_number().over(w), amount=daily_amount(c), single=single_dose(c))
    c = engine.materialize(
        c.select(
            "patient_id", "k", "agent", "start", "end", "frequency", "dose_unit", "indication", "at",
            "onset", "diagnosed", "amount", "single",
        )
    )
    # rule 6: before an inferred onset, a count in [start - 30 days, onset) shows it was not started for ITP
    early = c.filter(
        c.agent.isin(sorted(SLE_THERAPIES)), c.indication.isnull(), c.start < c.onset, ~c.diagnosed
    )
    ej = early.join(counts, [early.patient_id == counts.patient_id])
    ej = ej.filter(ej.date >= _date(ej.start - _days(BASELINE_LOOKBACK_DAYS)), ej.date < ej.onset)
    normal = ej.select(patient_id=early.patient_id, k=early.k, normal=ibis.literal(True)).distinct()
    c = c.left_join(normal, ["patient_id", "k"]).drop("patient_id_right", "k_right")
    agent, ind = c.agent, c.indication
    fixed = ibis.cases(
        (agent.isin(sorted(NOT_ITP_TREATMENT)), NOT_ITP),  # rule 1
        (agent.isin(sorted(WITH_DEXAMETHASONE_ONLY)), WITH_DEX),  # rule 2 [SUN2021]
        (ind == "sle", BACKGROUND),  # rule 3: the record's indication wins
        (ind == "other", NOT_ITP),
        (ind == "itp", ITP),
        (agent.isin(sorted(NOT_LINE_FORMING)), BACKGROUND),  # rule 4
        (~agent.isin(sorted(SLE_THERAPIES)), ITP),
        (c.onset.isnull(), ITP),  # rule 5
        ((c.start < c.onset) & (c.diagnosed | c.normal.fill_null(False)), BACKGROUND),  # rule 6
        else_=ibis.null("string"),
    )
    c = engine.materialize(c.mutate(role=fixed).drop("normal"))
    roles = c.select("patient_id", "k", "role")
    pending = c.filter(c.role.isnull())
    if engine.count(pending) == 0:
        return c.drop("dose_unit", "indication", "onset", "diagnosed", "amount", "single")

    # rule 7, part 1: the baseline of each undecided course (last day with a count in [start - 30, start],
    # the lowest count of that day, as Timeline.baseline) is >= 100
    bj = pending.join(counts, [pending.patient_id == counts.patient_id])
    bj = bj.filter(bj.date >= _date(bj.start - _days(BASELINE_LOOKBACK_DAYS)), bj.date <= bj.start)
    # ``counts`` are one a day already (``derive_iwg.daily_counts``: the lowest of the day), so the last
    # day's count is an arg-max over the joined rows, without a group-by a day first (issue #12)
    base = bj.group_by([pending.patient_id, pending.k]).agg(base=engine.arg_max(bj.platelets, bj.date))
    pending = pending.left_join(base, ["patient_id", "k"]).drop("patient_id_right", "k_right")
    pending = engine.materialize(
        pending.select(
            "patient_id", "k", "agent", "start", "dose_unit", "amount",
            normal_start=pending.base.notnull() & (pending.base >= ITP_COUNT),  # [IWG2009] not ITP at >= 100
        )
    )
    # the earlier courses each undecided course depends on: those given on its start day (only when its
    # baseline is >= 100: otherwise "ITP treatment running" changes nothing) and the earlier courses of its
    # agent it could continue (open, or ended at most ``continuation_gap_days`` before its start)
    e = c.select(
        "patient_id",
        ek="k",
        e_agent="agent",
        e_start="start",
        e_end="end",
        e_single="single",
        e_amount="amount",
        e_unit="dose_unit",
    )
    pj = pending.join(e, [pending.patient_id == e.patient_id, e.ek < pending.k])
    given = ibis.ifelse(pj.e_single, pj.e_start == pj.start, pj.e_end.isnull() | (pj.start <= pj.e_end))
    continues = (pj.e_agent == pj.agent) & (
        pj.e_end.isnull() | (pj.start <= _date(pj.e_end + _days(continuation_gap_days)))
    )
    pj = pj.filter((pj.normal_start & given) | continues)
    pairs = engine.materialize(
        pj.select(
            patient_id=pending.patient_id, k=pending.k, ek=pj.ek, given=given, continues=continues,
            e_amount=pj.e_amount, e_unit=pj.e_unit,
        )
    )
    for _ in range(MAX_ROUNDS):
        r = pairs.join(roles.select("patient_id", ek="k", e_role="role"), ["patient_id", "ek"])
        is_bg = r.continues & (r.e_role == BACKGROUND)
        agg = r.group_by(["patient_id", "k"]).agg(
            undecided=r.e_role.isnull().cast("int64").sum(),
            # "ITP treatment running": an earlier ITP course given on the start day
            on_itp=(r.given & (r.e_role == ITP)).any(),
            # the LAST background course of the agent that this one continues (iwg._continues: hits[-1])
            prior_k=r.ek.max(where=is_bg),
            prior_amount=engine.arg_max(r.e_amount, r.ek, where=is_bg),
            prior_unit=engine.arg_max(r.e_unit, r.ek, where=is_bg),
        )
        j = pending.left_join(agg, ["patient_id", "k"])
        ready = j.undecided.fill_null(0) == 0
        on_itp = j.on_itp.fill_null(False)
        # iwg._escalates: a higher daily amount in the same dose unit (glucocorticoids: any unit, as
        # prednisone equivalents)
        unit_differs = ~j.dose_unit.identical_to(j.prior_unit) & ~j.agent.isin(list(GLUCOCORTICOIDS))
        known = j.amount.notnull() & j.prior_amount.notnull()
        escalates = ~unit_differs & known & (j.amount > j.prior_amount)
        role = ibis.cases(
            (j.normal_start & ~on_itp, BACKGROUND),  # started in remission, off ITP treatment
            (j.prior_k.notnull() & ~escalates, BACKGROUND),  # continues background without escalation
            else_=ITP,
        )
        decided = j.filter(ready).select(patient_id=pending.patient_id, k=pending.k, new_role=role)
        decided = engine.materialize(decided)
        nr = roles.left_join(decided, ["patient_id", "k"])
        roles = engine.materialize(
            nr.select(patient_id=roles.patient_id, k=roles.k, role=ibis.coalesce(nr.role, nr.new_role))
        )
        pending = engine.materialize(pending.anti_join(decided, ["patient_id", "k"]))
        if engine.count(pending) == 0:
            break
        pairs = engine.materialize(pairs.semi_join(pending, ["patient_id", "k"]))
    out = c.drop("role", "dose_unit", "indication", "onset", "diagnosed", "amount", "single")
    return engine.materialize(out.join(roles, ["patient_id", "k"]))


__all__ = ["course_roles", "daily_amount", "itp_onsets", "single_dose"]
