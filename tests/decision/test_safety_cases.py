"""Clinical safety cases (tests/cases/NAME.json + NAME.expect.json), worked by hand from the guidelines and
checked with the same matcher as the shared contract check (`../shared/checks/contract tests/cases`), run
in-process here to stay fast. The shared `assess_*` examples are checked the same way."""

import importlib.util
import json
from importlib.machinery import SourceFileLoader
from pathlib import Path

import pytest

from sleitp.decision import assess
from sleitp.record import load_record
from tests.conftest import ROOT, SHARED, SPEC_EXAMPLES

CASES = ROOT / "tests" / "cases"
CONTRACT = SHARED / "checks" / "contract"


def _matcher():
    if not CONTRACT.exists():  # pragma: no cover - the shared checks ship with the project's workspace
        pytest.skip("shared contract check not present")
    loader = SourceFileLoader("shared_contract", str(CONTRACT))
    spec = importlib.util.spec_from_loader("shared_contract", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module.match


def _pairs(folder: Path, prefix: str = ""):
    return sorted(p for p in folder.glob(f"{prefix}*.expect.json"))


@pytest.mark.parametrize(
    "expect_file",
    _pairs(CASES) + _pairs(SPEC_EXAMPLES, "assess_"),
    ids=lambda p: p.name.removesuffix(".expect.json"),
)
def test_case(expect_file):
    match = _matcher()
    spec = json.loads(expect_file.read_text())
    assert spec["command"] == "assess"
    record = expect_file.with_name(expect_file.name.removesuffix(".expect.json") + ".json")
    got = json.loads(json.dumps(assess(load_record(record)).to_json()))  # exactly what --json prints
    assert match(spec["expect"], got) is None


def _assessed(name):
    return assess(load_record(CASES / f"{name}.json")).to_json()


def test_there_is_a_case_for_every_safety_situation_of_the_issue():
    names = {p.name.removesuffix(".expect.json") for p in _pairs(CASES)}
    assert {
        "emergency_intracranial",
        "newly_diagnosed_29",
        "newly_diagnosed_30_observe",
        "glucocorticoid_failure",
        "corticosteroid_dependence",
        "pregnancy_second_line",
        "apl_thrombosis_tpora",
        "hepatitis_b_rituximab",
        "lupus_nephritis_itp",
        "multiply_failed",
    } <= names


def test_multiply_failed_names_the_failed_agents_and_ranks_them_last():
    recs = _assessed("multiply_failed")["recommendations"]
    failed = [r for r in recs if r["previously_failed"]]
    assert [r["therapy"] for r in failed] == ["rituximab"]  # the only failed agent in that setting's list
    assert failed[0]["previously_failed"] == "line 3: no response (NR) once its time to respond had passed"
    usable = [r for r in recs if not r["contraindicated"]]
    assert usable[-1]["therapy"] == "rituximab"  # last of the usable options (contraindicated ones after it)
    assert any("already failed in line 3" in c for c in failed[0]["cautions"])


def test_apl_thrombosis_cautions_name_the_thrombosis_risk_and_cite_it():
    recs = {r["therapy"]: r for r in _assessed("apl_thrombosis_tpora")["recommendations"]}
    for tpo in ("eltrombopag", "romiplostim"):
        assert any("thrombosis" in c and "APL-ITP2016" in c for c in recs[tpo]["cautions"])
    assert any("thrombosis" in c for c in recs["ivig"]["cautions"])  # IVIG boxed warning
    assert not recs["rituximab"]["ranked_lower_because"]


def test_lupus_nephritis_puts_the_renal_caution_on_ivig():
    recs = {r["therapy"]: r for r in _assessed("lupus_nephritis_itp")["recommendations"]}
    assert any("renal" in c and "IVIG-LABEL" in c for c in recs["ivig"]["cautions"])
    # a benefit is not a caution (review M12): "also treats lupus nephritis" is in its own field
    assert not any("also treats lupus nephritis" in c for c in recs["mycophenolate"]["cautions"])
    assert any("nephritis" in b["text"] for b in recs["mycophenolate"]["benefits"])


def test_pregnancy_contraindications_give_their_reason():
    recs = {r["therapy"]: r for r in _assessed("pregnancy_second_line")["recommendations"]}
    assert "POSTON2016" in recs["mycophenolate"]["contraindications"][0]
    assert "pregnancy" in recs["danazol"]["contraindications"][0]
    assert any("conception" in c for c in recs["rituximab"]["cautions"])


def test_every_option_of_every_case_cites_a_reference_of_the_evidence_base():
    from sleitp.evidence import load_evidence

    refs = load_evidence().references
    for p in _pairs(CASES):
        for r in _assessed(p.name.removesuffix(".expect.json"))["recommendations"]:
            assert r["references"] and all(k in refs for k in r["references"]), (p.name, r["therapy"])
