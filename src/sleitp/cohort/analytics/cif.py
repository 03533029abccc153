"""Time to response with competing events: Aalen-Johansen cumulative incidence and cause-specific Cox.

The naive curve (:mod:`.analytics_km`, 1 - Kaplan-Meier) censors a line at the next line's start. Patients
switch *because* the line is failing, so that censoring is informative and 1 - KM climbs towards 100%: it
estimates the response that would be seen if nobody ever switched [PUTTER2007]. Here the next line's start
is a **competing event**: once a patient has switched, response to that line can no longer happen.

Per line (``responses.parquet``; days from the line's start):

* event 1 **response**: R or CR reached, at ``time_to_response_days`` [IWG2009];
* event 2 **next line started**: no response and the patient has a later line, at the line's
  ``evaluation_end`` (the day before the next line's start, docs/iwg-response.md §2: the last day the
  line could show a response) - the day the naive curve censors it, so the two differ only in what
  that day means;
* event 0 **censored**: no response and no later line, at ``evaluation_end`` (the end of follow-up).
  NE lines are treated as in the naive curve (not a response; competing or censored as above).
* Death is **not** a competing event: the record (spec/record.md) carries no date of death, so the
  derived tables cannot hold one - stated in every output.

Estimators (lifelines [LIFELINES]): ``AalenJohansenFitter`` per cause [PUTTER2007], with Greenwood-type
variance and log(-log) 95% intervals (lifelines' own). lifelines "cannot deal with tied event times" and
jitters them at random; here days are whole numbers, so the lines are first collapsed to one weighted row
per (day, event) and the events of a day are put at day + 0 (response), + 0.25 (next line) and
censorings at day + 0.5. No two event times are then tied, nothing is jittered, results are
deterministic, and the point estimate equals the tie-exact Aalen-Johansen estimate (the increments of
simultaneous events do not depend on their order; censorings of a day follow its events, the usual
convention). Estimates are read at day + 0.75: the value at the end of that day.

Cause-specific Cox [COX1972, PUTTER2007]: lifelines ``CoxPHFitter`` (Efron ties) of each cause's hazard on
the group (other groups vs the first), the other cause and the end of follow-up censored; by line, a
patient contributes several lines, so the standard errors are robust (clustered by patient). Fine-Gray
(subdistribution hazards) is not offered: lifelines has none (software.md; PR #1689 open).
"""

from __future__ import annotations

import html
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sleitp.cohort.analytics.data import DerivedCohort, Exclusions
from sleitp.cohort.analytics.km import AT_RISK_DAYS, DrawsItself, group_lines
from sleitp.errors import SourceError

REPORT_DAYS = (30, 90, 180)
CAUSES = {1: "response", 2: "next line started"}
_OFFSET = {1: 0.0, 2: 0.25, 0: 0.5}  # where a day's events sit (see the module docstring)
_READ_AT = 0.75
NOTE = (
    "Aalen-Johansen cumulative incidence: a line ends in response, in the next line's start (a competing "
    "event, not censoring) or is censored at the end of follow-up; death is not a competing event here "
    "(the record carries no date of death)"
)


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float | None  # None: no interval (no event yet)
    high: float | None

    def to_json(self) -> dict:
        return {"estimate": self.value, "ci_low": self.low, "ci_high": self.high}

    def text(self) -> str:
        if self.low is None or self.high is None:
            return f"{self.value:.1%}"
        return f"{self.value:.1%} ({100 * self.low:.1f}-{100 * self.high:.1f})"


@dataclass(frozen=True)
class CifGroup:
    label: str
    n: int
    events: dict[str, int]  # cause name -> count; plus "censored"
    cumulative_incidence: dict[str, dict[int, Estimate]]  # cause -> day -> estimate
    naive_km: dict[int, float]  # day -> 1 - KM with the competing event censored (the biased curve)
    at_risk: dict[int, int]  # day -> lines still without any event and under follow-up
    curves: dict[str, pd.DataFrame] = field(repr=False, default_factory=dict)  # for the figure

    def at(self, curve: str, day: int) -> Estimate:
        """The estimate at the end of ``day`` of ``curve``: a cause name or ``"naive"`` (1 - KM)."""
        return _estimate(self.curves[curve], day)


@dataclass(frozen=True)
class CauseSpecificHR:
    cause: str
    group: str
    reference: str
    hazard_ratio: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    note: str = ""

    def to_json(self) -> dict:
        return {
            "cause": self.cause, "group": self.group, "reference": self.reference,
            "hazard_ratio": self.hazard_ratio, "ci_low": self.ci_low, "ci_high": self.ci_high,
            "p_value": self.p_value, "note": self.note,
        }


