"""The recommendation rules (sleitp/decision/rules.py), one test (or more) per rule, on hand-built patient
states; the state reader; the predictor profile; assess() and its JSON contract.

Boundaries worked from the sources: platelets exactly 30 [ASH2019 1b] and 20 [ASH2019 2a]; glucocorticoids
for exactly 42 days (6 weeks) [ASH2019]; exactly 7.5 mg/day [EULAR2019]; WHO grade 2 vs 3 [WHO-BLEED];
exactly 30 days for "no response within 1 month" [AHN2024]."""

from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sleitp.decision import BleedingEvent, Line, PatientState, assess, plan, state_from
from sleitp.decision import rules as R
from sleitp.decision.profile import no_response_within_1_month, predictor_profile
from sleitp.evidence import load_evidence
from sleitp.record import parse_record
from sleitp.score import score

AT = date(2024, 6, 1)
EV = load_evidence()
GCS = {"prednisone", "prednisolone", "dexamethasone", "methylprednisolone", "hydrocortisone"}


def S(**kw) -> PatientState:
    return PatientState(patient_id="T", at=AT, **{"hepatitis_b": False, **kw})


def bleed(grade, site=None, days_before=0):
    return BleedingEvent(AT - timedelta(days=days_before), grade, site)


def line(n, agents, category, loss=None, start=None):
    return Line(n, tuple(agents), start or AT - timedelta(days=60 - 10 * n), category, loss)


def therapies(p):
    return [o.therapy for o in p.options]


def option(p, agent):
    return next(o for o in p.options if o.therapy == agent)


# --- 1. bleeding emergency [ICR2019] [WHO-BLEED] --------------------------------------------------
@pytest.mark.parametrize(
    "event,platelets,level",
    [
        (bleed(1, "intracranial"), 80, "life_threatening"),  # critical site, any grade
        (bleed(4, "skin"), 80, "life_threatening"),  # WHO 4 anywhere
        (bleed(3, "gi"), 80, "life_threatening"),  # GI with grade >= 3
        (bleed(2, "gi"), 25, None),  # GI grade 2 with 25 (>= 20): not an emergency
        (bleed(3, "menorrhagia"), 80, "urgent"),  # gross blood loss needing transfusion
        (bleed(2, "mucosal"), 19.9, "urgent"),  # very low count with clinically significant bleeding
        (bleed(2, "mucosal"), 20, None),  # exactly 20 is not < 20
        (bleed(1, "skin"), 5, None),  # petechiae only (WHO 1) is minor bleeding
    ],
)
def test_bleeding_emergency_levels(event, platelets, level):
    got, alerts = R.bleeding_emergency(S(platelets=platelets, bleeding=(event,)))
    assert got == level
    assert bool(alerts) == (level is not None)
    assert all(a.references for a in alerts)


def test_life_threatening_bleeding_puts_transfusion_first_and_ivig_with_iv_steroids():
    p = plan(S(platelets=40, bleeding=(bleed(3, "gi"),)))
    assert p.setting.name == "emergency_bleeding"
    assert therapies(p)[:3] == ["platelet_transfusion", "ivig", "methylprednisolone"]
    assert p.alerts and "ICR2019" in p.alerts[0].references


def test_urgent_bleeding_puts_iv_steroids_and_ivig_first():
    p = plan(S(platelets=8, bleeding=(bleed(2, "mucosal"),)))
    assert p.setting.name == "emergency_bleeding"
    assert therapies(p)[:2] == ["methylprednisolone", "ivig"]
    assert "romiplostim" not in therapies(p)  # [ICR2019] TPO-RA statement is for life-threatening bleeding


def test_emergency_keeps_rescue_first_despite_antiphospholipid_antibodies():
    p = plan(S(platelets=5, bleeding=(bleed(1, "intracranial"),), antiphospholipid=True, thrombosis=True))
    assert therapies(p)[0] == "platelet_transfusion"
    assert not any(o.demoted for o in p.options)  # no demotion in an emergency
    assert any("thrombosis" in c.text for c in option(p, "ivig").cautions)  # but the caution is shown


# --- 2. setting -----------------------------------------------------------------------------------
def test_setting_first_line_without_any_line():
    assert plan(S(platelets=12)).setting.name == "first_line"


def test_setting_maintenance_when_the_last_line_responds():
    p = plan(S(platelets=120, lines=(line(1, ["prednisone"], "CR"),)))
    assert p.setting.name == "maintenance"
    assert therapies(p)[:1] == ["hydroxychloroquine"]
    assert any("LI2023" in n.references for n in p.advice)


