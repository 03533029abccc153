"""2019 EULAR/ACR classification [EULARACR2019], by hand from clinical.md §1.5 and vectors E1-E5 (§6)."""

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sleitp.errors import RecordError
from sleitp.instruments.eular_acr import DOMAINS, criteria, eular_acr_2019
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


def ana(titre, day=D):
    return lab("ana", titre, "titer", day)


def eular(labs=(), mans=(), **kw):
    record = parse_record({"id": "E", "labs": list(labs), "manifestations": list(mans)})
    return eular_acr_2019(record, AT, **kw)


def test_domain_keys_are_the_contract_ones_and_max_is_51():
    assert DOMAINS == ("constitutional", "hematologic", "neuropsychiatric", "mucocutaneous", "serosal",
                       "musculoskeletal", "renal", "antiphospholipid_antibodies", "complement_proteins",
                       "sle_specific_antibodies")
    best = {d: max(c.points for c in criteria() if c.domain == d) for d in DOMAINS}
    assert sum(best.values()) == 2 + 4 + 5 + 6 + 6 + 6 + 10 + 2 + 4 + 6 == 51


def test_E1_thrombocytopenia_aih_dsdna_low_c3_is_13_classified():
    e = eular([ana(160), lab("platelets", 60, "10^9/L"), lab("anti_dsdna", result="positive"),
               lab("c3", 0.6, "g/L")], [man("autoimmune_hemolysis")])
    assert (e.entry_criterion, e.points, e.classified, e.has_clinical_criterion) == (True, 13, True, True)
    d = e.domains
    assert (d["hematologic"], d["sle_specific_antibodies"], d["complement_proteins"]) == (4, 6, 3)
    outranked = [f for f in e.findings if f.name.startswith("hematologic.") and f.points == 0]
    assert len(outranked) == 1 and "not counted" in outranked[0].detail


def test_E2_ten_points_without_a_clinical_criterion_is_not_classified():
    e = eular([ana(160), lab("anti_dsdna", result="positive"), lab("c3", 0.5, "g/L"), lab("c4", 0.1, "g/L")])
    assert (e.points, e.has_clinical_criterion, e.classified) == (6 + 4, False, False)
    assert e.domains["complement_proteins"] == 4


def test_E3_ana_1_40_is_not_eligible_whatever_the_points():
    e = eular([ana(40), lab("anti_dsdna", result="positive"), lab("platelets", 20, "10^9/L")],
              [man("acute_cutaneous_lupus"), man("seizure")])
    assert (e.entry_criterion, e.classified) == (False, False)
    assert e.points == 6 + 4 + 6 + 5  # shown, but not classified


def test_ana_exactly_1_80_is_eligible():
    assert eular([ana(80)]).entry_criterion is True
    assert eular([ana(79)]).entry_criterion is False


def test_ana_qualitative_result_and_ever_before_at():
    assert eular([lab("ana", result="positive")]).entry_criterion is True
    assert eular([lab("ana", result="negative")]).entry_criterion is False
    assert eular([ana(640, "2010-01-01"), ana(40, "2024-01-01")]).entry_criterion is True  # "ever"
    assert eular([ana(640, "2024-02-02")]).entry_criterion is False  # after `at`


def test_E4_fever_38_2_does_not_count_so_4_points_not_classified():
    e = eular([ana(80), lab("platelets", 90, "10^9/L")], [man("fever", temperature_c=38.2)])
    assert (e.entry_criterion, e.points, e.classified) == (True, 4, False)
    assert e.domains["constitutional"] == 0


def test_fever_boundary_38_3_and_fever_without_temperature():
    assert eular(mans=[man("fever", temperature_c=38.3)]).points == 0
    assert eular(mans=[man("fever", temperature_c=38.4)]).points == 2
    assert eular(mans=[man("fever")]).domains["constitutional"] == 2
    with pytest.raises(RecordError, match=r"details\.temperature_c"):
        eular(mans=[man("fever", temperature_c="high")])


def test_E5_class_iv_nephritis_and_proteinuria_is_exactly_10_classified():
    e = eular([ana(320), lab("urine_protein_24h", 1, "g/24h")], [man("lupus_nephritis", **{"class": "IV"})])
    assert (e.points, e.domains["renal"], e.classified) == (10, 10, True)


