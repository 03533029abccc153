"""The synthetic cohort: files as spec/cli.md says, reproducible, and its platelet counts REALISE the
planned IWG outcome of every line (checked by an independent reading of the spec/record.md rules)."""

from __future__ import annotations

import hashlib
import json
import math
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from sleitp.cli import app
from sleitp.cohort.synth import params as P
from sleitp.cohort.synth import truth as M
from sleitp.cohort.synth.course import cr_level, loss_level, nonqualifying, r_level, visit_days
from sleitp.cohort.synth.generate import SynthError, draw_patients, synthesize
from sleitp.cohort.tables import SCHEMAS, tables_to_records
from sleitp.features import patient_features
from sleitp.record import parse_record

N = 600


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "cohort"
    synthesize(N, 11, out, chunk_size=250)  # three chunks, the last one partial
    return out


@pytest.fixture(scope="module")
def records(cohort):
    return {r.id: r for r in (parse_record(json.loads(line)) for line in open(cohort / "records.jsonl"))}


def _read(cohort: Path, name: str):
    import pyarrow as pa

    return pa.concat_tables([pq.read_table(p) for p in sorted((cohort / "tables").glob(f"{name}-*.parquet"))])


# ------------------------------------------------------------------------------- files and schemas
def test_files_follow_the_contract(cohort, records):
    assert len(records) == N
    assert all(not r.warnings for r in records.values())  # no stray field
    for name, schema in SCHEMAS.items():
        parts = sorted((cohort / "tables").glob(f"{name}-*.parquet"))
        assert [p.name for p in parts] == [f"{name}-{i:05d}.parquet" for i in range(3)]
        for p in parts:
            assert pq.read_schema(p).remove_metadata().equals(schema), name
    truth = pq.read_table(cohort / "truth.parquet")
    assert truth.column_names[:2] == ["patient_id", "p_first_line_response"]
    assert truth.num_rows == N and set(truth["patient_id"].to_pylist()) == set(records)


def test_jsonl_records_equal_the_tables(cohort, records):
    tables = {name: _read(cohort, name) for name in SCHEMAS}
    from_tables = {r.id: r for r in tables_to_records(tables)}
    assert from_tables.keys() == records.keys()
    for pid, rec in records.items():
        assert rec.model_dump() == from_tables[pid].model_dump(), pid


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(tmp_path):
    def digest(d: Path) -> dict[str, str]:
        return {
            str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*"))
            if p.is_file()
        }

    synthesize(120, 5, tmp_path / "a", chunk_size=50)
    synthesize(120, 5, tmp_path / "b", chunk_size=50)
    synthesize(120, 6, tmp_path / "c", chunk_size=50)
    a, b, c = digest(tmp_path / "a"), digest(tmp_path / "b"), digest(tmp_path / "c")
    assert a == b
    assert (
        a["records.jsonl"] != c["records.jsonl"]
        and a["tables/labs-00000.parquet"] != c["tables/labs-00000.parquet"]
    )


def test_bad_arguments_are_clear_errors(tmp_path):
    with pytest.raises(SynthError, match="--patients"):
        synthesize(0, 1, tmp_path / "x")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(SynthError, match="not empty"):
        synthesize(5, 1, tmp_path / "full")
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"  # nothing overwritten
    result = CliRunner().invoke(
        app, ["synth", "--patients", "-3", "--seed", "1", "--out", str(tmp_path / "y")]
    )
    assert result.exit_code != 0