def test_setting_second_line_after_one_failed_line():
    assert plan(S(platelets=12, lines=(line(1, ["prednisone"], "NR"),))).setting.name == "second_line"


def test_setting_second_line_after_a_relapse():
    p = plan(S(platelets=12, lines=(line(1, ["dexamethasone"], "R", loss=AT - timedelta(days=3)),)))
    assert p.setting.name == "second_line"
    assert "lost its response" in p.setting_reason.text


def test_setting_refractory_after_two_failed_lines():
    p = plan(S(platelets=12, lines=(line(1, ["prednisone"], "NR"), line(2, ["rituximab"], "NR"))))
    assert p.setting.name == "refractory_relapsed"


def test_setting_refractory_after_splenectomy_failure():
    p = plan(S(platelets=12, splenectomised=True, lines=(line(1, ["splenectomy"], "NR"),)))
    assert p.setting.name == "refractory_relapsed"
    assert option(p, "splenectomy").contraindicated  # cannot be repeated


def test_corticosteroid_dependence_counts_as_failure_even_when_counts_respond():
    p = plan(S(platelets=70, steroid_dependent=True, lines=(line(1, ["prednisone"], "R"),)))
    assert p.setting.name == "second_line"
    assert not GCS & set(therapies(p))
    assert any("dependence" in n.text for n in p.advice)


def test_line_under_evaluation_stays_first_line_and_says_so():
    p = plan(
        S(platelets=12, running_agents=frozenset({"prednisone"}), lines=(line(1, ["prednisone"], "NE"),))
    )
    assert p.setting.name == "first_line"
    assert "not yet evaluable" in p.setting_reason.text
    assert any("currently given" in c.text for c in option(p, "prednisone").cautions)


# --- 3. first line: ASH 1a / 1b -------------------------------------------------------------------
@pytest.mark.parametrize("platelets,treat", [(29.9, True), (30, False), (45, False), (5, True)])
def test_first_line_threshold_30(platelets, treat):
    p = plan(S(platelets=platelets, phase="newly_diagnosed", bleeding=(bleed(1, "skin"),)))
    assert bool(GCS & set(therapies(p))) is treat
    assert any("observation" in n.text for n in p.advice) is (not treat)


def test_first_line_bleeding_beyond_minor_is_treated_even_at_30_or_more():
    p = plan(S(platelets=45, bleeding=(bleed(2, "epistaxis"),)))
    assert therapies(p)[0] == "prednisone"


def test_first_line_order_glucocorticoids_then_ivig():
    p = plan(S(platelets=12))
    assert therapies(p) == ["prednisone", "dexamethasone", "ivig", "methylprednisolone", "hydroxychloroquine"]


def test_first_line_active_infection_puts_ivig_first():  # [GLADEL2018]
    p = plan(S(platelets=12, active_infection=True))
    assert therapies(p)[0] == "ivig"
    assert any("infection" in c.text for c in option(p, "prednisone").cautions)


def test_first_line_pregnancy_glucocorticoid_or_ivig():  # [POSTON2016]
    p = plan(S(platelets=12, pregnant=True))
    assert therapies(p)[:2] == ["prednisone", "ivig"]
    assert any("POSTON2016" in n.references for n in p.advice)  # delivery goals


def test_mild_thrombocytopenia_needs_no_therapy():  # [GALANOPOULOS2017]
    p = plan(S(platelets=60))
    assert p.options == ()
    assert any("GALANOPOULOS2017" in n.references for n in p.advice)


# --- 4. modifiers ---------------------------------------------------------------------------------
SECOND = (line(1, ["prednisone"], "NR"),)


@pytest.mark.parametrize("agent", ["mycophenolate", "danazol"])
def test_pregnancy_contraindicates_in_second_line(agent):
    p = plan(S(platelets=12, pregnant=True, lines=SECOND))
    o = option(p, agent)
    assert o.contraindicated and "POSTON2016" in o.all_references
    assert all(
        not x.contraindicated
        for x in p.options[: o.rank - 1]
        if x.therapy not in ("mycophenolate", "danazol")
    )


@pytest.mark.parametrize("agent", ["cyclophosphamide", "fostamatinib", "mycophenolate", "danazol"])
def test_pregnancy_contraindicates_in_refractory_setting(agent):
    p = plan(S(platelets=12, pregnant=True, lines=(*SECOND, line(2, ["rituximab"], "NR"))))
    assert option(p, agent).contraindicated


