"""Platelet summary, ITP phase [IWG2009] and thrombocytopenia grade [JUNG2016] [COSTA2021], by hand."""

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sleitp.instruments.platelets import (
    DAYS_PER_MONTH,
    itp_phase,
    phase_of,
    platelet_summary,
    thrombocytopenia_grade,
)
from sleitp.record import parse_record

AT = date(2024, 6, 1)


def rec(*counts, unit="10^9/L", **top):
    labs = [{"date": str(d), "test": "platelets", "value": v, "unit": unit} for d, v in counts]
    return parse_record({"id": "T", "labs": labs, **top})


# -- platelet_summary -------------------------------------------------------------------------------------

def test_summary_latest_and_nadir_ignore_counts_after_at():
    r = rec((date(2024, 5, 1), 40), (date(2024, 5, 20), 12), (date(2024, 5, 30), 60), (date(2024, 6, 2), 5))
    s = platelet_summary(r, AT)
    assert (s.latest, s.latest_date, s.nadir, s.nadir_date, s.n_counts) == (60, date(2024, 5, 30), 12,
                                                                           date(2024, 5, 20), 3)


def test_summary_counts_dated_on_at_are_included():
    s = platelet_summary(rec((AT, 33)), AT)
    assert (s.latest, s.n_counts) == (33, 1)


def test_summary_nadir_date_is_first_time_reached():
    s = platelet_summary(rec((date(2024, 5, 1), 10), (date(2024, 5, 10), 10), (date(2024, 5, 20), 30)), AT)
    assert s.nadir_date == date(2024, 5, 1)


def test_summary_no_counts():
    s = platelet_summary(rec(), AT)
    assert (s.latest, s.latest_date, s.nadir, s.nadir_date, s.n_counts) == (None, None, None, None, 0)


def test_summary_per_microlitre_is_converted():
    s = platelet_summary(rec((date(2024, 5, 1), 45000), unit="/uL"), AT)
    assert s.latest == pytest.approx(45.0)


# -- itp_phase ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("months, phase", [
    (0, "newly_diagnosed"), (2.99, "newly_diagnosed"), (3.0, "persistent"), (7, "persistent"),
    (12.0, "persistent"), (12.01, "chronic"), (40, "chronic"),
])
def test_phase_boundaries_exactly_3_and_12_months_are_persistent(months, phase):
    assert phase_of(months) == phase


def test_phase_negative_months_is_an_error():
    with pytest.raises(ValueError, match="negative"):
        phase_of(-1)


@pytest.mark.parametrize("days, phase", [
    (91, "newly_diagnosed"),  # 91 / 30.4375 = 2.99 months
    (92, "persistent"),  # 3.02
    (365, "persistent"),  # 11.99
    (366, "chronic"),  # 12.02
])
def test_phase_from_diagnosis_date_day_boundaries(days, phase):
    r = rec(itp_diagnosis_date=str(AT - timedelta(days=days)))
    p = itp_phase(r, AT)
    assert p.phase == phase
    assert p.diagnosis_basis == "itp_diagnosis_date"
    assert p.months_since_diagnosis == pytest.approx(days / DAYS_PER_MONTH)
    assert DAYS_PER_MONTH == 30.4375


def test_phase_diagnosis_date_from_first_count_below_100():
    # 100 exactly is not < 100; the first count < 100 is 99.9 on 2023-05-01 -> 397 days = 13.04 months
    r = rec((date(2023, 3, 1), 100), (date(2023, 5, 1), 99.9), (date(2024, 1, 1), 20))
    p = itp_phase(r, AT)
    assert (p.diagnosis_date, p.phase) == (date(2023, 5, 1), "chronic")
    assert p.diagnosis_basis == "first platelet count < 100 x10^9/L"
    assert p.months_since_diagnosis == pytest.approx(13.04, abs=0.01)


def test_phase_unknown_without_diagnosis_date_or_low_count():
    p = itp_phase(rec((date(2024, 1, 1), 100), (date(2024, 7, 1), 20)), AT)  # the low count is after `at`
    assert (p.phase, p.months_since_diagnosis, p.diagnosis_date) == (None, None, None)
    assert p.diagnosis_basis == "unknown"


def test_phase_future_diagnosis_date_falls_back_to_counts():
    r = rec((date(2024, 5, 1), 50), itp_diagnosis_date="2024-07-01")
    p = itp_phase(r, AT)
    assert (p.diagnosis_date, p.phase) == (date(2024, 5, 1), "newly_diagnosed")
    assert p.diagnosis_basis == "first platelet count < 100 x10^9/L"


def test_phase_diagnosis_date_on_at_is_newly_diagnosed():
    p = itp_phase(rec(itp_diagnosis_date=str(AT)), AT)
    assert (p.phase, p.months_since_diagnosis) == ("newly_diagnosed", 0.0)


# -- thrombocytopenia_grade ---------------------------------------------------------------------------------

@pytest.mark.parametrize("count, grade", [
    (150, "none"), (100, "none"), (99.9, "mild"), (50.1, "mild"), (50, "moderate"), (20.1, "moderate"),
    (20, "severe"), (0, "severe"),
])
def test_grade_jung2016(count, grade):
    g = thrombocytopenia_grade(count)
    assert (g.grade, g.scale, g.source) == (grade, "jung2016", "JUNG2016")


@pytest.mark.parametrize("count, grade", [
    (150, "none"), (149, "mild"), (100, "mild"), (99.5, "moderate"), (99, "moderate"), (31, "moderate"),
    (30.5, "moderate"), (30, "severe"), (5, "severe"),
])
def test_grade_costa2021(count, grade):
    g = thrombocytopenia_grade(count, scale="costa2021")
    assert (g.grade, g.source) == (grade, "COSTA2021")


def test_grade_no_count():
    g = thrombocytopenia_grade(None)
    assert g.grade is None and g.detail == "no platelet count"


def test_grade_unknown_scale_names_accepted_scales():
    with pytest.raises(ValueError, match="jung2016, costa2021"):
        thrombocytopenia_grade(40, scale="who")
    with pytest.raises(ValueError, match="unknown thrombocytopenia scale"):
        thrombocytopenia_grade(None, scale="ctcae")


@given(st.floats(min_value=0, max_value=2000, allow_nan=False))
def test_grade_is_monotone_in_the_count(count):
    order = ["severe", "moderate", "mild", "none"]
    for scale in ("jung2016", "costa2021"):
        lower = thrombocytopenia_grade(count * 0.9, scale=scale).grade
        assert order.index(lower) <= order.index(thrombocytopenia_grade(count, scale=scale).grade)


@given(st.integers(min_value=0, max_value=2000))
def test_units_per_microlitre_and_per_litre_agree(count):
    day = date(2024, 5, 1)
    a, b = rec((day, count)), rec((day, count * 1000), unit="/uL")
    assert platelet_summary(a, AT) == platelet_summary(b, AT)
    assert itp_phase(a, AT) == itp_phase(b, AT)
