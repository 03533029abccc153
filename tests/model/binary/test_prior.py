"""Literature-informed logistic models (issue #16 item 1): priors from the evidence base, the penalised fit,
the bootstrap, the card and the saved model."""

import json
import math

import numpy as np
import pytest

from sleitp.errors import ModelError
from sleitp.evidence import load_evidence
from sleitp.model import load_model, train
from sleitp.model.binary.logistic import fit_irls
from sleitp.model.binary.prior import PRIOR_HETEROGENEITY, PUBLISHED_EFFECTS, build_priors, fit_with_prior
from sleitp.model.simulate import write_cohort


def _predictors_yaml() -> dict:
    import yaml

    from sleitp.evidence import _loader

    path = _loader.__file__.replace("_loader.py", "predictors.yaml")
    return {p["name"]: p for p in yaml.safe_load(open(path, encoding="utf-8"))["predictors"]}


def test_every_published_effect_is_read_from_its_evidence_entry():
    entries = _predictors_yaml()
    refs = set(load_evidence().references)
    for e in PUBLISHED_EFFECTS:
        entry = entries[e.evidence]
        assert entry["reads"] in (e.column, "low_c3")  # Zheng's C3 OR sits in the low_c3 entry's text
        if e.ci is not None:
            for number in (e.odds_ratio, *e.ci):
                assert f"{number:g}" in entry["effect"], (e.column, number)
        for key in e.source.split():
            assert key in refs


def test_standard_errors_come_from_the_published_intervals():
    nlr = next(e for e in PUBLISHED_EFFECTS if e.column == "nlr")
    assert nlr.se == pytest.approx((math.log(3.33) - math.log(1.18)) / (2 * 1.959964), rel=1e-6)
    assert nlr.log_or == pytest.approx(math.log(1.982))
    mk = next(e for e in PUBLISHED_EFFECTS if e.column == "megakaryocytes_below_20")
    # the 2x2 table reproduces the published sensitivity 88% (22/25) and specificity 70% (7/10)
    assert 22 / 25 == pytest.approx(0.88) and 7 / 10 == pytest.approx(0.70)
    assert mk.odds_ratio == pytest.approx(9 / 154)
    assert mk.se == pytest.approx(math.sqrt(1 / 3 + 1 / 7 + 1 / 22 + 1 / 3))


def test_prior_sds_add_the_heterogeneity_on_the_stated_scale():
    rng = np.random.default_rng(0)
    M = np.column_stack([rng.random(500) < 0.3, rng.normal(2.5, 0.6, 500), rng.normal(0, 3, 500)])
    cols = ["megakaryocytes_below_20", "nlr", "hemoglobin"]
    pri = {p.column: p for p in build_priors(cols, M, heterogeneity=0.5, weak=1.0)}
    mk = next(e for e in PUBLISHED_EFFECTS if e.column == "megakaryocytes_below_20")
    nlr = next(e for e in PUBLISHED_EFFECTS if e.column == "nlr")
    assert pri["megakaryocytes_below_20"].sd == pytest.approx(math.sqrt(mk.se**2 + 0.5**2))
    assert pri["nlr"].sd == pytest.approx(math.sqrt(nlr.se**2 + (0.5 / M[:, 1].std()) ** 2))
    assert pri["hemoglobin"].kind == "weak" and pri["hemoglobin"].mean == 0.0
    assert pri["hemoglobin"].sd == pytest.approx(1.0 / M[:, 2].std())
    cv = {p.column: p for p in build_priors(cols, M, weak="cv")}
    assert cv["hemoglobin"].sd is None and cv["nlr"].kind == "published"
    with pytest.raises(ValueError):
        build_priors(cols, M, heterogeneity=-1)