def test_no_contraindication_without_pregnancy():
    p = plan(S(platelets=12, pregnant=False, lines=SECOND))
    assert not any(o.contraindicated for o in p.options)


def test_antiphospholipid_demotes_tpo_ra_and_splenectomy_outside_emergencies():
    base = S(platelets=12, lines=(*SECOND, line(2, ["rituximab"], "NR")))
    for st_ in (replace(base, antiphospholipid=True), replace(base, thrombosis=True)):
        p = plan(st_)
        demoted = [o.therapy for o in p.options if o.demoted]
        assert set(demoted) == {"eltrombopag", "romiplostim", "avatrombopag", "hetrombopag", "splenectomy"}
        first_demoted = min(o.rank for o in p.options if o.demoted)
        assert all(
            o.demoted or o.previously_failed or o.contraindicated for o in p.options if o.rank > first_demoted
        )
        assert any("thrombosis" in c.text for c in option(p, "eltrombopag").cautions)
    assert not any(o.demoted for o in plan(base).options)


def test_hepatitis_b_rituximab_only_with_antiviral_prophylaxis():  # [AGA-HBV2015] boxed warning (labels)
    p = plan(S(platelets=12, hepatitis_b=True, lines=SECOND))
    o = option(p, "rituximab")
    assert any("prophylaxis" in c.text for c in o.cautions)
    for agent in (
        "mycophenolate",
        "azathioprine",
        "cyclosporine",
    ):  # every immunosuppressant, not rituximab only
        assert any(w in c.text for c in option(p, agent).cautions for w in ("hepatitis B", "HBV", "HBsAg")), (
            agent
        )


def test_unknown_hepatitis_b_status_asks_for_screening_before_rituximab():
    p = plan(S(platelets=12, hepatitis_b=None, lines=SECOND))
    o = option(p, "rituximab")
    assert not o.contraindicated
    assert any("HBsAg" in c.text for c in o.cautions)
    # HBsAg negative with anti-HBc never tested is not "clear": screening is still asked for (review H6)
    negative = option(plan(S(platelets=12, hepatitis_b=False, lines=SECOND)), "rituximab")
    assert any("anti-HBc" in c.text for c in negative.cautions)


def test_liver_disease_cautions_eltrombopag_and_danazol():
    p = plan(S(platelets=12, liver_disease=True, lines=SECOND))
    assert any("hepatotoxicity" in c.text and "liver" in c.text for c in option(p, "eltrombopag").cautions)
    danazol = option(p, "danazol")
    assert danazol.contraindicated and any("hepat" in c.text for c in danazol.contraindications)
    healthy = plan(S(platelets=12, lines=SECOND))
    assert not any("liver disease" in c.text for c in option(healthy, "eltrombopag").cautions)


def test_lupus_nephritis_renal_caution_on_ivig():
    p = plan(S(platelets=12, lupus_nephritis=True, lines=SECOND))
    assert any("renal" in c.text for c in option(p, "ivig").cautions)
    assert therapies(plan(S(platelets=12, lines=SECOND)))[:3] == ["rituximab", "ivig", "mycophenolate"]


def test_active_nephritis_puts_its_anchor_drugs_first_in_second_line():  # [EULAR2023] LN anchors
    p = plan(
        S(
            platelets=12,
            lupus_nephritis=True,
            lines=SECOND,
            major_organ_activity=("lupus nephritis recorded on 2024-05-20 (class IV)",),
        )
    )
    assert therapies(p)[:2] == ["mycophenolate", "cyclophosphamide"]
    assert "EULAR2023" in option(p, "cyclophosphamide").references


@pytest.mark.parametrize("platelets,ivig", [(29.9, True), (30, False), (71, False)])
def test_ivig_in_second_line_only_as_a_bridge(platelets, ivig):  # review M3 [KADO2019]
    assert ("ivig" in therapies(plan(S(platelets=platelets, lines=SECOND)))) is ivig


def test_active_infection_cautions_immunosuppressants():
    p = plan(S(platelets=12, active_infection=True, lines=SECOND))
    for agent in ("rituximab", "mycophenolate", "azathioprine"):
        assert any("infection" in c.text for c in option(p, agent).cautions), agent


def test_failed_agent_is_named_and_ranked_after_the_others():
    p = plan(S(platelets=12, lines=(line(1, ["prednisone"], "NR"), line(2, ["rituximab"], "NR"))))
    o = option(p, "rituximab")
    assert o.previously_failed == "line 2: no response (NR) once its time to respond had passed"
    assert "already failed in line 2" in o.cautions[0].text
    assert all(x.rank < o.rank for x in p.options if not x.previously_failed and not x.contraindicated)


