"""The predictor profile: for one patient, each predictor of the evidence base (predictors.yaml), whether it
is present, absent or unknown (not measured), with its direction, effect and sources.

When predictors are read: at the start of the first treatment line (the baseline the studies measured;
the same index date as the cohort engine's ``features.parquet``), or at the assessment date when no line
has started. Values come from :func:`sleitp.features.patient_features` (one definition for the bedside and
the cohort), except the special readers below (they need the treatment history or the timeline).

``present`` (the contract field): True / False for a binary finding; ``None`` for a numeric predictor
(age, NLR, SII, haemoglobin...), whose value is shown but whose presence no source defines with a
threshold (clinical review M13). Antiphospholipid antibodies count only when persistent (two positives at
least 12 weeks apart) or with a recorded APS [SYDNEY2006]; a single positive reads "unknown" until repeated,
and a positive followed by a negative result at least 12 weeks later reads "absent".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from sleitp.evidence import Evidence, Predictor, load_evidence
from sleitp.features import LAB_WINDOW_DAYS, patient_features
from sleitp.instruments import IwgResponse
from sleitp.instruments.sledai import sledai_2k
from sleitp.record import PatientRecord
from sleitp.timeline import APL_PERSISTENCE_DAYS, APL_TESTS, Timeline

ONE_MONTH_DAYS = 30  # [AHN2024] "no response within 1 month" (a month read as 30 days: CHOICE, docs)
SEROSITIS = ("pleurisy", "pericarditis", "pleural_effusion", "pericardial_effusion", "acute_pericarditis")
LEUKOPENIA_BELOW = 3.0  # x10^9/L [SLEDAI2K] leukopenia descriptor (Liu 2021's own cut-off not read)

Status = Literal["present", "absent", "unknown", "measured"]


@dataclass(frozen=True)
class PredictorStatus:
    predictor: Predictor
    status: Status  # binary: present / absent / unknown; numeric: measured / unknown
    value: float | bool | None
    read_at: date

    @property
    def present(self) -> bool | None:
        """Contract field ``present``: True / False for a binary finding, None when unknown, and None for a
        numeric predictor (no sourced threshold: the value is shown instead) [LIU2021] [ZHENG2025]."""
        if self.predictor.kind == "numeric" or self.status == "unknown":
            return None
        return self.status == "present"

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
            "signal": p.signal,
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


def persistent_test(tl: Timeline, test: str) -> bool | None:
    """[SYDNEY2006] True: positive twice >= 12 weeks apart; False: never positive, or a negative result at
    least 12 weeks after the first positive; None: not tested, or a single positive not yet repeated."""
    labs = [x for x in tl.labs(test) if x.positive is not None]
    if not labs:
        return None
    if tl.persistently_positive(test):
        return True
    positives = [x.date for x in labs if x.positive]
    if not positives:
        return False
    later_negative = any(
        not x.positive and (x.date - positives[0]).days >= APL_PERSISTENCE_DAYS for x in labs
    )
    return False if later_negative else None


def antiphospholipid_persistent(tl: Timeline) -> bool | None:
    """APS recorded, or any aPL test persistently positive [SYDNEY2006]; None when untested or a positive
    is not yet confirmed; False when every tested aPL is negative (or a positive was not confirmed)."""
    if tl.record.history.antiphospholipid_syndrome:
        return True
    tested = [t for t in APL_TESTS if any(x.positive is not None for x in tl.labs(t))]
    if not tested:
        return None
    results = [persistent_test(tl, t) for t in tested]
    if any(r is True for r in results):
        return True
    return None if any(r is None for r in results) else False


def _special(name: str, record: PatientRecord, index: date) -> bool | float | None:
    tl = Timeline(record, index)
    if name == "antiphospholipid_persistent":
        return antiphospholipid_persistent(tl)
    if name == "anticardiolipin_persistent":
        return persistent_test(tl, "anticardiolipin")
    if name == "anti_b2gp1_persistent":
        return persistent_test(tl, "anti_b2gp1")
    if name == "serositis":  # [LIU2021] serositis -> no CR
        return bool(tl.manifestations_ever() & set(SEROSITIS))
    if name == "myositis":  # [LIU2021] myositis -> no response at week 24
        return "myositis" in tl.manifestations_ever()
    if name == "leukopenia":  # [SLEDAI2K] WBC < 3 x10^9/L; [LIU2021] leukopenia -> no CR at week 24
        wbc = tl.latest_value("wbc", within_days=LAB_WINDOW_DAYS)
        return None if wbc is None else wbc < LEUKOPENIA_BELOW
    if name == "sledai_2k":
        return float(sledai_2k(record, index).score)
    raise ValueError(f"unknown predictor reader {name!r}")


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
        elif p.reads not in feats:
            value = _special(p.reads, record, index)
            read_at = index
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


__all__ = [
    "ONE_MONTH_DAYS",
    "PredictorStatus",
    "antiphospholipid_persistent",
    "no_response_within_1_month",
    "persistent_test",
    "predictor_profile",
]
