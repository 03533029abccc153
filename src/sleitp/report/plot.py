"""The platelet trajectory plot of the report: counts over time with the IWG thresholds (30 and 100
x10^9/L [IWG2009]), each treatment line as a shaded span labelled with its agents and IWG category, the
individual courses as bars underneath, and bleeding events marked with their WHO grade [WHO-BLEED]."""

from __future__ import annotations

import base64
import io
from datetime import date, timedelta

import matplotlib

matplotlib.use("Agg")  # no display: the report is rendered on servers and in tests
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from sleitp.instruments import IwgResponse  # noqa: E402
from sleitp.record import PatientRecord  # noqa: E402

R_THRESHOLD = 30.0  # [IWG2009] R: >= 30 x10^9/L (and >= 2x baseline)
CR_THRESHOLD = 100.0  # [IWG2009] CR: >= 100 x10^9/L
LINE_COLOURS = ("#4C72B0", "#DD8452", "#55A868", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C", "#CCB974")
CATEGORY_TEXT = {"CR": "complete response", "R": "response", "NR": "no response", "NE": "not evaluable"}


def trajectory_png(record: PatientRecord, at: date, responses: list[IwgResponse]) -> bytes:
    """The plot as PNG bytes."""
    counts = record.platelet_counts(until=at)
    courses = [t for t in record.treatments if t.start <= at]
    bleeds = [b for b in record.bleeding if b.date <= at]
    # the window: from the first count, line or bleeding (a background course started years before, such as
    # hydroxychloroquine, does not stretch the plot) to the assessment date; courses are clipped to it
    anchors = [c.date for c in counts] + [r.start for r in responses] + [b.date for b in bleeds]
    first = min(anchors) if anchors else min([t.start for t in courses] + [at])
    last = at
    pad = timedelta(days=max(2, (last - first).days // 30))
    agents = list(dict.fromkeys(t.agent for t in courses))

    fig, (ax, gantt) = plt.subplots(
        2,
        1,
        figsize=(10, 4.6 if agents else 3.6),
        sharex=True,
        gridspec_kw={"height_ratios": [3, max(1, len(agents)) * 0.35 + 0.4]},
    )
    ymax = max([c.value for c in counts] + [CR_THRESHOLD]) * 1.15
    for i, r in enumerate(responses):
        colour = LINE_COLOURS[i % len(LINE_COLOURS)]
        end = r.evaluation_end if r.evaluation_end >= r.start else r.start
        ax.axvspan(r.start, end + timedelta(days=1), color=colour, alpha=0.12, lw=0)
        ax.text(
            r.start,
            ymax * (0.97 - 0.09 * (i % 3)),
            f" L{r.line}: {'+'.join(r.agents)} - {r.category}",
            fontsize=7.5,
            color=colour,
            va="top",
            fontweight="bold",
        )
    ax.axhline(R_THRESHOLD, color="#B22222", ls="--", lw=0.8)
    ax.axhline(CR_THRESHOLD, color="#2E8B57", ls="--", lw=0.8)
    ax.text(first - pad, R_THRESHOLD, " 30 (R)", fontsize=7, color="#B22222", va="bottom")
    ax.text(first - pad, CR_THRESHOLD, " 100 (CR)", fontsize=7, color="#2E8B57", va="bottom")
    if counts:
        ax.plot(
            [c.date for c in counts],
            [c.value for c in counts],
            "-o",
            color="#222222",
            ms=3.5,
            lw=1.2,
            label="platelets",
        )
    for b in bleeds:
        ax.plot(b.date, ymax * 0.03, marker="v", color="#C00000", ms=6 + 2 * b.who_grade, ls="none")
        ax.annotate(
            f"WHO {b.who_grade}{' ' + b.site if b.site else ''}",
            (b.date, ymax * 0.03),
            xytext=(4, 6),
            textcoords="offset points",
            fontsize=7,
            color="#C00000",
        )
    ax.set_ylim(0, ymax)
    ax.set_xlim(first - pad, last + pad)
    ax.set_ylabel("platelets (x10^9/L)")
    ax.set_title(
        "Platelet count, treatment lines (shaded; IWG response) and bleeding (red triangles)", fontsize=9
    )
    ax.grid(alpha=0.25)

    for row, agent in enumerate(agents):
        for t in (t for t in courses if t.agent == agent):
            end = t.end if t.end is not None and t.end <= at else at
            start = max(t.start, first - pad)
            if end >= start:
                gantt.barh(row, (end - start).days + 1, left=start, height=0.6, color="#555555")
    gantt.set_yticks(range(len(agents)), agents, fontsize=7)
    gantt.set_ylim(-0.6, max(0.6, len(agents) - 0.4))
    gantt.invert_yaxis()
    gantt.set_xlim(first - pad, last + pad)
    gantt.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    gantt.tick_params(axis="x", labelsize=7)
    gantt.grid(axis="x", alpha=0.25)
    if not agents:
        gantt.text(0.5, 0.5, "no treatment recorded", transform=gantt.transAxes, ha="center", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=130)
    plt.close(fig)
    return buf.getvalue()


def trajectory_data_uri(record: PatientRecord, at: date, responses: list[IwgResponse]) -> str:
    return "data:image/png;base64," + base64.b64encode(trajectory_png(record, at, responses)).decode("ascii")


__all__ = ["CATEGORY_TEXT", "trajectory_data_uri", "trajectory_png"]