def test_cli_writes_a_cohort_and_a_json_summary(tmp_path):
    result = CliRunner().invoke(
        app, ["synth", "--patients", "40", "--seed", "2", "--out", str(tmp_path / "c"), "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["patients"] == 40 and summary["rows"]["patients"] == 40
    assert sum(summary["first_line_categories"].values()) == 40


# ------------------------------------------------------------------------------- the TRUE model
def test_effect_sizes_are_the_published_figures():
    terms = {t.feature: t for t in M.TERMS}
    # [ZHAO2016] 29% vs 88%: OR = (0.29/0.71)/(0.88/0.12) = 0.40845/7.3333 = 0.0557, by hand
    assert math.exp(terms["megakaryocytes_below_20"].coefficient) == pytest.approx(0.0557, abs=5e-4)
    assert math.exp(terms["c3"].coefficient) == pytest.approx(0.045)  # [ZHENG2025]
    assert math.exp(terms["nlr"].coefficient) == pytest.approx(1.982)  # [ZHENG2025]
    assert {t.feature for t in M.TERMS} <= set(__import__("sleitp.features").features.FEATURE_NAMES)


def test_true_model_is_calibrated_to_the_published_rate_and_realistically_discriminating():
    pts = draw_patients(np.random.default_rng(2024), 100_000)
    p = M.probability(pts)
    assert p.mean() == pytest.approx(P.FIRST_LINE_RESPONSE_TARGET, abs=0.01)  # [ZHENG2025] 70.8%
    # expected AUC of the true probabilities: P(p_responder > p_non-responder) with outcomes ~ Bernoulli(p)
    ps = np.sort(p)
    w0 = 1 - ps
    auc = float(np.sum(ps * (np.cumsum(w0) - w0)) / (ps.sum() * w0.sum()))
    assert 0.70 <= auc <= 0.85
    # the intercept is the one calibrate_intercept finds (kept in the code, not recomputed at run time)
    assert M.calibrate_intercept(pts, P.FIRST_LINE_RESPONSE_TARGET) == pytest.approx(M.INTERCEPT, abs=0.03)


def test_true_probability_is_the_model_applied_to_the_record(cohort, records):
    truth = {r["patient_id"]: r for r in pq.read_table(cohort / "truth.parquet").to_pylist()}
    checked = 0
    for pid, rec in records.items():
        start = min(t.start for t in rec.treatments if t.agent != "hydroxychloroquine")
        f = patient_features(rec, start)
        t = truth[pid]
        if f["megakaryocytes_below_20"] is not None:
            assert f["megakaryocytes_below_20"] == t["megakaryocytes_below_20"]
        if f["anti_tpo_receptor"] is not None:
            assert f["anti_tpo_receptor"] == t["anti_tpo_receptor"]
        if f["megakaryocytes_below_20"] is None or f["anti_tpo_receptor"] is None:
            continue
        values = {k: np.array([float(f[k] or 0)]) for k in (x.feature for x in M.TERMS)}
        assert M.probability(values)[0] == pytest.approx(t["p_first_line_response"], abs=2e-3)
        checked += 1
    assert checked > N * 0.1


def test_cohort_shares_follow_the_sources(tmp_path):
    out = tmp_path / "c"
    synthesize(20_000, 3, out, jsonl=False)
    truth = pq.read_table(out / "truth.parquet").to_pandas()
    patients = _read(out, "patients").to_pandas()
    assert (patients["sex"] == "male").mean() == pytest.approx(17 / 162, abs=0.01)  # [LIU2021]
    assert (truth["first_line_category"] == "NE").mean() == pytest.approx(P.NOT_EVALUABLE_SHARE, abs=0.006)
    evaluable = truth[truth["first_line_category"] != "NE"]
    assert evaluable["first_line_category"].isin(["R", "CR"]).mean() == pytest.approx(0.708, abs=0.02)
    responders = evaluable[evaluable["first_line_category"].isin(["R", "CR"])]
    # [ZHENG2025] CR share 62.7% of responders; a little higher here because R is impossible (and becomes
    # CR) when twice the baseline is >= 100
    assert 0.62 <= (responders["first_line_category"] == "CR").mean() <= 0.70
    cr = evaluable[evaluable["first_line_category"] == "CR"]
    # [LI2023] 29.2% relapse after CR
    assert cr["first_line_loss_of_response_date"].notna().mean() == pytest.approx(19 / 65, abs=0.025)
    lines = pq.read_table(out / "truth_lines.parquet").to_pandas()
    second = lines[lines["line"] == 2]
    second_rtx = second[second["agents"].map(lambda a: list(a) == ["rituximab"])]
    # [RTX-RENJI] ORR 80.95%: line 2 follows the agents' published response rates
    assert second_rtx["category"].isin(["R", "CR"]).mean() == pytest.approx(0.8095, abs=0.04)


def test_chronic_itp_follows_ahn_2024_and_is_seen_in_the_counts(tmp_path):
    import pandas as pd
    import statsmodels.api as sm

    out = tmp_path / "c"
    synthesize(20_000, 4, out, jsonl=False)
    truth = pq.read_table(out / "truth.parquet").to_pandas()
    known = truth[truth["chronic"].notna()].copy()
    assert len(known) >= 0.95 * len(truth) - (truth["first_line_category"] == "NE").sum()
    # the latent label is REALISED: platelets < 100 at the last count > 12 months after diagnosis
    assert (known["chronic"] == known["chronic_latent"]).all()
    assert known["chronic"].mean() == pytest.approx(27 / 121, abs=0.015)  # [AHN2024] 22.3%
    labs = _read(out, "labs").to_pandas()
    counts = labs[labs["test"] == "platelets"].sort_values("date")
    baseline = counts.groupby("patient_id")["value"].first()
    x = pd.DataFrame(
        {
            "below_20": (known["patient_id"].map(baseline) < 20).astype(float),
            "no_response_1_month": (
                ~(
                    known["first_line_category"].isin(["R", "CR"])
                    & (known["first_line_time_to_response_days"] <= 30)
                )
            ).astype(float),
        }
    )
    fit = sm.Logit(known["chronic"].astype(float), sm.add_constant(x)).fit(disp=0)
    # the generator's data give back AHN2024's adjusted odds ratios (13.628 and 9.171)
    assert math.exp(fit.params["below_20"]) == pytest.approx(13.628, rel=0.25)
    assert math.exp(fit.params["no_response_1_month"]) == pytest.approx(9.171, rel=0.25)


# ------------------------------------------------------------------------- the counts realise the outcome
@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=95), st.integers(min_value=0, max_value=2**32 - 1))
def test_count_levels_are_unambiguous_at_every_baseline(baseline, seed):
    rng = np.random.default_rng(seed)
    b = np.array([float(baseline)])
    shape = (1, 30)
    nq = nonqualifying(rng, b, shape)
    assert np.all((nq < max(30, 2 * baseline)) & (nq < 100) & (nq >= 1))  # fails R [IWG2009] and CR
    if baseline <= 49:
        r = r_level(rng, b, shape)
        assert np.all((r >= 30) & (r >= 2 * baseline) & (r < 100))  # R, not CR
    cr = cr_level(rng, b, shape)
    assert np.all((cr >= 100) & (cr >= 2 * baseline))  # CR, and R-or-better
    assert np.all(loss_level(rng, shape) < 30)
    days = visit_days(rng, 5)
    assert np.all(np.diff(days, axis=1) >= 7) and np.all(days[:, 0] >= 7)


