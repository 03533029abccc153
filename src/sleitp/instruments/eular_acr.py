"""2019 EULAR/ACR classification criteria for SLE (Aringer 2019).

Rules [EULARACR2019] (clinical.md §1.5):

- entry criterion: ANA at a titre >= 1:80 on HEp-2 cells or an equivalent positive test, ever (here: any ANA
  result on or before ``at``); without it the patient is not classified (points are still shown);
- a criterion counts if it occurred at least once on or before ``at``; criteria need not be simultaneous;
- within each domain only the highest-weighted criterion counts;
- classified iff entry criterion AND >= 10 points AND >= 1 clinical criterion.

How each record name maps to a criterion is in :data:`CRITERIA` and in docs/instruments.md. The mapping is
deliberately conservative: a record name counts only for a criterion whose definition it meets by itself
(e.g. SLEDAI's ``rash`` does not count as acute cutaneous lupus; ``arthritis`` does not count as joint
involvement, which asks for synovitis or tenderness with morning stiffness).

Not checkable from a record, so not applied: "do not count a criterion if there is a more likely explanation
than SLE". The record is taken to hold findings the clinician attributes to lupus.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sleitp.instruments._base import Finding, Result
from sleitp.instruments._details import detail_number
from sleitp.instruments._lab_readings import (
    Reading,
    ana_at_least_1_80,
    complement_low,
    dsdna_increased,
    with_limit_source,
)
from sleitp.record import Lab, Manifestation, PatientRecord


class EularAcr2019(Result):
    entry_criterion: bool
    points: int
    classified: bool
    domains: dict[str, int]  # every domain, 0 when no criterion was met
    has_clinical_criterion: bool
    findings: list[Finding]  # entry criterion; per domain the counted criterion, outranked ones (0 points)
    source: str = "EULARACR2019"


CLINICAL_DOMAINS = ("constitutional", "hematologic", "neuropsychiatric", "mucocutaneous", "serosal",
                    "musculoskeletal", "renal")
IMMUNOLOGY_DOMAINS = ("antiphospholipid_antibodies", "complement_proteins", "sle_specific_antibodies")
DOMAINS = CLINICAL_DOMAINS + IMMUNOLOGY_DOMAINS  # keys exactly as spec/record.md lists them
CLASSIFICATION_POINTS = 10  # [EULARACR2019] ">= 10 points"
EULAR_FEVER_C = 38.3  # [EULARACR2019] fever "> 38.3 C" (the paper's table; MSD's 38 C not used, §1.5)

Hits = list[tuple[date, str]]  # (date the criterion was met, why)


@dataclass(frozen=True)
class Criterion:
    domain: str
    name: str
    points: int
    find: Callable[[PatientRecord, date], Hits]  # every occurrence on or before `at`


# -- how the record is read ------------------------------------------------------------------------------

def _manifestations(record: PatientRecord, at: date, names: tuple[str, ...],
                    accept: Callable[[int, Manifestation], str | None] | None = None) -> Hits:
    hits: Hits = []
    for i, m in enumerate(record.manifestations):
        if m.name in names and m.date <= at:
            why = accept(i, m) if accept else m.name
            if why is not None:
                hits.append((m.date, why))
    return hits


def _named(*names: str) -> Callable[[PatientRecord, date], Hits]:
    return lambda record, at: _manifestations(record, at, names)


def _labs(test: str, read: Callable[[Lab], Reading]) -> Callable[[PatientRecord, date], Hits]:
    def find(record: PatientRecord, at: date) -> Hits:
        out = []
        for lab in record.labs_of(test, until=at):
            r = read(lab)
            if r.met:
                out.append((lab.date, with_limit_source(r, "EULARACR2019")))
        return out
    return find


def _below(limit: float) -> Callable[[Lab], Reading]:
    def read(lab: Lab) -> Reading:
        met = lab.value is not None and lab.value < limit
        return Reading(met, f"{lab.test} {lab.value:g} {lab.unit} < {limit:g}" if met else "", "EULARACR2019")
    return read


def _positive(lab: Lab) -> Reading:
    return Reading(lab.positive is True, f"{lab.test} positive", "EULARACR2019")


def _any_of(*finds: Callable[[PatientRecord, date], Hits]) -> Callable[[PatientRecord, date], Hits]:
    return lambda record, at: [h for f in finds for h in f(record, at)]


def _fever(record: PatientRecord, at: date) -> Hits:
    def accept(i: int, m: Manifestation) -> str | None:
        t = detail_number(record, i, m, "temperature_c")
        if t is None:
            return "fever (recorded fever is taken as > 38.3 C)"
        return f"fever {t:g} C > 38.3 C" if t > EULAR_FEVER_C else None  # [EULARACR2019] 38.3 exactly: no
    return _manifestations(record, at, ("fever",), accept)


def _nephritis(classes: tuple[str, ...]) -> Callable[[PatientRecord, date], Hits]:
    def accept(i: int, m: Manifestation) -> str | None:
        # [EULARACR2019] "renal biopsy class II or V" / "class III or IV": a nephritis without a biopsy class
        # is not a biopsy criterion (docs/instruments.md)
        if m.nephritis_class not in classes:
            return None
        return f"lupus nephritis class {m.nephritis_class} on biopsy"
    return lambda record, at: _manifestations(record, at, ("lupus_nephritis",), accept)


def _both_complements_low(record: PatientRecord, at: date) -> Hits:
    # "low C3 AND low C4" read as both low in results of the same day (one complement state), not each low
    # at some time (docs/instruments.md)
    low = {t: {lab.date: complement_low(lab) for lab in record.labs_of(t, until=at)
               if complement_low(lab).met} for t in ("c3", "c4")}
    both = sorted(set(low["c3"]) & set(low["c4"]))
    return [(d, f"{with_limit_source(low['c3'][d], 'EULARACR2019')} and "
                f"{with_limit_source(low['c4'][d], 'EULARACR2019')}") for d in both]


def _proteinuria(upcr: bool) -> Callable[[PatientRecord, date], Hits]:
    def read(unit: str) -> Callable[[Lab], Reading]:
        def r(lab: Lab) -> Reading:
            met = lab.value is not None and lab.value > 0.5  # [EULARACR2019] proteinuria > 0.5 g/24 h
            return Reading(met, f"{lab.test} {lab.value:g} {unit} > 0.5", "EULARACR2019")
        return r
    finds = [_labs("urine_protein_24h", read("g/24h"))] + ([_labs("upcr", read("g/g"))] if upcr else [])
    return _any_of(*finds)


def criteria(*, proteinuria_upcr: bool = False) -> tuple[Criterion, ...]:
    """The criteria with weights [EULARACR2019] and the record names each one reads."""
    C = Criterion
    return (
        C("constitutional", "fever", 2, _fever),  # [EULARACR2019] fever > 38.3 C: 2
        C("hematologic", "leukopenia", 3, _labs("wbc", _below(4.0))),  # [EULARACR2019] WBC < 4.0: 3
        C("hematologic", "thrombocytopenia", 4, _labs("platelets", _below(100))),  # [EULARACR2019] < 100: 4
        C("hematologic", "autoimmune_hemolysis", 4, _named("autoimmune_hemolysis")),  # [EULARACR2019] 4
        C("neuropsychiatric", "delirium", 2, _named("delirium")),  # [EULARACR2019] 2
        C("neuropsychiatric", "psychosis", 3, _named("psychosis")),  # [EULARACR2019] 3
        C("neuropsychiatric", "seizure", 5, _named("seizure")),  # [EULARACR2019] 5
        C("mucocutaneous", "non_scarring_alopecia", 2, _named("non_scarring_alopecia")),  # [EULARACR2019] 2
        C("mucocutaneous", "oral_ulcers", 2, _named("oral_ulcers")),  # [EULARACR2019] 2
        C("mucocutaneous", "subacute_cutaneous_or_discoid_lupus", 4,  # [EULARACR2019] 4
          _named("subacute_cutaneous_lupus", "discoid_lupus")),
        C("mucocutaneous", "acute_cutaneous_lupus", 6, _named("acute_cutaneous_lupus")),  # [EULARACR2019] 6
        C("serosal", "pleural_or_pericardial_effusion", 5,  # [EULARACR2019] 5
          _named("pleural_effusion", "pericardial_effusion")),
        C("serosal", "acute_pericarditis", 6, _named("acute_pericarditis")),  # [EULARACR2019] 6
        C("musculoskeletal", "joint_involvement", 6, _named("joint_involvement")),  # [EULARACR2019] 6
        C("renal", "proteinuria", 4, _proteinuria(proteinuria_upcr)),  # [EULARACR2019] > 0.5 g/24 h: 4
        C("renal", "lupus_nephritis_class_ii_or_v", 8, _nephritis(("II", "V"))),  # [EULARACR2019] 8
        C("renal", "lupus_nephritis_class_iii_or_iv", 10, _nephritis(("III", "IV"))),  # [EULARACR2019] 10
        # [EULARACR2019] aCL or anti-b2GP1 or lupus anticoagulant: 2
        C("antiphospholipid_antibodies", "anticardiolipin_or_anti_b2gp1_or_lupus_anticoagulant", 2,
          _any_of(_labs("anticardiolipin", _positive), _labs("anti_b2gp1", _positive),
                  _labs("lupus_anticoagulant", _positive))),
        C("complement_proteins", "low_c3_or_low_c4", 3,  # [EULARACR2019] 3
          _any_of(_labs("c3", complement_low), _labs("c4", complement_low))),
        C("complement_proteins", "low_c3_and_low_c4", 4, _both_complements_low),  # [EULARACR2019] 4
        C("sle_specific_antibodies", "anti_dsdna_or_anti_sm", 6,  # [EULARACR2019] 6
          _any_of(_labs("anti_dsdna", dsdna_increased), _labs("anti_sm", _positive))),
    )


def eular_acr_2019(record: PatientRecord, at: date, *, proteinuria_upcr: bool = False) -> EularAcr2019:
    """EULAR/ACR 2019 classification at ``at`` from everything recorded on or before ``at``.

    ``proteinuria_upcr``: also count a urine protein/creatinine ratio > 0.5 g/g as proteinuria (off by
    default: the criterion is defined on 24-hour urine).
    """
    findings: list[Finding] = []
    entry_hits = [(lab.date, ana_at_least_1_80(lab)) for lab in record.labs_of("ana", until=at)]
    entry_hits = [(d, r) for d, r in entry_hits if r.met]
    entry = bool(entry_hits)  # [EULARACR2019] entry: ANA >= 1:80 (or equivalent positive test), ever
    if entry:
        d, r = entry_hits[0]
        findings.append(Finding(name="entry_criterion", date=d, detail=r.detail, source="EULARACR2019"))
    else:
        findings.append(Finding(name="entry_criterion", source="EULARACR2019",
                                detail="no ANA >= 1:80 (or positive ANA) on or before the assessment date: "
                                       "not classified, whatever the points"))

    domains = {d: 0 for d in DOMAINS}
    met: dict[str, list[tuple[Criterion, date, str]]] = {d: [] for d in DOMAINS}
    for c in criteria(proteinuria_upcr=proteinuria_upcr):
        hits = sorted(c.find(record, at), key=lambda h: h[0])
        if hits:
            met[c.domain].append((c, *hits[0]))  # the first occurrence ("on at least one occasion")
    for domain in DOMAINS:
        # [EULARACR2019] within each domain only the highest-weighted criterion counts (first listed on a tie)
        ranked = sorted(met[domain], key=lambda x: -x[0].points)
        for k, (c, day, why) in enumerate(ranked):
            counted = k == 0
            if counted:
                domains[domain] = c.points
            top = ranked[0][0]
            note = "" if counted else f"; not counted: {top.name} ({top.points}) is higher in {domain}"
            findings.append(Finding(name=f"{domain}.{c.name}", points=c.points if counted else 0, date=day,
                                    detail=f"{why}{note}", source="EULARACR2019"))

    points = sum(domains.values())
    has_clinical = any(domains[d] > 0 for d in CLINICAL_DOMAINS)
    # [EULARACR2019] classified: entry criterion AND >= 10 points AND >= 1 clinical criterion
    classified = entry and points >= CLASSIFICATION_POINTS and has_clinical
    return EularAcr2019(entry_criterion=entry, points=points, classified=classified, domains=domains,
                        has_clinical_criterion=has_clinical, findings=findings)


__all__ = ["CLINICAL_DOMAINS", "DOMAINS", "IMMUNOLOGY_DOMAINS", "Criterion", "EularAcr2019", "criteria",
           "eular_acr_2019"]
