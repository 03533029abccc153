"""What the safety cases (tests/cases) cannot say in the subset matcher: the order of options named by
therapy, contraindications named by therapy, an empty list, and the words of alerts and advice (searched
case-insensitively for a keyword, not matched exactly). Each test names the case it reads and the rule it
checks; the rules and their sources are in the hazard log (docs/safety/hazard-log.md).
"""

import re
from functools import cache

import pytest

from sleitp.decision import assess
from sleitp.record import load_record
from tests.conftest import ROOT

CASES = ROOT / "tests" / "cases"
GLUCOCORTICOIDS = {"prednisone", "prednisolone", "dexamethasone", "methylprednisolone", "hydrocortisone"}
TPO_RAS = {"eltrombopag", "romiplostim", "avatrombopag", "hetrombopag", "rhtpo"}
# B-cell / plasma-cell agents and immunosuppressants, deferred while an infection is active (review H5)
IMMUNOSUPPRESSANTS = {"rituximab", "daratumumab", "mycophenolate", "azathioprine", "cyclophosphamide"}
# [ICR2019-PREG] [POSTON2016] [BSR2023] first in pregnancy, before rituximab and TPO-RAs (review H3)
PREGNANCY_FIRST = {"ivig", "prednisone", "prednisolone", "methylprednisolone", "azathioprine", "cyclosporine",
                   "hydroxychloroquine"}
PREGNANCY_CONTRAINDICATED = {"mycophenolate", "cyclophosphamide", "danazol", "fostamatinib"}


@cache
def _assessed(name: str) -> dict:
    return assess(load_record(CASES / f"{name}.json")).to_json()


def _recs(name: str) -> dict[str, dict]:
    return {r["therapy"]: r for r in _assessed(name)["recommendations"]}


def _texts(name: str, *fields: str) -> list[str]:
    out = _assessed(name)
    return [t.lower() for f in fields for t in out[f]]


def _says(texts: list[str], *keywords: str) -> bool:
    return any(k.lower() in t for t in texts for k in keywords)


# --- lines: background lupus therapy and drugs that are not ITP treatment form no line (review H1) --------
@pytest.mark.parametrize("name", [
    "background_mmf_new_itp", "background_aza_started_day_before_onset", "background_inferred_onset",
    "same_dose_mmf_continues_background", "indication_sle_wins", "oseltamivir_alone_not_a_line",
    "anticoagulants_not_lines",
])
def test_no_itp_line_yet(name):
    assert _assessed(name)["responses"] == []


def test_background_therapy_then_new_itp_is_first_line_with_admission_prompt():
    out = _assessed("background_mmf_new_itp")
    assert _says(_texts("background_mmf_new_itp", "alerts"), "hospital admission")  # [ASH2019] 2a: < 20
    recs = _recs("background_mmf_new_itp")
    assert recs.get("rituximab", {}).get("rank") != 1
    assert GLUCOCORTICOIDS & set(recs) and "ivig" in recs
    assert not recs.get("mycophenolate", {}).get("previously_failed")  # background MMF did not "fail"
    assert out["setting"]["name"] == "first_line"


def test_lupus_drug_started_at_100_is_background_and_adds_no_line():
    assert len(_assessed("remission_lupus_drug_at_100_background")["responses"]) == 1
    assert len(_assessed("remission_lupus_drug_at_99_line")["responses"]) == 2


def test_oseltamivir_alone_sends_no_one_to_immunosuppression():
    recs = _recs("oseltamivir_alone_not_a_line")
    assert not IMMUNOSUPPRESSANTS & set(recs)
    assert GLUCOCORTICOIDS & set(recs)


# --- the agent's clock (review H2) ---------------------------------------------------------------------
@pytest.mark.parametrize("name", ["prednisone_day3_under_evaluation", "prednisone_day27_under_evaluation"])
def test_glucocorticoid_under_evaluation_keeps_glucocorticoids_and_no_rituximab(name):
    recs = _recs(name)
    assert "rituximab" not in recs
    assert not any(r["previously_failed"] for r in recs.values())


# --- durable relapse, loss and failure (review M1) --------------------------------------------------------
def test_durable_relapse_offers_retreatment_with_the_agent_first():
    for name, agent in (("eltrombopag_durable_relapse_retreat", "eltrombopag"),
                        ("rituximab_relapse_180_days_retreat", "rituximab")):
        r = _recs(name)[agent]
        assert r["rank"] == 1 and not r["previously_failed"]
        assert "retreat" in r["rationale"].lower()


@pytest.mark.parametrize("name, agent", [("rituximab_relapse_179_days_failure", "rituximab"),
                                         ("eltrombopag_response_lost_on_treatment", "eltrombopag")])
def test_relapse_before_six_months_or_loss_on_treatment_is_a_failure(name, agent):
    assert _recs(name)[agent]["previously_failed"]


# --- bleeding (review H7, M9, M17) ----------------------------------------------------------------------
def test_who_grade_0_intracranial_record_raises_no_emergency():
    alerts = _texts("intracranial_who0_no_emergency", "alerts")
    assert not _says(alerts, "critical-site", "life-threatening", "platelet transfusion must not")


def test_intracranial_bleed_day_30_still_named_in_an_alert():
    assert _says(_texts("intracranial_day30_emergency", "alerts"), "intracranial")


