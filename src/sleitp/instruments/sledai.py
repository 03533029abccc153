"""SLEDAI-2K (Gladman 2002): 24 descriptors, weights, look-back window.

A descriptor scores when it is present at the visit or in the preceding window: a finding dated in
``[at - window_days, at]`` (both ends inclusive; default 10 days [SLEDAI2K], clinical.md §1.4). Each
descriptor scores once, whatever the number of findings. A laboratory descriptor scores when *any* result of
that test in the window meets its definition (not only the latest), as the form's "present at the time of the
visit or in the preceding 10 days" reads.

Clinical descriptors come from ``manifestations`` by name (spec/record.md), with three synonyms:
``oral_ulcers`` is ``mucosal_ulcers``, ``acute_cutaneous_lupus`` is ``rash``, ``non_scarring_alopecia`` is
``alopecia``. Other manifestation names (``pleural_effusion``, ``acute_pericarditis``, ``joint_involvement``,
``lupus_nephritis`` ...) are not SLEDAI-2K descriptors and do not score (docs/instruments.md).

Not checkable from a record, so not applied: "exclude drug / infectious / metabolic causes" and "only if
attributable to lupus". The record is taken to hold findings the clinician attributes to lupus.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from sleitp.instruments._base import Finding, Result
from sleitp.instruments._details import detail_number
from sleitp.instruments._lab_readings import Reading, complement_low, dsdna_increased, with_limit_source
from sleitp.record import Lab, Manifestation, PatientRecord


class Sledai2k(Result):
    score: int
    items: list[str]  # descriptor names as spec/record.md says, in the order of the SLEDAI-2K form
    findings: list[Finding]
    window_days: int
    source: str = "SLEDAI2K"
    # A score without any urine or serology result in the window is not "inactive": the renal and immunologic
    # descriptors (16 of the 24 items' points can be lab-based) were simply not measured (docs/instruments.md)
    assessable: bool = True
    not_assessable_because: str | None = None


def _above(test: str, limit: float, unit: str) -> Callable[[Lab], Reading]:
    def read(lab: Lab) -> Reading:
        if lab.value is None:
            return Reading(False, f"{test} has no value", "")
        met = lab.value > limit
        return Reading(met, f"{test} {lab.value:g} {unit} {'>' if met else '<='} {limit:g}", "SLEDAI2K")
    return read


def _below(test: str, limit: float, unit: str) -> Callable[[Lab], Reading]:
    def read(lab: Lab) -> Reading:
        if lab.value is None:
            return Reading(False, f"{test} has no value", "")
        met = lab.value < limit
        return Reading(met, f"{test} {lab.value:g} {unit} {'<' if met else '>='} {limit:g}", "SLEDAI2K")
    return read


@dataclass(frozen=True)
class Descriptor:
    """One SLEDAI-2K descriptor: its name, weight and where it is read in the record."""

    name: str
    weight: int
    manifestations: tuple[str, ...] = ()  # manifestation names that are this descriptor
    labs: tuple[tuple[str, Callable[[Lab], Reading]], ...] = ()  # (test, reading) pairs


# The 24 descriptors in the form's order; weights 8x8, 4x6, 2x7, 1x3 (sum 105) [SLEDAI2K]
DESCRIPTORS: tuple[Descriptor, ...] = (
    Descriptor("seizure", 8, ("seizure",)),  # [SLEDAI2K] 1
    Descriptor("psychosis", 8, ("psychosis",)),  # [SLEDAI2K] 2
    Descriptor("organic_brain_syndrome", 8, ("organic_brain_syndrome",)),  # [SLEDAI2K] 3
    Descriptor("visual_disturbance", 8, ("visual_disturbance",)),  # [SLEDAI2K] 4
    Descriptor("cranial_nerve_disorder", 8, ("cranial_nerve_disorder",)),  # [SLEDAI2K] 5
    Descriptor("lupus_headache", 8, ("lupus_headache",)),  # [SLEDAI2K] 6
    Descriptor("cva", 8, ("cva",)),  # [SLEDAI2K] 7
    Descriptor("vasculitis", 8, ("vasculitis",)),  # [SLEDAI2K] 8
    Descriptor("arthritis", 4, ("arthritis",)),  # [SLEDAI2K] 9: joint count checked in _arthritis_counts
    Descriptor("myositis", 4, ("myositis",)),  # [SLEDAI2K] 10
    Descriptor("urinary_casts", 4, ("urinary_casts",)),  # [SLEDAI2K] 11
    Descriptor("hematuria", 4,  # [SLEDAI2K] 12: > 5 RBC/hpf
               labs=(("urine_rbc", _above("urine_rbc", 5, "/hpf")),)),
    Descriptor("proteinuria", 4,  # [SLEDAI2K] 13: > 0.5 g/24 h
               labs=(("urine_protein_24h", _above("urine_protein_24h", 0.5, "g/24h")),)),
    Descriptor("pyuria", 4,  # [SLEDAI2K] 14: > 5 WBC/hpf
               labs=(("urine_wbc", _above("urine_wbc", 5, "/hpf")),)),
    Descriptor("rash", 2, ("rash", "acute_cutaneous_lupus")),  # [SLEDAI2K] 15 (synonym: spec/record.md)
    Descriptor("alopecia", 2, ("alopecia", "non_scarring_alopecia")),  # [SLEDAI2K] 16
    Descriptor("mucosal_ulcers", 2, ("mucosal_ulcers", "oral_ulcers")),  # [SLEDAI2K] 17: oral or nasal
    Descriptor("pleurisy", 2, ("pleurisy",)),  # [SLEDAI2K] 18
    Descriptor("pericarditis", 2, ("pericarditis",)),  # [SLEDAI2K] 19
    Descriptor("low_complement", 2, labs=(("c3", complement_low), ("c4", complement_low))),  # [SLEDAI2K] 20
    Descriptor("increased_dna_binding", 2, labs=(("anti_dsdna", dsdna_increased),)),  # [SLEDAI2K] 21
    Descriptor("fever", 1, ("fever",)),  # [SLEDAI2K] 22: > 38 C (details.temperature_c checked when given)
    Descriptor("thrombocytopenia", 1,  # [SLEDAI2K] 23: < 100 x10^9/L; exactly 100 does not score
               labs=(("platelets", _below("platelets", 100, "x10^9/L")),)),
    Descriptor("leukopenia", 1, labs=(("wbc", _below("wbc", 3, "x10^9/L")),)),  # [SLEDAI2K] 24: < 3 x10^9/L
)
MAX_SCORE = sum(d.weight for d in DESCRIPTORS)  # 105 [SLEDAI2K]
SLEDAI_FEVER_C = 38.0  # [SLEDAI2K] fever "> 38 C"
# opt-in stand-in for > 0.5 g/24 h (docs/instruments.md)
_UPCR_PROTEINURIA = ("upcr", _above("upcr", 0.5, "g/g"))


def _manifestation_counts(record: PatientRecord, index: int, m: Manifestation, *,
                          arthritis_min_joints: int) -> Reading:
    if m.name == "arthritis":
        joints = detail_number(record, index, m, "joints")
        if joints is not None:
            met = joints >= arthritis_min_joints  # [SLEDAI2K] ">= 2 joints" (parameter: ">2" conflict, §1.4)
            rel = ">=" if met else "<"
            return Reading(met, f"arthritis in {joints:g} joints ({rel} {arthritis_min_joints})", "SLEDAI2K")
        return Reading(True, "arthritis (joint count not given)", "SLEDAI2K")
    if m.name == "fever":
        t = detail_number(record, index, m, "temperature_c")
        if t is not None:
            met = t > SLEDAI_FEVER_C  # [SLEDAI2K] "> 38 C": 38.0 exactly does not score
            return Reading(met, f"fever {t:g} C ({'>' if met else '<='} 38 C)", "SLEDAI2K")
        return Reading(True, "fever (temperature not given)", "SLEDAI2K")
    return Reading(True, m.name, "SLEDAI2K")


def sledai_2k(record: PatientRecord, at: date, *, window_days: int = 10, arthritis_min_joints: int = 2,
              proteinuria_upcr: bool = False) -> Sledai2k:
    """SLEDAI-2K at ``at`` over the window ``[at - window_days, at]``.

    ``arthritis_min_joints``: an ``arthritis`` finding with ``details.joints`` scores when joints >= this
    (2: ">= 2 joints"; 3: "more than 2 joints"); without a joint count an ``arthritis`` finding scores.
    ``proteinuria_upcr``: also score proteinuria on a urine protein/creatinine ratio > 0.5 g/g (off by
    default: the descriptor is defined on 24-hour urine).
    """
    if window_days < 0:
        raise ValueError(f"window_days must be 0 or more (got {window_days})")
    if arthritis_min_joints < 1:
        raise ValueError(f"arthritis_min_joints must be 1 or more (got {arthritis_min_joints})")
    since = at - timedelta(days=window_days)

    def in_window(d: date) -> bool:
        return since <= d <= at  # both edges count: exactly window_days before `at` is inside

    items: list[str] = []
    findings: list[Finding] = []
    for desc in DESCRIPTORS:
        hits: list[tuple[date, Reading]] = []
        for i, m in enumerate(record.manifestations):
            if m.name in desc.manifestations and in_window(m.date):
                r = _manifestation_counts(record, i, m, arthritis_min_joints=arthritis_min_joints)
                if r.met:
                    hits.append((m.date, r if m.name == desc.name else
                                 Reading(True, f"{r.detail} (counts as {desc.name})", r.source)))
        labs = desc.labs + ((_UPCR_PROTEINURIA,) if desc.name == "proteinuria" and proteinuria_upcr else ())
        for test, read in labs:
            for lab in record.labs_of(test):
                if in_window(lab.date):
                    r = read(lab)
                    if r.met:
                        hits.append((lab.date, r))
        if hits:
            day, r = max(hits, key=lambda h: h[0])  # report the finding nearest the visit
            items.append(desc.name)
            findings.append(Finding(name=desc.name, points=desc.weight, date=day,
                                    detail=with_limit_source(r, "SLEDAI2K"), source="SLEDAI2K"))
    measured = {lab.test for lab in record.labs if in_window(lab.date)}
    urine = measured & set(URINE_TESTS)
    serology = measured & set(SEROLOGY_TESTS)
    missing = [what for what, got in (("urine (protein, red or white cells)", urine),
                                      ("serology (C3, C4, anti-dsDNA)", serology)) if not got]
    return Sledai2k(score=sum(int(f.points) for f in findings), items=items, findings=findings,
                    window_days=window_days, assessable=not missing,
                    not_assessable_because=(f"no {' and no '.join(missing)} result in the {window_days}-day "
                                            f"window: the score cannot show the lupus is inactive")
                    if missing else None)


URINE_TESTS = ("urine_protein_24h", "upcr", "urine_rbc", "urine_wbc")
SEROLOGY_TESTS = ("c3", "c4", "anti_dsdna")


__all__ = ["DESCRIPTORS", "MAX_SCORE", "Descriptor", "Sledai2k", "sledai_2k"]