@dataclass(frozen=True)
class CifResult(DrawsItself):
    by: str
    groups: list[CifGroup]
    cause_specific_cox: list[CauseSpecificHR]
    exclusions: Exclusions
    note: str = NOTE

    def to_json(self) -> dict:
        return {
            "by": self.by,
            "method": "aalen-johansen",
            "note": self.note,
            "competing_events": [CAUSES[2]],
            "death": "not available (the record carries no date of death)",
            "excluded": self.exclusions.to_json(),
            "groups": [
                {
                    "label": g.label,
                    "n": g.n,
                    "events": dict(g.events),
                    "cumulative_incidence": {
                        cause: {str(d): e.to_json() for d, e in days.items()}
                        for cause, days in g.cumulative_incidence.items()
                    },
                    "naive_one_minus_km": {str(d): v for d, v in g.naive_km.items()},
                    "at_risk": {str(d): v for d, v in g.at_risk.items()},
                }
                for g in self.groups
            ],
            "cause_specific_cox": [h.to_json() for h in self.cause_specific_cox],
        }

    # ------------------------------------------------------------------------------------------ figure
    def figure(self):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplot_mosaic(
            [["response", "next"], ["table", "table"]],
            figsize=(11, 6.4),
            height_ratios=[4, 0.35 + 0.3 * len(self.groups)],
        )
        last = max(float(c.index.max()) for g in self.groups for c in g.curves.values())
        xmax = next((d for d in AT_RISK_DAYS if d >= last), AT_RISK_DAYS[-1])
        colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for i, g in enumerate(self.groups):
            c = colours[i % len(colours)]
            for key, ax in (("response", axes["response"]), ("next line started", axes["next"])):
                cur = g.curves[key]
                ax.step(cur.index, cur["estimate"], where="post", color=c, label=g.label)
                ax.fill_between(cur.index, cur["low"], cur["high"], step="post", color=c, alpha=0.15, lw=0)
            naive = g.curves["naive"]
            axes["response"].step(
                naive.index, naive["estimate"], where="post", color=c, ls="--", lw=1,
                label=f"{g.label}: naive 1 - KM",
            )
        for key, title in (
            ("response", "Response (R or CR): cumulative incidence"),
            ("next", "Next line started (competing event)"),
        ):
            ax = axes[key]
            ax.set_xlim(0, xmax)
            ax.set_ylim(0, 1)
            ax.set_xticks([d for d in AT_RISK_DAYS if d <= xmax and (d == 0 or d >= 30 or xmax <= 90)])
            ax.set_xlabel("days from the start of the line")
            ax.set_title(title, fontsize=10)
        axes["response"].set_ylabel("cumulative incidence")
        axes["response"].legend(fontsize=7, loc="lower right")
        fig.suptitle(f"Time to response by {self.by}: Aalen-Johansen, next line as a competing event")
        axes["table"].axis("off")
        axes["table"].table(
            cellText=[[str(g.at_risk[d]) for d in AT_RISK_DAYS] for g in self.groups],
            rowLabels=[g.label.split(": ", 1)[-1] for g in self.groups],
            colLabels=[f"day {d}" for d in AT_RISK_DAYS],
            loc="center",
            cellLoc="center",
        ).set_fontsize(8)
        axes["table"].set_title("number at risk (no event yet, under follow-up)", fontsize=9)
        fig.tight_layout()
        return fig

    def to_html(self) -> str:
        svg = self.svg()
        e = html.escape
        rows = []
        for g in self.groups:
            for d in REPORT_DAYS:
                rows.append(
                    f"<tr><td>{e(g.label)}</td><td>{d}</td><td>{g.at_risk.get(d, '')}</td>"
                    f"<td>{e(g.cumulative_incidence[CAUSES[1]][d].text())}</td>"
                    f"<td>{e(g.cumulative_incidence[CAUSES[2]][d].text())}</td>"
                    f"<td>{g.naive_km[d]:.1%}</td></tr>"
                )
        counts = "".join(
            f"<tr><td>{e(g.label)}</td><td>{g.n}</td>"
            + "".join(f"<td>{g.events[k]}</td>" for k in (CAUSES[1], CAUSES[2], "censored"))
            + "</tr>"
            for g in self.groups
        )
        cox = "".join(
            f"<tr><td>{e(h.cause)}</td><td>{e(h.group)} vs {e(h.reference)}</td>"
            + (
                f"<td>{h.hazard_ratio:.3g}</td><td>{h.ci_low:.3g} - {h.ci_high:.3g}</td>"
                f"<td>{'<0.001' if h.p_value < 0.001 else f'{h.p_value:.3f}'}</td>"
                if h.hazard_ratio is not None
                else "<td></td><td></td><td></td>"
            )
            + f"<td>{e(h.note)}</td></tr>"
            for h in self.cause_specific_cox
        )
        excl = ", ".join(f"{k}: {v}" for k, v in self.exclusions.counts.items() if v) or "none"
        cox_html = (
            "<h2>Cause-specific Cox hazard ratios</h2><table><tr><th>cause</th><th>comparison</th>"
            f"<th>HR</th><th>95% CI</th><th>p</th><th>note</th></tr>{cox}</table>"
            "<p>Each cause's hazard with the other cause and the end of follow-up censored (Efron ties"
            "; by line, robust standard errors clustered by patient). A cause-specific HR is not an effect "
            "on the cumulative incidence; Fine-Gray is not offered (lifelines has none).</p>"
            if self.cause_specific_cox
            else ""
        )
        return (
            "<!doctype html><html><head><meta charset='utf-8'><title>Time to response (competing risks)"
            "</title><style>body{font-family:sans-serif}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:2px 6px}</style></head><body>"
            f"<h1>Time to response by {e(self.by)}: cumulative incidence</h1>{svg}"
            "<table><tr><th>group</th><th>lines</th><th>responses</th><th>next line started</th>"
            f"<th>censored</th></tr>{counts}</table>"
            "<h2>Cumulative incidence (95% CI)</h2><table><tr><th>group</th><th>day</th><th>at risk</th>"
            "<th>response</th><th>next line started</th><th>naive 1 - KM (biased)</th></tr>"
            f"{''.join(rows)}</table>{cox_html}"
            f"<p>Excluded: {e(excl)}. {e(self.note)}.</p></body></html>"
        )


