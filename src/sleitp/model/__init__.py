"""Prediction models for treatment response in SLE-ITP, developed and reported to TRIPOD (docs/model.md).

``train`` a model on a derived cohort (bootstrap-validated, with a model card), ``validate`` it on
another cohort (optionally ``recalibrate``), save it without pickle and ``load_model`` it again, and
``predict_one(record, at)`` for one patient at the bedside: every kind of model is a
:class:`sleitp.model.base.Model` (``TrainedModel`` binary, ``CoxModel`` time to event).
"""

from sleitp.model.base import Contribution, Model, ModelInfo, Prediction
from sleitp.model.persist import load_model, save_model
from sleitp.model.predict import TrainedModel
from sleitp.model.survival.cox import (
    CoxModel,
    SurvivalPrediction,
    SurvivalValidationReport,
    train_survival,
    validate_survival,
)
from sleitp.model.survival.data import SURVIVAL_OUTCOMES
from sleitp.model.train import METHODS, ValidationReport, recalibrate, train, validate

__all__ = [
    "METHODS",
    "SURVIVAL_OUTCOMES",
    "CoxModel",
    "SurvivalPrediction",
    "SurvivalValidationReport",
    "Contribution",
    "Model",
    "ModelInfo",
    "Prediction",
    "TrainedModel",
    "ValidationReport",
    "load_model",
    "recalibrate",
    "save_model",
    "train",
    "train_survival",
    "validate",
    "validate_survival",
]