# --- 5. advice: steroid-sparing prompts and hospitalisation ---------------------------------------
@pytest.mark.parametrize("days,prompt", [(42, False), (43, True)])
def test_ash_prompt_after_more_than_6_weeks(days, prompt):  # [ASH2019]
    p = plan(S(platelets=40, gc_continuous_days=days, gc_mg_day=5.0, lines=(line(1, ["prednisone"], "NE"),)))
    assert any("> 6 weeks" in n.text for n in p.advice) is prompt


@pytest.mark.parametrize("mg,prompt", [(5.0, False), (5.1, True), (7.5, True), (20.0, True)])
def test_eular_maintenance_target(mg, prompt):  # [EULAR2023] <= 5 mg/day, withdrawn when possible
    p = plan(S(platelets=150, gc_mg_day=mg, gc_continuous_days=100, lines=(line(1, ["prednisone"], "CR"),)))
    assert any("EULAR2023" in n.references and "5 mg/day" in n.text for n in p.advice) is prompt


def test_eular_prompt_not_during_a_short_induction():
    p = plan(S(platelets=12, gc_mg_day=60.0, gc_continuous_days=10, lines=(line(1, ["prednisone"], "NE"),)))
    assert not any("EULAR2023" in n.references and "maintenance" in n.text for n in p.advice)


@pytest.mark.parametrize("platelets,alert", [(19.9, True), (20, False)])
def test_ash_hospitalisation_for_newly_diagnosed_below_20(platelets, alert):  # [ASH2019] 2a
    p = plan(S(platelets=platelets, phase="newly_diagnosed"))
    assert any("hospital" in a.text for a in p.alerts) is alert


def test_no_hospitalisation_alert_for_known_itp():
    assert not plan(S(platelets=10, phase="chronic")).alerts


def test_running_azathioprine_prompts_to_exclude_drug_induced_cytopenia():
    st_ = state_from(
        score(
            parse_record(
                {
                    "id": "AZA",
                    "assessment_date": "2024-06-01",
                    "sle_diagnosis_date": "2020-01-01",
                    "labs": [
                        {"date": "2023-01-01", "test": "platelets", "value": 210, "unit": "10^9/L"},
                        {"date": "2024-06-01", "test": "platelets", "value": 12, "unit": "10^9/L"},
                    ],
                    "treatments": [
                        {"agent": "azathioprine", "start": "2023-01-01", "dose": 100, "dose_unit": "mg"}
                    ],
                }
            )
        )
    )
    assert not st_.lines and "azathioprine" in st_.background_agents  # background lupus therapy, no line
    p = plan(st_)
    assert any("azathioprine" in n.text and "drug" in n.text.lower() for n in p.advice)


