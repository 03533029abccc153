"""What every kind of model is (scikit-learn style) and what its bedside prediction looks like.

:class:`Model` is the protocol the logistic / boosted (:class:`sleitp.model.predict.TrainedModel`) and Cox
(:class:`sleitp.model.survival.cox.CoxModel`) models implement: ``fit`` a cohort (inputs checked, fitted
state set), ``predict_one`` for one patient, ``validate`` on another cohort, ``recalibrate`` on it,
``save`` / ``load`` without pickle (``sleitp.model.persist``: each class registers the kinds it loads).
:class:`Prediction`, :class:`ModelInfo` and the synthetic-data notice are shared by every kind, and
:class:`RendersItself` gives results (validation reports, model cards) their ``summary()`` and
``to_html()`` from one Rich view (lifelines style).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict
from rich.table import Table

from sleitp.errors import ModelError
from sleitp.model.persist import load_model
from sleitp.model.provenance import TrainingSummary
from sleitp.record import PatientRecord
from sleitp.text import SYNTHETIC_MODEL_NOTICE
from sleitp.view import RendersItself  # re-exported: the model results draw themselves too

__all__ = [
    "SYNTHETIC_BANNER",
    "SYNTHETIC_FIGURE_NOTE",
    "Contribution",
    "Model",
    "ModelInfo",
    "NotApplicable",
    "Prediction",
    "RendersItself",
    "bedside_statement",
    "linear_contributions",
    "validation_table",
]

Z95 = 1.959963984540054

# The synthetic-data notice (sleitp.text.SYNTHETIC_MODEL_NOTICE) as each face shows it: on the terminal in
# red; at the bedside first, as a demonstration-only warning; under a figure, short enough to fit.
SYNTHETIC_BANNER = f"[bold red]{SYNTHETIC_MODEL_NOTICE[0].upper()}{SYNTHETIC_MODEL_NOTICE[1:]}.[/bold red]"
SYNTHETIC_HTML_BANNER = f"DEMONSTRATION MODEL - {SYNTHETIC_MODEL_NOTICE}."
_BEDSIDE_SYNTHETIC = f"DEMONSTRATION ONLY - {SYNTHETIC_MODEL_NOTICE}; do not use it for treatment decisions. "
SYNTHETIC_FIGURE_NOTE = "SYNTHETIC DATA - demonstration only"


def bedside_statement(text: str, synthetic: bool) -> str:
    """The bedside sentence with its caveat: the synthetic-data warning first, or decision support."""
    return _BEDSIDE_SYNTHETIC + text if synthetic else text + " Decision support, not a prescription."


def estimated(prob: float, interval: tuple[float, float]) -> str:
    """How every bedside sentence begins: the probability and its 95% interval, in percent."""
    return f"Estimated probability {prob:.0%} (95% interval {interval[0]:.0%}-{interval[1]:.0%})"


def corrected_measure(name: str, value: Any) -> str:
    """The development measure the bedside sentence quotes (", optimism-corrected AUC 0.71"); "" without
    one (``--bootstrap 0``)."""
    return f", optimism-corrected {name} {value:.2f}" if isinstance(value, (int, float)) else ""


def figure_note(synthetic: bool) -> str:
    return SYNTHETIC_FIGURE_NOTE if synthetic else ""


class NotApplicable(Exception):  # noqa: N818 - the clinician's words: "not applicable"
    """The model was not trained for this patient's setting; no probability is given.

    ``statement`` is the sentence to show in place of the prediction; ``reason`` a short code
    (``past_first_line``); ``index_date`` the first line's start."""

    def __init__(self, outcome: str, reason: str, statement: str, index_date: date | None = None):
        super().__init__(statement)
        self.outcome = outcome
        self.reason = reason
        self.statement = statement
        self.index_date = index_date

    def to_json(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "applicable": False, "reason": self.reason,
                "index_date": None if self.index_date is None else self.index_date.isoformat(),
                "statement": self.statement}


