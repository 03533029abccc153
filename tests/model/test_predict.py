"""The bedside prediction, worked by hand on a model with known coefficients; provenance and wording."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit

from sleitp.model import load_model, save_model
from sleitp.model.binary.logistic import LogisticFit
from sleitp.model.design import Design, IndicatorGroup, Term
from sleitp.model.nomogram import nomogram_table, plot_nomogram, probability_from_points
from sleitp.model.predict import TrainedModel
from sleitp.record import parse_record

AT = date(2024, 3, 1)


def hand_model(*, synthetic=True, recalibration=None) -> TrainedModel:
    design = Design(
        terms=(Term("baseline_platelets", "numeric", 30.0, 1.0, 200.0), Term("low_c3", "binary", 0.0)),
        indicators=(IndicatorGroup(("low_c3",)),),
    )
    fit = LogisticFit(
        tuple(design.columns), np.array([0.5, 0.02, -0.6, 0.3]), np.diag([0.04, 0.0001, 0.09, 0.16])
    )
    meta = {
        "name": "hand",
        "kind": "logistic",
        "outcome": "first_line_response",
        "reference": {"baseline_platelets": 40.0, "low_c3": 0.5, "missing:low_c3": 0.2},
        "recalibration": recalibration or {"intercept": 0.0, "slope": 1.0, "method": None},
        "training": {
            "trained_on": "demo-cohort",
            "synthetic": synthetic,
            "n": 1000,
            "events": 600,
            "created": "2026-01-01T00:00:00+00:00",
            "sleitp_version": "0.1.0",
            "optimism_corrected_auc": 0.71,
        },
    }
    return TrainedModel(meta, design, logistic=fit)


def record(with_c3=True, platelets=15):
    labs = [{"date": "2024-03-01", "test": "platelets", "value": platelets, "unit": "10^9/L"}]
    if with_c3:
        labs.append({"date": "2024-02-20", "test": "c3", "value": 0.6, "unit": "g/L"})  # < 0.9 default: low
    return parse_record({"id": "p1", "sex": "female", "age_years": 30, "labs": labs})


def test_probability_interval_and_contributions_worked_by_hand():
    pred = hand_model().predict_one(record(), AT)
    # lp = 0.5 + 0.02 * 15 - 0.6 * 1 + 0.3 * 0 = 0.2
    assert pred.probability == pytest.approx(expit(0.2))
    # var(lp) = x'Vx = 0.04 + 15^2 * 0.0001 + 1 * 0.09 = 0.1525
    se = math.sqrt(0.1525)
    assert pred.interval[0] == pytest.approx(expit(0.2 - 1.959964 * se), rel=1e-5)
    assert pred.interval[1] == pytest.approx(expit(0.2 + 1.959964 * se), rel=1e-5)
    c = {x.name: x for x in pred.contributions}
    assert c["baseline_platelets"].contribution == pytest.approx(0.02 * (15 - 40))
    assert c["baseline_platelets"].value == 15.0
    assert c["low_c3"].contribution == pytest.approx(-0.6 * (1 - 0.5))
    assert c["low_c3"].value is True or c["low_c3"].value == 1.0
    assert c["missing:low_c3"].contribution == pytest.approx(0.3 * (0 - 0.2))
    # contributions + the mean linear predictor (0.5 + 0.8 - 0.3 + 0.06 = 1.06) = this patient's lp
    assert sum(x.contribution for x in pred.contributions) + 1.06 == pytest.approx(0.2)
    assert pred.not_measured == []


def test_a_predictor_not_measured_takes_the_training_rule():
    pred = hand_model().predict_one(record(with_c3=False), AT)
    # low_c3 imputed 0, indicator 1: lp = 0.5 + 0.3 + 0 + 0.3 = 1.1
    assert pred.probability == pytest.approx(expit(1.1))
    assert pred.not_measured == ["low_c3"]
    assert "Not measured for this patient: low_c3" in pred.statement


def test_recalibration_is_applied_on_the_linear_predictor():
    m = hand_model(
        recalibration={
            "intercept": -0.1,
            "slope": 0.5,
            "method": "slope",
            "cohort": "x",
            "n": 10,
            "date": "2026-01-01",
        }
    )
    pred = m.predict_one(record(), AT)
    assert pred.probability == pytest.approx(expit(-0.1 + 0.5 * 0.2))
    assert pred.model.recalibrated.startswith("slope on x")


def test_synthetic_model_says_so_and_a_real_one_does_not():
    synth = hand_model().predict_one(record(), AT)
    assert synth.statement.startswith("DEMONSTRATION ONLY") and "trained on synthetic data" in synth.statement
    assert synth.model.synthetic is True
    real = hand_model(synthetic=False).predict_one(record(), AT)
    assert "synthetic" not in real.statement and "not a prescription" in real.statement


def test_to_json_follows_the_interface():
    j = hand_model().predict_one(record(), AT).to_json()
    assert {"outcome", "probability", "interval", "model", "contributions", "statement"} <= set(j)
    assert {"name", "trained_on", "synthetic"} <= set(j["model"])
    assert all(set(c) == {"name", "value", "contribution"} for c in j["contributions"])
    assert j["outcome"] == "first_line_response" and len(j["interval"]) == 2


def test_saved_and_loaded_hand_model_predicts_the_same(tmp_path):
    save_model(hand_model(), tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.predict_one(record(), AT).probability == pytest.approx(expit(0.2))


@settings(max_examples=40, deadline=None)
@given(st.floats(1, 500), st.booleans())
def test_interval_contains_the_estimate(platelets, with_c3):
    pred = hand_model().predict_one(record(with_c3=with_c3, platelets=platelets), AT)
    assert 0 < pred.interval[0] <= pred.probability <= pred.interval[1] < 1


def test_nomogram_points_map_back_to_the_probability(tmp_path):
    model = hand_model()
    table = nomogram_table(model.design, model.logistic)
    spans = {
        r["column"]: max(t["points"] for t in r["ticks"]) - min(t["points"] for t in r["ticks"])
        for r in table["rows"]
    }
    assert spans["baseline_platelets"] == pytest.approx(100)  # widest: 0.02 x (200 - 1) logits
    # patient: platelets 15, low C3, C3 measured -> points 100/3.98 x 0.02 x 14 + 0 + 0
    total = 100 / (0.02 * 199) * 0.02 * 14
    assert probability_from_points(table, total) == pytest.approx(expit(0.2))
    assert plot_nomogram(model.design, model.logistic, tmp_path / "n.png", title="t").stat().st_size > 1000


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-2, 2), min_size=4, max_size=4), st.floats(0.01, 1.0))
def test_save_load_round_trip_keeps_every_prediction(tmp_path_factory, beta, var):
    model = hand_model()
    model.logistic = LogisticFit(model.logistic.columns, np.array(beta), np.eye(4) * var)
    d = tmp_path_factory.mktemp("rt")
    save_model(model, d / "m")
    loaded = load_model(d / "m")
    for rec in (record(), record(with_c3=False, platelets=250)):
        a, b = model.predict_one(rec, AT), loaded.predict_one(rec, AT)
        assert a.probability == pytest.approx(b.probability, rel=1e-12)
        assert a.interval == pytest.approx(b.interval, rel=1e-12)


# -- issue 10: one index date, and no prediction past first line ------------------------------------------
def treated(*labs, treatments=None, at="2024-03-01"):
    return parse_record({
        "id": "p2", "sex": "female", "age_years": 30, "assessment_date": at,
        "labs": [{"date": d, "test": "platelets", "value": v, "unit": "10^9/L"} for d, v in labs],
        "treatments": [{"agent": "prednisone", "start": "2024-01-05"}] if treatments is None else treatments,
    })


def test_features_are_read_at_the_first_lines_start_not_at_the_assessment_date():
    # line 1 (prednisone) started 8 weeks before the assessment at platelets 12; 140 and 150 since (a CR):
    # the model reads baseline 12 at 2024-01-05, as training did, not the 150 of the assessment date
    rec = treated(("2024-01-05", 12), ("2024-02-20", 140), ("2024-03-01", 150))
    pred = hand_model().predict_one(rec, AT)
    assert pred.index_date == date(2024, 1, 5) and pred.at == AT
    # lp = 0.5 + 0.02 x 12 + low_c3 not measured (imputed 0, indicator 0.3) = 1.04
    assert pred.probability == pytest.approx(expit(1.04))
    assert {c.name: c.value for c in pred.contributions}["baseline_platelets"] == 12.0
    assert "start of the first treatment line (2024-01-05)" in pred.statement
    assert pred.to_json()["index_date"] == "2024-01-05"


@pytest.mark.parametrize(("at", "applies"), [(date(2024, 2, 1), True), (date(2024, 2, 2), False)])
def test_no_prediction_once_line_1_has_failed_on_its_agents_clock(at, applies):
    # prednisone from 2024-01-05, counts 12 / 14 / 15 (NR, the last on day 22: current when the 28 days
    # pass): under evaluation for 27 days -> the model applies; on day 28 line 1 has failed -> not applicable
    from sleitp.model.predict import NotApplicable

    rec = treated(("2024-01-05", 12), ("2024-01-20", 14), ("2024-01-27", 15), at=at.isoformat())
    if applies:
        assert hand_model().predict_one(rec, at).index_date == date(2024, 1, 5)
        return
    with pytest.raises(NotApplicable) as e:
        hand_model().predict_one(rec, at)
    assert e.value.reason == "past_first_line" and e.value.index_date == date(2024, 1, 5)
    assert e.value.statement.startswith("Not applicable: the patient is past first line")
    assert e.value.to_json()["applicable"] is False


def test_no_prediction_once_line_2_has_started():
    from sleitp.model.predict import NotApplicable

    rec = treated(("2024-01-05", 12), ("2024-01-12", 40), treatments=[
        {"agent": "prednisone", "start": "2024-01-05"}, {"agent": "eltrombopag", "start": "2024-01-20"}])
    with pytest.raises(NotApplicable, match="line 2 \\(eltrombopag\\) started on 2024-01-20"):
        hand_model().predict_one(rec, AT)


def test_training_refuses_features_not_read_at_line_1s_start(tmp_path):
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from sleitp.errors import SourceError
    from sleitp.model.dataset import load_cohort
    from sleitp.model.simulate import write_cohort

    d = write_cohort(tmp_path / "c", 40, seed=1)
    assert load_cohort(d).n > 0  # index_date == line 1's start: accepted
    f = pq.read_table(d / "features.parquet")
    moved = pc.add(f["index_date"].cast("timestamp[s]"), pa_day()).cast(f.schema.field("index_date").type)
    pq.write_table(f.set_column(f.schema.get_field_index("index_date"), "index_date", moved),
                   d / "features.parquet")
    with pytest.raises(SourceError, match="must be read at line 1's start"):
        load_cohort(d)


def pa_day():
    import pyarrow as pa

    return pa.scalar(86400, pa.duration("s"))
