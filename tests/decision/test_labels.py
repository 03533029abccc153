"""Label-grade therapy entries (issue 11, clinical review H4-H6, M10-M12, I1): every agent of the record
vocabulary has an evidence entry or is listed as not an ITP therapy; every contraindication and boxed
warning cites a drug label or guideline; the label contraindications reach the ranked options of a patient
built from a record (danazol in APS with thrombosis, with renal impairment); every immunosuppressant and
glucocorticoid carries the three hepatitis B conditions; benefits are never filed as cautions."""

from datetime import date, timedelta

import pytest

from sleitp.decision import assess
from sleitp.decision.conditions import patient_conditions
from sleitp.evidence import load_evidence
from sleitp.evidence._loader import CONTRAINDICATION_LEVEL, ENTRY_OF, NON_ITP_AGENTS
from sleitp.record import AGENTS, GLUCOCORTICOIDS, parse_record

EV = load_evidence()
AT = date(2024, 6, 1)
HBV = {"hepatitis_b", "hepatitis_b_core_positive", "hepatitis_b_status_unknown"}
LABEL_OR_GUIDELINE = {"drug label", "guideline", "consensus"}


def d(n):
    return (AT - timedelta(days=n)).isoformat()


def refractory_record(**extra):
    """Two failed lines (prednisone NR, rituximab NR), platelets 15 now: the refractory setting (danazol)."""
    rec = {
        "id": "L",
        "sex": "female",
        "age_years": 35,
        "assessment_date": AT.isoformat(),
        "itp_diagnosis_date": d(300),
        "labs": [
            {"date": d(n), "test": "platelets", "value": v, "unit": "10^9/L"}
            for n, v in ((300, 12), (290, 14), (250, 13), (200, 12), (150, 14), (100, 13), (0, 15))
        ],
        "treatments": [
            {
                "agent": "prednisone",
                "start": d(299),
                "end": d(260),
                "dose": 60,
                "dose_unit": "mg",
                "frequency": "daily",
            },
            {
                "agent": "rituximab",
                "start": d(200),
                "end": d(179),
                "dose": 100,
                "dose_unit": "mg",
                "frequency": "weekly",
            },
        ],
    }
    for k, v in extra.items():
        if k == "labs":
            rec["labs"] += v
        else:
            rec[k] = v
    return parse_record(rec)


def options(rec):
    j = assess(rec).to_json()
    return {o["therapy"]: o for o in j["recommendations"]}, j


# --- coverage ----------------------------------------------------------------------------------------------
def test_every_record_agent_has_an_entry_or_is_listed_as_not_an_itp_therapy():
    for a in AGENTS:
        assert a in EV.therapies or a in NON_ITP_AGENTS or ENTRY_OF.get(a) in EV.therapies, a
    for a in ("heparin", "lmwh", "warfarin", "doac", "aspirin", "clopidogrel"):
        assert a in NON_ITP_AGENTS and a not in EV.therapies
    for a in (
        "avatrombopag",
        "tacrolimus",
        "belimumab",
        "bortezomib",
        "sirolimus",
        "anifrolumab",
        "obinutuzumab",
        "voclosporin",
        "cd19_car_t",
        "tranexamic_acid",
        "vincristine",
    ):
        assert a in EV.therapies, a


def test_agents_without_itp_data_say_so():
    for a in (
        "anifrolumab",
        "cd19_car_t",
        "belimumab",
        "obinutuzumab",
        "voclosporin",
        "bortezomib",
        "sirolimus",
        "tacrolimus",
    ):
        t = EV.therapies[a]
        assert t.no_itp_data and "no ITP data" in t.certainty.grade and not t.response_rates, a


# --- every contraindication and boxed warning cites a label or guideline -----------------------------------
def test_every_contraindication_and_boxed_warning_cites_a_label_or_guideline():
    for agent, t in EV.therapies.items():
        notes = list(t.contraindications) + [c for c in t.cautions if c.kind in CONTRAINDICATION_LEVEL]
        for n in notes:
            kinds = {EV.references[k].source_type for k in n.source}
            assert kinds & LABEL_OR_GUIDELINE, (agent, n.text, kinds)


