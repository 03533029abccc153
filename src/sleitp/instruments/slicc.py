"""SLICC 2012 classification criteria for SLE (Petri 2012)."""

from __future__ import annotations

from datetime import date

from ..record import PatientRecord
from ._base import Finding, Result


class Slicc2012(Result):
    classified: bool
    clinical: list[str]
    immunologic: list[str]
    rule: str  # which rule classified (">=4 with >=1 clinical and >=1 immunologic" / "biopsy-proven LN ...") or why not
    findings: list[Finding]
    source: str = "SLICC2012"


def slicc_2012(record: PatientRecord, at: date) -> Slicc2012:
    raise NotImplementedError


__all__ = ["Slicc2012", "slicc_2012"]
