"""SLICC 2012 classification [SLICC2012], worked by hand from clinical.md §1.6."""

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sleitp.instruments.slicc import RULE_COUNT, RULE_NEPHRITIS, slicc_2012
from sleitp.record import MANIFESTATIONS, parse_record

AT = date(2024, 2, 1)
D = "2023-06-01"


def lab(test, value=None, unit=None, day=D, **kw):
    out = {"date": str(day), "test": test, **kw}
    if value is not None:
        out |= {"value": value, "unit": unit}
    return out


def man(name, day=D, **details):
    return {"date": str(day), "name": name, **({"details": details} if details else {})}


def slicc(labs=(), mans=()):
    return slicc_2012(parse_record({"id": "L", "labs": list(labs), "manifestations": list(mans)}), AT)


def test_four_criteria_with_one_of_each_kind_classifies():
    s = slicc([lab("platelets", 60, "10^9/L"), lab("ana", 160, "titer"),
               lab("anti_dsdna", result="positive")], [man("oral_ulcers")])
    assert s.classified and s.rule == RULE_COUNT
    assert s.clinical == ["oral_or_nasal_ulcers", "thrombocytopenia"]
    assert s.immunologic == ["ana", "anti_dsdna"]


def test_three_criteria_do_not_classify_and_rule_says_why():
    s = slicc([lab("platelets", 60, "10^9/L"), lab("ana", 160, "titer")], [man("oral_ulcers")])
    assert not s.classified
    assert "3 criteria (2 clinical, 1 immunologic)" in s.rule


def test_four_clinical_without_immunologic_do_not_classify():
    s = slicc([lab("platelets", 60, "10^9/L"), lab("wbc", 3, "10^9/L")],
              [man("oral_ulcers"), man("non_scarring_alopecia"), man("seizure")])
    assert len(s.clinical) == 5 and s.immunologic == [] and not s.classified


def test_four_immunologic_without_clinical_do_not_classify():
    s = slicc([lab("ana", 160, "titer"), lab("anti_dsdna", result="positive"),
               lab("anti_sm", result="positive"), lab("c3", 0.5, "g/L"),
               lab("lupus_anticoagulant", result="positive")])
    assert len(s.immunologic) == 5 and not s.classified


def test_biopsy_proven_nephritis_with_ana_classifies_alone():
    s = slicc([lab("ana", 160, "titer")], [man("lupus_nephritis", **{"class": "IV"})])
    assert s.classified and s.rule == RULE_NEPHRITIS
    assert any(f.name == "biopsy_proven_lupus_nephritis" for f in s.findings)


def test_nephritis_rule_needs_a_class_and_ana_or_dsdna():
    assert not slicc([lab("ana", 160, "titer")], [man("lupus_nephritis")]).classified  # no biopsy class
    anti_sm_only = slicc([lab("anti_sm", result="positive")], [man("lupus_nephritis", **{"class": "III"})])
    assert not anti_sm_only.classified
    assert slicc([lab("anti_dsdna", 200, "IU/mL")], [man("lupus_nephritis", **{"class": "V"})]).classified


@pytest.mark.parametrize("labs, counts", [
    ([lab("wbc", 4.0, "10^9/L")], False), ([lab("wbc", 3.99, "10^9/L")], True),
    ([lab("lymphocytes", 1.0, "10^9/L")], False), ([lab("lymphocytes", 0.99, "10^9/L")], True),
    ([lab("lymphocytes", 900, "/uL")], True),
])
def test_leukopenia_or_lymphopenia_boundaries(labs, counts):
    assert ("leukopenia_or_lymphopenia" in slicc(labs).clinical) is counts


def test_thrombocytopenia_exactly_100_does_not_count():
    assert slicc([lab("platelets", 100, "10^9/L")]).clinical == []
    assert slicc([lab("platelets", 99.9, "10^9/L")]).clinical == ["thrombocytopenia"]


def test_renal_proteinuria_500_mg_counts_upcr_and_casts():
    assert slicc([lab("urine_protein_24h", 500, "mg/24h")]).clinical == ["renal"]  # ">= 500 mg/24 h"
    assert slicc([lab("urine_protein_24h", 0.49, "g/24h")]).clinical == []
    assert slicc([lab("upcr", 0.5, "g/g")]).clinical == ["renal"]
    assert slicc([lab("upcr", 56.6, "mg/mmol")]).clinical == ["renal"]  # 56.6 / 113.12 = 0.5004 g/g
    assert slicc(mans=[man("urinary_casts")]).clinical == ["renal"]


