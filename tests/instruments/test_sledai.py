"""SLEDAI-2K [SLEDAI2K], worked by hand from clinical.md §1.4 and the vectors of §6."""

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sleitp.errors import RecordError
from sleitp.instruments.sledai import DESCRIPTORS, MAX_SCORE, sledai_2k
from sleitp.record import MANIFESTATIONS, parse_record

AT = date(2024, 2, 1)
D = str(AT - timedelta(days=1))


def lab(test, value=None, unit=None, day=D, **kw):
    out = {"date": str(day), "test": test, **kw}
    if value is not None:
        out |= {"value": value, "unit": unit}
    return out


def man(name, day=D, **details):
    return {"date": str(day), "name": name, **({"details": details} if details else {})}


def rec(labs=(), mans=()):
    return parse_record({"id": "S", "labs": list(labs), "manifestations": list(mans)})


def score(labs=(), mans=(), **kw):
    return sledai_2k(rec(labs, mans), AT, **kw)


ALL_24 = (
    [man(n) for n in ("seizure", "psychosis", "organic_brain_syndrome", "visual_disturbance",
                      "cranial_nerve_disorder", "lupus_headache", "cva", "vasculitis", "arthritis",
                      "myositis", "urinary_casts", "rash", "alopecia", "mucosal_ulcers", "pleurisy",
                      "pericarditis", "fever")],
    [lab("urine_rbc", 10, "/hpf"), lab("urine_protein_24h", 1.2, "g/24h"), lab("urine_wbc", 8, "/hpf"),
     lab("c3", 0.5, "g/L"), lab("anti_dsdna", result="positive"), lab("platelets", 20, "10^9/L"),
     lab("wbc", 2.0, "10^9/L")],
)


def test_weights_are_the_published_ones():
    weights = sorted((d.weight for d in DESCRIPTORS), reverse=True)
    assert weights == [8] * 8 + [4] * 6 + [2] * 7 + [1] * 3
    assert MAX_SCORE == 105 and len({d.name for d in DESCRIPTORS}) == 24


def test_S1_thrombocytopenia_low_c3_dsdna_pleurisy_rash_is_9():
    s = score([lab("platelets", 70, "10^9/L"), lab("c3", 0.6, "g/L"), lab("anti_dsdna", result="positive")],
              [man("pleurisy"), man("rash")])
    assert s.score == 1 + 2 + 2 + 2 + 2 == 9
    assert set(s.items) == {"thrombocytopenia", "low_complement", "increased_dna_binding", "pleurisy", "rash"}
    assert sum(f.points for f in s.findings) == 9


def test_S2_all_24_descriptors_is_105():
    mans, labs = ALL_24
    s = score(labs, mans)
    assert s.score == 105 and len(s.items) == 24
    assert s.items == [d.name for d in DESCRIPTORS]  # the form's order


def test_S3_platelets_exactly_100_is_not_thrombocytopenia_but_99_9_is():
    assert score([lab("platelets", 100, "10^9/L")]).items == []
    assert score([lab("platelets", 99.9, "10^9/L")]).items == ["thrombocytopenia"]


def test_published_vector_alopecia_ulcer_dsdna_aiha_is_6():
    # Lupus Sci Med case 1 (clinical.md §6): AIHA is not a SLEDAI-2K descriptor
    s = score([lab("anti_dsdna", 120, "IU/mL")],
              [man("alopecia"), man("mucosal_ulcers"), man("autoimmune_hemolysis")])
    assert s.score == 6
    assert set(s.items) == {"alopecia", "mucosal_ulcers", "increased_dna_binding"}


def test_wbc_exactly_3_is_not_leukopenia_but_2_99_is():
    assert score([lab("wbc", 3.0, "10^9/L")]).score == 0
    assert score([lab("wbc", 2.99, "10^9/L")]).items == ["leukopenia"]
    assert score([lab("wbc", 2990, "/uL")]).items == ["leukopenia"]


def test_window_edge_exactly_10_days_counts_11_does_not():
    assert score(mans=[man("seizure", AT - timedelta(days=10))]).score == 8
    assert score(mans=[man("seizure", AT - timedelta(days=11))]).score == 0
    assert score([lab("platelets", 50, "10^9/L", AT - timedelta(days=10))]).score == 1
    assert score([lab("platelets", 50, "10^9/L", AT - timedelta(days=11))]).score == 0


def test_findings_after_at_do_not_count():
    later = AT + timedelta(days=1)
    assert score([lab("platelets", 50, "10^9/L", later)], [man("cva", later)]).score == 0