def test_9_points_is_not_classified():
    e = eular([ana(320), lab("platelets", 50, "10^9/L")], [man("pleural_effusion")])
    assert (e.points, e.classified) == (9, False)


@pytest.mark.parametrize("details, renal", [
    ({"class": "II"}, 8), ({"class": "V"}, 8), ({"class": "III"}, 10), ({"class": "iv"}, 10),
    ({"class": "I"}, 0), ({"class": "VI"}, 0), ({}, 0),
])
def test_nephritis_needs_a_biopsy_class(details, renal):
    assert eular(mans=[man("lupus_nephritis", **details)]).domains["renal"] == renal


def test_proteinuria_boundary_and_upcr_option():
    assert eular([lab("urine_protein_24h", 0.5, "g/24h")]).domains["renal"] == 0
    assert eular([lab("urine_protein_24h", 0.51, "g/24h")]).domains["renal"] == 4
    assert eular([lab("upcr", 1.0, "g/g")]).domains["renal"] == 0
    assert eular([lab("upcr", 1.0, "g/g")], proteinuria_upcr=True).domains["renal"] == 4


def test_hematologic_boundaries_and_highest_only():
    assert eular([lab("wbc", 4.0, "10^9/L")]).points == 0
    assert eular([lab("wbc", 3.9, "10^9/L")]).domains["hematologic"] == 3
    assert eular([lab("platelets", 100, "10^9/L")]).points == 0
    assert eular([lab("platelets", 99.9, "10^9/L")]).domains["hematologic"] == 4
    assert eular([lab("wbc", 3.0, "10^9/L"), lab("platelets", 40, "10^9/L")]).points == 4  # not 3 + 4


def test_complement_both_low_means_the_same_day():
    assert eular([lab("c3", 0.5, "g/L"), lab("c4", 0.1, "g/L")]).domains["complement_proteins"] == 4
    other_day = eular([lab("c3", 0.5, "g/L", "2023-01-01"), lab("c4", 0.1, "g/L", "2023-03-01")])
    assert other_day.domains["complement_proteins"] == 3
    assert eular([lab("c3", 0.9, "g/L"), lab("c4", 0.16, "g/L")]).points == 0  # at the limits: not low


def test_antiphospholipid_and_sle_specific_antibodies():
    assert eular([lab("lupus_anticoagulant", result="positive")]).domains["antiphospholipid_antibodies"] == 2
    acl = eular([lab("anticardiolipin", 45, "GPL", reference_high=40)])
    assert acl.domains["antiphospholipid_antibodies"] == 2
    assert eular([lab("anti_b2gp1", 20, "U", reference_high=40)]).points == 0
    assert eular([lab("anti_sm", result="positive"), lab("anti_dsdna", result="positive")]).points == 6
    assert eular([lab("anti_dsdna", 29, "IU/mL")]).points == 0


@pytest.mark.parametrize("name, domain, points", [
    ("acute_cutaneous_lupus", "mucocutaneous", 6), ("subacute_cutaneous_lupus", "mucocutaneous", 4),
    ("discoid_lupus", "mucocutaneous", 4), ("oral_ulcers", "mucocutaneous", 2),
    ("non_scarring_alopecia", "mucocutaneous", 2), ("pleural_effusion", "serosal", 5),
    ("pericardial_effusion", "serosal", 5), ("acute_pericarditis", "serosal", 6),
    ("joint_involvement", "musculoskeletal", 6), ("seizure", "neuropsychiatric", 5),
    ("psychosis", "neuropsychiatric", 3), ("delirium", "neuropsychiatric", 2),
    ("autoimmune_hemolysis", "hematologic", 4),
])
def test_manifestation_mapping(name, domain, points):
    e = eular(mans=[man(name)])
    assert e.domains[domain] == points and e.points == points


@pytest.mark.parametrize("name", ["rash", "alopecia", "mucosal_ulcers", "pleurisy", "pericarditis",
                                  "arthritis", "vasculitis", "myositis", "urinary_casts", "cva",
                                  "lupus_headache"])
