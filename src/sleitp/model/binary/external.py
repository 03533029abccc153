"""External validation and recalibration of a saved binary model on another cohort (docs/model.md); the
time-to-event counterparts are in ``sleitp.model.survival.validation``.

- :func:`validate_binary` — AUC with 95% CI [DELONG1988], calibration intercept and slope, Brier
  [STEYERBERG2010], net benefit [VICKERS2006]; a :class:`ValidationReport` that renders itself.
- :func:`recalibrate_binary` — update the intercept, or intercept and slope, on a new cohort and save the
  updated model (the original coefficients stay; the recalibration is applied on top and recorded).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from rich.console import Group
from rich.table import Table
from scipy.special import expit

from sleitp.errors import ModelError
from sleitp.model.base import SYNTHETIC_BANNER, RendersItself, figure_note, validation_table
from sleitp.model.calibration import calibration_table, plot_calibration
from sleitp.model.dataset import Dataset, load_cohort
from sleitp.model.decision_curve import decision_curve, plot_decision_curve
from sleitp.model.performance import auc_with_ci, brier, calibration_intercept, calibration_slope
from sleitp.model.provenance import now

if TYPE_CHECKING:
    from sleitp.model.predict import TrainedModel

__all__ = ["ValidationReport", "figures", "recalibrate_binary", "validate_binary", "validation_data"]


@dataclass(frozen=True)
class ValidationReport(RendersItself):
    model: str
    cohort: str
    n: int
    events: int
    excluded: dict
    auc: float
    auc_ci: tuple[float, float]
    calibration_intercept: float
    calibration_slope: float
    brier: float
    observed_rate: float
    mean_predicted: float
    calibration: list[dict]
    net_benefit: list[dict]
    synthetic_model: bool

    def to_json(self) -> dict:
        return {
            "model": self.model,
            "cohort": self.cohort,
            "n": self.n,
            "events": self.events,
            "excluded": self.excluded,
            "auc": round(self.auc, 4),
            "auc_ci": [round(self.auc_ci[0], 4), round(self.auc_ci[1], 4)],
            "auc_ci_method": "DeLong, 95%, logit scale",
            "calibration_intercept": round(self.calibration_intercept, 4),
            "calibration_slope": round(self.calibration_slope, 4),
            "brier": round(self.brier, 5),
            "observed_rate": round(self.observed_rate, 4),
            "mean_predicted": round(self.mean_predicted, 4),
            "calibration": self.calibration,
            "net_benefit": self.net_benefit,
            "synthetic_model": self.synthetic_model,
        }

    def __rich__(self) -> Group:
        t = validation_table(self.model, self.cohort, self.n, self.events, "responders")
        t.add_row("AUC (95% CI)", f"{self.auc:.3f} ({self.auc_ci[0]:.3f}-{self.auc_ci[1]:.3f})")
        t.add_row("calibration intercept", f"{self.calibration_intercept:.3f}  [dim]0 is ideal[/dim]")
        t.add_row("calibration slope", f"{self.calibration_slope:.3f}  [dim]1 is ideal[/dim]")
        t.add_row("Brier", f"{self.brier:.4f}")
        t.add_row("observed / mean predicted", f"{self.observed_rate:.3f} / {self.mean_predicted:.3f}")
        nb = Table(title="Net benefit", title_justify="left")
        for col in ("threshold", "model", "assume all respond"):
            nb.add_column(col, justify="right")
        for r in self.net_benefit[1::2]:
            nb.add_row(f"{r['threshold']:.2f}", f"{r['model']:.3f}", f"{r['treat_all']:.3f}")
        return Group(*([SYNTHETIC_BANNER] if self.synthetic_model else []), t, nb)


def figures(model: TrainedModel, out: Path, y: np.ndarray, p: np.ndarray, label: str) -> dict[str, str]:
    """Calibration plot and decision curve; ``label`` "" (development data) or a file prefix."""
    note = figure_note(model.synthetic)
    what = {"": "development data, apparent", "validation-": "validation cohort",
            "recalibration-": "recalibration cohort, after recalibration"}.get(label, label)
    return {
        "calibration": plot_calibration(y, p, out / f"{label}calibration.png",
                                        title=f"Calibration: {model.name} ({what})", note=note).name,
        "decision_curve": plot_decision_curve(y, p, out / f"{label}decision_curve.png",
                                              title=f"Decision curve: {model.name} ({what})", note=note).name,
    }


def validation_data(model: TrainedModel, cohort_dir: str | Path) -> tuple[Dataset, np.ndarray]:
    """The cohort's evaluable patients and the model's linear predictor for each."""
    ds = load_cohort(cohort_dir, outcome=model.outcome, predictors=model.design.predictors)
    if ds.n == 0 or ds.events in (0, ds.n):
        raise ModelError(
            f"{cohort_dir}: {ds.n} evaluable patients with {ds.events} responders; validation needs "
            "both responders and non-responders"
        )
    return ds, model.linear_predictor(ds.X)


def validate_binary(
    model: TrainedModel, cohort_dir: str | Path, *, plots: str | Path | None = None
) -> ValidationReport:
    """External validation of ``model`` on COHORT_DIR [STEYERBERG2010] [DELONG1988] [VICKERS2006]."""
    ds, lp = validation_data(model, cohort_dir)
    p = expit(lp)
    a, lo, hi = auc_with_ci(ds.y, lp)
    report = ValidationReport(
        model=model.name,
        cohort=str(cohort_dir),
        n=ds.n,
        events=ds.events,
        excluded=ds.excluded,
        auc=a,
        auc_ci=(lo, hi),
        calibration_intercept=calibration_intercept(ds.y, lp),
        calibration_slope=calibration_slope(ds.y, lp)[1],
        brier=brier(ds.y, p),
        observed_rate=float(ds.y.mean()),
        mean_predicted=float(p.mean()),
        calibration=calibration_table(ds.y, p),
        net_benefit=decision_curve(ds.y, p),
        synthetic_model=model.synthetic,
    )
    if plots is not None:
        out = Path(plots)
        out.mkdir(parents=True, exist_ok=True)
        figures(model, out, ds.y, p, "validation-")
    return report


def recalibrate_binary(
    model: TrainedModel,
    cohort_dir: str | Path,
    *,
    method: str,
    out: str | Path | None = None,
) -> TrainedModel:
    """Model updating on a new cohort: ``intercept`` (calibration-in-the-large) or ``slope`` (intercept and
    slope, logistic recalibration) [STEYERBERG2010]; returns (and optionally saves) the updated model."""
    if method not in ("intercept", "slope"):
        raise ModelError(f"--recalibrate must be 'intercept' or 'slope', got {method!r}")
    ds, lp = validation_data(model, cohort_dir)
    a0, b0 = model.recalibration
    if method == "intercept":
        a, b = calibration_intercept(ds.y, lp), 1.0
    else:
        a, b = calibration_slope(ds.y, lp)
    if not (np.isfinite(a) and np.isfinite(b)):
        raise ModelError(f"{cohort_dir}: recalibration did not converge")
    meta = json.loads(json.dumps(model.meta, default=float))
    # compose with any earlier recalibration: a + b * (a0 + b0 * lp_raw)
    meta["recalibration"] = {
        "intercept": a + b * a0,
        "slope": b * b0,
        "method": method,
        "cohort": str(cohort_dir),
        "n": ds.n,
        "events": ds.events,
        "date": now(),
    }
    meta["name"] = model.name if model.name.endswith("-recalibrated") else model.name + "-recalibrated"
    updated = type(model)(meta, model.design, logistic=model.logistic, gbm=model.gbm, card=dict(model.card))
    updated.card["recalibration"] = meta["recalibration"]
    updated.card["model"] = {**updated.card.get("model", {}), "name": meta["name"]}
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        p = expit(updated.linear_predictor(ds.X))
        updated.card["figures"] = {
            **updated.card.get("figures", {}),
            **figures(updated, out, ds.y, p, "recalibration-"),
        }
        src = model.source_dir
        for fig in ("calibration.png", "decision_curve.png", "nomogram.png"):
            if src is not None and (src / fig).is_file():
                (out / fig).write_bytes((src / fig).read_bytes())
        updated.save_with_card(out)
    return updated