def test_window_is_a_parameter_28_days():
    s = score(mans=[man("vasculitis", AT - timedelta(days=28))], window_days=28)
    assert (s.score, s.window_days) == (8, 28)
    assert score(mans=[man("vasculitis", AT - timedelta(days=29))], window_days=28).score == 0
    with pytest.raises(ValueError, match="window_days"):
        score(window_days=-1)


@pytest.mark.parametrize("name, item", [("oral_ulcers", "mucosal_ulcers"), ("acute_cutaneous_lupus", "rash"),
                                        ("non_scarring_alopecia", "alopecia")])
def test_synonyms_count_as_their_descriptor(name, item):
    s = score(mans=[man(name)])
    assert (s.items, s.score) == ([item], 2)
    assert "counts as" in s.findings[0].detail


def test_each_descriptor_counts_once():
    s = score([lab("platelets", 50, "10^9/L"), lab("platelets", 40, "10^9/L", AT)],
              [man("rash"), man("acute_cutaneous_lupus"), man("rash", AT)])
    assert s.score == 2 + 1 and s.items == ["rash", "thrombocytopenia"]


@pytest.mark.parametrize("name", ["pleural_effusion", "pericardial_effusion", "acute_pericarditis",
                                  "joint_involvement", "subacute_cutaneous_lupus", "discoid_lupus",
                                  "autoimmune_hemolysis", "delirium", "lupus_nephritis"])
def test_names_that_are_not_sledai_descriptors_do_not_score(name):
    assert score(mans=[man(name)]).score == 0


def test_any_result_in_window_counts_not_only_the_latest():
    s = score([lab("platelets", 60, "10^9/L", AT - timedelta(days=5)), lab("platelets", 150, "10^9/L", AT)])
    assert s.items == ["thrombocytopenia"]
    assert s.findings[0].date == AT - timedelta(days=5)


@pytest.mark.parametrize("test, value, unit, low", [
    ("c3", 0.9, "g/L", False), ("c3", 0.89, "g/L", True), ("c3", 89, "mg/dL", True),
    ("c4", 0.16, "g/L", False), ("c4", 0.15, "g/L", True),
])
def test_low_complement_default_limits(test, value, unit, low):
    assert (score([lab(test, value, unit)]).items == ["low_complement"]) is low


def test_low_complement_uses_the_laboratorys_limit_when_given():
    assert score([lab("c3", 0.85, "g/L", reference_low=0.8)]).score == 0  # default 0.9 would call it low
    assert score([lab("c4", 0.18, "g/L", reference_low=0.2)]).items == ["low_complement"]
    # the laboratory's limit is converted with the value (90 mg/dL = 0.9 g/L)
    assert score([lab("c3", 85, "mg/dL", reference_low=90)]).items == ["low_complement"]
    s = score([lab("c3", 0.5, "g/L")])
    assert "RCPA-C3C4" in s.findings[0].detail


@pytest.mark.parametrize("kw, counts", [
    ({"result": "positive"}, True), ({"result": "negative"}, False),
    ({"value": 30, "unit": "IU/mL"}, True), ({"value": 29.9, "unit": "IU/mL"}, False),
    ({"value": 50, "unit": "IU/mL", "reference_high": 100}, False),
    ({"value": 100, "unit": "IU/mL", "reference_high": 100}, False),
    ({"value": 101, "unit": "IU/mL", "reference_high": 100}, True),
])
def test_increased_dna_binding(kw, counts):
    assert (score([lab("anti_dsdna", **kw)]).items == ["increased_dna_binding"]) is counts


def test_proteinuria_boundary_and_upcr_option():
    assert score([lab("urine_protein_24h", 0.5, "g/24h")]).score == 0
    assert score([lab("urine_protein_24h", 500, "mg/24h")]).score == 0
    assert score([lab("urine_protein_24h", 0.51, "g/24h")]).items == ["proteinuria"]
    assert score([lab("upcr", 0.6, "g/g")]).score == 0  # default: the descriptor is defined on 24-h urine
    assert score([lab("upcr", 0.6, "g/g")], proteinuria_upcr=True).items == ["proteinuria"]
    assert score([lab("upcr", 0.5, "g/g")], proteinuria_upcr=True).score == 0


@pytest.mark.parametrize("test, item", [("urine_rbc", "hematuria"), ("urine_wbc", "pyuria")])
def test_hematuria_and_pyuria_need_more_than_5_per_hpf(test, item):
    assert score([lab(test, 5, "/hpf")]).score == 0
    assert score([lab(test, 6, "/hpf")]).items == [item]


