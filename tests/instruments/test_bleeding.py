"""WHO bleeding grade in a look-back window [WHO-BLEED], by hand."""

from datetime import date, timedelta

import pytest

from sleitp.instruments.bleeding import who_bleeding
from sleitp.record import parse_record

AT = date(2024, 6, 1)


def rec(*events):
    return parse_record({"id": "B", "bleeding": [
        {"date": str(d), "who_grade": g, **({"site": s} if s else {})} for d, g, s in events]})


def test_worst_grade_in_window_with_site_and_date():
    r = rec((AT - timedelta(days=1), 1, "skin"), (AT - timedelta(days=3), 3, "gi"), (AT, 2, "epistaxis"))
    b = who_bleeding(r, AT)
    assert (b.who_grade, b.date, b.site) == (3, AT - timedelta(days=3), "gi")
    assert (b.window_days, b.source) == (7, "WHO-BLEED")


def test_latest_among_equal_worst_grades():
    r = rec((AT - timedelta(days=5), 2, "skin"), (AT - timedelta(days=2), 2, "mucosal"), (AT, 1, None))
    b = who_bleeding(r, AT)
    assert (b.who_grade, b.date, b.site) == (2, AT - timedelta(days=2), "mucosal")


def test_window_edges_exactly_7_days_counts_8_does_not():
    assert who_bleeding(rec((AT - timedelta(days=7), 4, "intracranial")), AT).who_grade == 4
    assert who_bleeding(rec((AT - timedelta(days=8), 4, "intracranial")), AT).who_grade is None


def test_events_after_at_do_not_count():
    assert who_bleeding(rec((AT + timedelta(days=1), 3, "gi")), AT).who_grade is None


def test_none_recorded_is_none_but_a_recorded_zero_is_zero():
    assert who_bleeding(rec(), AT).who_grade is None
    b = who_bleeding(rec((AT, 0, None)), AT)
    assert (b.who_grade, b.site) == (0, None)


def test_window_is_a_parameter():
    r = rec((AT - timedelta(days=10), 2, "gu"))
    assert who_bleeding(r, AT).who_grade is None
    assert who_bleeding(r, AT, window_days=10).who_grade == 2
    with pytest.raises(ValueError, match="window_days"):
        who_bleeding(r, AT, window_days=-1)