def test_new_label_references_say_which_page_was_read():
    for key in (
        "DANAZOL-LABEL",
        "RITUXIMAB-LABEL-FDA",
        "CYCLOPHOSPHAMIDE-SMPC",
        "ELTROMBOPAG-DOSING",
        "AVATROMBOPAG-LABEL-FDA",
        "RILZABRUTINIB-LABEL-FDA",
        "SYDNEY2006",
        "KDIGO2012",
        "ACG-ALT2017",
    ):
        r = EV.references[key]
        assert "http" in r.where and r.source_type, key


# --- danazol [DANAZOL-LABEL] (clinical review H4) ----------------------------------------------------------
def test_danazol_is_contraindicated_with_a_thrombosis_history():
    opts, _ = options(refractory_record(history={"antiphospholipid_syndrome": True, "thrombosis": True}))
    o = opts["danazol"]
    assert o["contraindicated"] and o["contraindication_level"]
    assert any("thrombo" in c for c in o["contraindications"])
    assert o["rank"] == max(x["rank"] for x in opts.values() if x["contraindicated"])


def test_danazol_is_not_contraindicated_without_thrombosis_or_organ_impairment():
    opts, _ = options(refractory_record())
    assert not opts["danazol"]["contraindicated"]


@pytest.mark.parametrize("creatinine,contra", [(111, False), (158, True)])
def test_danazol_is_contraindicated_with_renal_impairment(creatinine, contra):
    labs = [
        {"date": d(0), "test": "creatinine", "value": creatinine, "unit": "umol/L", "reference_high": 111}
    ]
    opts, _ = options(refractory_record(labs=labs))
    assert opts["danazol"]["contraindicated"] is contra


def test_danazol_states_its_warfarin_and_calcineurin_interactions():
    course = {"agent": "warfarin", "start": d(100), "dose": 5, "dose_unit": "mg", "frequency": "daily"}
    opts, _ = options(
        refractory_record(treatments=[*refractory_record().model_dump(mode="json")["treatments"], course])
    )
    assert any("INR" in c for c in opts["danazol"]["cautions"])
    t = EV.therapies["danazol"]
    assert {c.condition for c in t.cautions if c.kind == "interaction"} >= {
        "warfarin",
        "calcineurin_inhibitor",
    }
    assert any(c.condition == "female" and "androgenic" in c.text for c in t.cautions)


# --- hepatitis B on every immunosuppressant (clinical review H6) -------------------------------------------
def test_every_immunosuppressant_and_glucocorticoid_has_the_three_hbv_conditions():
    agents = [a for a, t in EV.therapies.items() if t.immunosuppressive]
    assert {
        "prednisone",
        "dexamethasone",
        "methylprednisolone",
        "mycophenolate",
        "azathioprine",
        "cyclosporine",
        "cyclophosphamide",
        "rituximab",
        "daratumumab",
        "telitacicept",
    } <= set(agents)
    for a in agents:
        assert HBV <= {c.condition for c in EV.therapies[a].cautions}, a
    for gc in GLUCOCORTICOIDS:
        t = EV.therapy(gc) if gc in EV.therapies or gc in ENTRY_OF else None
        assert t is None or HBV <= {c.condition for c in t.cautions}, gc


def test_hbsag_positive_patient_gets_an_hbv_note_on_every_immunosuppressant_offered():
    opts, _ = options(refractory_record(labs=[{"date": d(5), "test": "hbsag", "result": "positive"}]))
    for a, o in opts.items():
        if EV.therapies[a].immunosuppressive:
            assert any("HBsAg positive" in c for c in o["cautions"] + o["contraindications"]), a
    assert any("prophylaxis" in c and "hepatology" in c for c in opts["rituximab"]["cautions"])


def test_screening_names_anti_hbc():
    t = EV.therapies["rituximab"]
    screen = [c for c in t.cautions if c.condition == "hepatitis_b_status_unknown"]
    assert screen and all("anti-HBc" in c.text for c in screen)


