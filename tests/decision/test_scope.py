"""Scope (SLE with thrombocytopenia) and data age: hand-worked records with their boundaries."""

from datetime import date

import pytest

from sleitp.decision.data_age import STALE_PLATELET_DAYS, data_age
from sleitp.decision.scope import NO_SLE, NO_THROMBOCYTOPENIA, assess_scope
from sleitp.inputs import future_date_problem
from sleitp.record import parse_record
from sleitp.score import score

AT = "2024-03-10"


def _plt(day: str, value: float) -> dict:
    return {"date": day, "test": "platelets", "value": value, "unit": "10^9/L"}


def _record(labs: list[dict], **fields) -> dict:
    return {"id": "S1", "sex": "female", "assessment_date": AT, "labs": labs, **fields}


def _scope(rec: dict, at: date | None = None):
    return assess_scope(score(parse_record(rec), at))


def test_sle_diagnosis_and_a_count_below_100_is_in_scope():
    s = _scope(_record([_plt("2024-03-01", 99)], sle_diagnosis_date="2019-01-01"))
    assert s.in_scope and s.reasons == ()


def test_a_count_of_exactly_100_is_not_thrombocytopenia():
    # [IWG2009] ITP: platelets < 100 x10^9/L; 100 itself does not count
    s = _scope(_record([_plt("2024-03-01", 100), _plt("2024-03-05", 378)], sle_diagnosis_date="2019-01-01"))
    assert not s.in_scope
    assert s.reasons == (NO_THROMBOCYTOPENIA,)


def test_an_earlier_low_count_keeps_a_patient_in_remission_in_scope():
    s = _scope(_record([_plt("2023-01-01", 40), _plt("2024-03-05", 210)], sle_diagnosis_date="2019-01-01"))
    assert s.in_scope


def test_a_low_count_after_the_assessment_date_does_not_count():
    rec = _record([_plt("2024-03-01", 150), _plt("2024-03-09", 60)], sle_diagnosis_date="2019-01-01")
    assert not _scope(rec, date(2024, 3, 8)).in_scope  # the day before the low count
    assert _scope(rec, date(2024, 3, 9)).in_scope  # the day of it


def test_itp_diagnosis_date_alone_is_thrombocytopenia():
    s = _scope(_record([], sle_diagnosis_date="2019-01-01", itp_diagnosis_date="2024-01-01"))
    assert s.in_scope


def test_thrombocytopenia_without_sle_on_record_stays_in_scope_with_a_caveat():
    # the shared contract's ITP examples carry no SLE data and expect options (docs/clinical-choices.md)
    s = _scope(_record([_plt("2024-03-01", 50)]))
    assert s.in_scope and s.reasons == () and s.caveats == (NO_SLE,) and not s.sle_established
    assert "EULAR/ACR 2019" in s.message and "SLICC 2012" in s.message and "ITP guidelines" in s.message


def test_neither_sle_nor_thrombocytopenia_gives_both_reasons():
    """The Synthea-like patient of issue 15: platelets 378, no SLE."""
    s = _scope(_record([_plt("2024-03-01", 378)]))
    assert s.reasons == (NO_THROMBOCYTOPENIA, NO_SLE)
    assert s.to_json() == {"in_scope": False, "reasons": [NO_THROMBOCYTOPENIA, NO_SLE], "caveats": [],
                           "sle_established": False}


def test_eular_acr_classification_without_a_diagnosis_date_is_sle():
    # [EULARACR2019] entry ANA >= 1:80; thrombocytopenia 4 + anti-Sm 6 = 10 points: classified
    labs = [{"date": "2024-01-01", "test": "ana", "value": 160, "unit": "titer"},
            {"date": "2024-01-01", "test": "anti_sm", "result": "positive"}, _plt("2024-03-01", 30)]
    report = score(parse_record(_record(labs)))
    assert report.eular_acr.classified
    assert assess_scope(report).in_scope


def test_no_counts_and_no_itp_date_is_out_of_scope():
    s = _scope(_record([], sle_diagnosis_date="2019-01-01", assessment_date=AT))
    assert s.reasons == (NO_THROMBOCYTOPENIA,)


# -- data age -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("count_day,days,stale", [
    ("2024-03-10", 0, False),
    ("2024-03-03", STALE_PLATELET_DAYS, False),  # day 7: still current
    ("2024-03-02", STALE_PLATELET_DAYS + 1, True),  # day 8: stale
    ("2020-01-15", 1516, True),  # the CDS Hooks case of issue 15: 2020 counts assessed in 2024
])
def test_data_age_of_the_latest_platelet_count(count_day, days, stale):
    age = data_age(score(parse_record(_record([_plt(count_day, 40)], sle_diagnosis_date="2019-01-01"))))
    assert age.platelets_days == days
    assert age.stale is stale
    assert ("needs a current count" in age.message) is stale
    assert age.to_json()["platelets_days"] == days


def test_data_age_without_a_count_is_stale():
    age = data_age(score(parse_record(_record([], sle_diagnosis_date="2019-01-01"))))
    assert age.platelets_days is None and age.stale
    assert "no platelet count" in age.message


def test_data_age_lists_the_latest_result_of_each_other_input():
    labs = [_plt("2024-03-09", 40), {"date": "2024-01-10", "test": "hbsag", "result": "negative"},
            {"date": "2023-12-01", "test": "alt", "value": 20, "unit": "U/L"},
            {"date": "2024-02-01", "test": "alt", "value": 25, "unit": "U/L"},
            {"date": "2024-03-20", "test": "alt", "value": 90, "unit": "U/L"}]  # after the date: not seen
    age = data_age(score(parse_record(_record(labs, sle_diagnosis_date="2019-01-01"))))
    got = {i.input: (i.date.isoformat(), i.days) for i in age.inputs}
    assert got == {"alt": ("2024-02-01", 38), "hbsag": ("2024-01-10", 60), "platelets": ("2024-03-09", 1)}


def test_an_assessment_date_after_today_is_a_problem_naming_it():
    today = date(2024, 3, 10)
    assert future_date_problem(today, today) is None
    msg = future_date_problem(date(2024, 3, 11), today)
    assert msg is not None and msg.startswith("assessment_date: 2024-03-11 is in the future")
