"""COHORT_DIR -> X, y: the outcome rule, exclusions counted, clear errors; the design's missing-data rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sleitp.errors import SourceError
from sleitp.features import FEATURE_NAMES, FEATURES
from sleitp.model.dataset import load_cohort
from sleitp.model.design import Design, fit_design

KIND = {f.name: f.kind for f in FEATURES}


def _features(ids, **overrides) -> pa.Table:
    n = len(ids)
    cols = {
        "patient_id": pa.array(ids),
        "index_date": pa.array(pd.to_datetime(["2020-01-01"] * n).date, pa.date32()),
        "first_line_agents": pa.array([["prednisone"]] * n, pa.list_(pa.string())),
    }
    for name in FEATURE_NAMES:
        vals = overrides.get(name, [None] * n)
        cols[name] = pa.array(vals, pa.bool_() if KIND[name] == "binary" else pa.float64())
    return pa.table(cols)


def _responses(rows) -> pa.Table:
    return pa.table(
        {
            "patient_id": pa.array([r[0] for r in rows]),
            "line": pa.array([r[1] for r in rows], pa.int32()),
            "category": pa.array([r[2] for r in rows]),
        }
    )


def _write(d: Path, feats: pa.Table, resp: pa.Table) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    pq.write_table(feats, d / "features.parquet")
    pq.write_table(resp, d / "responses.parquet")
    return d


def test_outcome_rule_and_every_exclusion_counted(tmp_path):
    ids = ["a", "b", "c", "d", "e", "f"]
    feats = _features(ids, baseline_platelets=[10.0, 20.0, None, 40.0, 50.0, 60.0])
    resp = _responses(
        [
            ("a", 1, "CR"),
            ("b", 1, "R"),
            ("c", 1, "NR"),
            ("d", 1, "NE"),
            ("e", 2, "CR"),
            ("a", 2, "NR"),
            ("z", 1, "R"),
        ]
    )
    ds = load_cohort(_write(tmp_path / "c", feats, resp))
    # [IWG2009] R or CR of line 1 -> 1, NR -> 0; a's line 2 does not matter
    assert dict(zip(ds.patient_ids, ds.y, strict=False)) == {"a": 1, "b": 1, "c": 0}
    assert ds.excluded == {"no_first_line": 2, "no_features_row": 1, "not_evaluable": 1}  # e, f | z | d
    assert ds.n + sum(ds.excluded.values()) == 7  # a b c + d e f z: nobody silently dropped
    assert np.isnan(ds.X.loc[ds.patient_ids.index("c"), "baseline_platelets"])  # missing stays missing
    assert ds.index_dates == ("2020-01-01", "2020-01-01")


def test_parts_files_are_read(tmp_path):
    d = tmp_path / "c"
    d.mkdir()
    pq.write_table(_features(["a"]), d / "features-0.parquet")
    pq.write_table(_features(["b"]), d / "features-1.parquet")
    pq.write_table(_responses([("a", 1, "R"), ("b", 1, "NR")]), d / "responses.parquet")
    assert sorted(load_cohort(d).patient_ids) == ["a", "b"]


def test_unknown_category_names_file_row_and_column(tmp_path):
    d = _write(tmp_path / "c", _features(["a", "b"]), _responses([("a", 1, "R"), ("b", 1, "PR")]))
    with pytest.raises(
        SourceError, match=r"responses.parquet: row 1, column 'category': 'PR' .*CR, R, NR or NE"
    ):
        load_cohort(d)


def test_missing_column_and_file_and_duplicates(tmp_path):
    feats = _features(["a"]).drop_columns(["c3"])
    d = _write(tmp_path / "c", feats, _responses([("a", 1, "R")]))
    with pytest.raises(SourceError, match="features.parquet: missing column"):
        load_cohort(d)
    _write(tmp_path / "e", _features(["a"]), _responses([("a", 1, "R")]))
    (tmp_path / "e" / "responses.parquet").unlink()
    with pytest.raises(SourceError, match="responses.parquet: file not found"):
        load_cohort(tmp_path / "e")
    d = _write(tmp_path / "f", _features(["a", "a"]), _responses([("a", 1, "R")]))
    with pytest.raises(SourceError, match="'a' appears more than once"):
        load_cohort(d)
    with pytest.raises(SourceError, match="not a directory"):
        load_cohort(tmp_path / "absent")
    with pytest.raises(SourceError, match="outcome 'death'"):
        load_cohort(d, outcome="death")


# --- design: missing data and transformations -------------------------------------------------------


def _frame(**cols) -> pd.DataFrame:
    return pd.DataFrame({k: np.array(v, dtype=float) for k, v in cols.items()})


def test_median_imputation_one_indicator_per_missingness_pattern():
    X = _frame(
        c3=[0.5, np.nan, 0.9, 1.3, np.nan, 0.7, 1.1, 0.8, 1.0, 0.6],
        low_c3=[1, np.nan, 0, 0, np.nan, 1, 0, 1, 0, 1],
        hemoglobin=[100, 110, np.nan, 90, 120, 130, 85, np.nan, 105, 98],
        male=[0, 1, 0, 0, 0, 1, 0, 0, 1, 0],
    )
    d = fit_design(X)
    assert [g.predictors for g in d.indicators] == [("c3", "low_c3"), ("hemoglobin",)]  # c3 and low_c3 share
    terms = {t.name: t for t in d.terms}
    assert terms["c3"].impute == pytest.approx(0.85)  # median of 0.5 0.6 0.7 0.8 | 0.9 1.0 1.1 1.3
    assert terms["low_c3"].impute == 1.0  # 1 four times, 0 four times: a tie goes to 1 (mean >= 0.5)
    M = d.matrix(X)
    row = dict(zip(d.columns, M[1], strict=False))
    assert (
        row["c3"] == pytest.approx(0.85)
        and row["missing:c3+low_c3"] == 1.0
        and row["missing:hemoglobin"] == 0.0
    )
    assert "missing:male" not in d.columns  # never missing: no indicator


def test_constant_never_measured_and_collinear_predictors_are_excluded_with_a_reason():
    X = _frame(
        pregnant=[0, 0, 0, 0],
        c3=[np.nan] * 4,
        anti_sm=[1, 0, 1, 0],
        anti_ssa=[1, 0, 1, 0],
        hemoglobin=[90, 100, 110, 95],
    )
    d = fit_design(X)
    reasons = {e["name"]: e["reason"] for e in d.excluded}
    assert reasons["pregnant"].startswith("the same value (0)")
    assert reasons["c3"] == "never measured in this cohort"
    assert "collinear" in reasons["anti_ssa"] or "collinear" in reasons["anti_sm"]
    assert len(d.terms) == 2


def test_numeric_values_are_clipped_to_training_percentiles():
    X = _frame(sii=list(range(1, 1001)))
    d = fit_design(X)
    t = d.terms[0]
    assert t.clip_low == pytest.approx(np.quantile(np.arange(1, 1001), 0.005))
    row = d.row({"sii": 1e9})
    assert row[0] == pytest.approx(t.clip_high)


def test_design_json_round_trip_and_refused_when_inconsistent():
    X = _frame(c3=[0.5, np.nan, 0.9, 1.3], hemoglobin=[100, 110, np.nan, 90])
    d = fit_design(X)
    again = Design.from_json(d.to_json())
    assert again == d
    bad = d.to_json()
    bad["columns"] = ["c3"]
    with pytest.raises(ValueError):
        Design.from_json(bad)


@settings(max_examples=40, deadline=None)
@given(
    st.fixed_dictionaries(
        {
            "c3": st.one_of(st.none(), st.floats(0, 3)),
            "low_c3": st.one_of(st.none(), st.booleans()),
            "hemoglobin": st.one_of(st.none(), st.floats(40, 200)),
        }
    )
)
def test_one_patient_row_equals_the_cohort_matrix_row(values):
    X = _frame(
        c3=[0.5, np.nan, 0.9, 1.3, 0.7], low_c3=[1, np.nan, 0, 0, 1], hemoglobin=[100, 110, np.nan, 90, 80]
    )
    d = fit_design(X)
    frame = pd.DataFrame({k: [np.nan if v is None else float(v)] for k, v in values.items()})
    assert np.array_equal(d.row(values), d.matrix(frame)[0])
