"""Platelet summary, ITP phase and thrombocytopenia grade."""

from __future__ import annotations

from datetime import date
from typing import Literal

from ..record import PatientRecord
from ._base import Finding, Result


class PlateletSummary(Result):
    latest: float | None  # 10^9/L
    latest_date: date | None
    nadir: float | None
    nadir_date: date | None
    n_counts: int


class ItpPhase(Result):
    phase: Literal["newly_diagnosed", "persistent", "chronic"] | None
    months_since_diagnosis: float | None
    diagnosis_date: date | None
    diagnosis_basis: str  # "itp_diagnosis_date" | "first platelet count < 100 x10^9/L" | "unknown"
    source: str = "IWG2009"


class ThrombocytopeniaGrade(Result):
    grade: str | None  # e.g. "severe"; None when no count
    scale: str
    detail: str
    source: str


def platelet_summary(record: PatientRecord, at: date) -> PlateletSummary:
    raise NotImplementedError


def itp_phase(record: PatientRecord, at: date) -> ItpPhase:
    raise NotImplementedError


def thrombocytopenia_grade(latest: float | None, *, scale: str = "jung2016") -> ThrombocytopeniaGrade:
    raise NotImplementedError


__all__ = ["Finding", "ItpPhase", "PlateletSummary", "ThrombocytopeniaGrade", "itp_phase", "platelet_summary",
           "thrombocytopenia_grade"]
