"""Decision-curve analysis: net benefit of deciding by the model, against treat-all and treat-none.

Net benefit at threshold probability pt [VICKERS2006]:
    NB(model) = TP/n - FP/n * pt / (1 - pt)        (a patient is "positive" when p >= pt)
    NB(treat all) = prevalence - (1 - prevalence) * pt / (1 - pt),   NB(treat none) = 0.
Here the model predicts *response* to first-line treatment; "positive" reads as "expected to respond"
(e.g. continue the first-line plan rather than escalate). The threshold expresses how many false
positives one accepts per true positive [VICKERS2019]. Implemented directly (dcurves is not
installed); tests check the formulas on hand-worked cases.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["THRESHOLDS", "net_benefit", "decision_curve", "plot_decision_curve"]

THRESHOLDS = tuple(round(x, 2) for x in np.arange(0.05, 0.96, 0.05))


def net_benefit(y: np.ndarray, p: np.ndarray, threshold: float) -> float:
    """[VICKERS2006] NB = TP/n - FP/n * pt/(1-pt), positives p >= pt."""
    y = np.asarray(y, dtype=bool)
    pos = np.asarray(p, dtype=float) >= threshold
    n = y.size
    tp = np.sum(pos & y)
    fp = np.sum(pos & ~y)
    return float(tp / n - fp / n * threshold / (1 - threshold))


def decision_curve(y: np.ndarray, p: np.ndarray, thresholds=THRESHOLDS) -> list[dict]:
    y = np.asarray(y, dtype=bool)
    prev = float(y.mean())
    rows = []
    for t in thresholds:
        odds = t / (1 - t)
        rows.append(
            {
                "threshold": float(t),
                "model": round(net_benefit(y, p, t), 5),
                "treat_all": round(prev - (1 - prev) * odds, 5),  # [VICKERS2006]
                "treat_none": 0.0,
            }
        )
    return rows


def plot_decision_curve(
    y: np.ndarray, p: np.ndarray, path: str | Path, *, title: str, note: str = ""
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    thresholds = np.arange(0.01, 0.99, 0.01)
    rows = decision_curve(y, p, thresholds)
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=110)
    ax.plot(thresholds, [r["model"] for r in rows], color="tab:blue", lw=2, label="model")
    ax.plot(thresholds, [r["treat_all"] for r in rows], color="tab:grey", lw=1, label="assume all respond")
    ax.axhline(0, color="black", lw=1, label="assume none respond")
    prev = float(np.mean(y))
    ax.set_ylim(-0.05, max(prev, 0.05) * 1.1)
    ax.set_xlim(0, 1)
    ax.set_xlabel("Threshold probability")
    ax.set_ylabel("Net benefit")
    ax.set_title(title, fontsize=10)
    if note:
        fig.text(0.01, 0.01, note, fontsize=7, color="firebrick")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
