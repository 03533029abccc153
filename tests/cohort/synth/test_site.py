"""Site heterogeneity of the synthetic world (issue #16 item 3): `synth --site S --heterogeneity TAU`."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from sleitp.cli import app
from sleitp.cohort.synth import params as P
from sleitp.cohort.synth import truth as M
from sleitp.cohort.synth.generate import SynthError, draw_patients, synthesize

PUBLISHED = {t.feature: t.coefficient for t in M.TERMS}


def test_heterogeneity_zero_is_the_published_model_for_any_site():
    for site in (None, 0, 3):
        e = M.site_effects(site, 0.0)
        assert e.intercept == M.INTERCEPT
        assert e.coefficients == PUBLISHED


def test_a_site_is_reproducible_and_sites_differ():
    a, b, c = M.site_effects(3, 0.3), M.site_effects(3, 0.3), M.site_effects(4, 0.3)
    assert a == b
    assert a.coefficients != c.coefficients
    # the direction of a site's deviations is kept when TAU changes: the deviations scale with TAU
    d = M.site_effects(3, 0.6)
    for f in PUBLISHED:
        assert d.coefficients[f] - PUBLISHED[f] == pytest.approx(2 * (a.coefficients[f] - PUBLISHED[f]))
    assert d.intercept - M.INTERCEPT == pytest.approx(2 * (a.intercept - M.INTERCEPT))


def test_the_spread_across_sites_is_tau_on_the_stated_scale():
    tau = 0.4
    devs = {f: [] for f in PUBLISHED}
    for s in range(600):
        e = M.site_effects(s, tau)
        for f in PUBLISHED:
            devs[f].append((e.coefficients[f] - PUBLISHED[f]) * M.TERM_SD.get(f, 1.0))
    for f, v in devs.items():
        assert np.std(v) == pytest.approx(tau, rel=0.12), f
    # numeric terms are scaled by the generator's population SD (per SD, not per unit)
    assert M.TERM_SD["c3"] == P.C3_SD and M.TERM_SD["age_years"] == P.AGE_SD


def test_bad_site_arguments_are_errors(tmp_path):
    with pytest.raises(ValueError, match="needs a site"):
        M.site_effects(None, 0.3)
    with pytest.raises(ValueError, match=">= 0"):
        M.site_effects(1, -0.1)
    with pytest.raises(SynthError, match="--site/--heterogeneity"):
        synthesize(10, 1, tmp_path / "x", jsonl=False, heterogeneity=0.3)
    r = CliRunner().invoke(app, ["synth", "--patients", "10", "--seed", "1", "--out", str(tmp_path / "y"),
                                 "--heterogeneity", "0.3"])
    assert r.exit_code != 0
    assert "Traceback" not in r.output


def test_heterogeneity_zero_keeps_every_file_identical(tmp_path):
    synthesize(300, 5, tmp_path / "plain", jsonl=False)
    synthesize(300, 5, tmp_path / "site", jsonl=False, site=9, heterogeneity=0.0)
    for f in ("truth.parquet", "truth_lines.parquet"):
        assert (tmp_path / "plain" / f).read_bytes() == (tmp_path / "site" / f).read_bytes()
    for part in sorted((tmp_path / "plain" / "tables").iterdir()):
        assert part.read_bytes() == (tmp_path / "site" / "tables" / part.name).read_bytes()
    assert not (tmp_path / "plain" / "site.json").exists()


def test_two_cohorts_of_one_site_share_its_true_model(tmp_path):
    s1 = synthesize(400, 1, tmp_path / "a", jsonl=False, site=5, heterogeneity=0.5)
    synthesize(400, 2, tmp_path / "b", jsonl=False, site=5, heterogeneity=0.5)
    ja = json.loads((tmp_path / "a" / "site.json").read_text())
    jb = json.loads((tmp_path / "b" / "site.json").read_text())
    assert ja == jb and ja["site"] == 5 and ja["heterogeneity"] == 0.5
    assert s1.site == 5 and s1.heterogeneity == 0.5
    eff = M.site_effects(5, 0.5)
    assert ja["coefficients"] == eff.coefficients
    # truth.parquet holds the site's probabilities: recomputed from the generator's own stream
    pts = draw_patients(np.random.default_rng(np.random.SeedSequence(1).spawn(1)[0]), 400)
    truth = pq.read_table(tmp_path / "a" / "truth.parquet").to_pandas()
    np.testing.assert_allclose(truth["p_first_line_response_latent"], M.probability(pts, eff), atol=1e-12)
    rec = M.probability_given_record(
        pts,
        {"megakaryocytes_below_20": pts["mk_measured"], "anti_tpo_receptor": pts["tpor_measured"]},
        {"megakaryocytes_below_20": P.MK_BELOW_20_SHARE, "anti_tpo_receptor": P.ANTI_TPOR_SHARE},
        eff,
    )
    np.testing.assert_allclose(truth["p_first_line_response"], rec, atol=1e-12)
    # ... and they differ from the published model's
    assert not np.allclose(truth["p_first_line_response_latent"], M.probability(pts))
