"""Where a trained model comes from: the ``training`` summary both trainers write (binary and Cox), and the
timestamps of trainings and recalibrations. TRIPOD items 4-5 (source of data, dates) [TRIPOD2015]."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sleitp import __version__

__all__ = ["TrainingSummary", "is_synthetic", "now", "training_provenance"]

_REQUIRED = ("trained_on", "synthetic", "n", "events", "created", "sleitp_version")


@dataclass(frozen=True)
class TrainingSummary:
    """A model's ``training`` summary (model.json): the provenance every kind has, and ``details``, the
    rest as saved (seed, bootstrap, apparent and optimism-corrected measures, imputation ...).
    ``to_json()`` gives back the same keys."""

    trained_on: str
    synthetic: bool
    n: int
    events: int
    created: str
    sleitp_version: str
    details: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "TrainingSummary":
        """KeyError when one of the provenance fields is missing."""
        return cls(trained_on=d["trained_on"], synthetic=bool(d["synthetic"]), n=d["n"], events=d["events"],
                   created=d["created"], sleitp_version=d["sleitp_version"],
                   details={k: v for k, v in d.items() if k not in _REQUIRED})

    def to_json(self) -> dict[str, Any]:
        return {**{k: getattr(self, k) for k in _REQUIRED}, **self.details}

    def get(self, key: str, default: Any = None) -> Any:
        return self.details.get(key, default)

    source = property(lambda self: self.details.get("source"))
    synthetic_reason = property(lambda self: self.details.get("synthetic_reason"))
    index_dates = property(lambda self: self.details.get("index_dates"))
    bootstrap = property(lambda self: self.details.get("bootstrap"))
    apparent_auc = property(lambda self: self.details.get("apparent_auc"))
    optimism_corrected_auc = property(lambda self: self.details.get("optimism_corrected_auc"))
    apparent_c_index = property(lambda self: self.details.get("apparent_c_index"))
    optimism_corrected_c_index = property(lambda self: self.details.get("optimism_corrected_c_index"))
    imputation = property(lambda self: self.details.get("imputation"))


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
