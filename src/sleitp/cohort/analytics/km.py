"""Time to response: Kaplan-Meier curves by treatment line or by a predictor (lifelines).

Per line [IWG2009, spec/record.md]: the event is the first count of the first confirmed R-or-better pair
(``time_to_response_days``); a line without response is censored at its evaluation end (the next line's
start, or the end of follow-up), in days from the line's start. Starting the next line is treated as
censoring, not as a competing event - said in every output: this is the naive curve, biased upwards
[PUTTER2007]; :mod:`.analytics_cif` (``sleitp cohort cif``) is the competing-risks version.
Curves show the cumulative probability of response, 1 - S(t), with the number at risk below.

``by="line"`` compares lines 1, 2 and 3+ (every line of every patient). ``by=PREDICTOR`` compares the
first line's time to response between patients with and without a binary predictor, or below / at or
above the cohort median of a numeric one; patients with the predictor missing are excluded and counted.
"""

from __future__ import annotations

import html
import io
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sleitp.cohort.analytics.data import BINARY, NUMERIC, DerivedCohort, Exclusions
from sleitp.errors import SourceError

AT_RISK_DAYS = (0, 7, 14, 30, 60, 90, 180, 365)
# [PUTTER2007] 1 - KM with the competing event censored overestimates the cumulative incidence
CENSORING_NOTE = (
    "naive curve: lines without response are censored at their evaluation end (next line or end of "
    "follow-up), so a next line is censoring, not a competing event, and 1 - KM overstates response "
    "(informative censoring); `sleitp cohort cif` gives the cumulative incidence with the next line "
    "as a competing event (use it for lines after the first)"
)


class DrawsItself:
    """A result with a ``figure()`` (matplotlib): saved as PNG / SVG, or its SVG inlined in an HTML page."""

    def figure(self):  # pragma: no cover - every subclass draws its own
        raise NotImplementedError

    def save(self, path: str, fmt: str) -> None:
        import matplotlib.pyplot as plt  # matplotlib is loaded only to draw

        fig = self.figure()
        fig.savefig(path, format=fmt, dpi=120)
        plt.close(fig)

    def svg(self) -> str:
        import matplotlib.pyplot as plt

        buf = io.StringIO()
        fig = self.figure()
        fig.savefig(buf, format="svg")
        plt.close(fig)
        text = buf.getvalue()
        return text[text.find("<svg") :]


@dataclass(frozen=True)
class KmGroup:
    label: str
    n: int
    responses: int
    median_days: float | None  # None: fewer than half responded (median not reached)
    cumulative_response: dict[int, float]  # day -> 1 - S(day)
    at_risk: dict[int, int]  # day -> number still at risk


@dataclass(frozen=True)
class KmResult(DrawsItself):
    by: str
    groups: list[KmGroup]
    exclusions: Exclusions
    logrank_p: float | None
    note: str = CENSORING_NOTE
    _fitters: tuple = ()

    def to_json(self) -> dict:
        return {
            "by": self.by,
            "note": self.note,
            "logrank_p": self.logrank_p,
            "excluded": self.exclusions.to_json(),
            "groups": [
                {
                    "label": g.label,
                    "n": g.n,
                    "responses": g.responses,
                    "median_days": g.median_days,
                    "cumulative_response": {str(k): v for k, v in g.cumulative_response.items()},
                    "at_risk": {str(k): v for k, v in g.at_risk.items()},
                }
                for g in self.groups
            ],
        }

    def figure(self):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        # the number-at-risk table is drawn from our own counts (lifelines' add_at_risk_counts fails
        # with pandas 3 here: "only 0-dimensional arrays can be converted")
        fig, (ax, tab) = plt.subplots(
            2, 1, figsize=(8, 6.2), height_ratios=[4, 0.35 + 0.3 * len(self.groups)]
        )
        for f in self._fitters:
            f.plot_cumulative_density(ax=ax, ci_show=True)
        ax.set_xlabel("days from the start of the line")
        ax.set_ylabel("cumulative probability of response (R or CR)")
        ax.set_ylim(0, 1)
        last = max(float(f.timeline.max()) for f in self._fitters)  # no room past the last observation
        xmax = next((d for d in AT_RISK_DAYS if d >= last), AT_RISK_DAYS[-1])
        ax.set_xlim(0, xmax)
        ax.set_xticks([d for d in AT_RISK_DAYS if d <= xmax and (d == 0 or d >= 30 or xmax <= 90)])
        ax.set_title(f"Time to response by {self.by} (naive 1 - Kaplan-Meier; see cohort cif)")
        ax.text(
            0.99,
            0.02,
            "censored at the next line or end of follow-up",
            transform=ax.transAxes,
            ha="right",
            fontsize=8,
            color="0.4",
        )
        tab.axis("off")
        tab.table(
            cellText=[[str(g.at_risk[d]) for d in AT_RISK_DAYS] for g in self.groups],
            rowLabels=[g.label.split(": ", 1)[-1] for g in self.groups],  # "male: yes" -> "yes"
            colLabels=[f"day {d}" for d in AT_RISK_DAYS],
            loc="center",
            cellLoc="center",
        ).set_fontsize(8)
        tab.set_title("number at risk", fontsize=9)
        fig.tight_layout()
        return fig

    def to_html(self) -> str:
        svg = self.svg()
        head = "".join(f"<th>day {d}</th>" for d in AT_RISK_DAYS)
        body = "".join(
            f"<tr><td>{html.escape(g.label)}</td><td>{g.n}</td><td>{g.responses}</td>"
            f"<td>{'not reached' if g.median_days is None else f'{g.median_days:g}'}</td>"
            + "".join(f"<td>{g.at_risk[d]}</td>" for d in AT_RISK_DAYS)
            + "</tr>"
            for g in self.groups
        )
        p = "" if self.logrank_p is None else f"<p>Log-rank p = {self.logrank_p:.3g}</p>"
        excl = ", ".join(f"{k}: {v}" for k, v in self.exclusions.counts.items() if v) or "none"
        return (
            "<!doctype html><html><head><meta charset='utf-8'><title>Time to response</title>"
            "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:2px 6px}</style></head><body>"
            f"<h1>Time to response by {html.escape(self.by)}</h1>{svg}"
            "<table><tr><th>group</th><th>n</th><th>responses</th><th>median days</th>"
            f"{head}</tr>{body}</table>{p}<p>Excluded: {html.escape(excl)}. {html.escape(self.note)}.</p>"
            "</body></html>"
        )