class Contribution(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str
    value: float | bool | None
    contribution: float  # log-odds (binary) or log relative hazard (Cox)


def linear_contributions(columns: list[str], values: dict, M: np.ndarray, effects: np.ndarray,
                         means) -> list[Contribution]:
    """b_j (x_j - training mean of x_j) per design column for the one-row matrix M (``effects``: b_j,
    recalibration slope applied; ``means``: per column); largest first. They sum to the linear predictor
    minus its mean."""
    out = []
    for j, col in enumerate(columns):
        raw: float | bool | None
        if col.startswith("missing:"):
            raw = bool(M[0, j])
        else:
            v = values.get(col)
            raw = None if v is None else (bool(v) if isinstance(v, bool) else float(v))
        c = round(float(effects[j] * (M[0, j] - means[j])), 5)
        out.append(Contribution(name=col, value=raw, contribution=c))
    out.sort(key=lambda c: -abs(c.contribution))
    return out


class ModelInfo(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str
    kind: str
    trained_on: str
    synthetic: bool
    n: int
    events: int
    created: str
    sleitp_version: str
    optimism_corrected_auc: float | None = None  # binary outcomes
    optimism_corrected_c_index: float | None = None  # time-to-event outcomes (Harrell's C)
    recalibrated: str | None = None

    @classmethod
    def from_meta(cls, meta: dict, *, kind: str, **extra) -> "ModelInfo":
        """Provenance from a saved model's metadata (its ``training`` summary and any ``recalibration``),
        plus outcome-specific fields."""
        t, r = TrainingSummary.from_json(meta["training"]), meta.get("recalibration") or {}
        recalibrated = None
        if r.get("method"):
            recalibrated = f"{r['method']} on {r.get('cohort')} (n={r.get('n')}, {r.get('date')})"
        return cls(name=meta["name"], kind=kind, synthetic=t.synthetic, recalibrated=recalibrated,
                   trained_on=t.trained_on, n=t.n, events=t.events, created=t.created,
                   sleitp_version=t.sleitp_version, **extra)


class Prediction(BaseModel):
    model_config = ConfigDict(frozen=True)
    outcome: str
    at: date | None  # the assessment date
    index_date: date | None = None  # the date the predictors were read (features.index_date)
    probability: float
    interval: tuple[float, float]
    interval_method: str
    model: ModelInfo
    contributions: list[Contribution]
    contribution_method: str
    not_measured: list[str]
    statement: str
    # landmark prediction (sleitp.model.binary.landmark, docs/landmark.md): the landmark day whose model
    # made this prediction (None: the baseline model), and why that model was chosen (None: no landmark
    # models)
    landmark_day: int | None = None
    landmark: str | None = None
    # --imputation mice models (sleitp.model.binary.imputation): the predictors not measured for this
    # patient that were imputed (conditional mean given the observed ones); None = the model does not impute
    imputed: list[str] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "at": None if self.at is None else self.at.isoformat(),
            "index_date": None if self.index_date is None else self.index_date.isoformat(),
            "probability": round(self.probability, 4),
            "interval": [round(self.interval[0], 4), round(self.interval[1], 4)],
            "interval_method": self.interval_method,
            "model": self.model.model_dump(),
            "contributions": [c.model_dump() for c in self.contributions],
            "contribution_method": self.contribution_method,
            "not_measured": list(self.not_measured),
            "statement": self.statement,
            "landmark_day": self.landmark_day,
            "landmark": self.landmark,
        } | ({} if self.imputed is None else {"imputed": list(self.imputed)})


def validation_table(model: str, cohort: str, n: int, events: int, events_word: str) -> Table:
    """The head of an external validation report (binary or Cox): which model on which cohort, with how
    many patients and events; one measure a row."""
    return Table(title=f"{model} on {cohort} ({n} patients, {events} {events_word})", show_header=False,
                 title_justify="left")


class Model(ABC):
    """A prediction model as saved in MODEL_DIR: ``meta`` (model.json without the format stamp), ``design``
    (the predictors' transformations), ``card`` (the model card), ``source_dir`` (where it was loaded
    from, if it was)."""

    kind: str
    meta: dict
    card: dict
    source_dir: Path | None

    # --- provenance --------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.meta["name"]

    @property
    def outcome(self) -> str:
        return self.meta["outcome"]

    @property
    def training(self) -> TrainingSummary:
        """Where the model comes from and how it did in development (``model.json`` "training")."""
        return TrainingSummary.from_json(self.meta["training"])

    @property
    def synthetic(self) -> bool:
        return self.training.synthetic

    # the development measure a prediction quotes: a ModelInfo field and a TrainingSummary property
    development_measure: str
    # time-to-event kinds: the probability is of the event by this day; None: a binary outcome, the IWG
    # response of the line (which responses.parquet records, so a scored cohort shows it as observed)
    horizon_days: int | None = None
    # why `sleitp validate --update` (sleitp.model.binary.updating) does not apply to this kind; None: it does
    update_refused: str | None = None
    # what training writes beside the model and its card, in the words of `sleitp train`'s last line
    training_figures = "figures"

    def info(self) -> ModelInfo:
        """The model's provenance as a prediction shows it, with its development measure."""
        measure = self.development_measure
        return ModelInfo.from_meta(self.meta, kind=self.kind, **{measure: getattr(self.training, measure)})

    # --- the life of a model -------------------------------------------------------------------------
    @classmethod
    @abstractmethod
    def fit(cls, cohort_dir: str | Path, **options) -> Model:
        """Develop the model on a derived cohort (inputs checked; bootstrap-validated; card built)."""

    @abstractmethod
    def linear_predictor(self, X) -> np.ndarray:
        """The model's linear predictor for each row of X (predictor columns)."""

    @abstractmethod
    def score(self, X) -> dict[str, Any]:
        """Set-based: ``probability``, ``ci_low``, ``ci_high`` (arrays, one value a row of X: a column per
        predictor, NaN = not measured), ``interval_method`` and ``interval_missing_reason`` (None when
        every row has its interval) - the numbers ``predict_one`` gives one patient."""

    @abstractmethod
    def predict_one(self, record: PatientRecord, at: date | None = None) -> Prediction:
        """The bedside prediction for one patient assessed at ``at`` (default: the record's date)."""

    @abstractmethod
    def validate(self, cohort_dir: str | Path, *, plots: str | Path | None = None) -> RendersItself:
        """External validation on another derived cohort: a report that renders itself."""

    @abstractmethod
    def recalibrate(self, cohort_dir: str | Path, *, method: str, out: str | Path | None = None) -> Model:
        """The model updated on another cohort (``intercept`` or ``slope``); saved to ``out`` if given."""

    def recalibration_results(self) -> dict[str, Any]:
        """What `validate --recalibrate --json` reports of this recalibrated model beyond its
        ``recalibration`` record (none, unless the kind says more)."""
        return {}

    @abstractmethod
    def recalibration_line(self, report: Any, method: str, out: Path | None) -> str:
        """The sentence that says what recalibrating by ``method`` changed in this (recalibrated) model, and
        where it is saved; ``report``: the validation before it."""

    @abstractmethod
    def save(self, model_dir: str | Path, *, extra_files: dict[str, bytes | str] | None = None) -> str:
        """model.json (and any other model file), the extra files, the manifest; the manifest's SHA-256."""

    @classmethod
    @abstractmethod
    def from_saved(cls, meta: dict, model_dir: Path) -> Model:
        """The model from its checked ``model.json`` (KeyError/TypeError/ValueError when incomplete)."""

    @classmethod
    def load(cls, model_dir: str | Path, *, expected_manifest_sha256: str | None = None) -> Model:
        """Load MODEL_DIR (every checksum checked); a ModelError when it holds another kind of model."""
        model = load_model(model_dir, expected_manifest_sha256=expected_manifest_sha256)
        if not isinstance(model, cls):
            raise ModelError(f"{model_dir}: a {model.kind} model, not a {cls.__name__}")
        return model
