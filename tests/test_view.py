"""Result objects draw themselves (sleitp.view): the CLI prints exactly the object's own view."""

from __future__ import annotations

import os

from typer.testing import CliRunner

from sleitp.cli import app
from sleitp.decision import WHAT_THIS_IS, assess
from sleitp.inputs import read_patient
from sleitp.record import parse_record
from sleitp.score import score
from tests.conftest import ROOT

EXAMPLE = ROOT / "examples" / "01_newly_diagnosed_wet_purpura.json"


def _cli(*args: str, width: int) -> str:
    os.environ["COLUMNS"] = str(width)
    try:
        res = CliRunner().invoke(app, list(args))
    finally:
        del os.environ["COLUMNS"]
    assert res.exit_code == 0, res.output
    return res.output


def test_the_score_command_prints_the_report_s_own_summary():
    report = score(read_patient(EXAMPLE).record)
    text = report.summary(width=100)
    assert "Platelets and ITP" in text and "Treatment lines and IWG response" in text
    assert _cli("score", str(EXAMPLE), width=100) == text


def test_the_assess_command_prints_the_assessment_s_own_summary():
    a = assess(read_patient(EXAMPLE).record)
    text = a.summary(width=100)
    assert text.index("ALERT") < text.index("Platelets and ITP") < text.index("Options - setting")
    assert " ".join(text.split()).endswith(" ".join(WHAT_THIS_IS.split()))  # the statement closes the view
    assert _cli("assess", str(EXAMPLE), width=100) == text


def test_an_out_of_scope_assessment_draws_the_banner_and_no_options():
    rec = parse_record({"id": "x", "sex": "female", "age_years": 40, "assessment_date": "2024-01-10",
                        "labs": [{"date": "2024-01-10", "test": "platelets", "value": 250,
                                  "unit": "10*9/L"}]})
    text = assess(rec).summary()
    assert "OUT OF SCOPE" in text and "Options - setting" not in text and "Predictor profile" not in text


def test_to_html_is_a_page_of_the_same_view():
    html = score(read_patient(EXAMPLE).record).to_html()
    assert html.lstrip().lower().startswith("<!doctype html>") and "Platelets and ITP" in html