# --- infection: the misleading GLADEL sentence is gone (clinical review H5) --------------------------------
def test_no_caution_reads_gladel_as_endorsing_immunosuppression_in_infection():
    for agent, t in EV.therapies.items():
        for c in t.cautions:
            assert "rituximab plus glucocorticoids among options" not in c.text, agent
            assert not (
                c.condition == "active_infection"
                and t.immunosuppressive
                and "or rituximab plus glucocorticoids" in c.text
            ), agent
    assert any(
        c.condition == "active_infection" and c.kind == "contraindication"
        for c in EV.therapies["cyclophosphamide"].contraindications
    )
    assert any(
        c.condition == "active_infection" and "defer" in c.text for c in EV.therapies["rituximab"].cautions
    )


# --- benefits are never cautions (clinical review M12) -----------------------------------------------------
def test_benefits_are_never_filed_as_cautions():
    for agent, t in EV.therapies.items():
        for c in t.cautions:
            low = c.text.lower()
            assert not low.startswith(("compatible with", "also treats")), (agent, c.text)
    assert any(b.condition == "pregnancy" for b in EV.therapies["ivig"].benefits)
    assert any(b.condition == "lupus_nephritis" for b in EV.therapies["mycophenolate"].benefits)


# --- pregnancy dosing and dexamethasone (clinical review M10) [PREG-ITP-TABLE] -----------------------------
def test_dexamethasone_in_pregnancy_points_to_prednisolone_and_the_lower_start():
    t = EV.therapies["dexamethasone"]
    c = [x for x in t.cautions if x.condition == "pregnancy"]
    assert c and "crosses the placenta" in c[0].text and "10-20 mg/day" in c[0].text
    assert any(
        x.condition == "pregnancy" and "10-20 mg/day" in x.text for x in EV.therapies["prednisone"].dosing
    )


# --- other label content -----------------------------------------------------------------------------------
def test_cyclophosphamide_and_ciclosporin_carry_their_label_cautions():
    cyc = {c.condition for c in EV.therapies["cyclophosphamide"].cautions}
    assert "severe_thrombocytopenia" in cyc
    csa = {c.condition: c.kind for c in EV.therapies["cyclosporine"].cautions}
    assert csa["renal_impairment"] == "boxed_warning" and "danazol" in csa
    assert "renal_impairment" in {c.condition for c in EV.therapies["ivig"].cautions}
    assert "haemolysis" in {c.condition for c in EV.therapies["ivig"].cautions}


def test_tpo_ra_label_content():
    elt = EV.therapies["eltrombopag"]
    assert any("East-/Southeast-Asian" in x.text for x in elt.dosing)
    assert any("polyvalent cations" in x.text for x in elt.dosing)
    ava = EV.therapies["avatrombopag"]
    assert "no boxed warning" in ava.status.text and not ava.response_rates


def test_splenectomy_vaccination_and_azathioprine_tpmt_and_mycophenolate_contraception():
    assert any("at least 2 weeks" in c.text for c in EV.therapies["splenectomy"].cautions)
    assert any("TPMT" in c.text and "NUDT15" in c.text for c in EV.therapies["azathioprine"].cautions)
    assert any(
        c.condition == "female" and "pregnancy test" in c.text for c in EV.therapies["mycophenolate"].cautions
    )


# --- option JSON: certainty, definitions, rank meaning (review M8, "rank reads as strength") ---------------
def test_option_json_carries_certainty_definitions_and_what_rank_means():
    _, j = options(refractory_record())
    for o in j["recommendations"]:
        assert "not the strength of the evidence" in o["rank_means"]
        assert o["certainty"]["grade"]
        assert len(o["evidence_detail"]) == len(o["evidence"])
        assert all(e["definition"] for e in o["evidence_detail"])
        assert all("definition:" in e for e in o["evidence"])
        assert isinstance(o["evidence"], list) and all(isinstance(e, str) for e in o["evidence"])


def test_patient_conditions_of_a_record_include_female_and_the_default_alt_limit():
    rec = refractory_record(labs=[{"date": d(0), "test": "alt", "value": 88, "unit": "U/L"}])
    from sleitp.decision import state_from
    from sleitp.score import score

    c = patient_conditions(state_from(score(rec)))
    assert {"female", "liver_disease"} <= c