def _iwg_line(counts: list[tuple[date, float]], start: date, baseline: float | None):
    """An independent reading of spec/record.md `responses` for one line without bleeding."""

    def q(v):  # R-or-better qualifying count
        return v >= 100 or (baseline is not None and v >= 30 and v >= 2 * baseline)

    def first_pair(ok):
        for i, (d, v) in enumerate(counts):
            if not ok(v):
                continue
            for d2, v2 in counts[i + 1 :]:
                if not ok(v2):
                    break
                if (d2 - d).days >= 7:
                    return i
        return None

    r, cr = first_pair(q), first_pair(lambda v: v >= 100)
    ttr = None if r is None else (counts[r][0] - start).days
    ttcr = None if cr is None else (counts[cr][0] - start).days
    loss = None
    if r is not None:
        after = counts[r + 1 :]
        for (d, v), (d2, v2) in zip(after, after[1:], strict=False):
            if not q(v) and not q(v2) and (d2 - d).days >= 1:
                loss = d
                break
    if cr is not None:
        category = "CR"
    elif r is not None:
        category = "R"
    elif len([1 for _, v in counts if not q(v)]) >= 2:
        category = "NR"
    else:
        category = "NE"
    return category, ttr, ttcr, loss


def test_every_line_realises_its_planned_iwg_outcome(cohort, records):
    lines = pq.read_table(cohort / "truth_lines.parquet").to_pylist()
    assert {x["line"] for x in lines} == {1, 2, 3}
    for x in lines:
        rec = records[x["patient_id"]]
        end = x["evaluation_end"]
        counts = [(c.date, c.value) for c in rec.platelet_counts() if x["start"] <= c.date <= end]
        before = [c for c in rec.platelet_counts() if x["start"] - timedelta(days=30) <= c.date <= x["start"]]
        assert before and before[-1].value == x["baseline_platelets"]
        got = _iwg_line(counts, x["start"], before[-1].value)
        want = (
            x["category"],
            x["time_to_response_days"],
            x["time_to_complete_response_days"],
            x["loss_of_response_date"],
        )
        assert got == want, (x["patient_id"], x["line"])
        # the line's agents start on its start day; no bleeding after it starts
        assert {t.agent for t in rec.treatments if t.start == x["start"]} >= set(x["agents"]) - {"prednisone"}
        assert all(b.date < x["start"] for b in rec.bleeding)


