"""2019 EULAR/ACR classification criteria for SLE (Aringer 2019)."""

from __future__ import annotations

from datetime import date

from ..record import PatientRecord
from ._base import Finding, Result


class EularAcr2019(Result):
    entry_criterion: bool
    points: int
    classified: bool
    domains: dict[str, int]
    has_clinical_criterion: bool
    findings: list[Finding]
    source: str = "EULARACR2019"


def eular_acr_2019(record: PatientRecord, at: date) -> EularAcr2019:
    raise NotImplementedError


__all__ = ["EularAcr2019", "eular_acr_2019"]
