"""The patient conditions of therapies.yaml (sleitp/decision/conditions.py), read from hand-made records
through the state and its timeline; each threshold at its boundary (value just below / at / above it; the day
a course stops vs the day after).

Sources: eGFR < 60 mL/min/1.73 m2 = KDIGO G3a-G5 [KDIGO2012]; ALT "true healthy normal" upper ends 33 U/L
(men) and 25 U/L (women) [ACG-ALT2017]; platelets < 20 [ASH2019 2a]; aPL persistence >= 12 weeks [SYDNEY2006];
HBV screening with HBsAg and anti-HBc [FDA-HBV-CD20] [AGA-HBV2015]."""

from datetime import date, timedelta

import pytest

from sleitp.decision import state_from
from sleitp.decision.conditions import liver_finding, patient_conditions
from sleitp.decision.profile import antiphospholipid_persistent, persistent_test
from sleitp.record import parse_record
from sleitp.score import score
from sleitp.timeline import timeline
from sleitp.units import TESTS

AT = date(2024, 6, 1)
needs = {
    t: pytest.mark.skipif(t not in TESTS, reason=f"record test {t!r} not in sleitp.units yet")
    for t in ("egfr", "anti_hbc", "hbv_dna")
}


def d(days_before: int) -> str:
    return (AT - timedelta(days=days_before)).isoformat()


def record(labs=(), treatments=(), sex="female", history=None, manifestations=()):
    return parse_record(
        {
            "id": "C",
            "sex": sex,
            "age_years": 30,
            "assessment_date": AT.isoformat(),
            "labs": [{"date": d(0), "test": "platelets", "value": 40, "unit": "10^9/L"}, *labs],
            "treatments": list(treatments),
            "history": history or {},
            "manifestations": list(manifestations),
        }
    )


def conds(rec):
    return patient_conditions(state_from(score(rec)))


def lab(test, value=None, unit=None, days_before=0, **kw):
    x = {"date": d(days_before), "test": test, **kw}
    if value is not None:
        x.update(value=value, unit=unit)
    return x


# --- renal impairment [KDIGO2012] --------------------------------------------------------------------------
@pytest.mark.parametrize("value,impaired", [(110, False), (111, False), (112, True)])
def test_renal_impairment_from_creatinine_above_the_laboratory_limit(value, impaired):
    rec = record([lab("creatinine", value, "umol/L", reference_high=111)])
    assert ("renal_impairment" in conds(rec)) is impaired


def test_no_default_creatinine_limit_is_invented():
    assert "renal_impairment" not in conds(record([lab("creatinine", 400, "umol/L")]))


@needs["egfr"]
@pytest.mark.parametrize("egfr,impaired", [(60, False), (59.9, True), (30, True)])
def test_renal_impairment_from_egfr_below_60(egfr, impaired):
    rec = record([lab("egfr", egfr, "mL/min/1.73m2")])
    assert ("renal_impairment" in conds(rec)) is impaired


# --- liver: a flagged default ALT limit [ACG-ALT2017] (clinical review M16) --------------------------------
@pytest.mark.parametrize(
    "sex,alt,raised",
    [
        ("female", 25, False),
        ("female", 26, True),
        ("male", 33, False),
        ("male", 34, True),
        ("unknown", 26, True),
    ],
)
def test_alt_above_the_default_limit_when_the_laboratory_gives_none(sex, alt, raised):
    rec = record([lab("alt", alt, "U/L")], sex=sex)
    assert ("liver_disease" in conds(rec)) is raised
    if raised:
        assert "DEFAULT" in liver_finding(state_from(score(rec)))


def test_the_laboratory_limit_wins_over_the_default():
    rec = record([lab("alt", 38, "U/L", reference_high=40)], sex="female")
    assert "liver_disease" not in conds(rec)


# --- severe thrombocytopenia [ASH2019] 2a ------------------------------------------------------------------
@pytest.mark.parametrize("platelets,severe", [(20, False), (19.9, True)])
def test_severe_thrombocytopenia_below_20(platelets, severe):
    rec = parse_record(
        {
            "id": "C",
            "sex": "female",
            "age_years": 30,
            "assessment_date": AT.isoformat(),
            "labs": [lab("platelets", platelets, "10^9/L")],
        }
    )
    assert ("severe_thrombocytopenia" in conds(rec)) is severe


# --- haemolysis --------------------------------------------------------------------------------------------
def test_haemolysis_from_a_positive_direct_coombs():
    assert "haemolysis" in conds(record([lab("direct_coombs", result="positive")]))
    assert "haemolysis" not in conds(record([lab("direct_coombs", result="negative")]))


