"""Model updating on a new site (issue #16 item 2): intercept, slope, refit, prior, closed testing."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.special import expit, logit

from sleitp.errors import ModelError
from sleitp.model import load_model, train
from sleitp.model.binary.logistic import fit_irls
from sleitp.model.binary.updating import closed_test, update
from sleitp.model.dataset import load_cohort
from sleitp.model.simulate import write_cohort


def _shift_site(d, shift: float, seed: int):
    """Re-draw a simulated cohort's outcomes with its true log-odds shifted by ``shift`` (another site)."""
    truth = pq.read_table(d / "truth.parquet").to_pandas()
    resp = pq.read_table(d / "responses.parquet").to_pandas()
    rng = np.random.default_rng(seed)
    p = expit(logit(truth["p_first_line_response"].to_numpy()) + shift)
    y = rng.random(len(p)) < p
    resp["category"] = np.where(resp["category"] == "NE", "NE", np.where(y, "CR", "NR"))
    pq.write_table(pa.Table.from_pandas(resp, preserve_index=False), d / "responses.parquet")
    return d


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    root = tmp_path_factory.mktemp("upd")
    dev = write_cohort(root / "dev", 1200, seed=31)
    same = write_cohort(root / "same", 400, seed=32)
    shifted = _shift_site(write_cohort(root / "shifted", 1500, seed=33), -1.5, 7)
    train(dev, bootstrap=0, out=root / "model")
    return load_model(root / "model"), same, shifted


def test_closed_test_chooses_the_least_extensive_update_not_rejected():
    ll = {"original": -100.0, "intercept": -99.9, "slope": -99.8, "refit": -95.0}
    chosen, steps = closed_test(ll, p=20)
    assert chosen == "original" and steps[0]["df"] == 21 and not steps[0]["rejected"]
    ll = {"original": -160.0, "intercept": -101.0, "slope": -99.0, "refit": -95.0}
    chosen, steps = closed_test(ll, p=5)  # LR 12 on 5 df (p 0.035), then LR 8 on 4 df (p 0.09)
    assert [s["candidate"] for s in steps] == ["original", "intercept", "slope"]
    assert steps[0]["rejected"] and steps[1]["rejected"] and chosen == "slope"
    ll = {"original": -160.0, "intercept": -150.0, "slope": -140.0, "refit": -95.0}
    assert closed_test(ll, p=5)[0] == "refit"
    # revision separated: the procedure runs among the recalibrations, against slope
    ll = {"original": -120.0, "intercept": -104.0, "slope": -103.5, "refit": -1e-6}
    chosen, steps = closed_test(ll, p=20, revision_estimable=False)
    assert chosen == "intercept" and [s["against"] for s in steps] == ["slope", "slope"]
    assert steps[0]["df"] == 2 and steps[0]["rejected"] and not steps[1]["rejected"]


def test_intercept_and_slope_are_the_recalibrations(setting, tmp_path):
    model, _, shifted = setting
    m1, r1 = update(model, shifted, method="intercept", out=tmp_path / "i")
    assert r1.method == "intercept" and m1.meta["recalibration"]["method"] == "intercept"
    ds = load_cohort(shifted)
    # recalibration in the large: mean predicted = observed rate on the update cohort
    assert m1.predict_proba(ds.X).mean() == pytest.approx(ds.y.mean(), abs=0.01)
    m2, _ = update(model, shifted, method="slope")
    assert m2.meta["recalibration"]["method"] == "slope"


def test_refit_and_prior_updates_write_new_coefficients(setting, tmp_path):
    model, _, shifted = setting
    ds = load_cohort(shifted)
    M = model.design.matrix(ds.X)
    refit, r = update(model, shifted, method="refit", out=tmp_path / "r")
    ml, _ = fit_irls(M, ds.y.astype(float))
    np.testing.assert_allclose(refit.logistic.beta, ml, atol=1e-6)
    assert refit.design.columns == model.design.columns  # the bedside rule (design) is kept
    saved = load_model(tmp_path / "r")
    np.testing.assert_allclose(saved.predict_proba(ds.X), refit.predict_proba(ds.X), atol=1e-12)
    assert json.loads((tmp_path / "r" / "card.json").read_text())["updating"]["method"] == "refit"
    prior, rp = update(model, shifted, method="prior", out=tmp_path / "p")
    assert prior.kind == "logistic-prior" and rp.method == "prior"
    b_old, b_ml, b_prior = model.logistic.beta[1:], ml[1:], prior.logistic.beta[1:]
    # shrinkage towards the old model: closer to it than maximum likelihood, overall
    assert np.sum((b_prior - b_old) ** 2) < np.sum((b_ml - b_old) ** 2)
    # a very wide prior is the refit
    wide, _ = update(model, shifted, method="prior", heterogeneity=1e4)
    np.testing.assert_allclose(wide.logistic.beta, ml, atol=1e-3)


def test_closed_test_on_cohorts_with_known_differences(setting, tmp_path):
    model, same, shifted = setting
    _, r_same = update(model, same, method="closed-test", out=tmp_path / "s")
    assert r_same.method in ("original", "intercept")  # the same world: no revision needed
    _, r_shift = update(model, shifted, method="closed-test", out=tmp_path / "t")
    assert r_shift.method != "original"  # a 1.5 log-odds shift is found in 1,500 patients
    assert r_shift.tests[0]["rejected"]


def test_closed_test_in_a_small_cohort_keeps_a_simple_update(setting, tmp_path):
    model, _, shifted = setting
    small = write_cohort(tmp_path / "small", 90, seed=41)  # ~20 columns, ~60 events: revision separates
    _, r = update(model, small, method="closed-test", out=tmp_path / "o")
    assert r.method in ("original", "intercept", "slope")
    with pytest.raises(ModelError, match="does not converge"):
        update(model, small, method="refit")
    prior, _ = update(model, small, method="prior")  # the old model as prior: always estimable
    assert np.all(np.isfinite(prior.logistic.beta))


def test_update_errors(setting, tmp_path):
    model, same, _ = setting
    with pytest.raises(ModelError, match="--update must be"):
        update(model, same, method="everything")
    with pytest.raises(ModelError, match="alpha"):
        update(model, same, method="closed-test", alpha=2)


def test_cli_update_json(setting, tmp_path):
    from typer.testing import CliRunner

    from sleitp.cli import app

    model, _, shifted = setting
    r = CliRunner().invoke(app, ["validate", str(model.source_dir), str(shifted), "--update", "closed-test",
                                 "--out", str(tmp_path / "u"), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["updated"]["requested"] == "closed-test"
    assert out["updated"]["closed_test"][0]["candidate"] == "original"
    r = CliRunner().invoke(app, ["validate", str(model.source_dir), str(shifted), "--update", "refit"])
    assert r.exit_code != 0 and "--out" in str(r.exception)