# --- laws over any state (hypothesis) -------------------------------------------------------------
states = st.builds(
    PatientState,
    patient_id=st.just("H"),
    at=st.just(AT),
    platelets=st.one_of(st.none(), st.floats(0, 500, allow_nan=False)),
    phase=st.sampled_from([None, "newly_diagnosed", "persistent", "chronic"]),
    bleeding=st.lists(
        st.builds(
            BleedingEvent,
            st.just(AT),
            st.integers(0, 4),
            st.sampled_from([None, "skin", "mucosal", "gi", "intracranial", "menorrhagia"]),
        ),
        max_size=3,
    ).map(tuple),
    lines=st.lists(
        st.tuples(
            st.sampled_from(["prednisone", "rituximab", "eltrombopag", "ivig", "mycophenolate"]),
            st.sampled_from(["CR", "R", "NR", "NE"]),
            st.booleans(),
        ),
        max_size=4,
    ).map(
        lambda xs: tuple(
            Line(i + 1, (a,), AT - timedelta(days=100 - i), c, AT if lost and c in ("R", "CR") else None)
            for i, (a, c, lost) in enumerate(xs)
        )
    ),
    steroid_dependent=st.sampled_from([None, True, False]),
    gc_mg_day=st.one_of(st.none(), st.floats(0, 100, allow_nan=False)),
    gc_continuous_days=st.integers(0, 400),
    pregnant=st.booleans(),
    antiphospholipid=st.booleans(),
    thrombosis=st.booleans(),
    hepatitis_b=st.sampled_from([None, True, False]),
    active_infection=st.booleans(),
    liver_disease=st.booleans(),
    lupus_nephritis=st.booleans(),
    splenectomised=st.booleans(),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(states)
def test_laws_of_every_plan(s):
    p = plan(s, EV)
    assert p.setting.name in R.SETTINGS
    assert [o.rank for o in p.options] == list(range(1, len(p.options) + 1))
    assert len({o.therapy for o in p.options}) == len(p.options)
    for o in p.options:
        assert o.references and all(k in EV.references for k in o.all_references)
        assert o.therapy in EV.therapies
    flags = [o.contraindicated for o in p.options]
    assert flags == sorted(flags)  # contraindicated options only after every usable one
    assert (p.setting.name == "emergency_bleeding") == any(
        a.text.startswith(("Critical", "Life", "Severe", "Platelets")) for a in p.alerts
    )
    if s.pregnant:
        for agent in ("mycophenolate", "cyclophosphamide", "danazol", "fostamatinib"):
            assert all(o.contraindicated for o in p.options if o.therapy == agent)
    if s.hepatitis_b is True:  # [AGA-HBV2015] rituximab only with antiviral prophylaxis, or contraindicated
        assert all(
            o.contraindicated or any("prophylaxis" in c.text for c in o.cautions)
            for o in p.options
            if o.therapy == "rituximab"
        )


# --- reading the state from a record --------------------------------------------------------------
def record(**kw):
    base = {
        "id": "R1",
        "sex": "female",
        "age_years": 30,
        "assessment_date": "2024-06-01",
        "labs": [{"date": "2024-06-01", "test": "platelets", "value": 40, "unit": "10^9/L"}],
    }
    base.update(kw)
    return parse_record(base)


def lab(test, result, d="2024-05-01"):
    return {"date": d, "test": test, "result": result}


def test_state_reads_antiphospholipid_from_labs_or_history():
    plt = {"date": "2024-06-01", "test": "platelets", "value": 40, "unit": "10^9/L"}
    assert state_from(score(record(labs=[plt, lab("lupus_anticoagulant", "positive")]))).antiphospholipid
    assert not state_from(score(record(labs=[plt, lab("anticardiolipin", "negative")]))).antiphospholipid
    assert state_from(score(record(history={"antiphospholipid_syndrome": True}))).antiphospholipid


def test_state_reads_hepatitis_b_from_the_latest_hbsag():
    plt = {"date": "2024-06-01", "test": "platelets", "value": 40, "unit": "10^9/L"}
    assert state_from(score(record())).hepatitis_b is None
    assert (
        state_from(
            score(
                record(
                    labs=[plt, lab("hbsag", "positive", "2024-01-01"), lab("hbsag", "negative", "2024-05-01")]
                )
            )
        ).hepatitis_b
        is False
    )
    assert state_from(score(record(history={"hepatitis_b": True}))).hepatitis_b is True


def test_state_reads_raised_alt_only_against_the_laboratory_limit():
    plt = {"date": "2024-06-01", "test": "platelets", "value": 40, "unit": "10^9/L"}
    alt = {"date": "2024-05-01", "test": "alt", "value": 41, "unit": "U/L"}
    assert not state_from(score(record(labs=[plt, alt]))).liver_disease  # no limit given: none invented
    assert state_from(score(record(labs=[plt, {**alt, "reference_high": 40}]))).liver_disease
    assert not state_from(score(record(labs=[plt, {**alt, "value": 40, "reference_high": 40}]))).liver_disease


def test_state_counts_uninterrupted_glucocorticoid_days_across_adjacent_courses():
    t = [
        {"agent": "prednisone", "start": "2024-04-01", "end": "2024-04-30", "dose": 40, "dose_unit": "mg"},
        {"agent": "prednisone", "start": "2024-05-01", "dose": 20, "dose_unit": "mg"},
    ]
    s = state_from(score(record(treatments=t)))
    assert s.gc_continuous_days == 62  # 2024-04-01 .. 2024-06-01 inclusive
    gap = [{**t[0], "end": "2024-04-29"}, t[1]]  # one day without glucocorticoid breaks the span
    assert state_from(score(record(treatments=gap))).gc_continuous_days == 32


def test_state_bleeding_window_is_7_days_inclusive():
    ev = [{"date": "2024-05-25", "who_grade": 3, "site": "gi"}, {"date": "2024-05-24", "who_grade": 4}]
    s = state_from(score(record(bleeding=ev)))
    assert [b.date for b in s.bleeding] == [date(2024, 5, 25)]


# --- the predictor profile ------------------------------------------------------------------------
def test_profile_reads_present_absent_unknown():
    rec = record(
        labs=[
            {"date": "2024-06-01", "test": "platelets", "value": 12, "unit": "10^9/L"},
            lab("anti_tpo_receptor", "negative"),
        ],
        sex="male",
    )
    prof = {p.predictor.name: p for p in predictor_profile(rec, date(2024, 6, 1), [])}
    assert prof["baseline_platelets_below_20"].status == "present"  # [AHN2024] 12 < 20
    assert prof["anti_tpo_receptor"].status == "absent"
    assert prof["megakaryocytes_below_20"].status == "unknown"
    assert prof["male_sex"].status == "present"
    assert prof["older_age"].status == "measured" and prof["older_age"].value == 30
    j = prof["baseline_platelets_below_20"].to_json()
    assert j["present"] is True and j["references"] == ["AHN2024"] and "13.628" in j["effect"]


def test_no_response_within_one_month_boundaries():
    from sleitp.instruments import IwgResponse

    def resp(category, ttr, start=date(2024, 1, 1)):
        return IwgResponse(
            line=1,
            agents=["prednisone"],
            start=start,
            baseline_platelets=10,
            baseline_date=start,
            category=category,
            time_to_response_days=ttr,
            time_to_complete_response_days=None,
            loss_of_response_date=None,
            evaluation_end=date(2024, 6, 1),
            findings=[],
        )

    assert no_response_within_1_month([resp("R", 30)], date(2024, 6, 1)) is False  # exactly 30 days: within
    assert no_response_within_1_month([resp("R", 31)], date(2024, 6, 1)) is True
    assert no_response_within_1_month([resp("NR", None)], date(2024, 6, 1)) is True
    assert no_response_within_1_month([resp("NE", None)], date(2024, 1, 20)) is None  # too early to tell
    assert no_response_within_1_month([], date(2024, 6, 1)) is None


# --- assess() and its JSON ------------------------------------------------------------------------
def test_assess_json_has_the_contract_fields_and_types():
    rec = record(bleeding=[{"date": "2024-06-01", "who_grade": 3, "site": "gi"}])
    j = assess(rec).to_json()
    for k in (
        "patient_id",
        "assessment_date",
        "platelets",
        "itp",
        "sledai_2k",
        "eular_acr_2019",
        "slicc_2012",
        "bleeding",
        "glucocorticoids",
        "responses",
        "predictors",
        "prediction",
        "recommendations",
        "alerts",
    ):
        assert k in j
    assert j["prediction"] is None and "no model was given" in j["prediction_statement"]
    for p in j["predictors"]:
        # numeric predictors without a sourced threshold: present null, with the value (review M13)
        assert (p["present"] is None or isinstance(p["present"], bool)) and isinstance(p["references"], list)
        assert set(p) >= {"name", "present", "direction", "effect", "references"}
    for r in j["recommendations"]:
        assert isinstance(r["rank"], int) and isinstance(r["contraindicated"], bool)
        assert isinstance(r["cautions"], list) and r["references"] and r["setting"] == "emergency_bleeding"
    assert all(isinstance(a, str) for a in j["alerts"]) and j["alerts"]
    assert "not a prescription" in j["statement"]


class _FakePrediction:
    def to_json(self):
        return {
            "outcome": "first_line_response",
            "probability": 0.62,
            "interval": [0.5, 0.7],
            "model": {"name": "logistic", "trained_on": "synthetic cohort", "synthetic": True},
            "contributions": [],
            "statement": "Estimated probability of response to the first line: 62%.",
        }


class _FakeModel:
    def __init__(self):
        self.calls = []

    def predict_one(self, rec, at):
        self.calls.append((rec.id, at))
        return _FakePrediction()


def test_assess_with_a_model_carries_its_prediction_and_warns_when_synthetic():
    m = _FakeModel()
    a = assess(record(), at=date(2024, 6, 1), model=m)
    assert m.calls == [("R1", date(2024, 6, 1))]
    j = a.to_json()
    assert j["prediction"]["probability"] == 0.62
    assert "synthetic" in j["prediction_statement"].lower()


def test_a_line_under_way_with_a_rising_count_is_not_told_to_observe():
    p = plan(
        S(platelets=45, running_agents=frozenset({"prednisone"}), lines=(line(1, ["prednisone"], "NE"),))
    )
    assert p.options and not any("observation" in n.text for n in p.advice)


def test_no_platelet_count_gives_no_option_and_says_why():
    p = plan(S(platelets=None))
    assert p.options == () and any("No platelet count" in n.text for n in p.advice)


def test_single_dose_glucocorticoid_does_not_run_on():
    t = [
        {
            "agent": "methylprednisolone",
            "start": "2024-05-01",
            "dose": 1000,
            "dose_unit": "mg",
            "frequency": "once",
        }
    ]
    assert state_from(score(record(treatments=t))).gc_continuous_days == 0
    t_today = [{**t[0], "start": "2024-06-01"}]
    assert state_from(score(record(treatments=t_today))).gc_continuous_days == 1


def test_prediction_statement_says_what_line_1_already_did():
    from sleitp.record import load_record
    from tests.conftest import ROOT

    a = assess(load_record(ROOT / "tests" / "cases" / "glucocorticoid_failure.json"), model=_FakeModel())
    assert "Observed: line 1 (prednisone) was NR" in a.prediction_statement
    assert "Observed" not in assess(record(), model=_FakeModel()).prediction_statement  # no line yet


def test_pregnancy_with_infection_puts_ivig_first():  # [POSTON2016] GC or IVIG; [GLADEL2018] infection
    assert therapies(plan(S(platelets=12, pregnant=True, active_infection=True)))[:2] == [
        "ivig",
        "prednisone",
    ]


# --- the state read right (issue 10) ---------------------------------------------------------------------
PLT = {"date": "2024-06-01", "test": "platelets", "value": 8, "unit": "10^9/L"}


def test_a_single_ivig_dose_is_not_currently_given_months_later():
    once = {"agent": "ivig", "start": "2024-01-10", "dose": 1, "dose_unit": "g/kg", "frequency": "once"}
    assert "ivig" not in state_from(score(record(labs=[PLT], treatments=[once]))).running_agents
    assert (
        "ivig"
        in state_from(score(record(labs=[PLT], treatments=[{**once, "start": "2024-06-01"}]))).running_agents
    )


def test_who_grade_0_at_an_intracranial_site_is_no_bleeding():  # "CT: no bleed"
    s = state_from(
        score(record(labs=[PLT], bleeding=[{"date": "2024-06-01", "who_grade": 0, "site": "intracranial"}]))
    )
    assert s.bleeding == () and s.critical_bleeding == ()
    assert plan(s).setting.name != "emergency_bleeding"


@pytest.mark.parametrize("bleed_day,emergency", [("2024-05-02", True), ("2024-05-01", False)])
def test_an_intracranial_bleed_keeps_the_emergency_for_30_days(bleed_day, emergency):
    # ICH on day 0, platelets 8 at day 30 (emergency) / day 31 (no longer; an alert says the risk)
    s = state_from(
        score(record(labs=[PLT], bleeding=[{"date": bleed_day, "who_grade": 4, "site": "intracranial"}]))
    )
    p = plan(s)
    assert (p.setting.name == "emergency_bleeding") is emergency
    if not emergency:
        assert any("Critical-site bleeding on 2024-05-01" in a.text for a in p.alerts)


@pytest.mark.parametrize("bleed_day,inside", [("2024-05-25", True), ("2024-05-24", False)])
def test_ordinary_bleeding_keeps_the_7_day_window(bleed_day, inside):
    s = state_from(
        score(record(labs=[PLT], bleeding=[{"date": bleed_day, "who_grade": 2, "site": "mucosal"}]))
    )
    assert bool(s.bleeding) is inside


def test_an_antiviral_given_now_means_an_active_infection():
    t = [{"agent": "oseltamivir", "start": "2024-05-30", "end": "2024-06-03"}]
    s = state_from(score(record(labs=[PLT], treatments=t)))
    assert s.active_infection and s.lines == ()
    p = plan(s)
    assert p.setting.name == "first_line" and therapies(p)[0] == "ivig"


def test_rituximab_is_deferred_in_active_infection_in_every_setting():  # review H5
    p = plan(S(platelets=12, active_infection=True, lines=SECOND))
    assert therapies(p)[0] == "ivig"
    rtx = option(p, "rituximab")
    assert rtx.demoted.startswith("deferred") and rtx.rank > option(p, "danazol").rank


def test_pregnancy_reorders_every_setting():  # review H3 [ICR2019-PREG]
    for lines in (SECOND, (line(1, ["prednisone"], "NR"), line(2, ["danazol"], "NR"))):
        p = plan(S(platelets=15, pregnant=True, lines=lines))
        ranks = {o.therapy: o.rank for o in p.options}
        assert ranks["ivig"] == 1
        for late in ("rituximab", "eltrombopag", "romiplostim"):
            if late in ranks:
                assert all(
                    ranks[late] > ranks[a] for a in ("methylprednisolone", "azathioprine") if a in ranks
                )
                assert "late pregnancy" in option(p, late).demoted or "very severe" in option(p, late).demoted
        for other in ("daratumumab", "efgartigimod", "rilzabrutinib"):  # not listed for pregnancy: avoided
            if other in ranks:
                assert option(p, other).demoted.startswith("pregnancy: not among")


def test_observation_only_when_the_lupus_is_otherwise_inactive():  # review H9
    quiet = plan(S(platelets=58, sledai_assessable=True))
    assert quiet.options == () and any("observation rather than" in a.text for a in quiet.advice)
    nephritis = plan(
        S(
            platelets=58,
            lupus_nephritis=True,
            major_organ_activity=("lupus nephritis recorded on 2024-05-20 (class IV)",),
        )
    )
    assert therapies(nephritis)[:3] == ["methylprednisolone", "mycophenolate", "cyclophosphamide"]
    assert not any("observation rather than" in a.text for a in nephritis.advice)
    assert any("treat the lupus" in a.text and "primary ITP" in a.text for a in nephritis.advice)
    active = plan(S(platelets=58, lupus_activity=("rash", "arthritis")))
    assert any("only when the lupus is" in a.text for a in active.advice)


def test_sledai_without_urine_or_serology_is_not_assessable():
    s = state_from(score(record(labs=[PLT])))
    assert not s.sledai_assessable
    r = score(
        record(
            labs=[
                PLT,
                {"date": "2024-05-30", "test": "c3", "value": 1.0, "unit": "g/L"},
                {"date": "2024-05-30", "test": "urine_protein_24h", "value": 0.1, "unit": "g/24h"},
            ]
        )
    )
    assert r.sledai.assessable


def test_a_line_under_evaluation_keeps_the_setting_and_says_the_day():  # review H2
    labs = [
        {"date": d, "test": "platelets", "value": v, "unit": "10^9/L"}
        for d, v in (("2024-05-29", 11), ("2024-05-31", 11), ("2024-06-01", 13))
    ]
    s = state_from(
        score(
            record(
                labs=labs,
                treatments=[{"agent": "prednisone", "start": "2024-05-29", "dose": 60, "dose_unit": "mg"}],
            )
        )
    )
    p = plan(s)
    assert p.setting.name == "first_line" and "day 3 of about 28" in p.setting_reason.text
    assert therapies(p)[0] == "prednisone" and option(p, "prednisone").rationale.startswith("continue")


def test_background_lupus_therapy_keeps_first_line_and_the_admission_alert():  # review H1
    labs = [
        {"date": "2023-06-01", "test": "platelets", "value": 210, "unit": "10^9/L"},
        {"date": "2024-05-01", "test": "platelets", "value": 190, "unit": "10^9/L"},
        {"date": "2024-06-01", "test": "platelets", "value": 11, "unit": "10^9/L"},
    ]
    t = [
        {
            "agent": "mycophenolate",
            "start": "2023-04-01",
            "dose": 1000,
            "dose_unit": "mg",
            "frequency": "bid",
        },
        {"agent": "prednisone", "start": "2023-04-01", "dose": 5, "dose_unit": "mg"},
    ]
    s = state_from(score(record(labs=labs, treatments=t, itp_diagnosis_date=None)))
    assert s.lines == () and s.background_agents == {"mycophenolate", "prednisone"}
    p = plan(s)
    assert p.setting.name == "first_line" and therapies(p)[0] != "rituximab"
    assert {"prednisone", "dexamethasone", "ivig"} <= set(therapies(p))
    assert any("hospital" in a.text for a in p.alerts)
    assert "background lupus therapy" in option(p, "prednisone").cautions[0].text


def test_a_durable_relapse_retreats_with_the_agent_first():  # review M1 [RTX-RENJI]
    lines = (
        line(1, ["prednisone"], "NR"),
        Line(
            2,
            ("rituximab",),
            AT - timedelta(days=800),
            "CR",
            AT - timedelta(days=30),
            "relapse_after_durable_response",
            AT - timedelta(days=5),
        ),
    )
    p = plan(S(platelets=20, lines=lines))
    assert p.setting.name == "second_line" and therapies(p)[0] == "rituximab"
    assert (
        option(p, "rituximab").rationale.startswith("retreatment")
        and not option(p, "rituximab").previously_failed
    )


def test_no_platelet_transfusion_at_the_urgent_level():  # review M17 [ICR2019]
    p = plan(S(platelets=8, bleeding=(bleed(2, "mucosal"),)))
    assert "platelet_transfusion" not in therapies(p)
