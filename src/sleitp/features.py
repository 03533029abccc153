"""Predictor values of one patient at one date: the single-patient reference of the cohort engine's
``features.parquet`` (one row a patient at the first line's start) and the input of the bedside model.

Which predictors: those the evidence read supports for response in SLE-ITP (clinical.md §2.1-2.2).
How each is read from the record is fixed here, once; the cohort engine (``sleitp.cohort.derive.run``)
implements the same definitions set-based and is property-tested against :func:`patient_features`.

Windows (a choice, no source gives one; docs/features.md): a measured lab value is the latest one dated
on or before the index date and no more than ``LAB_WINDOW_DAYS`` before it; an antibody or a
manifestation counts if it was ever recorded up to the index date (antibodies and events are traits of
the patient's history); baseline platelets follow the IWG baseline rule (spec/record.md, 30 days).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from sleitp.instruments._lab_readings import DEFAULT_COMPLEMENT_LOW
from sleitp.instruments.bleeding import BLEEDING_WINDOW_DAYS
from sleitp.instruments.iwg import iwg_responses
from sleitp.record import PatientRecord
from sleitp.timeline import APL_TESTS, Timeline

LAB_WINDOW_DAYS = 90
C3_DEFAULT_LOW = DEFAULT_COMPLEMENT_LOW["c3"]  # g/L [RCPA-C3C4], when the laboratory gives no reference_low
C4_DEFAULT_LOW = DEFAULT_COMPLEMENT_LOW["c4"]  # g/L [RCPA-C3C4]


@dataclass(frozen=True)
class Feature:
    name: str
    kind: Literal["numeric", "binary"]
    unit: str
    description: str
    source: str  # reference key(s) of the evidence that makes it a predictor


FEATURES: tuple[Feature, ...] = (
    Feature("age_years", "numeric", "years", "age at the index date", "LIU2021"),
    Feature("male", "binary", "", "male sex", "LIU2021"),
    Feature("baseline_platelets", "numeric", "10^9/L",
            "the line's IWG baseline: the last day with a count within 30 days on or before the index date, "
            "the lowest count of that day", "IWG2009 AHN2024"),
    Feature("platelets_below_20", "binary", "", "baseline platelets < 20 x10^9/L", "AHN2024"),
    Feature("c3", "numeric", "g/L", "latest C3 within 90 days", "SU2022 ZHENG2025"),
    Feature("low_c3", "binary", "", "C3 below the laboratory's lower limit (default 0.9 g/L)", "SU2022"),
    Feature("low_c4", "binary", "", "C4 below the laboratory's lower limit (default 0.16 g/L)", "SU2022"),
    Feature("anticardiolipin", "binary", "", "anticardiolipin antibodies ever positive", "SU2022"),
    Feature("antiphospholipid", "binary", "",
            "any antiphospholipid antibody ever positive (aCL, anti-b2GP1, lupus anticoagulant) "
            "or APS history",
            "SU2022 CIME2024"),
    Feature("autoimmune_hemolysis", "binary", "", "autoimmune haemolytic anaemia ever recorded", "SU2022"),
    Feature("pregnant", "binary", "", "pregnant at the index date (record flag)", "SU2022"),
    Feature("nlr", "numeric", "ratio", "neutrophil/lymphocyte ratio, latest same-day pair within 90 days",
            "ZHENG2025"),
    Feature("sii", "numeric", "10^9/L",
            "systemic immune-inflammation index = platelets x neutrophils / lymphocytes, latest same-day "
            "triple within 90 days", "ZHENG2025"),
    Feature("megakaryocytes", "numeric", "/slide",
            "bone-marrow megakaryocytes per slide, latest within 90 days", "ZHAO2016"),
    Feature("megakaryocytes_below_20", "binary", "", "bone-marrow megakaryocytes < 20 per slide", "ZHAO2016"),
    Feature("anti_tpo_receptor", "binary", "", "anti-TPO-receptor antibodies ever positive", "KUWANA2006"),
    Feature("antiplatelet_antibody", "binary", "", "antiplatelet antibodies ever positive", "WEI2016"),
    Feature("anti_sm", "binary", "", "anti-Sm ever positive", "LIU2021"),
    Feature("anti_ssa", "binary", "", "anti-SSA/Ro ever positive", "LIU2021"),
    Feature("hemoglobin", "numeric", "g/L", "latest haemoglobin within 90 days", "SU2022"),
    Feature("lupus_nephritis", "binary", "", "lupus nephritis ever recorded (finding or history)",
            "JIANG2019"),
    Feature("who_bleeding_grade", "numeric", "grade 0-4",
            "worst WHO bleeding grade in the 7 days up to the index date (0 when none recorded)", "WEI2016"),
)
FEATURE_NAMES = tuple(f.name for f in FEATURES)


def _below_low(tl: Timeline, test: str, default_low: float) -> bool | None:
    """The latest measured value (within LAB_WINDOW_DAYS) below the laboratory's lower limit, else the
    default limit; None when not measured."""
    since = tl.at - timedelta(days=LAB_WINDOW_DAYS)
    vals = [x for x in tl.labs(test) if x.value is not None and x.date >= since]
    if not vals:
        return None
    last = vals[-1]
    low = last.reference_low if last.reference_low is not None else default_low
    return last.value < low


def _same_day_ratio(tl: Timeline) -> tuple[float | None, float | None]:
    """NLR and SII from the latest day (within the window) on which the needed counts were all measured
    (the last value of each count on that day)."""
    def by_day(test: str) -> dict[date, float]:
        return {x.date: x.value for x in tl.labs(test)
                if x.value is not None and x.date >= tl.at - timedelta(days=LAB_WINDOW_DAYS)}
    neu, lym, plt = by_day("neutrophils"), by_day("lymphocytes"), by_day("platelets")
    nl_days = sorted(d for d in neu if d in lym and lym[d] > 0)
    nlr = neu[nl_days[-1]] / lym[nl_days[-1]] if nl_days else None
    sii_days = [d for d in nl_days if d in plt]
    sii = plt[sii_days[-1]] * neu[sii_days[-1]] / lym[sii_days[-1]] if sii_days else None
    return nlr, sii


def index_date(record: PatientRecord, at: date) -> date:
    """The prediction's index date, defined once for the predictor profile, the model at training
    (features.parquet) and the model at the bedside: the start of the first ITP treatment line
    (``sleitp.instruments.iwg.iwg_responses``) on or before ``at``, else ``at`` (no line has started).

    Predictors are read at the start of treatment because that is when the studies measured them [IWG2009]
    (baseline "at the time of starting" the treatment); a count eight weeks into a response is an outcome,
    not a predictor."""

    lines = iwg_responses(record, at)
    return lines[0].start if lines and lines[0].start <= at else at


def patient_features(record: PatientRecord, at: date) -> dict[str, float | bool | None]:
    """The predictors of :data:`FEATURES` for ``record`` at the index date ``at`` (see :func:`index_date`);
    None = not measured. Read through :class:`sleitp.timeline.Timeline` at ``at``: nothing later is seen."""
    tl = Timeline(record, at)
    # [IWG2009] the line's baseline (spec/record.md): the last day with a count within 30 days on or before
    # the index date, the lowest count of that day -- the same number as responses.parquet's baseline
    base = tl.baseline(at)  # [IWG2009] the count at the start of treatment
    baseline = base[1] if base else None
    mk = tl.latest_value("megakaryocytes", LAB_WINDOW_DAYS)
    nlr, sii = _same_day_ratio(tl)
    apl = {t: tl.ever_positive(t) for t in APL_TESTS}
    ever = tl.manifestations_ever()
    since = at - timedelta(days=BLEEDING_WINDOW_DAYS)
    bleeds = [b.who_grade for b in record.bleeding if since <= b.date <= at]
    age = record.age_at(at)
    return {
        "age_years": age,
        "male": None if record.sex in ("unknown", "other") else record.sex == "male",
        "baseline_platelets": baseline,
        "platelets_below_20": None if baseline is None else baseline < 20,  # [AHN2024] < 20 x10^9/L
        "c3": tl.latest_value("c3", LAB_WINDOW_DAYS),
        "low_c3": _below_low(tl, "c3", C3_DEFAULT_LOW),
        "low_c4": _below_low(tl, "c4", C4_DEFAULT_LOW),
        "anticardiolipin": apl["anticardiolipin"],
        "antiphospholipid": True if record.history.antiphospholipid_syndrome or any(apl.values())
        else (None if all(a is None for a in apl.values()) else False),
        "autoimmune_hemolysis": "autoimmune_hemolysis" in ever,
        "pregnant": record.pregnant,
        "nlr": nlr,
        "sii": sii,
        "megakaryocytes": mk,
        "megakaryocytes_below_20": None if mk is None else mk < 20,  # [ZHAO2016] BM-MK < 20/slide
        "anti_tpo_receptor": tl.ever_positive("anti_tpo_receptor"),
        "antiplatelet_antibody": tl.ever_positive("antiplatelet_antibody"),
        "anti_sm": tl.ever_positive("anti_sm"),
        "anti_ssa": tl.ever_positive("anti_ssa"),
        "hemoglobin": tl.latest_value("hemoglobin", LAB_WINDOW_DAYS),
        "lupus_nephritis": record.history.lupus_nephritis or "lupus_nephritis" in ever,
        "who_bleeding_grade": max(bleeds) if bleeds else 0,
    }


__all__ = ["FEATURES", "FEATURE_NAMES", "Feature", "index_date", "patient_features"]