def _durations(lines: pd.DataFrame) -> pd.DataFrame:
    """``duration`` (days) and ``event`` (response) per line; the censoring day is the evaluation end."""
    responded = lines["category"].isin(["R", "CR"]) & lines["time_to_response_days"].notna()
    censor = (pd.to_datetime(lines["evaluation_end"]) - pd.to_datetime(lines["start"])).dt.days
    out = pd.DataFrame({"event": responded.astype(int)}, index=lines.index)
    out["duration"] = np.where(
        responded, lines["time_to_response_days"].astype("float64"), censor.astype(float)
    )
    return out


def group_lines(cohort: DerivedCohort, by: str) -> tuple[pd.DataFrame, dict[str, int]]:
    """The lines analysed, with a ``group`` column, and the exclusions so far: every line by line number
    (1, 2, 3+) for ``by="line"``, else the first lines grouped by the predictor ``by`` (shared with
    :mod:`.analytics_cif`)."""
    r = cohort.responses
    counts: dict[str, int] = {}
    if by == "line":
        lines = r.copy()
        lines["group"] = np.where(lines["line"] >= 3, "line 3+", "line " + lines["line"].astype(str))
    else:
        if by not in BINARY + NUMERIC:
            raise SourceError(
                f"--by: {by!r} is neither 'line' nor a predictor (expected line or one of "
                f"{', '.join(BINARY + NUMERIC)})"
            )
        lines = r.loc[r["line"] == 1].merge(cohort.features[["patient_id", by]], on="patient_id", how="left")
        value = lines[by]
        counts[f"{by} missing"] = int(value.isna().sum())
        lines = lines.loc[value.notna()].copy()
        if by in BINARY:
            lines["group"] = np.where(lines[by].astype(bool), f"{by}: yes", f"{by}: no")
        else:
            med = float(lines[by].median())
            lines["group"] = np.where(lines[by] < med, f"{by} < {med:g}", f"{by} >= {med:g}")
    return lines, counts


def km(cohort: DerivedCohort, by: str = "line") -> KmResult:
    """Kaplan-Meier time to response, grouped ``by`` line or by a predictor of the features table."""
    from lifelines import KaplanMeierFitter
    from lifelines.statistics import multivariate_logrank_test

    lines, counts = group_lines(cohort, by)
    d = _durations(lines)
    bad = d["duration"].isna() | (d["duration"] < 0)
    counts["line with no usable dates"] = int(bad.sum())
    lines, d = lines.loc[~bad], d.loc[~bad]
    if lines.empty:
        raise SourceError(f"{cohort.source}: no treatment line to analyse")
    groups, fitters = [], []
    for label in sorted(lines["group"].unique()):
        sel = (lines["group"] == label).to_numpy()
        f = KaplanMeierFitter(label=label).fit(d.loc[sel, "duration"], d.loc[sel, "event"])
        cdf = {day: float(1 - f.survival_function_at_times(day).iloc[0]) for day in AT_RISK_DAYS}
        at_risk = {day: int((d.loc[sel, "duration"] >= day).sum()) for day in AT_RISK_DAYS}
        med = f.median_survival_time_
        groups.append(
            KmGroup(
                label,
                int(sel.sum()),
                int(d.loc[sel, "event"].sum()),
                None if not np.isfinite(med) else float(med),
                cdf,
                at_risk,
            )
        )
        fitters.append(f)
    p = None
    if len(groups) > 1:
        with warnings.catch_warnings():  # lifelines' pandas-4 deprecation notices, not ours to fix
            warnings.simplefilter("ignore", DeprecationWarning)
            p = float(multivariate_logrank_test(d["duration"], lines["group"], d["event"]).p_value)
    return KmResult(by, groups, Exclusions(counts), p, _fitters=tuple(fitters))


__all__ = ["AT_RISK_DAYS", "KmGroup", "KmResult", "group_lines", "km"]
