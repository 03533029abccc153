"""The predictor profile: for one patient, each predictor of the evidence base (predictors.yaml), whether it
is present, absent or unknown (not measured), with its direction, effect and sources.

When predictors are read: at the start of the first treatment line (the baseline the studies measured;
the same index date as the cohort engine's ``features.parquet``), or at the assessment date when no line
has started. Values come from :func:`sleitp.features.patient_features` (one definition for the bedside and
the cohort), except ``no_response_within_1_month``, which needs the IWG response of line 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from ..evidence import Evidence, Predictor, load_evidence
from ..features import patient_features
from ..instruments import IwgResponse
from ..record import PatientRecord

ONE_MONTH_DAYS = 30  # [AHN2024] "no response within 1 month" (a month read as 30 days: CHOICE, docs)

Status = Literal["present", "absent", "unknown", "measured"]


@dataclass(frozen=True)
class PredictorStatus:
    predictor: Predictor
    status: Status  # binary: present / absent / unknown; numeric: measured / unknown
    value: float | bool | None
    read_at: date

    @property
    def present(self) -> bool:
        """Contract field ``present``: True when the finding is present (binary) or measured (numeric)."""
        return self.status in ("present", "measured")

    def to_json(self) -> dict:
        p = self.predictor
        value = self.value
        if isinstance(value, float):
            value = round(value, 3)
        return {
            "name": p.name,
            "label": p.label,
            "present": self.present,
            "status": self.status,
            "value": value,
            "direction": p.direction,
            "effect": p.effect,
            "outcome": p.outcome,
            "population": p.population,
            "evidence_level": p.evidence_level,
            "note": p.note,
            "read_at": self.read_at.isoformat(),
            "references": list(p.source),
        }


def no_response_within_1_month(responses: list[IwgResponse], at: date) -> bool | None:
    """[AHN2024] line 1 did not reach R or CR within 30 days of its start; None while it cannot be told."""
    if not responses:
        return None
    first = responses[0]
    ttr = first.time_to_response_days
    if ttr is not None and ttr <= ONE_MONTH_DAYS:
        return False
    if (at - first.start).days < ONE_MONTH_DAYS:
        return None  # fewer than 30 days of follow-up: not yet known
    if ttr is not None:
        return True  # responded, but later than 30 days
    return True if first.category == "NR" else None  # NE: the counts cannot tell


def predictor_profile(
    record: PatientRecord, at: date, responses: list[IwgResponse], evidence: Evidence | None = None
) -> list[PredictorStatus]:
    ev = evidence or load_evidence()
    index = responses[0].start if responses and responses[0].start <= at else at
    feats = patient_features(record, index)
    out = []
    for p in ev.predictors:
        if p.reads == "no_response_within_1_month":
            value = no_response_within_1_month(responses, at)
            read_at = at
        else:
            value = feats[p.reads]
            read_at = index
        if value is None:
            status: Status = "unknown"
        elif p.kind == "numeric":
            status = "measured"
        else:
            status = "present" if bool(value) else "absent"
        out.append(PredictorStatus(p, status, value, read_at))
    return out


__all__ = ["ONE_MONTH_DAYS", "PredictorStatus", "no_response_within_1_month", "predictor_profile"]