def test_gaussian_prior_in_irls_is_the_posterior_mode():
    rng = np.random.default_rng(1)
    M = rng.normal(size=(300, 3))
    y = (rng.random(300) < 1 / (1 + np.exp(-(0.3 + M @ [1.0, -0.5, 0.0])))).astype(float)
    mean, prec = np.array([2.0, 0.0, -1.0]), np.array([4.0, 1.0, 0.5])
    b, _ = fit_irls(M, y, prior_mean=mean, prior_precision=prec)
    mu = 1 / (1 + np.exp(-(b[0] + M @ b[1:])))
    X = np.column_stack([np.ones(300), M])
    grad = X.T @ (y - mu) - np.r_[0.0, prec * (b[1:] - mean)]
    np.testing.assert_allclose(grad, 0, atol=1e-6)  # the stationarity condition of the log posterior
    # a very tight prior pins the coefficients; no prior is maximum likelihood
    tight, _ = fit_irls(M, y, prior_mean=mean, prior_precision=np.full(3, 1e9))
    np.testing.assert_allclose(tight[1:], mean, atol=1e-5)
    ml, _ = fit_irls(M, y)
    none, _ = fit_irls(M, y, prior_mean=mean, prior_precision=np.zeros(3))
    np.testing.assert_allclose(none, ml, atol=1e-8)


def test_fit_with_prior_reports_prior_data_and_posterior():
    rng = np.random.default_rng(2)
    n = 200
    M = np.column_stack([rng.random(n) < 0.3, rng.normal(2.5, 0.6, n), rng.normal(0, 1, n)])
    y = (rng.random(n) < 1 / (1 + np.exp(-(1.0 - 2.5 * M[:, 0] + 0.5 * (M[:, 1] - 2.5))))).astype(float)
    fit, summary = fit_with_prior(M, y, ["megakaryocytes_below_20", "nlr", "hemoglobin"], weak=1.0)
    rows = {r["term"]: r for r in summary.table()}
    assert set(rows) == {"megakaryocytes_below_20", "nlr", "hemoglobin"}
    for r in rows.values():
        assert r["prior_sd"] > 0 and r["posterior_sd"] > 0
        # with a normal prior and a near-normal likelihood the posterior lies between the two
        lo, hi = sorted((r["prior_mean"], r["data_only"]))
        assert lo - 0.05 <= r["posterior"] <= hi + 0.05
        assert r["posterior_sd"] < r["prior_sd"]
    assert summary.to_json()["heterogeneity"] == PRIOR_HETEROGENEITY
    assert fit.beta[1] == rows["megakaryocytes_below_20"]["posterior"]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return write_cohort(tmp_path_factory.mktemp("prior") / "dev", 160, seed=21)


def test_train_with_the_literature_prior_end_to_end(small, tmp_path):
    m = train(small, prior="literature", bootstrap=8, seed=1, out=tmp_path / "m")
    assert m.kind == "logistic-prior" and m.name == "first_line_response-logistic-prior"
    card = json.loads((tmp_path / "m" / "card.json").read_text())
    assert card["prior"]["weak_prior"] == "cv"
    terms = [r["term"] for r in card["prior"]["coefficients"]]
    assert terms == m.design.columns
    kinds = {r["term"]: r["prior_kind"] for r in card["prior"]["coefficients"]}
    assert kinds["c3"] == kinds["nlr"] == kinds["megakaryocytes_below_20"] == "published"
    assert card["optimism_corrected_auc"] is not None
    assert "literature-informed" in next(t["text"] for t in card["tripod"] if t["item"] == "10a-b")
    assert "Literature prior" in (tmp_path / "m" / "card.html").read_text()
    loaded = load_model(tmp_path / "m")
    assert loaded.kind == "logistic-prior"
    from sleitp.model.dataset import load_cohort

    ds = load_cohort(small)
    np.testing.assert_allclose(loaded.predict_proba(ds.X), m.predict_proba(ds.X), atol=1e-12)
    weak = train(small, prior="literature", prior_weak=1.0, prior_heterogeneity=0.2, bootstrap=0)
    assert weak.card["prior"]["weak_prior"] == 1.0 and weak.card["prior"]["heterogeneity"] == 0.2


def test_prior_option_errors(small):
    with pytest.raises(ModelError, match="--method"):
        train(small, prior="literature", method="logistic-l2", bootstrap=0)
    with pytest.raises(ModelError, match="--prior-weak"):
        train(small, prior="literature", prior_weak="wide", bootstrap=0)
    with pytest.raises(ModelError, match="need --prior"):
        train(small, prior_heterogeneity=0.3, bootstrap=0)
    with pytest.raises(ModelError, match="not one of"):
        train(small, prior="expert", bootstrap=0)
    with pytest.raises(ModelError, match="Cox"):
        train(small, outcome="time_to_response", prior="literature", bootstrap=0)
