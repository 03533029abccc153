"""The command line as a user meets it: exit codes, JSON on stdout, errors without tracebacks."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, SHARED, SPEC_EXAMPLES

SLEITP = [sys.executable, "-m", "sleitp"]


def run(*args, **kw):
    return subprocess.run([*SLEITP, *map(str, args)], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          **kw)


def test_help_lists_the_commands():
    p = run("--help")
    assert p.returncode == 0
    for cmd in ("score", "assess", "schema", "synth", "cohort", "train", "validate", "serve"):
        assert cmd in p.stdout, cmd


def test_schema_prints_json_schema():
    p = run("schema")
    assert p.returncode == 0
    assert json.loads(p.stdout)["title"].startswith("sleitp patient record")


@pytest.mark.parametrize("content,mentions", [
    ("{not json", ["not valid JSON", "line 1"]),
    (json.dumps({"id": "X", "labs": [{"date": "2024-01-01", "test": "c3", "value": 0.5, "unit": "mmol"}]}),
     ["'X'", "labs[0].unit", "c3"]),
    (json.dumps({"id": "X",
                 "labs": [{"date": "2024-01-01", "test": "platelets", "value": -4, "unit": "10^9/L"}]}),
     ["labs[0].value", "platelets"]),
    (json.dumps({"labs": []}), ["id", "required"]),
    (json.dumps({"id": "X",
                 "labs": [{"date": "01/02/2024", "test": "platelets", "value": 4, "unit": "10^9/L"}]}),
     ["labs[0].date", "YYYY-MM-DD"]),
    (json.dumps({"id": "X", "labs": [{"date": "2024-01-01", "test": "plt", "value": 4, "unit": "10^9/L"}]}),
     ["unknown test 'plt'"]),
])
def test_bad_input_is_one_clear_paragraph(tmp_path, content, mentions):
    f = tmp_path / "bad.json"
    f.write_text(content)
    for command in ("score", "assess"):
        p = run(command, f, "--json")
        assert p.returncode == 2, p.stderr
        assert "Traceback" not in p.stderr
        assert p.stdout == ""
        for m in mentions:
            assert m in p.stderr, (m, p.stderr)


def test_missing_file_and_bad_date_option(tmp_path):
    p = run("score", tmp_path / "nope.json")
    assert p.returncode == 2 and "file not found" in p.stderr and "Traceback" not in p.stderr
    p = run("score", SPEC_EXAMPLES / "sledai_basic.json", "--at", "yesterday")
    assert p.returncode == 2 and "--at" in p.stderr and "Traceback" not in p.stderr


def test_score_json_follows_the_contract():
    p = run("score", SPEC_EXAMPLES / "iwg_response.json", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    for key in ("patient_id", "assessment_date", "platelets", "itp", "sledai_2k", "eular_acr_2019",
                "slicc_2012", "bleeding", "glucocorticoids", "responses"):
        assert key in out
    assert out["responses"][0]["category"] == "R"


def test_score_tables_are_readable():
    p = run("score", SPEC_EXAMPLES / "sledai_basic.json")
    assert p.returncode == 0, p.stderr
    assert "SLEDAI-2K = 7" in p.stdout and "EX-1" in p.stdout


def test_score_at_an_earlier_date_ignores_later_findings():
    p = run("score", SPEC_EXAMPLES / "sledai_basic.json", "--at", "2024-01-15", "--json")
    out = json.loads(p.stdout)
    assert out["assessment_date"] == "2024-01-15" and out["sledai_2k"]["score"] == 0


def test_the_public_contract_passes():
    p = subprocess.run([str(SHARED / "checks" / "contract"), str(SPEC_EXAMPLES), "--sleitp",
                        str(Path(sys.executable).parent / "sleitp")],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert p.stdout.strip().endswith(" 0 failed"), p.stdout


def test_score_and_assess_on_a_fhir_bundle_show_the_mapping_report():
    bundle = SHARED / "data" / "fhir-r4-official" / "Bundle-101.json"
    for command in ("score", "assess"):
        p = run(command, bundle, "--json")
        assert p.returncode == 0, p.stderr
        out = json.loads(p.stdout)
        assert out["patient_id"] == "pat2"
        assert out["platelets"]["latest"] == 444.0 and out["platelets"]["latest_date"] == "2011-03-04"
        # nothing dropped unseen: the 12 CBC results outside the vocabulary are reported
        unmapped = json.dumps(out["fhir_mapping"]["unmapped"])
        assert "LOINC code not in the sleitp vocabulary" in unmapped
    p = run("score", bundle)
    assert p.returncode == 0 and "FHIR mapping" in p.stdout and "not mapped" in p.stdout


def test_a_record_that_is_not_a_patient_is_refused(tmp_path):
    f = tmp_path / "list.json"
    f.write_text("[1, 2]")
    p = run("score", f)
    assert p.returncode == 2 and "expected a JSON object" in p.stderr and "Traceback" not in p.stderr