@pytest.mark.parametrize("name, criterion", [
    ("acute_cutaneous_lupus", "acute_cutaneous_lupus"), ("discoid_lupus", "chronic_cutaneous_lupus"),
    ("oral_ulcers", "oral_or_nasal_ulcers"), ("mucosal_ulcers", "oral_or_nasal_ulcers"),
    ("non_scarring_alopecia", "non_scarring_alopecia"), ("joint_involvement", "synovitis"),
    ("pleurisy", "serositis"), ("pericarditis", "serositis"), ("pleural_effusion", "serositis"),
    ("pericardial_effusion", "serositis"), ("acute_pericarditis", "serositis"), ("seizure", "neurologic"),
    ("psychosis", "neurologic"), ("delirium", "neurologic"), ("cranial_nerve_disorder", "neurologic"),
    ("autoimmune_hemolysis", "hemolytic_anemia"),
])
def test_manifestation_mapping(name, criterion):
    assert slicc(mans=[man(name)]).clinical == [criterion]


@pytest.mark.parametrize("name", ["rash", "alopecia", "arthritis", "subacute_cutaneous_lupus", "fever",
                                  "vasculitis", "lupus_headache", "lupus_nephritis"])
def test_names_not_mapped_to_a_slicc_criterion(name):
    assert slicc(mans=[man(name)]).clinical == []


def test_serositis_counts_once():
    assert slicc(mans=[man("pleurisy"), man("pericarditis")]).clinical == ["serositis"]


@pytest.mark.parametrize("kw, counts", [
    ({"value": 80, "unit": "titer"}, True), ({"value": 40, "unit": "titer"}, False),
    ({"value": 80, "unit": "titer", "reference_high": 80}, False),
    ({"value": 160, "unit": "titer", "reference_high": 80}, True),
    ({"value": 40, "unit": "titer", "reference_high": 20}, True),
    ({"result": "positive"}, True), ({"result": "negative"}, False),
])
def test_ana_above_the_laboratory_reference(kw, counts):
    assert ("ana" in slicc([lab("ana", **kw)]).immunologic) is counts


def test_direct_coombs_counts_only_without_hemolytic_anemia():
    assert slicc([lab("direct_coombs", result="positive")]).immunologic == ["direct_coombs"]
    s = slicc([lab("direct_coombs", result="positive")], [man("autoimmune_hemolysis")])
    assert s.immunologic == [] and s.clinical == ["hemolytic_anemia"]


def test_low_complement_and_antiphospholipid():
    assert slicc([lab("c4", 0.1, "g/L")]).immunologic == ["low_complement"]
    assert slicc([lab("c3", 0.9, "g/L")]).immunologic == []
    assert slicc([lab("anti_b2gp1", result="positive")]).immunologic == ["antiphospholipid_antibodies"]


def test_nothing_after_at_counts():
    s = slicc([lab("platelets", 20, "10^9/L", "2024-02-02"), lab("ana", 640, "titer", "2024-02-02")],
              [man("seizure", "2024-03-01")])
    assert (s.clinical, s.immunologic, s.classified) == ([], [], False)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.builds(man, st.sampled_from(MANIFESTATIONS),
                          st.integers(-900, 3).map(lambda k: str(AT + timedelta(days=k)))), max_size=8),
       st.sampled_from(MANIFESTATIONS))
def test_adding_a_clinical_finding_never_removes_a_criterion(mans, extra):
    base = slicc(mans=mans)
    more = slicc(mans=mans + [man(extra)])
    assert set(base.clinical) <= set(more.clinical) and more.classified >= base.classified
    assert len(base.findings) == len(base.clinical) + len(base.immunologic) + (base.rule == RULE_NEPHRITIS)


@pytest.mark.parametrize("kw, counts", [
    ({"value": 40, "unit": "titer", "result": "positive"}, True),  # the laboratory's reading
    ({"value": 160, "unit": "titer", "result": "negative"}, False),
    ({"value": 160, "unit": "titer", "result": "negative", "reference_high": 80}, True),  # value vs its limit
])
def test_ana_laboratory_reading_before_the_default_titre(kw, counts):
    assert ("ana" in slicc([lab("ana", **kw)]).immunologic) is counts