def test_arthritis_joint_count_parameter():
    assert score(mans=[man("arthritis", joints=2)]).score == 4  # default ">= 2"
    assert score(mans=[man("arthritis", joints=1)]).score == 0
    assert score(mans=[man("arthritis", joints=2)], arthritis_min_joints=3).score == 0  # "> 2"
    assert score(mans=[man("arthritis", joints=3)], arthritis_min_joints=3).score == 4
    assert score(mans=[man("arthritis")], arthritis_min_joints=3).score == 4  # no count: the finding counts


def test_arthritis_bad_joint_count_names_the_field():
    with pytest.raises(RecordError, match=r"manifestations\[0\]\.details\.joints: expected a number"):
        score(mans=[man("arthritis", joints="many")])


def test_fever_temperature_when_given_must_exceed_38():
    assert score(mans=[man("fever", temperature_c=38.0)]).score == 0
    assert score(mans=[man("fever", temperature_c=38.1)]).items == ["fever"]
    assert score(mans=[man("fever")]).items == ["fever"]
    with pytest.raises(RecordError, match="temperature_c"):
        score(mans=[man("fever", temperature_c="hot")])


def test_empty_record_scores_0():
    s = score()
    assert (s.score, s.items, s.findings) == (0, [], [])


# -- properties ----------------------------------------------------------------------------------------------

DAYS = st.integers(min_value=-20, max_value=2).map(lambda k: str(AT + timedelta(days=k)))
LAB = st.one_of(
    st.builds(lambda d, v: lab("platelets", v, "10^9/L", d), DAYS, st.floats(0, 400)),
    st.builds(lambda d, v: lab("wbc", v, "10^9/L", d), DAYS, st.floats(0, 15)),
    st.builds(lambda d, v: lab("c3", v, "g/L", d), DAYS, st.floats(0, 3)),
    st.builds(lambda d, v: lab("c4", v, "g/L", d), DAYS, st.floats(0, 1)),
    st.builds(lambda d, r: lab("anti_dsdna", day=d, result=r), DAYS,
              st.sampled_from(["positive", "negative"])),
    st.builds(lambda d, v: lab("urine_protein_24h", v, "g/24h", d), DAYS, st.floats(0, 5)),
    st.builds(lambda d, v: lab("urine_rbc", v, "/hpf", d), DAYS, st.floats(0, 50)),
    st.builds(lambda d, v: lab("urine_wbc", v, "/hpf", d), DAYS, st.floats(0, 50)),
)
MAN = st.builds(man, st.sampled_from(MANIFESTATIONS), DAYS)


@settings(max_examples=60, deadline=None)
@given(st.lists(LAB, max_size=8), st.lists(MAN, max_size=8), LAB, MAN)
def test_adding_a_finding_never_lowers_the_score_and_scores_stay_in_0_105(labs, mans, extra_lab, extra_man):
    base = score(labs, mans).score
    assert 0 <= base <= 105
    assert score(labs + [extra_lab], mans).score >= base
    more = score(labs, mans + [extra_man]).score
    assert base <= more <= 105


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 1500), st.integers(0, 20000))
def test_counts_in_per_microlitre_give_the_same_result(platelets, wbc_per_ul):
    a = score([lab("platelets", platelets, "10^9/L"), lab("wbc", wbc_per_ul / 1000, "10^9/L")])
    b = score([lab("platelets", platelets * 1000, "/uL"), lab("wbc", wbc_per_ul, "/uL")])
    assert (a.score, a.items) == (b.score, b.items)


@pytest.mark.parametrize("kw, counts", [
    ({"value": 20, "unit": "IU/mL", "result": "positive"}, True),  # the laboratory reads it, not the default
    ({"value": 40, "unit": "IU/mL", "result": "negative"}, False),
    ({"value": 40, "unit": "IU/mL", "result": "negative", "reference_high": 35}, True),  # value vs its limit
])
def test_dna_binding_laboratory_reading_before_the_default_cut_off(kw, counts):
    assert (score([lab("anti_dsdna", **kw)]).items == ["increased_dna_binding"]) is counts


@pytest.mark.parametrize("details, field", [({"temperature_c": 101}, "temperature_c"),
                                            ({"temperature_c": True}, "temperature_c")])
def test_implausible_fever_temperature_is_a_clear_error(details, field):
    with pytest.raises(RecordError, match=rf"record 'S': manifestations\[0\]\.details\.{field}: expected"):
        score(mans=[man("fever", **details)])


def test_negative_joint_count_is_a_clear_error():
    with pytest.raises(RecordError, match=r"details\.joints: expected a number of joints \(0 to 100\)"):
        score(mans=[man("arthritis", joints=-1)])