# ------------------------------------------------------------------------------------------ the data
def competing_events(responses: pd.DataFrame) -> pd.DataFrame:
    """``duration`` (days) and ``event`` (0 censored, 1 response, 2 next line started) per line of
    ``responses`` (same index). Whether a next line exists is looked up among all of the patient's lines;
    a switched or censored line's time is its evaluation end (null: not usable, excluded and counted)."""
    r = responses
    nxt = r[["patient_id", "line", "start"]].copy()
    nxt["line"] = nxt["line"] - 1
    nxt = nxt.rename(columns={"start": "next_start"}).drop_duplicates(["patient_id", "line"])
    merged = r[["patient_id", "line"]].merge(nxt, on=["patient_id", "line"], how="left")
    next_start = pd.to_datetime(pd.Series(merged["next_start"].to_numpy(), index=r.index))
    start = pd.to_datetime(r["start"])
    responded = r["category"].isin(["R", "CR"]) & r["time_to_response_days"].notna()
    switched = ~responded & next_start.notna()
    end_days = (pd.to_datetime(r["evaluation_end"]) - start).dt.days.astype("float64")
    duration = np.where(
        responded, pd.to_numeric(r["time_to_response_days"], errors="coerce").astype("float64"), end_days
    )
    event = np.where(responded, 1, np.where(switched, 2, 0))
    return pd.DataFrame({"duration": duration, "event": event}, index=r.index)


def _collapsed(d: pd.DataFrame) -> pd.DataFrame:
    """One weighted row per (day, event), at the untied times of the module docstring."""
    agg = d.groupby(["duration", "event"], sort=True).size().rename("weight").reset_index()
    agg["time"] = agg["duration"] + agg["event"].map(_OFFSET)
    return agg


def _step(curve: pd.Series, t: float) -> float:
    i = int(curve.index.searchsorted(t, side="right")) - 1
    return 0.0 if i < 0 else float(curve.iloc[i])


def _cif_curve(agg: pd.DataFrame, cause: int) -> pd.DataFrame:
    from lifelines import AalenJohansenFitter

    f = AalenJohansenFitter(calculate_variance=True)
    with warnings.catch_warnings():  # lifelines' pandas deprecation notices, not ours to fix
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        f.fit(agg["time"], agg["event"], event_of_interest=cause, weights=agg["weight"])
    est = f.cumulative_density_.iloc[:, 0]
    ci = f.confidence_interval_
    # lifelines 0.30 labels the bound from F + z*se (on the log(-log) scale, the lower one) "upper": take
    # the smaller and the larger of the two instead of trusting the names
    out = pd.DataFrame({"estimate": est, "low": ci.min(axis=1), "high": ci.max(axis=1)})
    out.loc[out["estimate"] <= 0, ["low", "high"]] = np.nan  # no interval before the first event
    return out


def _naive_curve(agg: pd.DataFrame) -> pd.DataFrame:
    from lifelines import KaplanMeierFitter

    f = KaplanMeierFitter().fit(agg["time"], (agg["event"] == 1).astype(int), weights=agg["weight"])
    ci = f.confidence_interval_survival_function_
    return pd.DataFrame(
        {
            "estimate": 1 - f.survival_function_.iloc[:, 0],
            "low": 1 - ci.iloc[:, 1],
            "high": 1 - ci.iloc[:, 0],
        }
    )


