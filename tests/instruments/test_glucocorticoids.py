"""Glucocorticoid exposure in prednisone equivalents [GC-EQUIV] (clinical.md §1.8, vectors G1-G2).

Equivalence: prednisone 5 mg = prednisolone 5 = methylprednisolone 4 = dexamethasone 0.75 (0.6 as an
option) = hydrocortisone 20 mg. Expected values are worked by hand below each case.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sleitp.instruments.glucocorticoids import glucocorticoid_exposure, prednisone_factor
from sleitp.record import load_record, parse_record
from tests.conftest import SPEC_EXAMPLES

D0 = date(2024, 1, 1)


def day(n: int) -> date:
    return D0 + timedelta(days=n)


def course(agent, start, end=None, dose=None, unit="mg", frequency=None):
    c = {"agent": agent, "start": day(start).isoformat()}
    if end is not None:
        c["end"] = day(end).isoformat()
    if dose is not None:
        c["dose"], c["dose_unit"] = dose, unit
    if frequency is not None:
        c["frequency"] = frequency
    return c


def exposure(courses, at, weight_kg=None, **kw):
    data = {"id": "G", "treatments": courses}
    if weight_kg is not None:
        data["weight_kg"] = weight_kg
    return glucocorticoid_exposure(parse_record(data), day(at), **kw)


def test_g1_dexamethasone_40mg_a_day_is_266_7_prednisone():
    g = exposure([course("dexamethasone", 0, 3, 40, frequency="daily")], at=1)
    assert g.prednisone_equivalent_mg_day == pytest.approx(40 * 5 / 0.75)  # 266.67
    assert g.prednisone_equivalent_mg_day == pytest.approx(266.6667, abs=1e-3)
    g = exposure([course("dexamethasone", 0, 3, 40)], at=1, dexamethasone_mg_per_5mg_prednisone=0.6)
    assert g.prednisone_equivalent_mg_day == pytest.approx(333.3333, abs=1e-3)
    assert g.dexamethasone_mg_per_5mg_prednisone == 0.6


def test_four_day_dexamethasone_course_is_1066_7_cumulative():
    g = exposure([course("dexamethasone", 0, 3, 40)], at=30)
    assert g.cumulative_prednisone_equivalent_mg == pytest.approx(4 * 266.6667, abs=1e-3)  # 1066.7
    assert g.prednisone_equivalent_mg_day == 0.0  # nothing runs on day 30


def test_g2_methylprednisolone_1000mg_is_1250_prednisone():
    g = exposure([course("methylprednisolone", 0, 0, 1000, frequency="once")], at=0)
    assert (g.prednisone_equivalent_mg_day, g.cumulative_prednisone_equivalent_mg) == (1250.0, 1250.0)
    g = exposure([course("methylprednisolone", 0, None, 1000, frequency="once")], at=5)
    assert (g.prednisone_equivalent_mg_day, g.cumulative_prednisone_equivalent_mg) == (0.0, 1250.0)
    g = exposure([course("methylprednisolone", 0, 2, 1000, frequency="daily")], at=10)
    assert g.cumulative_prednisone_equivalent_mg == 3750.0  # 3-day pulse (clinical.md §1.8)


def test_each_agent_at_its_equivalent_dose_is_5mg_prednisone():
    for agent, mg in [("prednisone", 5), ("prednisolone", 5), ("methylprednisolone", 4),
                      ("hydrocortisone", 20), ("dexamethasone", 0.75)]:
        g = exposure([course(agent, 0, None, mg)], at=0)
        assert g.prednisone_equivalent_mg_day == pytest.approx(5.0), agent
    assert prednisone_factor("methylprednisolone") == 1.25 and prednisone_factor("hydrocortisone") == 0.25


def test_prednisone_1mg_per_kg_at_60kg_is_60mg_and_unknown_without_weight():
    g = exposure([course("prednisone", 0, None, 1, "mg/kg")], at=9, weight_kg=60)
    assert g.prednisone_equivalent_mg_day == 60
    g = exposure([course("prednisone", 0, None, 1, "mg/kg")], at=9)
    assert g.prednisone_equivalent_mg_day is None and g.cumulative_prednisone_equivalent_mg == 0.0
    assert g.unknown_amounts == ["prednisone course starting 2024-01-01: dose 1 mg/kg needs the patient's "
                                 "weight_kg, which the record lacks"]
    assert g.courses[0].daily_prednisone_equivalent_mg is None


def test_g_per_kg_and_ug_per_kg_doses():
    for dose, unit in [(0.001, "g/kg"), (1000, "ug/kg")]:
        g = exposure([course("prednisone", 0, None, dose, unit)], at=0, weight_kg=60)
        assert g.prednisone_equivalent_mg_day == pytest.approx(60), unit


def test_medication_request_taper_20_10_5_as_three_courses():
    # testdata.md: medrx0303 boundsPeriods 01-16..01-20 (20 mg/d), 01-23..01-30 (10), 01-31..02-06 (5)
    taper = [{"agent": "prednisone", "start": s, "end": e, "dose": d, "dose_unit": "mg", "frequency": "daily"}
             for s, e, d in [("2015-01-16", "2015-01-20", 20), ("2015-01-23", "2015-01-30", 10),
                             ("2015-01-31", "2015-02-06", 5)]]
    rec = parse_record({"id": "medrx0303", "treatments": taper})

    def at(iso):
        g = glucocorticoid_exposure(rec, date.fromisoformat(iso))
        return g.prednisone_equivalent_mg_day, g.cumulative_prednisone_equivalent_mg

    assert at("2015-01-16") == (20.0, 20.0)
    assert at("2015-01-21") == (0.0, 100.0)  # 5 days x 20; the gap day runs nothing
    assert at("2015-01-25") == (10.0, 130.0)  # + 3 days x 10
    assert at("2015-02-06") == (5.0, 215.0)  # 100 + 8 x 10 + 7 x 5
    assert at("2015-03-01") == (0.0, 215.0)


def test_frequencies():
    def pred10(frequency, at):
        return exposure([course("prednisone", 0, None, 10, frequency=frequency)], at=at)

    assert pred10("bid", 0).prednisone_equivalent_mg_day == 20
    assert pred10("TID", 0).prednisone_equivalent_mg_day == 30
    assert pred10("qid", 1).cumulative_prednisone_equivalent_mg == 80  # 2 days x 4 x 10
    # weekly: doses on days 0, 7, 14 through day 15; the average day is 70 / 7 = 10
    g = exposure([course("prednisone", 0, None, 70, frequency="weekly")], at=15)
    assert (g.prednisone_equivalent_mg_day, g.cumulative_prednisone_equivalent_mg) == (10.0, 210.0)
    g = exposure([course("prednisone", 0, None, 70, frequency="weekly")], at=13)
    assert g.cumulative_prednisone_equivalent_mg == 140.0  # days 0 and 7


def test_missing_frequency_is_daily_and_says_so():
    g = exposure([course("prednisone", 0, 9, 20)], at=20)
    assert g.cumulative_prednisone_equivalent_mg == 200.0
    assert "daily assumed" in g.courses[0].note and g.courses[0].frequency == "daily"


def test_unknown_frequency_or_missing_dose_is_an_unknown_amount_with_the_reason():
    g = exposure([course("prednisone", 0, None, 20, frequency="q2d"), course("prednisone", 3, 5)], at=4)
    assert g.prednisone_equivalent_mg_day is None
    assert g.unknown_amounts == [
        "prednisone course starting 2024-01-01: frequency 'q2d' is not understood (expected one of daily, "
        "bid, tid, qid, weekly, once)",
        "prednisone course starting 2024-01-04: no dose given",
    ]


def test_course_boundaries_and_non_glucocorticoids():
    courses = [course("prednisone", 0, 9, 10), course("prednisone", 20, None, 10),
               course("rituximab", 0, 0, 375), course("hydroxychloroquine", 0, None, 400)]
    g = exposure(courses, at=9)  # end is inclusive: day 9 still runs; the day-20 course has not started
    assert (g.prednisone_equivalent_mg_day, g.cumulative_prednisone_equivalent_mg) == (10.0, 100.0)
    assert [c.start for c in g.courses] == [day(0)]
    g = exposure([course("prednisone", 0, 100, 10)], at=9)  # an end after `at` counts through `at`
    assert g.cumulative_prednisone_equivalent_mg == 100.0
    assert exposure([], at=0).prednisone_equivalent_mg_day == 0.0


def test_project_example_is_60mg_a_day():
    rec = load_record(SPEC_EXAMPLES / "iwg_response.json")
    g = glucocorticoid_exposure(rec, rec.effective_assessment_date)
    assert g.prednisone_equivalent_mg_day == 60.0
    assert g.cumulative_prednisone_equivalent_mg == 18 * 60.0  # 2024-03-01..03-18 inclusive


def test_bad_dexamethasone_equivalence_is_refused():
    with pytest.raises(ValueError, match="dexamethasone_mg_per_5mg_prednisone"):
        exposure([course("prednisone", 0, None, 10)], at=0, dexamethasone_mg_per_5mg_prednisone=0)


course_st = st.tuples(st.sampled_from(["prednisone", "prednisolone", "methylprednisolone", "dexamethasone",
                                       "hydrocortisone"]),
                      st.integers(0, 40), st.one_of(st.none(), st.integers(0, 30)), st.integers(0, 200),
                      st.sampled_from([None, "daily", "bid", "weekly", "once"]))


def _courses(raw):
    return [course(a, s, None if n is None else s + n, d, frequency=f) for a, s, n, d, f in raw]


@settings(max_examples=100, deadline=None)
@given(st.lists(course_st, max_size=5), st.integers(0, 60), st.integers(0, 30))
def test_cumulative_never_decreases_with_time(raw, at, later):
    a = exposure(_courses(raw), at).cumulative_prednisone_equivalent_mg
    b = exposure(_courses(raw), at + later).cumulative_prednisone_equivalent_mg
    assert b >= a - 1e-9


@settings(max_examples=100, deadline=None)
@given(st.lists(course_st, min_size=1, max_size=5), st.integers(0, 60))
def test_exposure_is_the_sum_over_courses(raw, at):
    whole = exposure(_courses(raw), at)
    parts = [exposure([c], at) for c in _courses(raw)]
    assert whole.cumulative_prednisone_equivalent_mg == pytest.approx(
        sum(p.cumulative_prednisone_equivalent_mg for p in parts))
    assert whole.prednisone_equivalent_mg_day == pytest.approx(
        sum(p.prednisone_equivalent_mg_day for p in parts))


@settings(max_examples=100, deadline=None)
@given(st.lists(course_st, max_size=5), st.integers(0, 60))
def test_the_0_6mg_dexamethasone_convention_never_gives_less(raw, at):
    a = exposure(_courses(raw), at).cumulative_prednisone_equivalent_mg
    g = exposure(_courses(raw), at, dexamethasone_mg_per_5mg_prednisone=0.6)
    b = g.cumulative_prednisone_equivalent_mg
    assert b >= a - 1e-9


# --- mg/m2 (body-surface area, Mosteller [MOSTELLER1987]) --------------------------------------------------
def _m2(height_cm=None, weight_kg=None):
    mp = course("methylprednisolone", 0, 2, 500, unit="mg/m2", frequency="daily")
    data = {"id": "G", "treatments": [mp]}
    if height_cm is not None:
        data["height_cm"] = height_cm
    if weight_kg is not None:
        data["weight_kg"] = weight_kg
    return glucocorticoid_exposure(parse_record(data), day(1))


def test_mg_per_m2_uses_the_mosteller_body_surface_area():
    # BSA = sqrt(160 cm x 64 kg / 3600) = sqrt(2.84444) = 1.68655 m2 (hand-computed)
    # 500 mg/m2 x 1.68655 = 843.27 mg methylprednisolone = 843.27 x 5/4 = 1054.09 mg prednisone-eq a day
    g = _m2(height_cm=160, weight_kg=64)
    assert g.prednisone_equivalent_mg_day == pytest.approx(1054.09, abs=0.01)
    assert g.cumulative_prednisone_equivalent_mg == pytest.approx(2 * 1054.09, abs=0.02)  # days 0 and 1
    assert g.unknown_amounts == [] and "Mosteller" in g.courses[0].note


@pytest.mark.parametrize("height,weight,lacks", [(None, 64, "height_cm"), (160, None, "weight_kg"),
                                                  (None, None, "weight_kg and height_cm")])
def test_mg_per_m2_without_height_or_weight_is_an_unknown_amount_said_so(height, weight, lacks):
    g = _m2(height_cm=height, weight_kg=weight)
    assert g.prednisone_equivalent_mg_day is None  # the running course's amount is unknown, never guessed
    assert g.cumulative_prednisone_equivalent_mg == 0.0
    (why,) = g.unknown_amounts
    assert "needs the body-surface area" in why and why.endswith(f"the record lacks {lacks}")
