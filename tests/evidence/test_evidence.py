"""The evidence base: the shipped files load and validate; the loader rejects what is wrong, naming the
file, the entry and the field; nothing the shared reference marks "not read" is encoded as fact."""

import shutil

import pytest
import yaml

from sleitp.errors import EvidenceError
from sleitp.evidence import load_evidence
from sleitp.evidence._loader import HERE, SPECIAL_READERS
from sleitp.features import FEATURE_NAMES
from sleitp.record import AGENTS

EV = load_evidence()


def test_shipped_evidence_loads():
    assert len(EV.therapies) >= 30 and len(EV.predictors) >= 20 and len(EV.guidelines) >= 20


def test_every_therapy_is_a_record_agent_and_cites_resolvable_references():
    for agent, t in EV.therapies.items():
        assert agent in AGENTS
        assert t.references, agent
        assert all(k in EV.references for k in t.references), agent
        for r in t.response_rates:
            assert r.population in ("SLE-ITP", "CTD-ITP", "primary ITP", "SLE", "pregnancy ITP", "ITP (all)")


def test_every_predictor_reads_a_feature_or_a_known_reader():
    for p in EV.predictors:
        assert p.reads in FEATURE_NAMES or p.reads in SPECIAL_READERS
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
    # C3: Zheng 2025 found C3 LOWER in the complete-response group; Su 2022's direction was not read:
    # the entry must say "conflicting" and must not be a risk flag (clinical review M2)
    c3 = {p.name: p for p in EV.predictors}["low_c3"]
    assert c3.signal == "conflicting" and "conflicting" in c3.direction
    assert "lower in the complete" in c3.direction.lower()
    # avatrombopag: label read, efficacy not read -> an entry without any response rate
    assert EV.therapies["avatrombopag"].response_rates == []
    # EULAR 2023: only the abstract was read; every statement says so, and the haematology text stays a gap
    eular = [s for s in EV.guidelines.values() if s.guideline == "EULAR2023"]
    assert eular and all(s.read_from == "abstract" for s in eular)
    assert any("EULAR2023" in g.source and "haematological" in g.what for g in EV.gaps)
    # ASH 2019 recommendations 5-9: wording not read
    assert not any(s.id.startswith("ASH2019-5") for s in EV.guidelines.values())


def test_eular_2023_gc_target_is_5_mg_per_day_from_the_abstract():
    st = EV.statement("EULAR2023-gc")
    assert st.value == 5.0 and "equal or less than 5 mg/day" in st.statement and "withdrawn" in st.statement
    assert "SUPERSEDED" in EV.statement("EULAR2019-gc").statement


def test_eular_2023_lupus_nephritis_anchors_and_add_ons():
    st = EV.statement("EULAR2023-ln").statement
    for word in ("mycophenolate", "low-dose intravenous CYC", "belimumab", "voclosporin", "tacrolimus"):
        assert word in st
    # the add-ons carry the statement as a benefit in lupus nephritis (never as a caution)
    for agent in ("belimumab", "tacrolimus", "voclosporin", "mycophenolate", "cyclophosphamide"):
        assert any(b.condition == "lupus_nephritis" for b in EV.therapies[agent].benefits), agent


def test_pregnancy_contraindications_are_those_of_the_sources():
    contra = {
        a for a, t in EV.therapies.items() if any(c.condition == "pregnancy" for c in t.contraindications)
    }
    # Poston & Gernsheimer: syk inhibitors, vinca alkaloids, mycophenolate, cyclophosphamide, danazol; the
    # vinca alkaloid statement rests on that review alone (no label read): a pregnancy warning, not a
    # contraindication (contraindications cite a label or guideline, tests/decision/test_labels.py)
    assert contra == {"mycophenolate", "cyclophosphamide", "danazol", "fostamatinib"}
    assert any(c.condition == "pregnancy" for c in EV.therapies["vincristine"].cautions)


def test_every_rate_states_its_definition():
    for agent, t in EV.therapies.items():
        for r in t.response_rates:
            assert r.definition.strip(), agent
    arnal = [r for r in EV.therapies["prednisone"].response_rates if r.source == ["ARNAL2002"]][0]
    assert "CR > 150" in arnal.definition
    elt = [r for r in EV.therapies["eltrombopag"].response_rates if r.source == ["ELTROMBOPAG-SLE2020"]][0]
    assert "> 100" in elt.definition and "immunosuppressants" in elt.co_treatment
    rtx = EV.therapies["rituximab"].response_rates[0]
    assert "> 50" in rtx.definition


def test_every_therapy_states_its_certainty():
    for agent, t in EV.therapies.items():
        assert t.certainty.grade.strip() and t.certainty.source, agent
    assert "very low certainty" in EV.therapies["prednisone"].certainty.grade
    assert "no ITP data" in EV.therapies["anifrolumab"].certainty.grade


def test_rilzabrutinib_is_fda_approved_not_emerging():
    t = EV.therapies["rilzabrutinib"]
    assert "emerging" not in t.name and t.status is not None and "2025-08-29" in t.status.text
    assert "RILZABRUTINIB-LABEL-FDA" in t.status.source


@pytest.fixture
def evidence_copy(tmp_path):
    for f in ("therapies.yaml", "predictors.yaml", "guidelines.yaml"):
        shutil.copy(HERE / f, tmp_path / f)
    for f in HERE.glob("references*.yaml"):
        shutil.copy(f, tmp_path / f.name)
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


def test_an_itp_agent_without_an_entry_is_rejected(evidence_copy):
    _edit(
        evidence_copy / "therapies.yaml",
        lambda d: d.update(therapies=[t for t in d["therapies"] if t["agent"] != "avatrombopag"]),
    )
    with pytest.raises(EvidenceError, match=r"no entry for agent\(s\) avatrombopag"):
        load_evidence(evidence_copy)


def test_unknown_agent_is_rejected(evidence_copy):
    _edit(evidence_copy / "therapies.yaml", lambda d: d["therapies"][0].update(agent="shoe_polish"))
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
