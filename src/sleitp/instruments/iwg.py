"""Treatment lines and their International Working Group response (Rodeghiero 2009), as spec/record.md
operationalizes it; corticosteroid dependence."""

from __future__ import annotations

from datetime import date
from typing import Literal

from ..record import PatientRecord
from ._base import Finding, Result


class TreatmentLine(Result):
    line: int
    agents: list[str]
    start: date
    end: date | None  # evaluation ends the day before the next line starts, or at the assessment date


class IwgResponse(Result):
    line: int
    agents: list[str]
    start: date
    baseline_platelets: float | None
    baseline_date: date | None
    category: Literal["CR", "R", "NR", "NE"]
    time_to_response_days: int | None
    time_to_complete_response_days: int | None
    loss_of_response_date: date | None
    evaluation_end: date
    findings: list[Finding]  # the counts and bleeding events that decided the category
    source: str = "IWG2009"


class CorticosteroidDependence(Result):
    dependent: bool | None  # None: the data cannot show it either way
    detail: str
    findings: list[Finding]
    source: str = "IWG2009"


def treatment_lines(record: PatientRecord, at: date) -> list[TreatmentLine]:
    raise NotImplementedError


def iwg_responses(record: PatientRecord, at: date) -> list[IwgResponse]:
    raise NotImplementedError


def corticosteroid_dependence(record: PatientRecord, at: date) -> CorticosteroidDependence:
    raise NotImplementedError


__all__ = ["CorticosteroidDependence", "IwgResponse", "TreatmentLine", "corticosteroid_dependence",
           "iwg_responses", "treatment_lines"]
