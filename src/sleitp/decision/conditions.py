"""The patient conditions that therapies.yaml binds cautions and contraindications to.

Each condition is read from the decision state (:mod:`sleitp.decision.state`) and, through it, from the
patient's timeline (:mod:`sleitp.timeline`): never from the raw record. The vocabulary is
``sleitp.evidence._loader.Condition``; docs/decision-support.md ("Modifiers") says how each is read.

Thresholds (each cited where it is applied):

- renal impairment: the latest creatinine above the laboratory's own ``reference_high``, or the latest
  eGFR < 60 mL/min/1.73 m2 (KDIGO GFR categories G3a-G5) [KDIGO2012]; no default creatinine limit;
- liver disease: the history flag, or the latest ALT above the laboratory's ``reference_high``; when the
  laboratory gives none, above the ACG "true healthy normal" upper limit (33 U/L men, 25 U/L women and
  unknown sex) [ACG-ALT2017], a DEFAULT that :func:`liver_finding` names so that it can be shown;
- severe thrombocytopenia: latest platelets < 20 x10^9/L, the ASH 2019 2a threshold (CHOICE) [ASH2019];
- haemolysis: the latest direct Coombs test positive, an autoimmune haemolysis recorded, or haptoglobin below
  and LDH above the laboratory's limits within 30 days of each other (CHOICE: no source gives a window);
- hepatitis B: HBsAg positive or history, or HBV DNA detected (an anti-HBc-positive patient with detectable
  HBV DNA is at the risk of an HBsAg-positive one) [HBV-RISK-TABLE]; anti-HBc positive; unknown when HBsAg or
  anti-HBc was never tested (screening needs both) [RITUXIMAB-LABEL-FDA] [AGA-HBV2015].
"""

from __future__ import annotations

from sleitp.decision.state import PatientState

ANTICOAGULANTS = ("heparin", "lmwh", "warfarin", "doac")
CALCINEURIN_INHIBITORS = ("cyclosporine", "tacrolimus", "voclosporin")
EGFR_IMPAIRED_BELOW = 60.0  # [KDIGO2012] GFR < 60 mL/min/1.73 m2 = categories G3a-G5
ALT_DEFAULT_UPPER = {"male": 33.0, "female": 25.0}  # U/L [ACG-ALT2017] true healthy normal upper ends
ALT_DEFAULT_UPPER_OTHER = 25.0  # [ACG-ALT2017] unknown sex: the lower (conservative) of the two
SEVERE_THROMBOCYTOPENIA_BELOW = 20.0  # x10^9/L [ASH2019] 2a threshold (CHOICE, docs/decision-support.md)
HAEMOLYSIS_PAIR_DAYS = 30  # CHOICE: haptoglobin and LDH within 30 days of each other


def _running(s: PatientState) -> frozenset[str]:
    if s.timeline is not None:
        return s.timeline.running_agents()
    return s.running_agents


def liver_finding(s: PatientState) -> str | None:
    """Why ``liver_disease`` holds, in words (names a default limit when one was used), or None."""
    if s.liver_disease:
        return "liver disease recorded, or ALT above the laboratory's upper limit"
    tl = s.timeline
    if tl is None:
        return None
    alt = tl.latest("alt")
    if alt is None or alt.value is None or alt.reference_high is not None:
        return None  # with a laboratory limit, state.py has already decided
    sex = tl.record.sex
    limit = ALT_DEFAULT_UPPER.get(sex, ALT_DEFAULT_UPPER_OTHER)  # [ACG-ALT2017]
    if alt.value > limit:
        return (
            f"ALT {alt.value:g} U/L on {alt.date.isoformat()} is above the DEFAULT upper limit {limit:g} U/L "
            "(ACG 2017 healthy normal; the laboratory gave no reference range)"
        )
    return None


def renal_impairment(s: PatientState) -> bool:
    tl = s.timeline
    if tl is None:
        return False
    crea = tl.latest("creatinine")
    if crea is not None and crea.value is not None and crea.reference_high is not None:
        if crea.value > crea.reference_high:  # the laboratory's own limit; no default is invented
            return True
    egfr = tl.latest_value("egfr")
    return egfr is not None and egfr < EGFR_IMPAIRED_BELOW  # [KDIGO2012] G3a-G5


def haemolysis(s: PatientState) -> bool:
    tl = s.timeline
    if tl is None:
        return False
    if "autoimmune_hemolysis" in tl.manifestations_ever():
        return True
    coombs = tl.latest("direct_coombs")
    if coombs is not None and coombs.positive:
        return True
    hapto, ldh = tl.latest("haptoglobin"), tl.latest("ldh")
    if hapto is None or ldh is None or hapto.value is None or ldh.value is None:
        return False
    if hapto.reference_low is None or ldh.reference_high is None:
        return False  # no laboratory limits: not judged (no default is invented)
    close = abs((hapto.date - ldh.date).days) <= HAEMOLYSIS_PAIR_DAYS
    return close and hapto.value < hapto.reference_low and ldh.value > ldh.reference_high


def _hbv(s: PatientState) -> tuple[bool, bool, bool]:
    """(HBsAg-positive-equivalent, anti-HBc positive, screening incomplete)."""
    tl = s.timeline
    core = bool(tl is not None and tl.ever_positive("anti_hbc"))
    dna = tl.latest_value("hbv_dna") if tl is not None else None
    positive = s.hepatitis_b is True or (dna is not None and dna > 0)  # [HBV-RISK-TABLE] detectable DNA
    core_tested = tl is not None and tl.ever_positive("anti_hbc") is not None
    unknown = not positive and (s.hepatitis_b is None or not core_tested)
    return positive, core, unknown


def patient_conditions(s: PatientState) -> set[str]:
    """The conditions of therapies.yaml that hold for this patient."""
    c = {"always"}
    tl = s.timeline
    running = _running(s)
    if s.pregnant:
        c.add("pregnancy")
    if tl is not None and tl.record.sex == "female":
        c.add("female")
    if s.antiphospholipid or s.thrombosis:
        c.add("antiphospholipid_or_thrombosis")
    if s.thrombosis:
        c.add("thrombosis_history")
    positive, core, unknown = _hbv(s)
    if positive:
        c.add("hepatitis_b")
    if core:
        c.add("hepatitis_b_core_positive")
    if unknown:
        c.add("hepatitis_b_status_unknown")
    if s.active_infection:
        c.add("active_infection")
    if liver_finding(s) is not None:
        c.add("liver_disease")
    if s.lupus_nephritis:
        c.add("lupus_nephritis")
    if renal_impairment(s):
        c.add("renal_impairment")
    if s.splenectomised:
        c.add("splenectomised")
    if s.platelets is not None and s.platelets < SEVERE_THROMBOCYTOPENIA_BELOW:  # [ASH2019] 2a (CHOICE)
        c.add("severe_thrombocytopenia")
    if haemolysis(s):
        c.add("haemolysis")
    if running & set(ANTICOAGULANTS):
        c.add("anticoagulated")
    if "warfarin" in running:
        c.add("warfarin")
    if running & set(CALCINEURIN_INHIBITORS):
        c.add("calcineurin_inhibitor")
    if "danazol" in running:
        c.add("danazol")
    return c


__all__ = [
    "ALT_DEFAULT_UPPER",
    "ANTICOAGULANTS",
    "CALCINEURIN_INHIBITORS",
    "EGFR_IMPAIRED_BELOW",
    "HAEMOLYSIS_PAIR_DAYS",
    "SEVERE_THROMBOCYTOPENIA_BELOW",
    "haemolysis",
    "liver_finding",
    "patient_conditions",
    "renal_impairment",
]
