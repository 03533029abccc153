"""Nomogram of a logistic model: points per predictor, total points -> probability (PNG + data).

Construction (the usual one for logistic nomograms): each term's contribution b_j * x over its range
is scaled so that the term with the widest range of contribution spans 0-100 points; a patient's total
points map back to the linear predictor and hence to the probability. Numeric ranges are the training
clipping limits (0.5th-99.5th percentiles), binary terms and missing indicators go from 0 to 1.
The published SLE-ITP nomograms (e.g. Su 2022, clinical.md §2.1) are drawn this way; their
coefficients were not obtained (testdata.md), so none is reproduced here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.special import expit, logit

from sleitp.model.binary.logistic import LogisticFit
from sleitp.model.design import Design

__all__ = ["nomogram_table", "plot_nomogram", "probability_from_points"]


def _ranges(design: Design) -> dict[str, tuple[float, float]]:
    r = {}
    for t in design.terms:
        r[t.name] = (
            (t.clip_low, t.clip_high) if t.kind == "numeric" and t.clip_low is not None else (0.0, 1.0)
        )
    for g in design.indicators:
        r[g.name] = (0.0, 1.0)
    return r


def nomogram_table(design: Design, fit: LogisticFit) -> dict:
    """Points scale of every column and the total-points -> probability map."""
    ranges = _ranges(design)
    beta = dict(zip(fit.columns, fit.beta[1:], strict=False))
    spans = {c: abs(beta[c]) * (ranges[c][1] - ranges[c][0]) for c in fit.columns}
    widest = max(spans.values()) if spans else 0.0
    if widest <= 0:
        return {"rows": [], "total_points": [], "points_per_logit": 0.0}
    per_logit = 100.0 / widest
    rows, base = [], float(fit.beta[0])
    for c in fit.columns:
        lo, hi = ranges[c]
        ref = lo if beta[c] >= 0 else hi  # the value that gives 0 points
        base += beta[c] * ref
        if (lo, hi) == (0.0, 1.0):
            values = [lo, hi]
        elif float(lo).is_integer() and float(hi).is_integer() and hi - lo <= 6:
            values = list(np.arange(lo, hi + 1))  # a small integer scale (e.g. WHO grade 0-4): every value
        else:
            values = list(np.linspace(lo, hi, 5))
        rows.append(
            {
                "column": c,
                "ticks": [
                    {"value": round(float(v), 3), "points": round(float(per_logit * beta[c] * (v - ref)), 2)}
                    for v in values
                ],
            }
        )
    max_total = sum(spans.values()) * per_logit
    totals = []
    for prob in (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95):
        pts = (logit(prob) - base) * per_logit
        if 0 <= pts <= max_total:
            totals.append({"probability": prob, "total_points": round(float(pts), 1)})
    return {
        "rows": rows,
        "total_points": totals,
        "points_per_logit": per_logit,
        "base_logit": base,
        "max_total_points": max_total,
    }


def plot_nomogram(design: Design, fit: LogisticFit, path: str | Path, *, title: str, note: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = nomogram_table(design, fit)
    rows = table["rows"]
    k = len(rows) + 3
    fig, ax = plt.subplots(figsize=(9, 0.42 * k + 1.2), dpi=110)
    y = k - 1
    ax.hlines(y, 0, 100, color="black")
    for v in range(0, 101, 10):
        ax.vlines(v, y, y + 0.15, color="black")
        ax.text(v, y + 0.2, str(v), ha="center", fontsize=7)
    ax.text(-2, y, "Points", ha="right", va="center", fontsize=8, weight="bold")
    for row in rows:
        y -= 1
        pts = [t["points"] for t in row["ticks"]]
        ax.hlines(y, min(pts), max(pts), color="tab:blue")
        binary = len(row["ticks"]) == 2 and {t["value"] for t in row["ticks"]} == {0.0, 1.0}
        for t in row["ticks"]:
            ax.vlines(t["points"], y, y + 0.12, color="tab:blue")
            label = ("yes" if t["value"] == 1.0 else "no") if binary else f"{t['value']:.3g}"
            ax.text(t["points"], y - 0.35, label, ha="center", fontsize=6)
        ax.text(-2, y, row["column"], ha="right", va="center", fontsize=7)
    y -= 1
    max_total = table.get("max_total_points", 100.0) or 100.0
    scale = 100.0 / max_total
    ax.hlines(y, 0, 100, color="black")
    for v in np.linspace(0, max_total, 6):
        ax.vlines(v * scale, y, y + 0.12, color="black")
        ax.text(v * scale, y + 0.2, f"{v:.0f}", ha="center", fontsize=7)
    ax.text(-2, y, "Total points", ha="right", va="center", fontsize=8, weight="bold")
    y -= 1
    ax.hlines(y, 0, 100, color="tab:red")
    for t in table["total_points"]:
        ax.vlines(t["total_points"] * scale, y, y + 0.12, color="tab:red")
        ax.text(t["total_points"] * scale, y - 0.35, f"{t['probability']:g}", ha="center", fontsize=7)
    ax.text(-2, y, "P(response)", ha="right", va="center", fontsize=8, weight="bold")
    ax.set_xlim(-45, 105)
    ax.set_ylim(y - 1, k + 0.2)
    ax.axis("off")
    ax.set_title(title, fontsize=10)
    if note:
        fig.text(0.01, 0.01, note, fontsize=7, color="firebrick")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def probability_from_points(table: dict, total_points: float) -> float:
    """Inverse map used by tests: total points -> probability."""
    return float(expit(table["base_logit"] + total_points / table["points_per_logit"]))
