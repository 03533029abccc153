"""Competing risks for time to response: Aalen-Johansen cumulative incidence worked by hand (ties within and
across causes, a censoring tied with events), the bias of 1 - KM, determinism, and the CLI."""

from __future__ import annotations

import json
import sys
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from sleitp.cli import app
from sleitp.cohort.analytics import km, load_derived
from sleitp.cohort.analytics.cif import cif, competing_events
from sleitp.cohort.tables import FEATURES_SCHEMA, RESPONSES
from sleitp.errors import SourceError

D0 = date(2020, 1, 1)


def _write(directory: Path, responses: list[dict]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    rows = []
    for r in responses:
        row = {k: None for k in RESPONSES.names}
        row.update(agents=["prednisone"], start=D0, baseline_platelets=10.0)
        row.update(r)
        rows.append(row)
    pq.write_table(pa.Table.from_pylist(rows, schema=RESPONSES), directory / "responses.parquet")
    feats = []
    for pid in sorted({r["patient_id"] for r in responses}):
        row = {k: None for k in FEATURES_SCHEMA.names}
        row.update(patient_id=pid, index_date=D0, first_line_agents=["prednisone"], male=pid in "aceg")
        feats.append(row)
    pq.write_table(pa.Table.from_pylist(feats, schema=FEATURES_SCHEMA), directory / "features.parquet")
    return directory


def _line(pid, category, ttr=None, end_day=60, line=1, start=D0):
    return {
        "patient_id": pid, "line": line, "category": category, "time_to_response_days": ttr,
        "start": start, "evaluation_end": start + timedelta(days=end_day),
    }


def _switch(pid, end_day):
    """A first line without response, ended by a second line starting the next day."""
    nxt = D0 + timedelta(days=end_day + 1)
    return [_line(pid, "NR", end_day=end_day), _line(pid, "NR", end_day=40, line=2, start=nxt)]


@pytest.fixture()
def hand(tmp_path):
    """Eight first lines: responses a, b (day 10), switch c (day 10), censored d (15), response e (20),
    switch f (20), NE g censored at 20 (end of follow-up), response h (30)."""
    rows = [_line("a", "R", 10), _line("b", "CR", 10), *_switch("c", 10), _line("d", "NR", end_day=15),
            _line("e", "R", 20), *_switch("f", 20), _line("g", "NE", end_day=20), _line("h", "R", 30, 90)]
    return _write(tmp_path / "hand", rows)


def test_events_are_coded_per_line(hand):
    c = load_derived(hand)
    ev = competing_events(c.responses).join(c.responses[["patient_id", "line"]])
    first = ev.loc[ev["line"] == 1].set_index("patient_id")
    assert first["event"].to_dict() == {"a": 1, "b": 1, "c": 2, "d": 0, "e": 1, "f": 2, "g": 0, "h": 1}
    assert first["duration"].to_dict() == {
        "a": 10, "b": 10, "c": 10, "d": 15, "e": 20, "f": 20, "g": 20, "h": 30
    }
    # the second lines have no later line: censored at their evaluation end
    assert set(ev.loc[ev["line"] == 2, "event"]) == {0}


def test_aalen_johansen_worked_by_hand(hand):
    """By hand (n = 8): day 10: 8 at risk, 2 responses + 1 switch, S(10-) = 1 -> CIF_resp += 2/8,
    CIF_switch += 1/8, S = 5/8; day 15: d censored (4 left); day 20: 4 at risk, 1 response + 1 switch, then
    g censored (censorings follow the day's events) -> each CIF += 5/8 * 1/4 = 5/32, S = 5/16; day 30:
    1 at risk, 1 response -> CIF_resp += 5/16, S = 0."""
    g = cif(load_derived(hand), "line").groups[0]
    assert g.label == "line 1" and g.n == 8
    assert g.events == {"response": 4, "next line started": 2, "censored": 2}
    resp = {d: g.at("response", d).value for d in (9, 10, 19, 20, 29, 30, 90)}
    assert resp == pytest.approx({9: 0, 10: 0.25, 19: 0.25, 20: 0.25 + 5 / 32, 29: 13 / 32,
                                  30: 13 / 32 + 5 / 16, 90: 23 / 32})
    switch = {d: g.at("next line started", d).value for d in (9, 10, 20, 30)}
    assert switch == pytest.approx({9: 0, 10: 1 / 8, 20: 1 / 8 + 5 / 32, 30: 9 / 32})
    # every line ends in one of the two events or is censored: the CIFs add up to 1 - S (all causes)
    assert resp[30] + switch[30] == pytest.approx(1.0)
    # intervals: present once an event has happened, bracketing the estimate, inside [0, 1]
    e = g.at("response", 20)
    assert 0 <= e.low < e.value < e.high <= 1
    assert g.at("response", 9).low is None
    assert g.at_risk[14] == 5 and g.at_risk[30] == 1  # durations >= day


def test_naive_one_minus_km_is_biased_upwards(hand):
    """1 - KM censors the switches: day 10: 8 at risk, 2 responses -> S = 6/8; c censored, d censored;
    day 20: 4 at risk, 1 response -> S = 6/8 * 3/4 = 9/16; day 30: 1 at risk, 1 response -> S = 0.
    So 1 - KM says every line responds by day 30; the cumulative incidence says 23/32."""
    cohort = load_derived(hand)
    g = cif(cohort, "line").groups[0]
    assert g.at("naive", 20).value == pytest.approx(7 / 16)
    assert g.naive_km[30] == pytest.approx(1.0)
    assert g.cumulative_incidence["response"][30].value == pytest.approx(23 / 32)
    assert g.naive_km[30] > g.cumulative_incidence["response"][30].value
    # the naive curve here is the one `cohort km` draws
    assert km(cohort, "line").groups[0].cumulative_response[30] == pytest.approx(g.naive_km[30])


def test_deterministic_and_no_jitter_warning(hand, recwarn):
    a = cif(load_derived(hand), "line").to_json()
    b = cif(load_derived(hand), "line").to_json()
    assert a == b
    assert not [w for w in recwarn if "jitter" in str(w.message).lower() or "Tied" in str(w.message)]


def test_cause_specific_cox_and_groups(hand):
    res = cif(load_derived(hand), "line")
    # line 2 (the two second lines) has no response and no switch: not estimable, said so
    hrs = {(h.cause, h.group): h for h in res.cause_specific_cox}
    assert hrs[("response", "line 2")].hazard_ratio is None
    assert "no response event in line 2" in hrs[("response", "line 2")].note
    by_male = cif(load_derived(hand), "male")
    assert [g.label for g in by_male.groups] == ["male: no", "male: yes"]
    assert sum(g.n for g in by_male.groups) == 8
    (resp, switch) = by_male.cause_specific_cox
    assert resp.cause == "response" and resp.reference == "male: no" and resp.hazard_ratio > 0
    assert resp.ci_low < resp.hazard_ratio < resp.ci_high


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """A synthetic cohort through the engine (sleitp synth + cohort derive)."""
    root = tmp_path_factory.mktemp("cif")
    runner = CliRunner()
    r = runner.invoke(app, ["synth", "--patients", "250", "--seed", "5", "--out", str(root / "c")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["cohort", "derive", str(root / "c" / "tables"), "--out", str(root / "d")])
    assert r.exit_code == 0, r.output
    return root / "d"


def test_synthetic_cohort_cif_below_naive_and_sums(synthetic, tmp_path):
    from lifelines import KaplanMeierFitter

    cohort = load_derived(synthetic)
    res = cif(cohort, "line")
    naive = {g.label: g for g in km(cohort, "line").groups}
    ev = competing_events(cohort.responses)
    line = cohort.responses["line"]
    for g in res.groups:
        for d in (30, 90, 180):
            assert g.cumulative_incidence["response"][d].value <= g.naive_km[d] + 1e-12
            assert g.naive_km[d] == pytest.approx(naive[g.label].cumulative_response[d])
        sel = (line >= 3) if g.label == "line 3+" else (line == int(g.label.split()[1]))
        allcause = KaplanMeierFitter().fit(ev.loc[sel, "duration"], ev.loc[sel, "event"] > 0)
        for d in (30, 90):
            total = g.at("response", d).value + g.at("next line started", d).value
            assert total == pytest.approx(1 - float(allcause.survival_function_at_times(d).iloc[0]))
    line2 = next(g for g in res.groups if g.label == "line 2")
    assert line2.events["next line started"] > 0  # the synthetic cohort switches lines
    runner = CliRunner()
    out = runner.invoke(app, ["cohort", "cif", str(synthetic), "--json", "--png", str(tmp_path / "c.png"),
                              "--html", str(tmp_path / "c.html")])
    assert out.exit_code == 0, out.output
    j = json.loads(out.stdout)
    assert j["method"] == "aalen-johansen" and "date of death" in j["death"]
    assert set(j["groups"][0]["cumulative_incidence"]) == {"response", "next line started"}
    assert (tmp_path / "c.png").stat().st_size > 1000
    assert "naive 1 - KM" in (tmp_path / "c.html").read_text()
    text = runner.invoke(app, ["cohort", "km", str(synthetic)])
    assert text.exit_code == 0 and "cohort cif" in text.output


def test_bad_input_is_a_clear_error(tmp_path, monkeypatch, capsys):
    from sleitp.cli import main

    monkeypatch.setattr(sys, "argv", ["sleitp", "cohort", "cif", str(tmp_path / "nowhere")])
    with pytest.raises(SystemExit) as e:
        main()
    err = capsys.readouterr().err
    assert e.value.code == 2 and "not a directory" in err and "Traceback" not in err
    with pytest.raises(SourceError, match="--by"):
        cif(load_derived(_write(tmp_path / "h", [_line("a", "R", 10)])), "no_such_predictor")
