"""SLICC 2012 classification criteria for SLE (Petri 2012).

Rules [SLICC2012] (clinical.md §1.6): 11 clinical and 6 immunologic criteria, each counting if it occurred on
or before ``at`` (criteria are cumulative). Classified when

- >= 4 criteria with >= 1 clinical and >= 1 immunologic, or
- biopsy-proven lupus nephritis (a ``lupus_nephritis`` finding with a biopsy class) with ANA or anti-dsDNA.

How each record name maps to a criterion is in :func:`_clinical` / :func:`_immunologic` and in
docs/instruments.md. "In the absence of other known causes" cannot be checked from a record and is not
applied.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from sleitp.instruments._base import Finding, Result
from sleitp.instruments._lab_readings import (
    Reading,
    ana_above_reference,
    complement_low,
    dsdna_increased,
    with_limit_source,
)
from sleitp.record import Lab, PatientRecord
from sleitp.timeline import APL_TESTS


class Slicc2012(Result):
    classified: bool
    clinical: list[str]
    immunologic: list[str]
    rule: str  # which rule classified (RULE_COUNT / RULE_NEPHRITIS), or why not
    findings: list[Finding]
    source: str = "SLICC2012"


RULE_COUNT = ">=4 criteria with >=1 clinical and >=1 immunologic"
RULE_NEPHRITIS = "biopsy-proven lupus nephritis with ANA or anti-dsDNA"

Hit = tuple[date, str]


def _first_manifestation(record: PatientRecord, at: date, names: tuple[str, ...]) -> Hit | None:
    for m in record.manifestations:  # date order
        if m.name in names and m.date <= at:
            return m.date, m.name
    return None


def _first_lab(record: PatientRecord, at: date, tests: tuple[str, ...],
               read: Callable[[Lab], Reading]) -> Hit | None:
    hits = []
    for test in tests:
        for lab in record.labs_of(test, until=at):
            r = read(lab)
            if r.met:
                hits.append((lab.date, with_limit_source(r, "SLICC2012")))
                break  # labs_of is in date order: the first one met is the earliest of this test
    return min(hits, key=lambda h: h[0]) if hits else None


def _below(limit: float, unit: str) -> Callable[[Lab], Reading]:
    def read(lab: Lab) -> Reading:
        met = lab.value is not None and lab.value < limit
        return Reading(met, f"{lab.test} {lab.value:g} {unit} < {limit:g}" if met else "", "SLICC2012")
    return read


def _at_least(limit: float, unit: str) -> Callable[[Lab], Reading]:
    def read(lab: Lab) -> Reading:
        met = lab.value is not None and lab.value >= limit
        return Reading(met, f"{lab.test} {lab.value:g} {unit} >= {limit:g}" if met else "", "SLICC2012")
    return read


def _positive(lab: Lab) -> Reading:
    return Reading(lab.positive is True, f"{lab.test} positive", "SLICC2012")


def _clinical(record: PatientRecord, at: date) -> dict[str, Hit | None]:
    m = lambda *names: _first_manifestation(record, at, names)  # noqa: E731
    lab = lambda tests, read: _first_lab(record, at, tests, read)  # noqa: E731
    renal = [h for h in (
        lab(("urine_protein_24h",), _at_least(0.5, "g/24h")),  # [SLICC2012] 24-h protein >= 500 mg
        lab(("upcr",), _at_least(0.5, "g/g")),  # [SLICC2012] UPCR representing >= 500 mg/24 h (0.5 mg/mg)
        m("urinary_casts"),  # [SLICC2012] red blood cell casts
    ) if h]
    return {
        "acute_cutaneous_lupus": m("acute_cutaneous_lupus"),  # [SLICC2012] clinical 1
        "chronic_cutaneous_lupus": m("discoid_lupus"),  # [SLICC2012] clinical 2
        "oral_or_nasal_ulcers": m("oral_ulcers", "mucosal_ulcers"),  # [SLICC2012] clinical 3
        "non_scarring_alopecia": m("non_scarring_alopecia"),  # [SLICC2012] clinical 4
        "synovitis": m("joint_involvement"),  # [SLICC2012] clinical 5: >= 2 joints (same definition as EULAR)
        "serositis": m("pleurisy", "pleural_effusion", "pericarditis",  # [SLICC2012] clinical 6
                       "pericardial_effusion", "acute_pericarditis"),
        "renal": min(renal, key=lambda h: h[0]) if renal else None,  # [SLICC2012] clinical 7
        "neurologic": m("seizure", "psychosis", "delirium",  # [SLICC2012] clinical 8
                        "cranial_nerve_disorder"),
        "hemolytic_anemia": m("autoimmune_hemolysis"),  # [SLICC2012] clinical 9
        # [SLICC2012] clinical 10: leukopenia < 4000/mm3 or lymphopenia < 1000/mm3 at least once
        "leukopenia_or_lymphopenia": min([h for h in (lab(("wbc",), _below(4.0, "x10^9/L")),
                                                       lab(("lymphocytes",), _below(1.0, "x10^9/L"))) if h],
                                         key=lambda h: h[0], default=None),
        # [SLICC2012] clinical 11: thrombocytopenia < 100,000/mm3 at least once; exactly 100 does not count
        "thrombocytopenia": lab(("platelets",), _below(100, "x10^9/L")),
    }


def _immunologic(record: PatientRecord, at: date, hemolytic_anemia: bool) -> dict[str, Hit | None]:
    lab = lambda tests, read: _first_lab(record, at, tests, read)  # noqa: E731
    coombs = lab(("direct_coombs",), _positive)
    return {
        "ana": lab(("ana",), ana_above_reference),  # [SLICC2012] ANA above laboratory reference range
        "anti_dsdna": lab(("anti_dsdna",), dsdna_increased),  # [SLICC2012] anti-dsDNA above reference range
        "anti_sm": lab(("anti_sm",), _positive),  # [SLICC2012] anti-Sm present
        # [SLICC2012] aPL: lupus anticoagulant, aCL, anti-b2GPI
        "antiphospholipid_antibodies": lab(APL_TESTS, _positive),
        # [SLICC2012] low complement: C3 or C4 (CH50 is not in the record vocabulary)
        "low_complement": lab(("c3", "c4"), complement_low),
        # [SLICC2012] direct Coombs test in the absence of haemolytic anaemia
        "direct_coombs": None if hemolytic_anemia else coombs,
    }


def slicc_2012(record: PatientRecord, at: date) -> Slicc2012:
    """SLICC 2012 classification at ``at`` from everything recorded on or before ``at``."""
    clinical = {k: v for k, v in _clinical(record, at).items() if v}
    immunologic = {k: v for k, v in _immunologic(record, at, "hemolytic_anemia" in clinical).items() if v}
    findings = [Finding(name=f"clinical.{k}", points=1, date=d, detail=why, source="SLICC2012")
                for k, (d, why) in clinical.items()]
    findings += [Finding(name=f"immunologic.{k}", points=1, date=d, detail=why, source="SLICC2012")
                 for k, (d, why) in immunologic.items()]

    n_c, n_i = len(clinical), len(immunologic)
    biopsy = next((m for m in record.manifestations
                   if m.name == "lupus_nephritis" and m.date <= at and m.nephritis_class), None)
    if n_c + n_i >= 4 and n_c >= 1 and n_i >= 1:  # [SLICC2012] >= 4 criteria, >= 1 clinical, >= 1 immunologic
        classified, rule = True, RULE_COUNT
    # [SLICC2012] biopsy-proven lupus nephritis with ANA or anti-dsDNA
    elif biopsy is not None and ("ana" in immunologic or "anti_dsdna" in immunologic):
        classified, rule = True, RULE_NEPHRITIS
        findings.append(Finding(name="biopsy_proven_lupus_nephritis", date=biopsy.date,
                                detail=f"lupus nephritis class {biopsy.nephritis_class}", source="SLICC2012"))
    else:
        classified = False
        rule = (f"not classified: {n_c + n_i} criteria ({n_c} clinical, {n_i} immunologic); needs "
                f"{RULE_COUNT}, or {RULE_NEPHRITIS}")
    return Slicc2012(classified=classified, clinical=list(clinical), immunologic=list(immunologic), rule=rule,
                     findings=findings)


__all__ = ["RULE_COUNT", "RULE_NEPHRITIS", "Slicc2012", "slicc_2012"]
