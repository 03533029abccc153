"""Glucocorticoid exposure in prednisone equivalents (current daily and cumulative)."""

from __future__ import annotations

from datetime import date

from ..record import PatientRecord
from ._base import Result


class GlucocorticoidCourse(Result):
    agent: str
    start: date
    end: date | None
    daily_prednisone_equivalent_mg: float | None  # None: amount unknown (no dose, or mg/kg without weight)
    cumulative_prednisone_equivalent_mg: float | None
    note: str = ""


class Glucocorticoids(Result):
    prednisone_equivalent_mg_day: float | None  # at the assessment date; 0.0 when none is running
    cumulative_prednisone_equivalent_mg: float
    courses: list[GlucocorticoidCourse]
    unknown_amounts: list[str]  # courses whose amount could not be computed, and why
    dexamethasone_mg_per_5mg_prednisone: float
    source: str = "GC-EQUIV"


def glucocorticoid_exposure(record: PatientRecord, at: date, *,
                            dexamethasone_mg_per_5mg_prednisone: float = 0.75) -> Glucocorticoids:
    raise NotImplementedError


__all__ = ["GlucocorticoidCourse", "Glucocorticoids", "glucocorticoid_exposure"]
