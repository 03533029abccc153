"""The time-to-event lines of `sleitp validate --recalibrate` (Cox models; docs/model.md "Time-to-event
outcomes"): what the recalibration changed. Called from cli/models.py; no clinical logic here. The card and
the validation report print themselves (``SurvivalCard``, ``SurvivalValidationReport``)."""

from __future__ import annotations

from pathlib import Path

from sleitp.model.survival.cox import CoxModel
from sleitp.model.survival.validation import SurvivalValidationReport
from sleitp.text import fixed

__all__ = ["recalibrated_survival", "recalibration_line_survival"]


def recalibrated_survival(updated: CoxModel) -> dict:
    """The JSON fields `validate --recalibrate --json` adds for a Cox model: calibration after the update."""
    after = updated.card["recalibration_calibration"]
    return {
        "mean_predicted_by_horizon_after": round(after["mean_predicted_by_horizon"], 4),
        "calibration_after": after["groups"],
    }


def recalibration_line_survival(report: SurvivalValidationReport, updated: CoxModel, method: str,
                                out: Path | None) -> str:
    """The sentence that says what `validate --recalibrate` changed in a Cox model, and where it is."""
    r = updated.meta["recalibration"]
    h = report.horizon_days
    return (
        f"Recalibrated ({method}): slope {r['slope']:.3f}, baseline cumulative hazard at day "
        f"{h} {r['baseline_at_horizon_before']:.4f} -> "
        f"{r['baseline_at_horizon_after']:.4f};"
        f" mean predicted by day {h} {report.mean_predicted_by_horizon:.3f} -> "
        f"{updated.card['recalibration_calibration']['mean_predicted_by_horizon']:.3f} (observed "
        f"{fixed(report.observed_by_horizon)}); saved to {out}"
    )
