"""The printable report: its content (alerts on top, options with citations, reference list, the plot,
the statement of what the tool is), not only that a file exists; the PDF renders; the CLI writes both."""

import base64
import re
import subprocess
import sys
from html.parser import HTMLParser

import pytest

from sleitp.decision import assess
from sleitp.record import load_record
from sleitp.report import render_html, render_pdf, trajectory_png

from .conftest import ROOT, SPEC_EXAMPLES

CASES = ROOT / "tests" / "cases"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class _Text(HTMLParser):
    """The visible text of a page, and its images and anchors."""

    def __init__(self):
        super().__init__()
        self.text, self.images, self.ids, self.links = [], [], set(), []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images.append(a.get("src", ""))
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and a.get("href", "").startswith("#"):
            self.links.append(a["href"][1:])

    def handle_data(self, data):
        self.text.append(data)


def parse(html):
    p = _Text()
    p.feed(html)
    return p, re.sub(r"\s+", " ", " ".join(p.text))


@pytest.fixture(scope="module")
def emergency():
    return assess(load_record(SPEC_EXAMPLES / "assess_gi_bleed.json"))


@pytest.fixture(scope="module")
def refractory():
    return assess(load_record(ROOT / "examples" / "05_aps_thrombosis_relapsed.json"))


def test_alerts_come_first_and_name_the_emergency(emergency):
    html = render_html(emergency)
    _, text = parse(html)
    assert "Severe gastrointestinal bleeding" in text
    assert text.index("Alerts") < text.index("Summary") < text.index("Options")
    assert "platelet transfusion must not be postponed" in text


def test_options_are_listed_in_rank_order_with_their_rationale(emergency):
    _, text = parse(render_html(emergency))
    positions = [text.index(o.therapy) for o in emergency.recommendations]
    assert positions == sorted(positions)
    for o in emergency.recommendations:
        assert o.rationale in text


def test_every_citation_links_to_an_entry_of_the_reference_list(refractory):
    p, text = parse(render_html(refractory))
    assert p.links, "no citation links"
    for anchor in p.links:  # every [KEY] link lands on an entry of the reference list
        assert anchor.startswith("ref-") and anchor in p.ids, anchor
    for o in refractory.recommendations:
        for k in o.all_references:
            assert f"ref-{k}" in p.ids
    assert "Bonfá E" in text  # a reference list entry with its authors


def test_contraindications_cautions_and_demotions_are_shown(refractory):
    _, text = parse(render_html(refractory))
    assert "ranked lower: thrombotic risk" in text
    assert "failed: line 2" in text  # rituximab lost its response


def test_the_plot_is_embedded_as_a_png(refractory):
    p, _ = parse(render_html(refractory))
    uris = [s for s in p.images if s.startswith("data:image/png;base64,")]
    assert len(uris) == 1
    png = base64.b64decode(uris[0].split(",", 1)[1])
    assert png.startswith(PNG_MAGIC) and len(png) > 10_000


def test_plot_draws_without_counts_or_treatments():
    rec = load_record(SPEC_EXAMPLES / "assess_gi_bleed.json")
    assert trajectory_png(rec, rec.effective_assessment_date, []).startswith(PNG_MAGIC)


def test_statement_of_what_the_tool_is_and_no_model_sentence(emergency):
    _, text = parse(render_html(emergency))
    assert "Decision support, not a prescription" in text
    assert "no model was given" in text


def test_scores_and_profile_are_in_the_report(refractory):
    _, text = parse(render_html(refractory))
    assert "SLEDAI-2K =" in text and "EULAR/ACR" in text and "SLICC 2012" in text
    assert "Predictor profile" in text and "aOR 13.628" in text
    assert "Treatment lines and IWG response" in text and "CR (complete response)" in text


def test_patient_text_is_escaped(tmp_path):
    rec = load_record(SPEC_EXAMPLES / "assess_gi_bleed.json").model_copy(update={"id": "<script>x</script>"})
    html = render_html(assess(rec))
    assert "<script>x</script>" not in html and "&lt;script&gt;" in html


def test_pdf_renders(tmp_path, emergency):
    out = render_pdf(emergency, tmp_path / "r.pdf")
    data = out.read_bytes()
    assert data.startswith(b"%PDF-") and b"%%EOF" in data[-1024:]
    assert len(data) > 40_000  # the embedded plot and several pages of tables: a full report, not a stub


def test_cli_writes_html_and_json(tmp_path):
    html = tmp_path / "r.html"
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "sleitp",
            "assess",
            str(CASES / "pregnancy_second_line.json"),
            "--json",
            "--html",
            str(html),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    assert '"recommendations"' in p.stdout
    _, text = parse(html.read_text())
    assert "CONTRAINDICATED" in text and "mycophenolate" in text


def test_cli_readable_output_says_no_model(tmp_path):
    p = subprocess.run(
        [sys.executable, "-m", "sleitp", "assess", str(SPEC_EXAMPLES / "assess_gi_bleed.json")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={"COLUMNS": "160", "PATH": ""},
    )
    assert p.returncode == 0, p.stderr
    assert "ALERT" in p.stdout and "no model was given" in p.stdout and "platelet_transfusion" in p.stdout


def test_cli_bad_report_path_is_a_clear_error(tmp_path):
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "sleitp",
            "assess",
            str(SPEC_EXAMPLES / "assess_gi_bleed.json"),
            "--html",
            str(tmp_path / "missing-dir" / "r.html"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert p.returncode == 2 and "cannot write the report" in p.stderr and "Traceback" not in p.stderr


class _Prediction:
    def to_json(self):
        return {
            "outcome": "first_line_response",
            "probability": 0.41,
            "interval": [0.3, 0.52],
            "model": {"name": "logistic-demo", "trained_on": "synthetic cohort seed 1", "synthetic": True},
            "contributions": [
                {"name": "low_c3", "value": True, "contribution": -0.31},
                {"name": "nlr", "value": None, "contribution": None},
            ],
            "statement": "Estimated probability that the first line reaches R or CR: 41%.",
        }


class _Model:
    def predict_one(self, record, at):
        return _Prediction()


def test_prediction_provenance_and_synthetic_warning_are_printed():
    a = assess(load_record(SPEC_EXAMPLES / "assess_newly_diagnosed.json"), model=_Model())
    _, text = parse(render_html(a))
    assert "0.41" in text and "logistic-demo" in text and "SYNTHETIC training data" in text
    assert "trained on synthetic data" in text  # the warning sentence
    assert "low_c3 = True (-0.31)" in text and "nlr = not measured" in text
    assert "no model was given" not in text