@pytest.mark.parametrize("apart,haemolysis", [(30, True), (31, False)])
def test_haemolysis_from_low_haptoglobin_and_raised_ldh_within_30_days(apart, haemolysis):
    rec = record(
        [
            lab("haptoglobin", 0.1, "g/L", days_before=apart, reference_low=0.3, reference_high=2.0),
            lab("ldh", 900, "U/L", reference_high=250),
        ]
    )
    assert ("haemolysis" in conds(rec)) is haemolysis


def test_haemolysis_from_recorded_autoimmune_haemolysis():
    rec = record(manifestations=[{"date": d(100), "name": "autoimmune_hemolysis"}])
    assert "haemolysis" in conds(rec)


# --- drugs given now: the day a course ends counts, the day after does not ---------------------------------
@pytest.mark.parametrize(
    "agent,condition",
    [
        ("warfarin", "warfarin"),
        ("warfarin", "anticoagulated"),
        ("lmwh", "anticoagulated"),
        ("cyclosporine", "calcineurin_inhibitor"),
        ("tacrolimus", "calcineurin_inhibitor"),
        ("danazol", "danazol"),
    ],
)
@pytest.mark.parametrize("end_days_before,given", [(0, True), (1, False)])
def test_drug_conditions_hold_while_the_drug_is_given(agent, condition, end_days_before, given):
    course = {
        "agent": agent,
        "start": d(60),
        "end": d(end_days_before),
        "dose": 1,
        "dose_unit": "mg",
        "frequency": "daily",
    }
    assert (condition in conds(record(treatments=[course]))) is given


def test_thrombosis_history_is_the_recorded_thrombosis_not_antibodies_alone():
    assert "thrombosis_history" in conds(record(history={"thrombosis": True}))
    c = conds(record(history={"antiphospholipid_syndrome": True}))
    assert "thrombosis_history" not in c and "antiphospholipid_or_thrombosis" in c


def test_female_is_the_recorded_sex():
    assert "female" in conds(record(sex="female")) and "female" not in conds(record(sex="male"))


# --- hepatitis B: HBsAg AND anti-HBc -----------------------------------------------------------------------
def test_hbsag_negative_without_anti_hbc_is_still_unscreened():
    c = conds(record([lab("hbsag", result="negative")]))
    assert "hepatitis_b_status_unknown" in c and "hepatitis_b" not in c


def test_hbsag_positive_is_hepatitis_b_and_not_unknown():
    c = conds(record([lab("hbsag", result="positive")]))
    assert "hepatitis_b" in c and "hepatitis_b_status_unknown" not in c


@needs["anti_hbc"]
def test_anti_hbc_positive_and_fully_screened():
    c = conds(record([lab("hbsag", result="negative"), lab("anti_hbc", result="positive")]))
    assert "hepatitis_b_core_positive" in c and "hepatitis_b_status_unknown" not in c
    c = conds(record([lab("hbsag", result="negative"), lab("anti_hbc", result="negative")]))
    assert not {"hepatitis_b_core_positive", "hepatitis_b_status_unknown", "hepatitis_b"} & c


@needs["hbv_dna"]
def test_detectable_hbv_dna_counts_as_hepatitis_b():
    c = conds(record([lab("hbsag", result="negative"), lab("hbv_dna", 150, "IU/mL")]))
    assert "hepatitis_b" in c


# --- aPL persistence [SYDNEY2006] (predictors; clinical review M6) -----------------------------------------
@pytest.mark.parametrize("apart,persistent", [(83, None), (84, True)])
def test_anticardiolipin_counts_only_when_positive_twice_12_weeks_apart(apart, persistent):
    rec = record(
        [
            lab("anticardiolipin", result="positive", days_before=200),
            lab("anticardiolipin", result="positive", days_before=200 - apart),
        ]
    )
    tl = timeline(rec, AT)
    assert persistent_test(tl, "anticardiolipin") is persistent
    assert antiphospholipid_persistent(tl) is persistent


def test_a_single_positive_then_negative_12_weeks_later_is_absent():
    rec = record(
        [
            lab("anticardiolipin", result="positive", days_before=2000),
            lab("anticardiolipin", result="negative", days_before=2000 - 90),
        ]
    )
    assert antiphospholipid_persistent(timeline(rec, AT)) is False


def test_recorded_aps_counts_without_laboratory_results():
    assert antiphospholipid_persistent(timeline(record(history={"antiphospholipid_syndrome": True}), AT))
