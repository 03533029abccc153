"""The printable report: its content (alerts on top, options with citations, reference list, the plot,
the statement of what the tool is), not only that a file exists; the PDF renders; the CLI writes both."""

import base64
import json
import re
import subprocess
import sys
from html.parser import HTMLParser

import pytest

from sleitp.decision import assess
from sleitp.record import load_record, parse_record
from sleitp.report import render_html, render_pdf, trajectory_png
from tests.conftest import ROOT, SPEC_EXAMPLES

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


def with_sle(path) -> dict:
    """A contract example given an SLE diagnosis date, so that it is in scope (docs/cli.md "Scope")."""
    return {**json.loads(path.read_text()), "sle_diagnosis_date": "2020-01-01"}


def sle_file(path, tmp_path):
    out = tmp_path / path.name
    out.write_text(json.dumps(with_sle(path)))
    return out


@pytest.fixture(scope="module")
def emergency():
    return assess(parse_record(with_sle(SPEC_EXAMPLES / "assess_gi_bleed.json")))


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
    # rituximab held its response for > 6 months before the relapse: retreatment, not a failure [WEI2016]
    assert "retreatment" in text and "failed: line 2" not in text


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
            str(sle_file(CASES / "pregnancy_second_line.json", tmp_path)),
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
        [sys.executable, "-m", "sleitp", "assess",
         str(sle_file(SPEC_EXAMPLES / "assess_gi_bleed.json", tmp_path))],
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
    a = assess(parse_record(with_sle(SPEC_EXAMPLES / "assess_newly_diagnosed.json")), model=_Model())
    _, text = parse(render_html(a))
    assert "0.41" in text and "logistic-demo" in text and "SYNTHETIC training data" in text
    assert "trained on synthetic data" in text  # the warning sentence
    # predictor names and booleans in words, not model column names and Python's True
    assert "Low complement C3 = yes (-0.31)" in text and "Neutrophil/lymphocyte ratio = not measured" in text
    assert "True" not in text and "low_c3" not in text
    assert "no model was given" not in text


# -- scope, data age, mapping report, warnings; no internal notes (issue 15) ---------------------------------
def test_an_out_of_scope_record_shows_why_and_no_options():
    # platelets 378 and no SLE (the Synthea patient of issue 15): neither thrombocytopenia nor SLE
    a = assess(parse_record({"id": "OUT", "assessment_date": "2024-03-01", "labs": [
        {"date": "2024-03-01", "test": "platelets", "value": 378, "unit": "10^9/L"}]}))
    html = render_html(a)
    p, text = parse(html)
    assert "scope" in p.ids and "Out of scope" in text
    assert "no platelet count < 100 x10^9/L and no ITP diagnosis date" in text
    assert "no SLE diagnosis date and neither EULAR/ACR 2019 nor SLICC 2012 classification met" in text
    assert "Options (ranked)" not in text and "No prediction is given" in text


def test_the_data_age_is_stated_and_a_stale_count_says_needs_a_current_count():
    rec = with_sle(SPEC_EXAMPLES / "assess_gi_bleed.json")
    _, fresh = parse(render_html(assess(parse_record(rec))))
    assert "Data age: the latest platelet count is 0 days old (2024-06-01)" in fresh
    _, stale = parse(render_html(assess(parse_record({**rec, "assessment_date": "2024-06-09"}))))
    assert "Needs a current count." in stale and "8 days old" in stale


def test_the_fhir_mapping_report_is_shown_per_reason():
    from sleitp.fhir._report import MappingReport

    m = MappingReport()
    m.map("Observation")
    m.skip("Observation: LOINC code not in the sleitp vocabulary", "Observation/x")
    m.skip("Observation: LOINC code not in the sleitp vocabulary")
    p, text = parse(render_html(assess(parse_record(with_sle(SPEC_EXAMPLES / "assess_gi_bleed.json"))),
                                mapping=m))
    assert "fhir-mapping" in p.ids
    assert "not used: Observation: LOINC code not in the sleitp vocabulary 2" in text


def test_the_report_carries_no_internal_notes(emergency):
    html = render_html(emergency)
    assert "(read in:" not in html and "clinical.md" not in html
    assert "--model" not in render_html(emergency, service=True)