def test_reference_iwg_agrees_with_the_latent_outcome(cohort, records):
    """The single-patient reference (sleitp.instruments.iwg_responses) recovers, from the generated
    counts, the latent first-line outcome of every evaluable patient and the planned result of every line
    (at the time of writing: 100% on this cohort)."""
    from sleitp.instruments import iwg_responses

    truth = {r["patient_id"]: r for r in pq.read_table(cohort / "truth.parquet").to_pylist()}
    planned = {
        (r["patient_id"], r["line"]): r for r in pq.read_table(cohort / "truth_lines.parquet").to_pylist()
    }
    latent_agree = evaluable = lines_agree = 0
    try:
        for pid, rec in records.items():
            got = {r.line: r for r in iwg_responses(rec, rec.effective_assessment_date)}
            t = truth[pid]
            if t["first_line_category"] != "NE":
                evaluable += 1
                latent_agree += (got[1].category in ("R", "CR")) == t["first_line_response"]
            for (p, line), want in planned.items():
                if p == pid and line in got:
                    g = got[line]
                    lines_agree += (
                        g.category,
                        g.time_to_response_days,
                        g.time_to_complete_response_days,
                        g.loss_of_response_date,
                    ) == (
                        want["category"],
                        want["time_to_response_days"],
                        want["time_to_complete_response_days"],
                        want["loss_of_response_date"],
                    )
    except NotImplementedError:
        pytest.skip("sleitp.instruments.iwg_responses is not implemented yet")
    assert latent_agree / evaluable >= 0.99, f"latent outcome recovered for {latent_agree}/{evaluable}"
    assert lines_agree / len(planned) >= 0.99, f"lines recovered exactly: {lines_agree}/{len(planned)}"


@settings(max_examples=8, deadline=None)
@given(st.integers(min_value=0, max_value=2**31 - 1), st.integers(min_value=1, max_value=40))
def test_any_seed_gives_valid_records_that_realise_their_outcomes(tmp_path_factory, seed, n):
    """Law: whatever the seed and size, every record is valid and every line reads back as planned."""
    out = tmp_path_factory.mktemp("law") / "c"
    synthesize(n, seed, out, chunk_size=16)
    recs = {r.id: r for r in (parse_record(json.loads(line)) for line in open(out / "records.jsonl"))}
    assert len(recs) == n and not any(r.warnings for r in recs.values())
    for x in pq.read_table(out / "truth_lines.parquet").to_pylist():
        rec = recs[x["patient_id"]]
        counts = [
            (c.date, c.value) for c in rec.platelet_counts() if x["start"] <= c.date <= x["evaluation_end"]
        ]
        want = (
            x["category"],
            x["time_to_response_days"],
            x["time_to_complete_response_days"],
            x["loss_of_response_date"],
        )
        assert _iwg_line(counts, x["start"], x["baseline_platelets"]) == want


def test_jsonl_writer_refuses_text_it_cannot_write_safely():
    import pyarrow as pa

    from sleitp.cohort.synth.jsonl import records_text
    from sleitp.cohort.tables import records_to_tables

    rec = parse_record({"id": 'a"b', "sex": "female", "assessment_date": "2020-01-01"})
    with pytest.raises(ValueError, match="quote"):
        records_text(records_to_tables([rec]))
    ok = records_to_tables(
        [
            parse_record(
                {
                    "id": "p1",
                    "sex": "male",
                    "assessment_date": "2020-01-01",
                    "labs": [{"date": "2020-01-01", "test": "platelets", "value": 12, "unit": "10^9/L"}],
                }
            )
        ]
    )
    line = json.loads(records_text(ok))
    assert line["id"] == "p1" and line["labs"] == [
        {"date": "2020-01-01", "test": "platelets", "value": 12, "unit": "10^9/L"}
    ]
    assert isinstance(ok["patients"], pa.Table)