def _estimate(curve: pd.DataFrame, day: int) -> Estimate:
    t = day + _READ_AT
    value = _step(curve["estimate"], t)
    lo, hi = _step(curve["low"], t), _step(curve["high"], t)
    ok = value > 0 and np.isfinite(lo) and np.isfinite(hi)
    return Estimate(value, float(lo) if ok else None, float(hi) if ok else None)


def _cause_specific_cox(lines: pd.DataFrame, d: pd.DataFrame, labels: list[str], by: str) -> list:
    from lifelines import CoxPHFitter

    if len(labels) < 2:
        return []
    ref = labels[0]
    group = lines["group"].to_numpy()
    out = []
    for cause, name in CAUSES.items():
        event = (d["event"].to_numpy() == cause).astype(int)
        with_event = [lab for lab in labels if event[group == lab].any()]
        # a group without the event has a hazard ratio of 0 (or, as the reference, all are infinite)
        out += [
            CauseSpecificHR(
                name, lab, ref, None, None, None, None,
                f"not estimable: no {name} event in {ref if ref not in with_event else lab}",
            )
            for lab in labels[1:]
            if lab not in with_event or ref not in with_event
        ]
        compared = list(with_event[1:]) if ref in with_event else []
        if not compared:
            continue
        keep = np.isin(group, [ref, *compared])
        frame = pd.DataFrame({"duration": d["duration"].to_numpy()[keep], "event": event[keep]})
        cols = {f"g{i}": lab for i, lab in enumerate(compared)}
        for col, lab in cols.items():
            frame[col] = (group[keep] == lab).astype(float)
        if by == "line":
            frame["patient_id"] = lines["patient_id"].to_numpy()[keep]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cph = CoxPHFitter().fit(
                    frame, "duration", "event", cluster_col="patient_id" if by == "line" else None
                )
            s = cph.summary
            out += [
                CauseSpecificHR(
                    name, lab, ref,
                    float(s.loc[col, "exp(coef)"]),
                    float(s.loc[col, "exp(coef) lower 95%"]),
                    float(s.loc[col, "exp(coef) upper 95%"]),
                    float(s.loc[col, "p"]),
                )
                for col, lab in cols.items()
            ]
        except Exception as e:  # lifelines raises ConvergenceError, LinAlgError, ValueError ...
            out += [
                CauseSpecificHR(name, lab, ref, None, None, None, None, f"not estimable: {type(e).__name__}")
                for lab in compared
            ]
    order = {lab: i for i, lab in enumerate(labels)}
    out.sort(key=lambda h: (list(CAUSES.values()).index(h.cause), order[h.group]))
    return out


def cif(cohort: DerivedCohort, by: str = "line", cox: bool = True) -> CifResult:
    """Cumulative incidence of response, with the next line's start as a competing event, ``by`` line
    (1, 2, 3+) or by a predictor (first lines); ``cox``: add the cause-specific Cox hazard ratios."""
    events = competing_events(cohort.responses)
    keyed = cohort.responses[["patient_id", "line"]].join(events)
    lines, counts = group_lines(cohort, by)
    d = lines[["patient_id", "line"]].merge(keyed, on=["patient_id", "line"], how="left")
    d.index = lines.index
    bad = d["duration"].isna() | (d["duration"] < 0)
    counts["line with no usable dates"] = int(bad.sum())
    lines, d = lines.loc[~bad], d.loc[~bad]
    if lines.empty:
        raise SourceError(f"{cohort.source}: no treatment line to analyse")
    labels = sorted(lines["group"].unique())
    groups = []
    for label in labels:
        sel = (lines["group"] == label).to_numpy()
        dg = d.loc[sel]
        agg = _collapsed(dg)
        curves = {CAUSES[k]: _cif_curve(agg, k) for k in CAUSES}
        curves["naive"] = _naive_curve(agg)
        groups.append(
            CifGroup(
                label,
                int(sel.sum()),
                {CAUSES[1]: int((dg["event"] == 1).sum()), CAUSES[2]: int((dg["event"] == 2).sum()),
                 "censored": int((dg["event"] == 0).sum())},
                {CAUSES[k]: {day: _estimate(curves[CAUSES[k]], day) for day in REPORT_DAYS} for k in CAUSES},
                {day: _step(curves["naive"]["estimate"], day + _READ_AT) for day in REPORT_DAYS},
                {day: int((dg["duration"] >= day).sum()) for day in AT_RISK_DAYS},
                curves,
            )
        )
    hrs = _cause_specific_cox(lines, d, labels, by) if cox else []
    return CifResult(by, groups, hrs, Exclusions(counts))


__all__ = [
    "CAUSES",
    "REPORT_DAYS",
    "CauseSpecificHR",
    "CifGroup",
    "CifResult",
    "Estimate",
    "cif",
    "competing_events",
]
