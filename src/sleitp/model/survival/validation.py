"""External validation and recalibration of a saved Cox model on another cohort (docs/model.md
"Time-to-event outcomes"); the binary counterparts are ``train.validate`` and ``train.recalibrate``.

- :func:`validate_survival` — Harrell's C with a bootstrap 95% CI [HARRELL1996]; calibration at the
  horizon: Kaplan-Meier observed against mean predicted P(event by the horizon) overall and in risk groups,
  and the calibration slope (Cox regression of the outcome on the model's linear predictor, follow-up
  censored at the horizon) [ROYSTON2013]; optionally the calibration plot (PNG).
- :func:`recalibrate_survival` — model updating on the new cohort [STEYERBERG2010]: ``intercept`` keeps the
  coefficients and re-estimates the baseline cumulative hazard (Breslow, the linear predictor held fixed:
  the time-to-event analogue of calibration-in-the-large; "temporal recalibration" of [BOOTH2020]);
  ``slope`` first multiplies the linear predictor by the calibration slope on the cohort, then
  re-estimates the baseline hazard with it. The result is a new model folder with the same manifest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from rich.console import Group
from rich.table import Table

from sleitp.errors import ModelError
from sleitp.model.base import SYNTHETIC_BANNER, RendersItself, validation_table
from sleitp.model.provenance import now
from sleitp.model.survival.checks import (
    calibration_at_horizon,
    calibration_figure,
    calibration_slope_at,
    km_by_horizon,
)
from sleitp.model.survival.data import SurvivalDataset, load_survival_cohort
from sleitp.model.survival.fit import CoxFit, breslow_cumhaz, harrell_c
from sleitp.text import fixed

if TYPE_CHECKING:
    from sleitp.model.survival.cox import CoxModel

__all__ = ["SurvivalValidationReport", "horizon_calibration", "recalibrate_survival", "validate_survival"]

SLOPE_METHOD = (
    "coefficient of the model's linear predictor in a Cox regression of the outcome on it, follow-up "
    "censored at the horizon (1 is ideal; below 1 the predictions are too extreme) [ROYSTON2013]"
)


@dataclass(frozen=True)
class SurvivalValidationReport(RendersItself):
    model: str
    outcome: str
    cohort: str
    n: int
    events: int
    censored: int
    excluded: dict
    c_index: float
    c_index_ci: tuple[float, float]
    horizon_days: int
    observed_by_horizon: float | None  # Kaplan-Meier 1 - S(horizon)
    mean_predicted_by_horizon: float
    synthetic_model: bool
    calibration: list[dict] | None = None  # risk groups at the horizon
    calibration_slope: dict | None = None  # {"slope", "ci95", "se"}
    figures: dict | None = None

    @property
    def observed_expected_ratio(self) -> float | None:
        if self.observed_by_horizon is None or self.mean_predicted_by_horizon <= 0:
            return None
        return self.observed_by_horizon / self.mean_predicted_by_horizon

    def to_json(self) -> dict:
        slope = self.calibration_slope
        oe = self.observed_expected_ratio
        return {
            "model": self.model,
            "outcome": self.outcome,
            "cohort": self.cohort,
            "n": self.n,
            "events": self.events,
            "censored": self.censored,
            "excluded": self.excluded,
            "c_index": round(self.c_index, 4),
            "c_index_ci": [round(self.c_index_ci[0], 4), round(self.c_index_ci[1], 4)],
            "c_index_ci_method": "Harrell's C; 95% percentile bootstrap over patients "
            "(200 resamples, seed 0)",
            "horizon_days": self.horizon_days,
            "observed_by_horizon": None
            if self.observed_by_horizon is None
            else round(self.observed_by_horizon, 4),
            "observed_method": "Kaplan-Meier, 1 - S(horizon)",
            "mean_predicted_by_horizon": round(self.mean_predicted_by_horizon, 4),
            "observed_expected_ratio": None if oe is None else round(oe, 4),
            "calibration_slope": None if slope is None else round(slope["slope"], 4),
            "calibration_slope_ci": None if slope is None else [round(v, 4) for v in slope["ci95"]],
            "calibration_slope_method": SLOPE_METHOD,
            "calibration": self.calibration,
            "calibration_method": "patients grouped by predicted P(event by the horizon) (deciles, fewer "
            "when there are fewer than 10 events by the horizon a group); Kaplan-Meier observed by the "
            "horizon with its 95% CI [ROYSTON2013]",
            "figures": self.figures or {},
            "not_applicable": {
                name: "binary-outcome measure; a time-to-event model is judged by the C-index and by "
                "calibration at the horizon (Kaplan-Meier observed vs predicted, calibration slope)"
                for name in ("auc", "auc_ci", "calibration_intercept", "brier")
            },
            "synthetic_model": self.synthetic_model,
        }

    def __rich__(self) -> Group:
        t = validation_table(self.model, self.cohort, self.n, self.events, "events")
        lo, hi = self.c_index_ci
        t.add_row("Harrell's C (95% CI)", f"{self.c_index:.3f} ({lo:.3f}-{hi:.3f})")
        t.add_row(
            f"observed (KM) / mean predicted by day {self.horizon_days}",
            f"{fixed(self.observed_by_horizon)} / {self.mean_predicted_by_horizon:.3f}",
        )
        slope = self.calibration_slope
        t.add_row(
            f"calibration slope at day {self.horizon_days} (95% CI)",
            "-"
            if slope is None
            else f"{slope['slope']:.3f} ({slope['ci95'][0]:.3f}-{slope['ci95'][1]:.3f})"
            "  [dim]1 is ideal[/dim]",
        )
        t.add_row("AUC, calibration intercept, Brier", "not applicable (binary-outcome measures)")
        g = Table(title=f"Calibration by day {self.horizon_days}, risk groups", title_justify="left")
        for col in ("patients", "events by horizon", "mean predicted", "observed (KM)", "95% CI"):
            g.add_column(col, justify="right")
        for r in self.calibration or []:
            ci = r["observed_ci"]
            g.add_row(str(r["n"]), str(r["events_by_horizon"]), f"{r['predicted']:.3f}", fixed(r["observed"]),
                      "-" if ci is None else f"{ci[0]:.3f}-{ci[1]:.3f}")
        parts = [*([SYNTHETIC_BANNER] if self.synthetic_model else []), t, g]
        if self.figures:
            parts.append(f"Calibration plot: {self.figures['calibration']}")
        return Group(*parts)


def _load(model: CoxModel, cohort_dir: str | Path) -> tuple[SurvivalDataset, np.ndarray]:
    ds = load_survival_cohort(cohort_dir, outcome=model.outcome, predictors=model.design.predictors)
    if ds.events < 1 or ds.n < 2:
        raise ModelError(f"{cohort_dir}: {ds.n} patients with {ds.events} events; validation needs events")
    return ds, model.linear_predictor(ds.X)


def horizon_calibration(model: CoxModel, ds: SurvivalDataset, lp: np.ndarray) -> dict:
    """Calibration of ``model`` at its horizon on ``ds``: risk groups, KM overall, mean predicted, slope."""
    h = model.horizon_days
    p = model.probability_by(lp)
    km = km_by_horizon(ds.time, ds.event, h) if ds.time.max() >= h else None
    return {
        "horizon_days": h,
        "groups": calibration_at_horizon(ds.time, ds.event, p, h),
        "observed_by_horizon": None if km is None else km[0],
        "mean_predicted_by_horizon": float(np.mean(p)),
        "slope_apparent": calibration_slope_at(ds.time, ds.event, lp, h),
    }


def validate_survival(
    model: CoxModel, cohort_dir: str | Path, *, resamples: int = 200, plots: str | Path | None = None
) -> SurvivalValidationReport:
    """The C-index with a bootstrap 95% CI, n/events, calibration at the horizon; with ``plots`` the
    calibration plot ``validation-calibration.png`` in that folder."""
    ds, lp = _load(model, cohort_dir)
    c = harrell_c(ds.time, lp, ds.event)
    rng = np.random.default_rng(0)
    boots = []
    for _ in range(resamples):
        idx = rng.integers(0, ds.n, ds.n)
        if ds.event[idx].sum() > 0:
            boots.append(harrell_c(ds.time[idx], lp[idx], ds.event[idx]))
    lo, hi = (float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))) if boots else (c, c)
    cal = horizon_calibration(model, ds, lp)
    figures = {}
    if plots is not None:
        folder = Path(plots)
        folder.mkdir(parents=True, exist_ok=True)
        path = calibration_figure(model, folder / "validation-calibration.png", cal, "validation cohort")
        figures["calibration"] = str(path)
    return SurvivalValidationReport(
        model=model.name,
        outcome=model.outcome,
        cohort=str(cohort_dir),
        n=ds.n,
        events=ds.events,
        censored=ds.censored,
        excluded=ds.excluded,
        c_index=c,
        c_index_ci=(lo, hi),
        horizon_days=model.horizon_days,
        observed_by_horizon=cal["observed_by_horizon"],
        mean_predicted_by_horizon=cal["mean_predicted_by_horizon"],
        synthetic_model=model.synthetic,
        calibration=cal["groups"],
        calibration_slope=cal["slope_apparent"],
        figures=figures,
    )


def recalibrate_survival(
    model: CoxModel, cohort_dir: str | Path, *, method: str, out: str | Path | None = None
) -> CoxModel:
    """Update ``model`` on COHORT_DIR: ``intercept`` = baseline cumulative hazard re-estimated with the
    coefficients fixed; ``slope`` = linear predictor times the calibration slope, then the baseline hazard.
    Returns (and with ``out`` saves, card and figures included) the updated model; the original is kept."""
    if method not in ("intercept", "slope"):
        raise ModelError(f"--recalibrate must be 'intercept' or 'slope', got {method!r}")
    ds, lp = _load(model, cohort_dir)
    h = model.horizon_days
    if ds.time.max() < h:
        raise ModelError(
            f"{cohort_dir}: follow-up ends at day {ds.time.max():.0f}, before the horizon (day {h}); the "
            "baseline hazard up to the horizon cannot be re-estimated"
        )
    by_h = int(((ds.time <= h) & (ds.event == 1)).sum())
    if by_h < 1:
        raise ModelError(f"{cohort_dir}: no event by day {h}; nothing to recalibrate the baseline hazard on")
    b = 1.0
    if method == "slope":
        fit = calibration_slope_at(ds.time, ds.event, lp, h)
        if fit is None or not np.isfinite(fit["slope"]):
            raise ModelError(f"{cohort_dir}: the calibration slope cannot be estimated on this cohort")
        b = fit["slope"]
    times, cumhaz = breslow_cumhaz(ds.time, ds.event, b * lp)  # at lp = 0, i.e. the training means
    cox = CoxFit(model.cox.columns, model.cox.beta * b, model.cox.cov * b * b, model.cox.means, times, cumhaz)
    previous = model.meta.get("recalibration") or {}
    meta = json.loads(json.dumps(model.meta, default=float))
    meta["recalibration"] = {
        "method": method,
        "slope": b * float(previous.get("slope", 1.0)),  # composed with any earlier recalibration
        "slope_this_update": b,
        "baseline": "Breslow baseline cumulative hazard re-estimated on the cohort, the (slope-scaled) "
        "linear predictor held fixed",
        "baseline_at_horizon_before": model.cox.baseline_at(h),
        "baseline_at_horizon_after": cox.baseline_at(h),
        "cohort": str(cohort_dir),
        "n": ds.n,
        "events": ds.events,
        "events_by_horizon": by_h,
        "date": now(),
    }
    meta["name"] = model.name if model.name.endswith("-recalibrated") else model.name + "-recalibrated"
    card = json.loads(json.dumps(model.card, default=float))
    updated = type(model)(meta, model.design, cox, card)
    card = updated.card
    after = horizon_calibration(updated, ds, b * lp)
    card["recalibration"] = meta["recalibration"]
    card["recalibration_calibration"] = after
    card.setdefault("model", {})["name"] = meta["name"]
    if b != 1.0:
        card["hazard_ratios_note"] = (
            f"The hazard ratios above are the development ones; this recalibrated model multiplies every "
            f"coefficient by {b:.3f} (each hazard ratio raised to the power {b:.3f})."
        )
    card.pop("manifest_sha256", None)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        figures = {}
        src = model.source_dir
        for name, file in (model.card.get("figures") or {}).items():
            if src is not None and (src / file).is_file() and not file.startswith("recalibration-"):
                (out / file).write_bytes((src / file).read_bytes())
                figures[name] = file
        figures["recalibration_calibration"] = calibration_figure(
            updated, out / "recalibration-calibration.png", after, "recalibration cohort, after recalibration"
        ).name
        card["figures"] = figures
        updated.save(out)
    return updated
