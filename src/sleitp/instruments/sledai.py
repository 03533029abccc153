"""SLEDAI-2K (Gladman 2002): 24 descriptors, weights, look-back window."""

from __future__ import annotations

from datetime import date

from ..record import PatientRecord
from ._base import Finding, Result


class Sledai2k(Result):
    score: int
    items: list[str]  # descriptor names as spec/record.md says
    findings: list[Finding]
    window_days: int
    source: str = "SLEDAI2K"


def sledai_2k(record: PatientRecord, at: date, *, window_days: int = 10, arthritis_min_joints: int = 2) -> Sledai2k:
    raise NotImplementedError


__all__ = ["Sledai2k", "sledai_2k"]
