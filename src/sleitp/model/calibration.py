"""Calibration: observed against predicted risk, grouped and smoothed, as data and as a PNG.

A calibration plot shows, for groups of patients with similar predicted risk, the observed proportion
with the outcome, with a smoothed (LOWESS) curve over individual patients and the ideal diagonal
[STEYERBERG2010]. Ten groups of equal size (deciles of predicted risk) is a documented choice.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["calibration_table", "draw_calibration", "plot_calibration", "smoothed_calibration"]


def calibration_table(y: np.ndarray, p: np.ndarray, groups: int = 10) -> list[dict]:
    """Per risk group (quantiles of p): n, mean predicted, observed proportion and its 95% Wilson interval."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    order = np.argsort(p, kind="stable")
    rows = []
    for chunk in np.array_split(order, min(groups, max(len(p), 1))):
        if chunk.size == 0:
            continue
        k, m = float(y[chunk].sum()), chunk.size
        obs = k / m
        z = 1.96
        centre = (obs + z * z / (2 * m)) / (1 + z * z / m)
        half = z * np.sqrt(obs * (1 - obs) / m + z * z / (4 * m * m)) / (1 + z * z / m)
        rows.append(
            {
                "n": int(m),
                "predicted": round(float(p[chunk].mean()), 4),
                "observed": round(obs, 4),
                "observed_ci": [round(float(centre - half), 4), round(float(centre + half), 4)],
            }
        )
    return rows


def smoothed_calibration(y: np.ndarray, p: np.ndarray, max_points: int = 5000) -> np.ndarray | None:
    """LOWESS of outcome on predicted probability: rows (predicted, observed); None under 20 patients."""
    from statsmodels.nonparametric.smoothers_lowess import lowess

    if len(p) < 20:
        return None
    take = np.random.default_rng(0).choice(len(p), size=min(len(p), max_points), replace=False)
    # it=0: no robustness iterations - with a 0/1 outcome they down-weight every minority outcome
    # (observed here: the curve collapsed onto 1.0)
    yy, pp = np.asarray(y, float)[take], np.asarray(p, float)[take]
    return lowess(yy, pp, frac=0.4, it=0, return_sorted=True)


def plot_calibration(y: np.ndarray, p: np.ndarray, path: str | Path, *, title: str, note: str = "") -> Path:
    """Write the calibration plot to ``path`` (PNG)."""
    return draw_calibration(
        calibration_table(y, p),
        path,
        title=title,
        note=note,
        curve=smoothed_calibration(y, p),
        xlabel="Predicted probability of response",
        ylabel="Observed proportion responding",
    )


def draw_calibration(
    table: list[dict],
    path: str | Path,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    note: str = "",
    curve: np.ndarray | None = None,
    points_label: str = "deciles of predicted risk",
    annotation: str = "",
) -> Path:
    """The calibration figure from grouped rows (``predicted``, ``observed``, ``observed_ci``; a row whose
    ``observed`` is None is not drawn), the ideal diagonal and an optional smoothed curve. Shared by the
    binary plot and the time-to-event plot at the horizon (sleitp.model.survival.checks)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = [r for r in table if r.get("observed") is not None]
    fig, ax = plt.subplots(figsize=(5.5, 5.5), dpi=110)
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="ideal")
    pred = [r["predicted"] for r in table]
    obs = [r["observed"] for r in table]
    err = np.array(
        [
            [max(r["observed"] - r["observed_ci"][0], 0.0) for r in table],
            [max(r["observed_ci"][1] - r["observed"], 0.0) for r in table],
        ]
    ).reshape(2, len(table))
    ax.errorbar(pred, obs, yerr=err, fmt="o", color="tab:blue", capsize=3, label=points_label)
    if curve is not None:
        ax.plot(curve[:, 0], curve[:, 1], color="tab:orange", lw=1.5, label="LOWESS")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    if annotation:
        ax.text(0.98, 0.02, annotation, transform=ax.transAxes, ha="right", va="bottom", fontsize=8)
    if note:
        fig.text(0.01, 0.01, note, fontsize=7, color="firebrick")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
