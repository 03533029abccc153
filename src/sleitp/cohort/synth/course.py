"""Platelet trajectories that REALISE each treatment line's planned IWG outcome.

A line is simulated as a grid of visits after its start (dense visits 7-10 days apart, then monthly,
then quarterly). Every gap is at least 7 days, so two consecutive qualifying counts are always a
confirmed response under the IWG rule of spec/record.md [IWG2009], and two consecutive non-qualifying
counts are always at least 1 day apart (NR, loss of response). Counts are whole numbers (10^9/L) and
are drawn so that each one is unambiguous under every reading of the rules:

* non-qualifying: below max(30, 2 x baseline) and below 100 (fails R and CR);
* R level: >= 30 and >= 2 x baseline, below 100 (qualifies for R, not CR);
* CR level: >= 100 and >= 2 x baseline (qualifies for CR and for R);
* loss of response: below 30 (fails R, and CR, whatever the baseline).

No bleeding is generated after a line starts, so no count is disqualified by a same-day bleed.
Everything is vectorised over the patients that have the line (arrays, no loop per patient).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sleitp.cohort.synth import params as P

N_DENSE, N_MONTHLY, N_VISITS = 8, 4, 40  # visit slots per line


def visit_days(rng: np.random.Generator, n: int) -> np.ndarray:
    """Days after the line's start of visits 1..N_VISITS (n x N_VISITS); every gap >= 7 days."""
    gaps = np.empty((n, N_VISITS), dtype=np.int32)
    gaps[:, :N_DENSE] = rng.integers(7, 11, size=(n, N_DENSE))  # weekly-ish while treatment acts
    gaps[:, N_DENSE : N_DENSE + N_MONTHLY] = rng.integers(28, 36, size=(n, N_MONTHLY))
    gaps[:, N_DENSE + N_MONTHLY :] = rng.integers(85, 96, size=(n, N_VISITS - N_DENSE - N_MONTHLY))
    return np.cumsum(gaps, axis=1, dtype=np.int32)