# --- pregnancy in every setting (review H3) --------------------------------------------------------------
@pytest.mark.parametrize("name", ["pregnancy_second_line", "pregnancy_refractory"])
def test_pregnancy_puts_compatible_options_before_rituximab_and_tpo_ras(name):
    recs = _recs(name)
    first = [r["rank"] for a, r in recs.items() if a in PREGNANCY_FIRST and not r["previously_failed"]]
    later = [r["rank"] for a, r in recs.items() if a in {"rituximab", *TPO_RAS}]
    assert first and later
    assert max(first) < min(later), {a: r["rank"] for a, r in recs.items()}
    assert recs["rituximab"]["rank"] != 1


@pytest.mark.parametrize("name", ["pregnancy_second_line", "pregnancy_refractory"])
def test_pregnancy_contraindications_are_flagged(name):
    recs = _recs(name)
    present = PREGNANCY_CONTRAINDICATED & set(recs)
    assert {"mycophenolate", "danazol"} <= present
    for a in present:
        assert recs[a]["contraindicated"] is True, a
    for a in PREGNANCY_FIRST & set(recs):
        assert recs[a]["contraindicated"] is False, a


def test_pregnancy_refractory_lists_the_contraindicated_agents_it_holds():
    assert {"cyclophosphamide", "fostamatinib"} <= set(_recs("pregnancy_refractory"))


def test_pregnancy_rituximab_is_labelled_for_severe_or_late_pregnancy_only():
    r = _recs("pregnancy_second_line")["rituximab"]
    words = " ".join([r["rationale"], r["ranked_lower_because"] or "", *r["cautions"]]).lower()
    assert "severe" in words or "late pregnancy" in words


# --- active infection in every setting (review H5) -------------------------------------------------------
@pytest.mark.parametrize("name", ["infection_second_line_ivig_first",
                                  "infection_oseltamivir_refractory_ivig_first"])
def test_infection_defers_immunosuppressants_after_non_immunosuppressive_options(name):
    recs = _recs(name)
    safe = [r["rank"] for a, r in recs.items() if a in {"ivig", *TPO_RAS} and not r["contraindicated"]]
    deferred = {a: r for a, r in recs.items() if a in IMMUNOSUPPRESSANTS}
    assert safe and deferred
    assert max(safe) < min(r["rank"] for r in deferred.values()), {a: r["rank"] for a, r in recs.items()}
    for a, r in deferred.items():  # deferred "with the reason"
        words = " ".join([r["ranked_lower_because"] or "", *r["cautions"], *r["contraindications"]]).lower()
        assert "infection" in words, a


# --- lupus activity gates observation (review H9) --------------------------------------------------------
def test_active_nephritis_is_treated_as_lupus_not_observed():
    recs = _recs("nephritis_class_iv_platelets_58")
    assert GLUCOCORTICOIDS & set(recs)
    words = _texts("nephritis_class_iv_platelets_58", "advice", "alerts")
    assert _says(words, "treat the lupus")
    assert not _says(words, "observation rather than corticosteroids")


def test_inactive_lupus_at_58_is_observed():
    assert _says(_texts("inactive_lupus_platelets_58_observe", "advice"), "observation")


# --- danazol label contraindications (review H4) ---------------------------------------------------------
@pytest.mark.parametrize("name, contraindicated", [
    ("danazol_creatinine_above_limit", True),  # creatinine 91 > the laboratory's 90
    ("danazol_creatinine_at_limit", False),  # 90 is not above 90
    ("danazol_thrombosis_history", True),
    ("apl_thrombosis_tpora", True),
])
def test_danazol_label_contraindications(name, contraindicated):
    assert _recs(name)["danazol"]["contraindicated"] is contraindicated


def test_apl_thrombosis_still_ranks_tpo_ras_lower_and_danazol_last():
    recs = _recs("apl_thrombosis_tpora")
    for tpo in ("eltrombopag", "romiplostim"):
        assert recs[tpo]["ranked_lower_because"]
    assert recs["danazol"]["rank"] == max(r["rank"] for r in recs.values())


# --- hepatitis B (review H6) ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["hbsag_positive_alt_above_limit", "hbsag_positive_alt_at_limit"])
def test_hbsag_positive_every_immunosuppressant_carries_an_hbv_note(name):
    recs = _recs(name)
    held = IMMUNOSUPPRESSANTS | {"cyclosporine", "tacrolimus"}
    assert len(held & set(recs)) >= 3
    for a in held & set(recs):
        words = " ".join([*recs[a]["cautions"], *recs[a]["contraindications"]]).lower()
        assert "hepatitis b" in words or "hbv" in words, a


def test_alt_above_limit_in_hbsag_positive_patient_alerts_hepatitis_b():
    alerts = _texts("hbsag_positive_alt_above_limit", "alerts")
    assert any(("hepatitis b" in t or "hbv" in t) and re.search(r"\balt\b", t) for t in alerts), alerts


def test_alt_at_limit_raises_no_alt_alert():
    alerts = _texts("hbsag_positive_alt_at_limit", "alerts")
    assert not any(re.search(r"\balt\b", t) for t in alerts), alerts


# --- differential diagnosis (review H8) ------------------------------------------------------------------
def test_tma_picture_names_thrombotic_microangiopathy_or_adamts13():
    assert _says(_texts("tma_schistocytes_alert", "alerts"), "thrombotic microangiopathy", "adamts13")


def test_heparin_and_a_fall_prompt_hit_and_the_4ts():
    words = _texts("heparin_fall_hit_alert", "alerts", "advice")
    assert _says(words, "heparin-induced", "4t") or any(re.search(r"\bhit\b", t) for t in words)


# --- a single dose is not running months later -----------------------------------------------------------
def test_single_ivig_dose_in_january_is_not_currently_given_in_june():
    ivig = _recs("ivig_once_january_not_current_june")["ivig"]
    assert not any("currently given" in c.lower() for c in ivig["cautions"])