def test_conservative_mapping_sledai_names_that_are_not_eular_criteria(name):
    assert eular(mans=[man(name)]).points == 0


def test_criteria_count_ever_but_never_after_at():
    e = eular([ana(160, "2015-01-01"), lab("anti_dsdna", result="positive", day="2016-01-01")],
              [man("seizure", "2015-06-01"), man("acute_pericarditis", str(AT + timedelta(days=1)))])
    assert (e.points, e.classified) == (11, True)


def test_eular_basic_contract_case():
    e = eular([ana(640), lab("platelets", 70, "10^9/L", "2024-01-10"),
               lab("anti_sm", result="positive", day="2024-01-10")], [man("fever", "2024-01-10")])
    assert (e.entry_criterion, e.points, e.classified) == (True, 12, True)
    assert {k: v for k, v in e.domains.items() if v} == {"constitutional": 2, "hematologic": 4,
                                                         "sle_specific_antibodies": 6}


# -- properties ----------------------------------------------------------------------------------------------

DAYS = st.integers(min_value=-800, max_value=5).map(lambda k: str(AT + timedelta(days=k)))
LAB = st.one_of(
    st.builds(lambda d, v: lab("platelets", v, "10^9/L", d), DAYS, st.floats(0, 400)),
    st.builds(lambda d, v: lab("wbc", v, "10^9/L", d), DAYS, st.floats(0, 15)),
    st.builds(lambda d, v: lab("c3", v, "g/L", d), DAYS, st.floats(0, 3)),
    st.builds(lambda d, v: lab("c4", v, "g/L", d), DAYS, st.floats(0, 1)),
    st.builds(lambda d, v: ana(v, d), DAYS, st.sampled_from([20, 40, 80, 160])),
    st.builds(lambda d, t, r: lab(t, day=d, result=r), DAYS,
              st.sampled_from(["anti_dsdna", "anti_sm", "anticardiolipin", "lupus_anticoagulant",
                               "anti_b2gp1"]),
              st.sampled_from(["positive", "negative"])),
    st.builds(lambda d, v: lab("urine_protein_24h", v, "g/24h", d), DAYS, st.floats(0, 5)),
)
MAN = st.one_of(st.builds(man, st.sampled_from(MANIFESTATIONS), DAYS),
                st.builds(lambda d, c: man("lupus_nephritis", d, **{"class": c}), DAYS,
                          st.sampled_from(["I", "II", "III", "IV", "V", "VI"])))


@settings(max_examples=60, deadline=None)
@given(st.lists(LAB, max_size=8), st.lists(MAN, max_size=8), LAB, MAN)
def test_adding_a_finding_never_lowers_points_or_undoes_classification(labs, mans, extra_lab, extra_man):
    base = eular(labs, mans)
    assert 0 <= base.points <= 51
    assert base.points == sum(base.domains.values())
    for more in (eular(labs + [extra_lab], mans), eular(labs, mans + [extra_man])):
        assert more.points >= base.points
        assert all(more.domains[d] >= base.domains[d] for d in DOMAINS)
        assert more.classified >= base.classified


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 1500), st.integers(0, 20000))
def test_counts_in_per_microlitre_give_the_same_result(platelets, wbc_per_ul):
    a = eular([lab("platelets", platelets, "10^9/L"), lab("wbc", wbc_per_ul / 1000, "10^9/L")])
    b = eular([lab("platelets", platelets * 1000, "/uL"), lab("wbc", wbc_per_ul, "/uL")])
    assert (a.points, a.domains) == (b.points, b.domains)


def test_a_known_titre_decides_over_a_positive_flag():
    # a 1:40 that its laboratory flags "positive" is still below the entry criterion's 1:80
    assert eular([lab("ana", 40, "titer", result="positive")]).entry_criterion is False
    assert eular([lab("ana", 80, "titer", result="negative")]).entry_criterion is True


def test_fahrenheit_in_temperature_c_is_a_clear_error():
    with pytest.raises(RecordError, match=r"manifestations\[0\]\.details\.temperature_c: .*degrees Celsius"):
        eular(mans=[man("fever", temperature_c=101.3)])
