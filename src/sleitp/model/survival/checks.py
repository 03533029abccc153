"""Checks of a Cox model that TRIPOD asks for: the proportional-hazards assumption and calibration at the
horizon of the bedside probability (docs/model.md "Time-to-event outcomes").

- :func:`ph_test` — Grambsch and Therneau's test [GRAMBSCH1994]: the scaled Schoenfeld residuals of each
  predictor regressed on a transform of event time (here its rank, lifelines' default
  ``proportional_hazard_test(..., time_transform="rank")`` [LIFELINES]); a slope means the log hazard
  ratio changes with time. One chi-squared (1 df) statistic per design column, and the global statistic
  of the same paper (p df) computed here from the same residuals (lifelines reports only the per-column
  ones).
- :func:`calibration_at_horizon` — patients grouped by predicted P(event by the horizon); in each group the
  mean prediction against the Kaplan-Meier probability of the event by the horizon, with its 95%
  interval [ROYSTON2013] (Kaplan-Meier curves in risk groups against the model's predictions).
- :func:`calibration_slope_at` — the coefficient of the model's linear predictor in a Cox regression of the
  outcome on it [ROYSTON2013] [HARRELL1996]; 1 is ideal, below 1 the predictions are too extreme. Follow-up
  is administratively censored at the horizon, so that the slope judges the window the prediction is
  made for (events after the horizon, and any change of effects after it, do not count).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sleitp.model.base import figure_note
from sleitp.model.calibration import draw_calibration
from sleitp.model.survival.fit import cox_newton

__all__ = [
    "PH_ALPHA",
    "SHORT_EVENT",
    "calibration_at_horizon",
    "calibration_figure",
    "calibration_groups",
    "calibration_slope_at",
    "km_by_horizon",
    "ph_test",
    "plot_survival_calibration",
]

PH_ALPHA = 0.05
EVENTS_PER_GROUP = 10  # Kaplan-Meier with fewer events a group is too noisy to read (a documented choice)
SHORT_EVENT = {"time_to_response": "response", "loss_of_response": "loss of response"}
PH_CAUTION = (
    "Where proportional hazards do not hold, a hazard ratio is an average of an effect that changes over "
    "follow-up (weighted by when the events happen), and the probability at the horizon can be off for "
    "patients whose risk depends mostly on such a predictor."
)


# --- proportional hazards ---------------------------------------------------------------------------


def ph_test(cph, df, columns: list[str], *, alpha: float = PH_ALPHA) -> dict:
    """Grambsch-Therneau test per design column and globally, for a lifelines ``CoxPHFitter`` ``cph``
    fitted on ``df`` (whose covariate columns are ``columns`` in order, possibly renamed)."""
    from lifelines.statistics import TimeTransformers, proportional_hazard_test
    from scipy.stats import chi2

    resid = cph.compute_residuals(df, kind="scaled_schoenfeld")
    per = proportional_hazard_test(cph, df, time_transform="rank", precomputed_residuals=resid).summary
    events = cph.event_observed
    d = float(events.sum())
    g = np.asarray(TimeTransformers().get("rank")(cph.durations, events, cph.weights)[events.values], float)
    g = g - g.mean()
    # [GRAMBSCH1994] global statistic: U' V^-1 U / (d * sum g^2), U = sum over events of g * scaled residual
    u = g @ resid.to_numpy(float)
    V = cph.variance_matrix_.to_numpy(float)
    stat = float(u @ np.linalg.solve(V, u) / (d * float(g @ g)))
    dof = len(columns)
    rows = []
    for safe, name in zip(per.index, columns, strict=True):
        p = float(per.loc[safe, "p"])
        rows.append(
            {
                "name": name,
                "statistic": round(float(per.loc[safe, "test_statistic"]), 4),
                "p": p,
                "flagged": bool(p < alpha),
            }
        )
    global_p = float(chi2.sf(stat, dof))
    flagged = [r["name"] for r in rows if r["flagged"]]
    if flagged or global_p < alpha:
        which = ", ".join(flagged) if flagged else "no single column"
        statement = (
            f"Proportional hazards questionable (global p = {global_p:.3g}; p < {alpha} for {which}). "
            + PH_CAUTION
        )
    else:
        statement = (
            f"No evidence against proportional hazards (global p = {global_p:.3g}; no column with "
            f"p < {alpha}). Absence of evidence is not proof, least of all with few events."
        )
    return {
        "method": "Grambsch-Therneau test: scaled Schoenfeld residuals against the rank of event time "
        "(lifelines proportional_hazard_test, time_transform='rank'); global statistic of the same paper "
        "[GRAMBSCH1994]",
        "alpha": alpha,
        "per_predictor": rows,
        "global": {"statistic": round(stat, 4), "df": dof, "p": global_p},
        "flagged": flagged,
        "statement": statement,
        "caution": PH_CAUTION,
        "multiplicity": f"per-column p-values are not adjusted: with {dof} columns about "
        f"{dof * alpha:.1f} fall below {alpha} by chance alone",
    }


# --- calibration at the horizon ---------------------------------------------------------------------


def km_by_horizon(time: np.ndarray, event: np.ndarray, horizon: float) -> tuple[float, float, float] | None:
    """Kaplan-Meier probability of the event by ``horizon`` (1 - S(h)) with its 95% interval (lifelines'
    log(-log) Greenwood interval); None when follow-up ends before the horizon with S > 0."""
    from lifelines import KaplanMeierFitter

    time = np.asarray(time, float)
    km = KaplanMeierFitter().fit(time, np.asarray(event, int))
    s = float(km.survival_function_at_times(horizon).iloc[0])
    if time.max() < horizon and s > 0:
        return None
    ci = km.confidence_interval_survival_function_
    row = ci[ci.index <= horizon].iloc[-1] if (ci.index <= horizon).any() else ci.iloc[0]
    lo, hi = float(row.iloc[0]), float(row.iloc[1])
    return 1.0 - s, 1.0 - max(lo, hi), 1.0 - min(lo, hi)


def calibration_groups(events_by_horizon: int, n: int) -> int:
    """Ten groups (deciles of predicted risk), fewer when events are few: about EVENTS_PER_GROUP events
    by the horizon a group, at least 2 groups."""
    return int(max(1, min(n, 10, max(2, events_by_horizon // EVENTS_PER_GROUP))))


def calibration_at_horizon(
    time: np.ndarray, event: np.ndarray, p: np.ndarray, horizon: float, *, groups: int | None = None
) -> list[dict]:
    """Per risk group (quantiles of the predicted P(event by horizon)): n, events by the horizon, mean
    predicted, Kaplan-Meier observed by the horizon and its 95% interval (None when not followed that long).
    """
    time, event, p = np.asarray(time, float), np.asarray(event, int), np.asarray(p, float)
    by_h = int(((time <= horizon) & (event == 1)).sum())
    k = calibration_groups(by_h, p.size) if groups is None else groups
    order = np.argsort(p, kind="stable")
    rows = []
    for chunk in np.array_split(order, k):
        if chunk.size == 0:
            continue
        km = km_by_horizon(time[chunk], event[chunk], horizon)
        rows.append(
            {
                "n": int(chunk.size),
                "events_by_horizon": int(((time[chunk] <= horizon) & (event[chunk] == 1)).sum()),
                "predicted": round(float(p[chunk].mean()), 4),
                "observed": None if km is None else round(km[0], 4),
                "observed_ci": None if km is None else [round(km[1], 4), round(km[2], 4)],
            }
        )
    return rows


def calibration_slope_at(time: np.ndarray, event: np.ndarray, lp: np.ndarray, horizon: float) -> dict | None:
    """Slope of the linear predictor in a Cox regression of the outcome, follow-up censored at the horizon,
    with its Wald 95% CI; None when there is no event by the horizon or the fit fails."""
    time, event = np.asarray(time, float), np.asarray(event, int)
    e_h = ((time <= horizon) & (event == 1)).astype(int)
    if e_h.sum() == 0 or np.ptp(np.asarray(lp, float)) == 0:
        return None
    try:
        fit = cox_newton(np.asarray(lp, float)[:, None], np.minimum(time, horizon), e_h, beta0=np.ones(1))
    except (ValueError, np.linalg.LinAlgError):
        return None
    b, se = float(fit.beta[0]), float(np.sqrt(fit.cov[0, 0]))
    return {"slope": b, "ci95": [b - 1.959963984540054 * se, b + 1.959963984540054 * se], "se": se}


def plot_survival_calibration(
    table: list[dict],
    path: str | Path,
    *,
    title: str,
    outcome: str,
    horizon: int,
    slope: dict | None,
    note: str = "",
) -> Path:
    """The calibration plot at the horizon, drawn like the binary one (sleitp.model.calibration)."""
    event = SHORT_EVENT.get(outcome, outcome)
    return draw_calibration(
        table,
        path,
        title=title,
        note=note,
        xlabel=f"Predicted probability of {event} by day {horizon}",
        ylabel=f"Observed (Kaplan-Meier) probability by day {horizon}",
        points_label="risk groups, Kaplan-Meier with 95% CI",
        annotation=""
        if slope is None
        else f"calibration slope at day {horizon}: {slope['slope']:.2f} (1 is ideal)",
    )


def calibration_figure(model, path: Path, calibration: dict, what: str) -> Path:
    """The calibration plot at the horizon of ``calibration`` (a card or report section) for ``model`` (a
    :class:`sleitp.model.survival.cox.CoxModel`)."""
    return plot_survival_calibration(
        calibration["groups"],
        path,
        title=f"Calibration at day {model.horizon_days}: {model.name}\n({what})",
        outcome=model.outcome,
        horizon=model.horizon_days,
        slope=calibration.get("slope_apparent"),
        note=figure_note(model.synthetic),
    )
