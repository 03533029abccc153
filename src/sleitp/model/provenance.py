"""Where a trained model comes from: the ``training`` summary both trainers write (binary and Cox), and the
timestamps of trainings and recalibrations. TRIPOD items 4-5 (source of data, dates) [TRIPOD2015]."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sleitp import __version__

__all__ = ["is_synthetic", "now", "training_provenance"]


def now() -> str:
    """The current time, UTC, to the second (ISO 8601)."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def is_synthetic(cohort_dir: Path, declared: bool | None) -> tuple[bool, str]:
    """Synthetic unless the user declares the data real; a generator's truth file always means synthetic."""
    for d in (cohort_dir, cohort_dir.parent):
        if (d / "truth.parquet").exists():
            return True, f"{d / 'truth.parquet'} present (generator output)"
    if declared is None:
        return True, "not declared real (--real-data); treated as synthetic"
    return declared, "declared by the user"


def training_provenance(cohort_dir: Path, ds: Any, declared_synthetic: bool | None) -> dict[str, Any]:
    """The fields of a model's ``training`` summary that do not depend on the model: the data it was
    trained on (``ds``: a Dataset or SurvivalDataset), whether that is synthetic, when, with which sleitp."""
    synthetic, reason = is_synthetic(cohort_dir, declared_synthetic)
    return {
        "trained_on": cohort_dir.resolve().name or str(cohort_dir),
        "source": str(cohort_dir),
        "synthetic": synthetic,
        "synthetic_reason": reason,
        "n": ds.n,
        "events": ds.events,
        "excluded": ds.excluded,
        "index_dates": list(ds.index_dates),
        "created": now(),
        "sleitp_version": __version__,
    }
