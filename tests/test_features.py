"""Predictors read from one record (sleitp.features), worked by hand; boundaries of every window."""

from datetime import date

import pytest

from sleitp.features import FEATURE_NAMES, FEATURES, patient_features
from sleitp.record import parse_record

AT = date(2024, 6, 1)


def lab(test, value=None, unit=None, day="2024-06-01", **kw):
    d = {"date": day, "test": test, **kw}
    if value is not None:
        d.update(value=value, unit=unit)
    return d


def feats(**kw):
    return patient_features(parse_record({"id": "F1", **kw}), AT)


def test_every_feature_is_declared_once_and_computed():
    assert len(set(FEATURE_NAMES)) == len(FEATURES)
    assert set(feats()) == set(FEATURE_NAMES)


def test_nothing_measured_is_unknown_not_negative():
    f = feats()
    for name in ("baseline_platelets", "platelets_below_20", "c3", "low_c3", "low_c4", "anticardiolipin",
                 "antiphospholipid", "nlr", "sii", "megakaryocytes", "anti_tpo_receptor", "hemoglobin",
                 "male"):
        assert f[name] is None, name
    assert f["who_bleeding_grade"] == 0 and f["autoimmune_hemolysis"] is False


def test_baseline_window_is_30_days_inclusive():
    # [IWG2009] baseline: last count on or before the index date within 30 days
    assert feats(labs=[lab("platelets", 12, "10^9/L", "2024-05-02")])["baseline_platelets"] == 12  # 30 days
    assert feats(labs=[lab("platelets", 12, "10^9/L", "2024-05-01")])["baseline_platelets"] is None  # 31 days
    assert feats(labs=[lab("platelets", 12, "10^9/L", "2024-06-02")])["baseline_platelets"] is None  # after


def test_platelets_below_20_boundary():
    assert feats(labs=[lab("platelets", 19.9, "10^9/L")])["platelets_below_20"] is True
    assert feats(labs=[lab("platelets", 20, "10^9/L")])["platelets_below_20"] is False  # [AHN2024] < 20


def test_latest_value_in_90_day_window():
    f = feats(labs=[lab("c3", 1.2, "g/L", "2024-03-03"), lab("c3", 0.5, "g/L", "2024-03-02")])
    assert f["c3"] == 1.2  # 2024-03-03 is exactly 90 days before; the later value wins
    assert feats(labs=[lab("c3", 0.5, "g/L", "2024-03-02")])["c3"] is None  # 91 days: outside


def test_low_complement_uses_lab_limit_else_default():
    assert feats(labs=[lab("c3", 0.89, "g/L")])["low_c3"] is True  # [RCPA-C3C4] 0.9 g/L
    assert feats(labs=[lab("c3", 0.9, "g/L")])["low_c3"] is False
    assert feats(labs=[lab("c3", 0.85, "g/L", reference_low=0.8)])["low_c3"] is False  # the lab's own limit
    assert feats(labs=[lab("c4", 15, "mg/dL")])["low_c4"] is True  # 0.15 g/L < 0.16


def test_nlr_and_sii_need_same_day_counts():
    labs = [lab("neutrophils", 6, "10^9/L", "2024-05-20"), lab("lymphocytes", 1.5, "10^9/L", "2024-05-20"),
            lab("platelets", 30, "10^9/L", "2024-05-20"), lab("neutrophils", 9, "10^9/L", "2024-05-25")]
    f = feats(labs=labs)
    assert f["nlr"] == pytest.approx(4.0)  # 6 / 1.5; the 05-25 neutrophils have no lymphocytes that day
    assert f["sii"] == pytest.approx(120.0)  # 30 x 6 / 1.5


def test_antibodies_ever_positive_and_antiphospholipid():
    f = feats(labs=[lab("anticardiolipin", result="positive", day="2019-01-01"),
                    lab("anticardiolipin", result="negative", day="2024-05-01")])
    assert f["anticardiolipin"] is True and f["antiphospholipid"] is True
    f = feats(labs=[lab("lupus_anticoagulant", result="negative")])
    assert f["antiphospholipid"] is False and f["anticardiolipin"] is None
    assert feats(history={"antiphospholipid_syndrome": True})["antiphospholipid"] is True
    assert feats(labs=[lab("anti_sm", result="positive", day="2024-06-02")])["anti_sm"] is None  # after index


def test_megakaryocytes_below_20_boundary():
    assert feats(labs=[lab("megakaryocytes", 19, "/slide")])["megakaryocytes_below_20"] is True  # [ZHAO2016]
    assert feats(labs=[lab("megakaryocytes", 20, "/slide")])["megakaryocytes_below_20"] is False


def test_bleeding_and_events():
    f = feats(bleeding=[{"date": "2024-05-25", "who_grade": 3}, {"date": "2024-05-24", "who_grade": 4}],
              manifestations=[{"date": "2020-01-01", "name": "autoimmune_hemolysis"}], sex="male")
    assert f["who_bleeding_grade"] == 3  # 05-25 is 7 days before; 05-24 is outside
    assert f["autoimmune_hemolysis"] is True and f["male"] is True
    assert feats(history={"lupus_nephritis": True})["lupus_nephritis"] is True


def test_age_from_birth_date_at_index():
    assert feats(birth_date="1990-06-01")["age_years"] == pytest.approx(34.0, abs=0.01)
    assert feats(age_years=41)["age_years"] == 41


# -- issue 10: one baseline, one index date ----------------------------------------------------------------
def test_baseline_is_the_lowest_count_of_the_last_day_as_the_iwg_baseline():
    # two counts on the index date: the day's count is the lowest (Timeline.daily_counts), as in the
    # line's IWG baseline; an earlier day with a lower count does not matter
    f = feats(labs=[lab("platelets", 5, "10^9/L", "2024-05-30"), lab("platelets", 40, "10^9/L"),
                    lab("platelets", 12, "10^9/L")])
    assert f["baseline_platelets"] == 12 and f["platelets_below_20"] is True


def test_index_date_is_the_first_lines_start_else_the_date():
    from sleitp.features import index_date
    from sleitp.instruments.iwg import iwg_responses

    labs = [lab("platelets", 12, "10^9/L", "2024-04-01"), lab("platelets", 150, "10^9/L")]
    rec = parse_record({"id": "F2", "labs": labs,
                        "treatments": [{"agent": "prednisone", "start": "2024-04-01"}]})
    assert index_date(rec, AT) == date(2024, 4, 1) == iwg_responses(rec, AT)[0].start
    assert patient_features(rec, index_date(rec, AT))["baseline_platelets"] == 12
    assert index_date(rec, date(2024, 3, 31)) == date(2024, 3, 31)  # the day before the line: no line yet
    bg = parse_record({"id": "F3", "labs": labs,
                       "treatments": [{"agent": "heparin", "start": "2024-04-01"}]})
    assert index_date(bg, AT) == AT  # not an ITP line: predictors at the date itself
