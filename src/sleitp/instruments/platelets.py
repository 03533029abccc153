"""Platelet summary, ITP phase and thrombocytopenia grade.

- :func:`platelet_summary`: the latest count and the nadir up to the assessment date.
- :func:`itp_phase`: newly diagnosed / persistent / chronic ITP [IWG2009], from the diagnosis date.
- :func:`thrombocytopenia_grade`: the severity of a count on a named, published scale.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from sleitp.instruments._base import Finding, Result
from sleitp.record import PatientRecord

# A month is an average Gregorian month (365.25 / 12 days), so "12 months" is exactly one average year.
DAYS_PER_MONTH = 30.4375
# ITP threshold [IWG2009]: "platelet count < 100 x 10^9/L" (used to date a diagnosis the record does not give)
ITP_PLATELET_THRESHOLD = 100.0

Phase = Literal["newly_diagnosed", "persistent", "chronic"]


class PlateletSummary(Result):
    latest: float | None  # 10^9/L
    latest_date: date | None
    nadir: float | None
    nadir_date: date | None  # the first date the nadir was reached
    n_counts: int


class ItpPhase(Result):
    phase: Phase | None
    months_since_diagnosis: float | None
    diagnosis_date: date | None
    diagnosis_basis: str  # "itp_diagnosis_date" | "first platelet count < 100 x10^9/L" | "unknown"
    source: str = "IWG2009"


class ThrombocytopeniaGrade(Result):
    grade: str | None  # "none" | "mild" | "moderate" | "severe"; None when no count
    scale: str
    detail: str
    source: str


def platelet_summary(record: PatientRecord, at: date) -> PlateletSummary:
    """Latest count and nadir among the platelet counts dated on or before ``at`` (10^9/L)."""
    counts = record.platelet_counts(until=at)  # date order (the record keeps its lists sorted)
    if not counts:
        return PlateletSummary(latest=None, latest_date=None, nadir=None, nadir_date=None, n_counts=0)
    latest = counts[-1]
    nadir = min(counts, key=lambda c: c.value)  # min() keeps the first of equals: the first date reached
    return PlateletSummary(latest=latest.value, latest_date=latest.date, nadir=nadir.value,
                           nadir_date=nadir.date, n_counts=len(counts))


def phase_of(months: float) -> Phase:
    """The ITP phase at ``months`` since diagnosis [IWG2009].

    IWG: newly diagnosed "within 3 months", persistent "between 3 to 12 months", chronic "lasting for more
    than 12 months". Convention (clinical.md §1.1): < 3 newly diagnosed; 3 to 12 inclusive persistent;
    > 12 chronic. So exactly 3 months is persistent and exactly 12 months is still persistent.
    """
    if months < 0:
        raise ValueError(f"months since diagnosis cannot be negative (got {months})")
    if months < 3:  # [IWG2009] "within 3 months from diagnosis"
        return "newly_diagnosed"
    if months <= 12:  # [IWG2009] "between 3 to 12 months" (both ends inclusive, clinical.md §1.1)
        return "persistent"
    return "chronic"  # [IWG2009] "lasting for more than 12 months"


def itp_phase(record: PatientRecord, at: date) -> ItpPhase:
    """ITP phase at ``at``. The diagnosis date is ``itp_diagnosis_date`` (when on or before ``at``), else the
    date of the first platelet count < 100 x10^9/L on or before ``at`` (spec/record.md); else unknown."""
    if record.itp_diagnosis_date is not None and record.itp_diagnosis_date <= at:
        diagnosed, basis = record.itp_diagnosis_date, "itp_diagnosis_date"
    else:
        # [IWG2009] ITP: platelet count < 100 x 10^9/L; 100 exactly is not thrombocytopenia
        low = [c for c in record.platelet_counts(until=at) if c.value < ITP_PLATELET_THRESHOLD]
        if not low:
            return ItpPhase(phase=None, months_since_diagnosis=None, diagnosis_date=None,
                            diagnosis_basis="unknown")
        diagnosed, basis = low[0].date, "first platelet count < 100 x10^9/L"
    months = (at - diagnosed).days / DAYS_PER_MONTH
    # months are reported unrounded (days / 30.4375) so other computations (cohort features) agree exactly
    return ItpPhase(phase=phase_of(months), months_since_diagnosis=months, diagnosis_date=diagnosed,
                    diagnosis_basis=basis)


def _jung2016(count: float) -> tuple[str, str]:
    # [JUNG2016] TP < 100,000/mm3; mild > 50,000; moderate > 20,000 to <= 50,000; severe <= 20,000
    if count >= 100:
        return "none", "no thrombocytopenia (>= 100)"
    if count > 50:
        return "mild", "mild (> 50 and < 100)"
    if count > 20:
        return "moderate", "moderate (> 20 and <= 50)"
    return "severe", "severe (<= 20)"


def _costa2021(count: float) -> tuple[str, str]:
    # [COSTA2021] mild 100-149, moderate 31-99, severe <= 30 x10^9/L (thrombocytopenia: < 150 on this scale).
    # The published bands are whole numbers; a count between two bands (e.g. 99.5, 30.5) goes to the band
    # whose lower edge it has passed: mild is 100 <= x < 150, moderate 30 < x < 100.
    if count >= 150:
        return "none", "no thrombocytopenia (>= 150)"
    if count >= 100:
        return "mild", "mild (100 to 149)"
    if count > 30:
        return "moderate", "moderate (31 to 99)"
    return "severe", "severe (<= 30)"


SCALES = {"jung2016": (_jung2016, "JUNG2016"), "costa2021": (_costa2021, "COSTA2021")}


def thrombocytopenia_grade(latest: float | None, *, scale: str = "jung2016") -> ThrombocytopeniaGrade:
    """Grade a platelet count (10^9/L) on a named scale: ``jung2016`` (default) or ``costa2021``."""
    if scale not in SCALES:
        raise ValueError(f"unknown thrombocytopenia scale {scale!r} (expected one of {', '.join(SCALES)})")
    grade_fn, source = SCALES[scale]
    if latest is None:
        return ThrombocytopeniaGrade(grade=None, scale=scale, detail="no platelet count", source=source)
    grade, why = grade_fn(latest)
    return ThrombocytopeniaGrade(grade=grade, scale=scale, detail=f"platelets {latest:g} x10^9/L: {why}",
                                 source=source)


__all__ = ["DAYS_PER_MONTH", "SCALES", "Finding", "ItpPhase", "PlateletSummary", "ThrombocytopeniaGrade",
           "itp_phase", "phase_of", "platelet_summary", "thrombocytopenia_grade"]
