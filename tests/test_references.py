"""Every citation resolves: each `[KEY]` cited in a comment or docstring under src/, each `source=` value in
the code, each source in the evidence files, and each reference an assessment prints, is a key of
src/sleitp/evidence/references.yaml or a references-TOPIC.yaml beside it (one key space, read through
load_evidence)."""

import re

import yaml

from sleitp.decision import assess
from sleitp.evidence import load_evidence
from sleitp.record import load_record
from tests.conftest import ROOT

SRC = ROOT / "src" / "sleitp"
REFS = set(load_evidence().references)  # every references*.yaml file
# a citation: an upper-case key of letters, digits and hyphens in brackets, e.g. [IWG2009], [GC-EQUIV]
CITE = re.compile(r"\[([A-Z][A-Z0-9]+(?:-[A-Z0-9]+)*)\]")
SOURCE_VALUE = re.compile(r"""source(?:: str)?\s*=\s*["']([A-Z][A-Z0-9-]+)["']""")
NOT_KEYS = {"ALERT", "CR", "NR", "NE", "R", "CHOICE", "UNVERIFIED", "I", "II", "III", "IV", "V", "VI"}


def _comments_and_docstrings(text: str) -> str:
    """The parts of a Python file where a citation is written: comments and triple-quoted strings."""
    parts = [m.group(0) for m in re.finditer(r'("""|\'\'\')(?:.|\n)*?\1', text)]
    parts += [line.split("#", 1)[1] for line in text.splitlines() if "#" in line]
    return "\n".join(parts)


def _cited_in_code() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in SRC.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        keys = set(CITE.findall(_comments_and_docstrings(text))) | set(SOURCE_VALUE.findall(text))
        for k in keys - NOT_KEYS:
            found.setdefault(k, []).append(str(path.relative_to(ROOT)))
    return found


def test_every_key_cited_in_the_code_resolves():
    cited = _cited_in_code()
    assert cited, "the scan found no citations at all: the pattern is broken"
    missing = {k: v for k, v in cited.items() if k not in REFS}
    assert not missing, f"keys cited in src/ but not in references.yaml: {missing}"


def test_the_scan_sees_the_citations_it_should():
    cited = _cited_in_code()
    for k in ("IWG2009", "ASH2019", "ICR2019", "EULAR2023", "WHO-BLEED", "AHN2024"):
        assert k in cited


def _sources(x) -> set[str]:
    """Every value of a `source` or `guideline` field anywhere in a loaded YAML document."""
    if isinstance(x, dict):
        found = set()
        for k, v in x.items():
            if k in ("source", "guideline"):
                found |= set(v if isinstance(v, list) else [v])
            found |= _sources(v)
        return found
    if isinstance(x, list):
        return set().union(*(_sources(v) for v in x)) if x else set()
    return set()


def test_every_source_in_the_evidence_files_resolves():
    for name in ("therapies.yaml", "predictors.yaml", "guidelines.yaml"):
        text = (SRC / "evidence" / name).read_text(encoding="utf-8")
        data = yaml.safe_load(text)
        keys = _sources(data)
        assert keys and keys <= REFS, (name, keys - REFS)


def test_reference_keys_are_unique():
    keys = []
    for path in sorted((SRC / "evidence").glob("references*.yaml")):
        keys += [r["key"] for r in yaml.safe_load(path.read_text())["references"]]
    assert len(keys) == len(set(keys)) and set(keys) == REFS


def test_every_reference_says_where_it_was_read():
    for r in load_evidence().references.values():
        assert r.where.strip(), r.key


def test_every_reference_an_assessment_prints_resolves():
    for path in sorted((ROOT / "examples").glob("*.json")):
        j = assess(load_record(path)).to_json()
        keys = {k for r in j["recommendations"] for k in r["references"]}
        keys |= {k for p in j["predictors"] for k in p["references"]}
        keys |= {
            k
            for text in j["alerts"] + j["advice"]
            for k in re.findall(r"\[([^\]]+)\]$", text)
            for k in k.split(", ")
        }
        keys |= set(j["setting"]["references"])
        assert keys <= REFS, (path.name, keys - REFS)
        assert {r["key"] for r in j["references"]} >= keys - {""}