def nonqualifying(rng: np.random.Generator, baseline: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Counts that fail R and CR: around the baseline, below max(30, 2 x baseline) and below 100."""
    b = baseline[:, None]
    v = np.floor(b * np.exp(rng.normal(0.0, 0.25, size=shape)))
    cap = np.minimum(np.maximum(30, 2 * b) - 1, 95)  # [IWG2009] R needs >= 30 AND >= 2x baseline
    return np.clip(v, 1, cap)


def r_level(rng: np.random.Generator, baseline: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Counts that qualify for R but not CR: in [max(30, 2 x baseline), 99] (needs baseline <= 49)."""
    lo = np.maximum(30, 2 * baseline[:, None])  # [IWG2009] >= 30 and at least twice baseline
    return np.floor(lo + rng.random(shape) * (100 - lo))


def cr_level(rng: np.random.Generator, baseline: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Counts that qualify for CR (>= 100) and for R (>= 2 x baseline): 100-350 log-uniform."""
    v = np.floor(np.exp(rng.uniform(np.log(100), np.log(351), size=shape)))  # [IWG2009] CR >= 100
    return np.maximum(v, 2 * baseline[:, None])


def loss_level(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Counts after a loss of response: below 30, so non-qualifying under any reading."""
    return rng.integers(3, 30, size=shape).astype(np.float64)


@dataclass
class LinePlan:
    """The planned (and realised) outcome of one line for the patients that have it (arrays)."""

    rows: np.ndarray  # patient row index within the chunk
    start: np.ndarray  # days after the first line's start
    baseline: np.ndarray  # the count on or before the start
    responds: np.ndarray  # bool
    complete: np.ndarray  # bool: CR (else R) among responders
    through_r: np.ndarray  # bool: CR reached after one R-level visit
    first_visit: np.ndarray  # visit index (1-based) of the first qualifying count
    relapse_delay: np.ndarray  # days after confirmation; relapse only if drawn
    relapses: np.ndarray  # bool (planned; cancelled when follow-up ends first, unless forced)
    force_relapse: np.ndarray | None = None  # bool: follow-up is extended so the relapse is seen
    consolidate: np.ndarray | None = None  # bool: a responder moves on to a consolidation line
    days: np.ndarray | None = None  # visit days (n x N_VISITS), when drawn beforehand


@dataclass
class LineResult:
    rows: np.ndarray
    start: np.ndarray
    baseline: np.ndarray
    category: np.ndarray  # "CR" | "R" | "NR" | "NE"
    ttr: np.ndarray  # days, -1 = none
    ttcr: np.ndarray  # days, -1 = none
    loss: np.ndarray  # days after the first line's start, -1 = none
    next_start: np.ndarray  # days after the first line's start, -1 = no next line
    last_count: np.ndarray  # value of the last count of the line (the next line's baseline)
    follow_up_end: np.ndarray  # possibly extended so the planned outcome is observable
    count_days: np.ndarray  # (n x N_VISITS) days after the first line's start
    count_values: np.ndarray  # (n x N_VISITS)
    count_mask: np.ndarray  # (n x N_VISITS) bool: the visit happened within the line


def realise_line(
    rng: np.random.Generator,
    plan: LinePlan,
    follow_up_end: np.ndarray,
    *,
    last_line: bool,
    not_evaluable: np.ndarray | None = None,
) -> LineResult:
    """Visits and counts of one line that realise ``plan``; the next line's start after NR or loss.

    ``follow_up_end`` (days after the first line's start) is extended when needed so that the planned
    category is observable (a response's confirmation, or two non-qualifying counts) - except for
    ``not_evaluable`` patients, whose follow-up ends after one post-start count (category NE).
    """
    n = len(plan.rows)
    days = visit_days(rng, n) if plan.days is None else plan.days  # relative to the line's start
    no = np.zeros(n, dtype=bool)
    force = no if plan.force_relapse is None else plan.force_relapse
    consolidate = no if plan.consolidate is None else plan.consolidate & plan.responds
    idx = np.arange(1, N_VISITS + 1)[None, :]
    b = plan.baseline
    complete = plan.complete | (b > 49)  # R is impossible when 2 x baseline >= 100: reached as CR
    through_r = plan.through_r & complete & (b <= 49)
    k = plan.first_visit[:, None]
    responds = plan.responds[:, None]

    values = nonqualifying(rng, b, (n, N_VISITS))
    r_vals, cr_vals = r_level(rng, np.minimum(b, 49), (n, N_VISITS)), cr_level(rng, b, (n, N_VISITS))
    resp_phase = responds & (idx >= k)
    at_r = resp_phase & (~complete[:, None] | (through_r[:, None] & (idx == k)))
    values = np.where(at_r, r_vals, np.where(resp_phase, cr_vals, values))

    # the visit that confirms the response (R: k+1; CR through R: k+2 confirms CR; CR direct: k+1)
    confirm = plan.first_visit + np.where(through_r, 2, 1)
    pick = lambda j: np.take_along_axis(days, (np.clip(j, 1, N_VISITS) - 1)[:, None], axis=1)[:, 0]  # noqa: E731
    needed_visit = np.where(plan.responds, confirm, np.where(last_line, 2, P.NR_SECOND_LINE_VISIT))
    needed_day = plan.start + pick(needed_visit)
    fu = np.maximum(follow_up_end, needed_day)
    if not_evaluable is not None:
        fu = np.where(not_evaluable, plan.start + days[:, 0], fu)

    # loss of response: two consecutive counts < 30 from the first visit on or after the delay
    relapse_from = pick(confirm) + plan.relapse_delay
    k_rel = 1 + np.argmax(days >= relapse_from[:, None], axis=1)
    has_slot = (days[:, -1] >= relapse_from) & (k_rel + 1 <= N_VISITS)
    if not_evaluable is not None:
        force = force & ~not_evaluable  # lost to follow-up: nothing is seen after the first visit
    fu = np.where(force & plan.responds & has_slot, np.maximum(fu, plan.start + pick(k_rel + 1)), fu)
    relapses = plan.responds & plan.relapses & ~consolidate & has_slot & (plan.start + pick(k_rel + 1) <= fu)
    if not_evaluable is not None:
        relapses &= ~not_evaluable
    lost = relapses[:, None] & (idx >= k_rel[:, None])
    values = np.where(lost, loss_level(rng, (n, N_VISITS)), values)

    # where the line ends: the day after the trigger visit starts the next line
    # consolidation: two visits after the response is confirmed [LI2023: immunosuppressive maintenance]
    trigger = np.where(
        relapses,
        k_rel + 1,
        np.where(
            plan.responds, np.where(consolidate, np.minimum(confirm + 2, N_VISITS), 0), P.NR_SECOND_LINE_VISIT
        ),
    )
    has_next = (trigger > 0) & (not last_line)
    if not_evaluable is not None:
        has_next &= ~not_evaluable
    next_start = np.where(has_next, plan.start + pick(trigger) + 1, -1)
    fu = np.where(has_next, np.maximum(fu, next_start), fu)
    abs_days = plan.start[:, None] + days
    mask = abs_days <= fu[:, None]
    mask &= ~has_next[:, None] | (idx <= trigger[:, None])
    last_idx = mask.sum(axis=1)  # visits are in order, so the count of visits is the last index
    last_count = np.take_along_axis(values, (np.maximum(last_idx, 1) - 1)[:, None], axis=1)[:, 0]

    category = np.where(plan.responds, np.where(complete, "CR", "R"), "NR").astype(object)
    ttr = np.where(plan.responds, pick(plan.first_visit), -1)
    ttcr = np.where(plan.responds & complete, pick(plan.first_visit + through_r.astype(int)), -1)
    loss = np.where(relapses, plan.start + pick(k_rel), -1)
    if not_evaluable is not None:
        category[not_evaluable] = "NE"
        ttr, ttcr = np.where(not_evaluable, -1, ttr), np.where(not_evaluable, -1, ttcr)
    return LineResult(
        plan.rows,
        plan.start,
        b,
        category,
        ttr,
        ttcr,
        loss,
        next_start,
        last_count,
        fu,
        abs_days,
        values,
        mask,
    )


__all__ = [
    "LinePlan",
    "LineResult",
    "N_VISITS",
    "cr_level",
    "loss_level",
    "nonqualifying",
    "r_level",
    "realise_line",
    "visit_days",
]
