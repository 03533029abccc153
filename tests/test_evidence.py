"""The evidence base: the shipped files load and validate; the loader rejects what is wrong, naming the
file, the entry and the field; nothing the shared reference marks "not read" is encoded as fact."""

import shutil

import pytest
import yaml

from sleitp.errors import EvidenceError
from sleitp.evidence import load_evidence
from sleitp.evidence._loader import HERE
from sleitp.features import FEATURE_NAMES
from sleitp.record import AGENTS

EV = load_evidence()


def test_shipped_evidence_loads():
    assert len(EV.therapies) >= 20 and len(EV.predictors) >= 10 and len(EV.guidelines) >= 15


def test_every_therapy_is_a_record_agent_and_cites_resolvable_references():
    for agent, t in EV.therapies.items():
        assert agent in AGENTS
        assert t.references, agent
        assert all(k in EV.references for k in t.references), agent
        for r in t.response_rates:
            assert r.population in ("SLE-ITP", "CTD-ITP", "primary ITP", "SLE", "pregnancy ITP", "ITP (all)")


def test_every_predictor_reads_a_feature_or_a_known_reader():
    for p in EV.predictors:
        assert p.reads in FEATURE_NAMES or p.reads == "no_response_within_1_month"
        assert all(k in EV.references for k in p.source)


def test_every_guideline_statement_and_gap_resolves():
    for s in EV.guidelines.values():
        assert s.guideline in EV.references and all(k in EV.references for k in s.source)
    for g in EV.gaps:
        assert all(k in EV.references for k in g.source)


def test_published_effect_sizes_are_carried_exactly():
    by = {p.name: p for p in EV.predictors}
    assert (
        "13.628" in by["baseline_platelets_below_20"].effect
        and "3.976-46.791" in by["baseline_platelets_below_20"].effect
    )
    assert "9.171" in by["no_response_within_1_month"].effect
    assert "1.982" in by["nlr"].effect


def test_unread_or_unverified_claims_are_not_encoded_as_fact():
    # C3 direction is UNVERIFIED in the reference (clinical.md §2.1 row 1): it must say so
    assert "UNVERIFIED" in {p.name: p for p in EV.predictors}["low_c3"].direction
    # avatrombopag efficacy was not read: no therapy entry with invented rates
    assert "avatrombopag" not in EV.therapies
    # the EULAR 2023 haematological text was not read: it appears only as a stated gap
    assert not any(s.guideline == "EULAR2023" for s in EV.guidelines.values())
    assert any("EULAR2023" in g.source for g in EV.gaps)
    # ASH 2019 recommendations 5-9: wording not read
    assert not any(s.id.startswith("ASH2019-5") for s in EV.guidelines.values())


def test_pregnancy_contraindications_are_those_of_the_sources():
    contra = {
        a for a, t in EV.therapies.items() if any(c.condition == "pregnancy" for c in t.contraindications)
    }
    assert contra == {"mycophenolate", "cyclophosphamide", "danazol", "fostamatinib"}


@pytest.fixture
def evidence_copy(tmp_path):
    for f in ("references.yaml", "therapies.yaml", "predictors.yaml", "guidelines.yaml"):
        shutil.copy(HERE / f, tmp_path / f)
    return tmp_path


def _edit(path, fn):
    data = yaml.safe_load(path.read_text())
    fn(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True))


def test_copy_loads(evidence_copy):
    assert load_evidence(evidence_copy).therapies.keys() == EV.therapies.keys()


def test_unresolvable_source_is_rejected_with_file_and_entry(evidence_copy):
    _edit(
        evidence_copy / "therapies.yaml",
        lambda d: d["therapies"][0]["response_rates"][0].update(source=["NOPE"]),
    )
    with pytest.raises(EvidenceError, match=r"therapies.yaml: prednisone: source 'NOPE' does not resolve"):
        load_evidence(evidence_copy)


def test_unknown_agent_is_rejected(evidence_copy):
    _edit(evidence_copy / "therapies.yaml", lambda d: d["therapies"][0].update(agent="aspirin"))
    with pytest.raises(EvidenceError, match=r"therapies\[0\].*agent.*not an agent"):
        load_evidence(evidence_copy)


def test_predictor_reading_an_unknown_feature_is_rejected(evidence_copy):
    _edit(evidence_copy / "predictors.yaml", lambda d: d["predictors"][0].update(reads="shoe_size"))
    with pytest.raises(EvidenceError, match=r"predictors.yaml: predictors\[0\].*shoe_size"):
        load_evidence(evidence_copy)


def test_entry_without_sources_is_rejected(evidence_copy):
    _edit(evidence_copy / "guidelines.yaml", lambda d: d["statements"][0].update(source=[]))
    with pytest.raises(EvidenceError, match=r"guidelines.yaml: statements\[0\] \(ASH2019-1a\): source"):
        load_evidence(evidence_copy)


def test_duplicate_and_bad_population_are_rejected(evidence_copy):
    _edit(evidence_copy / "predictors.yaml", lambda d: d["predictors"].append(dict(d["predictors"][0])))
    with pytest.raises(EvidenceError, match="duplicate name"):
        load_evidence(evidence_copy)
    shutil.copy(HERE / "predictors.yaml", evidence_copy / "predictors.yaml")
    _edit(evidence_copy / "predictors.yaml", lambda d: d["predictors"][0].update(population="mice"))
    with pytest.raises(EvidenceError, match="population"):
        load_evidence(evidence_copy)


def test_broken_or_missing_file_is_named(evidence_copy):
    (evidence_copy / "guidelines.yaml").write_text("version: 1\nstatements: [oops: : :\n")
    with pytest.raises(EvidenceError, match="guidelines.yaml: not valid YAML"):
        load_evidence(evidence_copy)
    (evidence_copy / "guidelines.yaml").unlink()
    with pytest.raises(EvidenceError, match="guidelines.yaml: file missing"):
        load_evidence(evidence_copy)
