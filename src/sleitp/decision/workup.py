"""Differential diagnosis and work-up prompts; infection, hepatitis B and monitoring advice.

``workup(state, setting) -> (alerts, advice)``. Every note says which record data fired it and cites its
sources (keys in ``evidence/references*.yaml``). Read in the clinician's order (docs/workup.md):

1. **When the work-up is due** (:func:`occasion`): always in an emergency; at first presentation (no ITP
   line yet, platelets < 100); at a new fall (CHOICE, docs/workup.md): the count fell below 100 within the
   last 14 days after a count >= 100, or to half (or less) of the highest count of the 30 days before.
2. **Differential prompts** at that occasion: TTP / TMA, HIT, pseudothrombocytopenia, drug-induced, Evans /
   AIHA, MAS / HLH, pregnancy-specific causes, marrow failure, secondary-ITP screen.
3. **Alerts that fire whenever the data show them** (any day): a TMA picture, HIT risk with a fall on
   heparin, Evans syndrome, MAS criteria, HELLP, an ALT rise in HBV-positive patients, teratogenic drug in
   pregnancy, TPMT deficiency on azathioprine, anticoagulation below its platelet threshold.
4. **Monitoring and prophylaxis advice**: HBV screening and prophylaxis, PJP, bone, vaccination, pregnancy
   tests / contraception, TPMT / NUDT15, platelet thresholds for anticoagulation.

Items the record cannot hold (blood pressure, urine dipstick, MCV, cancer / transplant history, new
thrombosis dates, an antiviral drug) are never scored: the note says they are missing.
"""

from __future__ import annotations

from datetime import date, timedelta

from sleitp.decision.conditions import ALT_DEFAULT_UPPER, ALT_DEFAULT_UPPER_OTHER, ANTICOAGULANTS
from sleitp.decision.notes import Note
from sleitp.decision.state import PatientState
from sleitp.record import Lab

# --- thresholds and windows -----------------------------------------------------------------------------
ITP_BELOW = 100.0  # x10^9/L [IWG2009] thrombocytopenia of ITP: < 100
NEW_FALL_DAYS = 14  # CHOICE: a fall below 100 that began within 14 days is "new"
HALVING_LOOKBACK_DAYS = 30  # CHOICE: a fall to <= 50% of the highest count of the previous 30 days
CURRENT_LAB_DAYS = 14  # CHOICE: a result within 14 days counts as current for a work-up prompt
RECENT_EVENT_DAYS = 90  # CHOICE: Coombs / autoimmune haemolysis within 90 days counts as current
HEPARIN_LOOKBACK_DAYS = 100  # [LO2006] 4Ts timing item counts heparin exposure up to 100 days back
HIT_FALL_FRACTION = 0.30  # [LO2006] 4Ts thrombocytopenia item: a fall >= 30% scores >= 1 point
DRUG_LOOKBACK_DAYS = 30  # CHOICE: a drug given within the last 30 days is a candidate cause
PLASMIC_PLATELETS_BELOW = 30.0  # [PLASMIC2017] platelets < 30 x10^9/L: 1 point
PLASMIC_CREATININE_BELOW = 2.0 * 88.42  # [PLASMIC2017] creatinine < 2.0 mg/dL (= 176.8 umol/L, x88.42)
PLASMIC_INR_BELOW = 1.5  # [PLASMIC2017] INR < 1.5: 1 point
PLASMIC_BILIRUBIN_ABOVE = 2.0 * 17.1  # [PLASMIC2017] (indirect) bilirubin > 2.0 mg/dL = 34.2 umol/L
MAS_FERRITIN_ABOVE = 684.0  # ug/L = ng/mL [RAVELLI2016] ferritin > 684
MAS_PLATELETS_AT_MOST = 181.0  # [RAVELLI2016] platelets <= 181 x10^9/L
MAS_AST_ABOVE = 48.0  # U/L [RAVELLI2016]
MAS_TRIGLYCERIDES_ABOVE = 1.76  # mmol/L [RAVELLI2016] (> 156 mg/dL)
MAS_FIBRINOGEN_AT_MOST = 3.6  # g/L [RAVELLI2016] (<= 360 mg/dL)
HSCORE_HB_AT_MOST = 92.0  # g/L [FARDET2014] cytopenia lineage: haemoglobin <= 92
HSCORE_WBC_AT_MOST = 5.0  # x10^9/L [FARDET2014] leucocytes <= 5
HSCORE_PLT_AT_MOST = 110.0  # x10^9/L [FARDET2014] platelets <= 110
LOW_MEGAKARYOCYTES_BELOW = 20.0  # /slide [ZHAO2016] BM-MK < 20/slide
HELLP_AST_AT_LEAST = 70.0  # U/L [HELLP-CK] AST > 2x upper reference, usually >= 70
POSTPARTUM_DAYS = 42  # CHOICE: 6 weeks after delivery count as post-partum (HELLP: early post-partum)
HBV_GC_MG_DAY = 20.0  # [HBV-RISK-TABLE] high-dose glucocorticoids >= 20 mg/day for >= 4 weeks
HBV_GC_DAYS = 28  # [HBV-RISK-TABLE] [AGA-HBV2015] duration >= 4 weeks
ALT_RECENT_DAYS = 30  # CHOICE: the ALT within 30 days is read for an HBV flare
PJP_GC_MG_DAY = 15.0  # [EULAR-INFECT2022] "> 15-30 mg of prednisolone ... for > 2-4 weeks": lower ends
PJP_GC_DAYS = 14  # [EULAR-INFECT2022] > 2 weeks (the lower end of "2-4 weeks")
GIOP_GC_MG_DAY = 2.5  # [ACR-GIOP2022] >= 2.5 mg/day
GIOP_GC_DAYS = 90  # [ACR-GIOP2022] for > 3 months
ANTICOAG_FULL_DOSE_AT_LEAST = 50.0  # [ISTH-CAT2018] full dose without transfusion at >= 50 G/L
ANTICOAG_HOLD_BELOW = 25.0  # [ISTH-CAT2018] < 25: temporarily discontinue (lower-risk thrombosis)

HEPARINS = ("heparin", "lmwh")
B_CELL_DEPLETING = ("rituximab", "obinutuzumab")  # [AGA-HBV2015] B-cell-depleting agents: high risk
IMMUNOSUPPRESSANTS = (
    "mycophenolate", "azathioprine", "cyclosporine", "tacrolimus", "voclosporin", "cyclophosphamide",
    "sirolimus", "rituximab", "obinutuzumab", "belimumab", "telitacicept", "daratumumab", "bortezomib",
    "anifrolumab", "cd19_car_t",
)
# teratogenic agents and the label sentence read for each
TERATOGENS = {
    "mycophenolate": ("LABEL-MMF-REMS", "counsel on pregnancy prevention and planning (REMS); avoid in "
                      "pregnancy if safer options exist"),
    "cyclophosphamide": ("LABEL-CYC-PREG", "verify a negative pregnancy test before starting; effective "
                         "contraception during treatment and up to 1 year after"),
    "danazol": ("LABEL-DANAZOL-PREG", "a sensitive pregnancy test immediately before starting; non-hormonal "
                "contraception during therapy; contraindicated in pregnancy"),
    "fostamatinib": ("LABEL-FOSTAMATINIB-PREG", "can cause fetal harm; effective contraception during "
                     "treatment and for at least 1 month after the last dose"),
}
# candidate causes of drug-induced thrombocytopenia among the record's agents, with the source read
DRUG_CAUSES = {
    "azathioprine": ("the most frequent drug in drug-induced cytopenia among 221 SLE patients",
                     ("TEKE2017", "GALANOPOULOS2017")),
    "hydroxychloroquine": ("rarely causes thrombocytopenia", ("GALANOPOULOS2017",)),
    "cyclophosphamide": ("label warning: myelosuppression and bone-marrow failure", ("LABEL-CYC-PREG",)),
    "heparin": ("heparin-induced thrombocytopenia (4Ts score)", ("LO2006",)),
    "lmwh": ("heparin-induced thrombocytopenia (4Ts score)", ("LO2006",)),
}
TRANSFUSION_CAUTION = (
    "Avoid platelet transfusion if TTP or HIT is suspected, unless bleeding is serious or life-threatening "
    "(ISTH 2020 TTP good-practice statement; ASH 2018 HIT)."
)
TRANSFUSION_REFS = ("ISTH-TTP2020", "ASH-HIT2018")


DISPLAY = {"ldh": "LDH", "alt": "ALT", "ast": "AST", "inr": "INR", "adamts13": "ADAMTS13", "hbsag": "HBsAg",
           "anti_hbc": "anti-HBc", "hbv_dna": "HBV DNA", "tpmt": "TPMT", "direct_coombs": "direct Coombs",
           "wbc": "WBC"}


# --- reading helpers ------------------------------------------------------------------------------------
def _lab_text(lab: Lab) -> str:
    """'LDH 1450 U/L on 2024-03-02', a result 'schistocytes positive on ...', with its limits if given."""
    name = DISPLAY.get(lab.test, lab.test.replace("_", " "))
    if lab.value is None:
        return f"{name} {lab.result} on {lab.date.isoformat()}"
    unit = f" {lab.unit}" if lab.unit else ""
    lim = []
    if lab.reference_low is not None:
        lim.append(f"low {lab.reference_low:g}")
    if lab.reference_high is not None:
        lim.append(f"high {lab.reference_high:g}")
    ref = f" (lab limits: {', '.join(lim)})" if lim else ""
    return f"{name} {lab.value:g}{unit} on {lab.date.isoformat()}{ref}"


def _current(s: PatientState, test: str, days: int = CURRENT_LAB_DAYS) -> Lab | None:
    return s.timeline.latest(test, within_days=days) if s.timeline is not None else None


def _above_lab_high(lab: Lab | None) -> bool:
    return bool(lab and lab.value is not None and lab.reference_high is not None
                and lab.value > lab.reference_high)


def _below_lab_low(lab: Lab | None) -> bool:
    return bool(lab and lab.value is not None and lab.reference_low is not None
                and lab.value < lab.reference_low)


def _latest_count(s: PatientState) -> tuple[date, float] | None:
    return s.timeline.latest_count() if s.timeline is not None else None


def _given_within(s: PatientState, agents, days: int) -> dict[str, date]:
    """Agent -> last day given, for courses of ``agents`` given on a day within ``days`` before ``at``."""
    out: dict[str, date] = {}
    tl = s.timeline
    if tl is None:
        return out
    for c in tl.courses(*agents):
        last = min(c.end or tl.at, tl.at)
        if (c.frequency or "").strip().lower() in ("once", "single", "stat", "single dose"):
            last = c.start
        if (tl.at - last).days <= days:
            out[c.agent] = max(out.get(c.agent, last), last)
    return out


def _female(s: PatientState) -> bool:
    return s.timeline is not None and s.timeline.record.sex in ("female", "unknown", "other")


def _postpartum(s: PatientState) -> date | None:
    d = getattr(s.timeline.record, "delivery_date", None) if s.timeline is not None else None
    if isinstance(d, str):
        d = date.fromisoformat(d[:10])
    if isinstance(d, date) and 0 <= (s.at - d).days <= POSTPARTUM_DAYS:  # CHOICE: 6 weeks
        return d
    return None


# --- 1. when the work-up is due -------------------------------------------------------------------------
def occasion(s: PatientState, setting: str) -> str | None:
    """Why a differential work-up is due now, in words, or None."""
    if setting == "emergency_bleeding":
        return "an emergency (bleeding)"
    latest = _latest_count(s)
    if latest is None or latest[1] >= ITP_BELOW:
        return None
    day, value = latest
    counts = s.timeline.daily_counts
    if not s.lines:
        return f"first presentation (no ITP treatment line yet; platelets {value:g} on {day.isoformat()})"
    high = [d for d, v in counts.items() if d < day and v >= ITP_BELOW]
    if high:
        fall = min(d for d in counts if high[-1] < d <= day)  # first count < 100 after the last >= 100
        if (s.at - fall).days <= NEW_FALL_DAYS:  # CHOICE
            return (f"a new fall below {ITP_BELOW:g} (platelets {counts[high[-1]]:g} on "
                    f"{high[-1].isoformat()}, {counts[fall]:g} on {fall.isoformat()})")
    window = [v for d, v in counts.items() if day - timedelta(days=HALVING_LOOKBACK_DAYS) <= d < day]
    if window and value <= max(window) / 2:  # CHOICE: a fall by >= 50%
        return f"a fall by half or more (from {max(window):g} to {value:g} on {day.isoformat()})"
    return None


# --- 2-3. differential prompts and their alerts ---------------------------------------------------------
def _haemolysis_evidence(s: PatientState) -> list[str]:
    """Record data that point to haemolysis, each in words."""
    out = []
    tl = s.timeline
    schisto = _current(s, "schistocytes")
    if schisto is not None and schisto.positive:
        out.append(_lab_text(schisto))
    hapto, ldh = _current(s, "haptoglobin"), _current(s, "ldh")
    if _below_lab_low(hapto):
        out.append(_lab_text(hapto) + " below the laboratory's limit")
    if _above_lab_high(ldh):
        out.append(_lab_text(ldh) + " above the laboratory's limit")
    coombs = _current(s, "direct_coombs", RECENT_EVENT_DAYS)
    if coombs is not None and coombs.positive:
        out.append(_lab_text(coombs))
    recent = [m for m in tl.record.manifestations
              if m.name == "autoimmune_hemolysis" and 0 <= (s.at - m.date).days <= RECENT_EVENT_DAYS]
    if recent:
        out.append(f"autoimmune haemolysis recorded on {recent[-1].date.isoformat()}")
    bili = _current(s, "bilirubin")
    if bili is not None and bili.value is not None and bili.value > PLASMIC_BILIRUBIN_ABOVE:
        # [PLASMIC2017]
        out.append(_lab_text(bili) + " (> 2 mg/dL; total, not indirect, bilirubin is recorded)")
    return out


def _tma_labs(s: PatientState) -> tuple[list[str], list[str]]:
    """(current results in words, tests of the TMA work-up with no current result)."""
    tests = ("schistocytes", "ldh", "haptoglobin", "reticulocytes", "bilirubin", "creatinine", "inr",
             "fibrinogen", "adamts13")
    have, missing = [], []
    for t in tests:
        lab = _current(s, t)
        (have.append(_lab_text(lab)) if lab is not None else missing.append(t.replace("_", " ")))
    return have, missing


def plasmic_items(s: PatientState) -> tuple[list[str], list[str]]:
    """PLASMIC items the record holds (with their point) and those it cannot hold [PLASMIC2017]."""
    held = []
    latest = _latest_count(s)
    if latest is not None:
        held.append(f"platelets {latest[1]:g} ({'1' if latest[1] < PLASMIC_PLATELETS_BELOW else '0'} point)")
    crea = _current(s, "creatinine")
    if crea is not None and crea.value is not None:
        pt = "1" if crea.value < PLASMIC_CREATININE_BELOW else "0"
        held.append(f"creatinine {crea.value:g} umol/L ({pt} point; < 176.8 umol/L = 2.0 mg/dL scores)")
    inr = _current(s, "inr")
    if inr is not None and inr.value is not None:
        held.append(f"INR {inr.value:g} ({'1' if inr.value < PLASMIC_INR_BELOW else '0'} point)")
    missing = ["MCV", "active cancer", "solid-organ or stem-cell transplant",
               "haemolysis as reticulocyte % / undetectable haptoglobin / indirect bilirubin"]
    if inr is None:
        missing.append("INR")
    if crea is None:
        missing.append("creatinine")
    return held, missing


def tma(s: PatientState, setting: str, due: str | None) -> tuple[list[Note], list[Note]]:
    """TTP / TMA: the work-up at every occasion; an ALERT when haemolysis evidence meets thrombocytopenia."""
    alerts, advice = [], []
    latest = _latest_count(s)
    low = latest is not None and latest[1] < ITP_BELOW
    evidence = _haemolysis_evidence(s) if low else []
    have, missing = _tma_labs(s)
    refs = ("ISTH-TTP2020", "PLASMIC2017", "GALANOPOULOS2017", *TRANSFUSION_REFS)
    if evidence:
        crea = _current(s, "creatinine")
        renal = f"; {_lab_text(crea)}" if crea is not None else ""
        neuro = sorted({m.name for m in s.timeline.record.manifestations
                        if m.name in ("seizure", "organic_brain_syndrome", "cva", "delirium", "psychosis")
                        and 0 <= (s.at - m.date).days <= CURRENT_LAB_DAYS})
        neuro_s = f"; neurological findings: {', '.join(neuro)}" if neuro else ""
        held, plasmic_missing = plasmic_items(s)
        alerts.append(Note(
            f"Possible thrombotic microangiopathy (TTP / TMA): platelets {latest[1]:g} on "
            f"{latest[0].isoformat()} with {'; '.join(evidence)}{renal}{neuro_s}. Current results: "
            f"{'; '.join(have) or 'none'}. Urgently: blood film for "
            f"schistocytes, LDH, haptoglobin, reticulocytes, creatinine, coagulation (INR, fibrinogen), and "
            f"ADAMTS13 activity if the film shows microangiopathic haemolysis"
            f"{' (not yet recorded: ' + ', '.join(missing) + ')' if missing else ''}. PLASMIC items the "
            f"record holds: {', '.join(held) or 'none'}; not held, so not scored: "
            f"{', '.join(plasmic_missing)} (apply PLASMIC only with schistocytes on the film). "
            f"{TRANSFUSION_CAUTION} Galanopoulos 2017: thrombocytopenia in SLE may be TMA.",
            refs,
        ))
    elif due:
        text = (f"Work-up at {due}: exclude TTP / TMA. Blood film for schistocytes, LDH, haptoglobin, "
                f"reticulocytes, creatinine, coagulation; ADAMTS13 if microangiopathic haemolysis. "
                f"Current: {'; '.join(have) if have else 'none recorded'}. "
                f"{'Not recorded within 14 days: ' + ', '.join(missing) + '. ' if missing else ''}"
                f"{TRANSFUSION_CAUTION}")
        # in an emergency a platelet transfusion may be ranked first: the caution must be seen (an alert)
        (alerts if setting == "emergency_bleeding" else advice).append(Note(text, refs))
    return alerts, advice


def hit(s: PatientState, due: str | None) -> list[Note]:
    """HIT: heparin within 100 days and a fall (or a work-up occasion): prompt the 4Ts score [LO2006]."""
    given = _given_within(s, HEPARINS, HEPARIN_LOOKBACK_DAYS)
    if not given:
        return []
    tl = s.timeline
    first = min(c.start for c in tl.courses(*HEPARINS))
    counts = {d: v for d, v in tl.daily_counts.items() if d >= first - timedelta(days=1)}
    fall = None
    if counts:
        peak_day = max(counts, key=lambda d: counts[d])
        after = {d: v for d, v in counts.items() if d > peak_day}
        if after:
            nadir_day = min(after, key=lambda d: after[d])
            frac = 1 - after[nadir_day] / counts[peak_day] if counts[peak_day] else 0.0
            if frac >= HIT_FALL_FRACTION:  # [LO2006] >= 30% fall
                fall = (f"platelets fell {frac:.0%} from {counts[peak_day]:g} on {peak_day.isoformat()} to "
                        f"{after[nadir_day]:g} on {nadir_day.isoformat()} (day {(nadir_day - first).days} "
                        f"after heparin was first given on {first.isoformat()})")
    if fall is None and due is None:
        return []
    drugs = ", ".join(f"{a} (last given {d.isoformat()})" for a, d in sorted(given.items()))
    return [Note(
        f"Heparin-induced thrombocytopenia to exclude: {drugs}; {fall or 'work-up at ' + due}. Score the 4Ts "
        "(Lo 2006): the thrombocytopenia and timing items can be read from the counts above; thrombosis or "
        "skin lesions and other causes cannot be read from the record and are left to the clinician (not "
        f"scored). If intermediate or high: stop all heparin and use a non-heparin anticoagulant. "
        f"{TRANSFUSION_CAUTION}",
        ("LO2006", *TRANSFUSION_REFS),
    )]


def pseudothrombocytopenia(s: PatientState, due: str | None) -> list[Note]:
    """An isolated first low count without bleeding: repeat in citrate with a film before treating."""
    latest = _latest_count(s)
    if due is None or latest is None or latest[1] >= ITP_BELOW:
        return []
    earlier_low = [d for d, v in s.timeline.daily_counts.items() if d < latest[0] and v < ITP_BELOW]
    bleeding = s.timeline.bleeding_events(since=s.at - timedelta(days=CURRENT_LAB_DAYS))
    if earlier_low or bleeding:
        return []
    return [Note(
        f"Platelets {latest[1]:g} on {latest[0].isoformat()} is the first low count on record and no "
        "bleeding is recorded: exclude pseudothrombocytopenia (EDTA clumping) before treating: repeat the "
        "count on EDTA and sodium-citrate samples with a blood film of each (Mayo Clin Proc 1984; ICR 2019: "
        "a peripheral smear in all patients).",
        ("PTCP-MAYO1984", "ICR2019-WORKUP"),
    )]


def drug_induced(s: PatientState, due: str | None) -> list[Note]:
    """The record's own agents given within 30 days that can cause thrombocytopenia."""
    if due is None:
        return []
    given = _given_within(s, tuple(DRUG_CAUSES), DRUG_LOOKBACK_DAYS)
    if not given:
        return []
    parts, refs = [], []
    for agent, last in sorted(given.items()):
        why, r = DRUG_CAUSES[agent]
        parts.append(f"{agent} (last given {last.isoformat()}: {why})")
        refs += r
    return [Note(
        "Drug-induced thrombocytopenia to consider, from the record's drugs of the last 30 days: "
        + "; ".join(parts) + ". Drugs outside the record (e.g. methotrexate, co-trimoxazole, valproate) are "
        "not seen by this check.",
        tuple(dict.fromkeys(refs)),
    )]


def evans(s: PatientState) -> list[Note]:
    """Evans syndrome / AIHA with thrombocytopenia: GLADEL AIHA statement and the IVIG haemolysis caution."""
    latest = _latest_count(s)
    if latest is None or latest[1] >= ITP_BELOW:
        return []
    tl = s.timeline
    coombs = _current(s, "direct_coombs", RECENT_EVENT_DAYS)
    aiha = [m for m in tl.record.manifestations
            if m.name == "autoimmune_hemolysis" and 0 <= (s.at - m.date).days <= RECENT_EVENT_DAYS]
    hapto = _current(s, "haptoglobin")
    found = []
    if coombs is not None and coombs.positive:
        found.append(_lab_text(coombs))
    if aiha:
        found.append(f"autoimmune haemolysis recorded on {aiha[-1].date.isoformat()}")
    if _below_lab_low(hapto):
        found.append(_lab_text(hapto) + " below the laboratory's limit")
    if not found:
        return []
    hb = _current(s, "hemoglobin")
    hb_s = f" Haemoglobin: {_lab_text(hb)}." if hb is not None else " No current haemoglobin recorded."
    return [Note(
        f"Evans syndrome / autoimmune haemolytic anaemia with thrombocytopenia (platelets {latest[1]:g}): "
        f"{'; '.join(found)}.{hb_s} GLADEL 2018: haemolytic anaemia <= 8 g/dL (80 g/L): high-dose "
        "glucocorticoids; rituximab if life-threatening or still active. IVIG can itself cause haemolysis "
        "(highest risk with high doses in non-O blood groups): check haemoglobin and haemolysis markers "
        "after IVIG. A blood film is needed to separate immune haemolysis from microangiopathy.",
        ("GLADEL2018", "IVIG-HEMOLYSIS"),
    )]


def mas(s: PatientState) -> tuple[list[Note], list[Note]]:
    """MAS / HLH: ferritin > 684 with the 2016 criteria items (derived in systemic JIA) [RAVELLI2016]."""
    ferritin = _current(s, "ferritin")
    if ferritin is None or ferritin.value is None or ferritin.value <= MAS_FERRITIN_ABOVE:
        return [], []
    met, missing = [], []
    latest = _latest_count(s)
    checks = [
        ("platelets", latest[1] if latest else None, lambda v: v <= MAS_PLATELETS_AT_MOST, "<= 181"),
        ("ast", None, lambda v: v > MAS_AST_ABOVE, "> 48 U/L"),
        ("triglycerides", None, lambda v: v > MAS_TRIGLYCERIDES_ABOVE, "> 1.76 mmol/L"),
        ("fibrinogen", None, lambda v: v <= MAS_FIBRINOGEN_AT_MOST, "<= 3.6 g/L"),
    ]
    for test, value, ok, words in checks:
        if value is None:
            lab = _current(s, test)
            value = lab.value if lab is not None else None
        if value is None:
            missing.append(test)
        elif ok(value):
            met.append(f"{test} {value:g} ({words})")
    fever = any(m.name == "fever" and 0 <= (s.at - m.date).days <= CURRENT_LAB_DAYS
                for m in s.timeline.record.manifestations)
    refs = ("RAVELLI2016", "FARDET2014", "GALANOPOULOS2017")
    text = (f"Macrophage activation syndrome / HLH to exclude: {_lab_text(ferritin)} (> 684). 2016 EULAR/ACR "
            "criteria (derived in systemic JIA, not validated in SLE): a febrile patient with ferritin "
            "> 684 and 2 of 4 of platelets <= 181, AST > 48, triglycerides > 1.76 mmol/L, fibrinogen <= 3.6 "
            f"g/L. Fever {'recorded' if fever else 'not recorded within 14 days'}; met: "
            f"{', '.join(met) or 'none'}{'; not recorded: ' + ', '.join(missing) if missing else ''}. "
            "Consider the HScore (organomegaly and marrow haemophagocytosis are not in the record).")
    return ([Note(text, refs)], []) if fever and len(met) >= 2 else ([], [Note(text, refs)])


def pregnancy(s: PatientState, due: str | None) -> tuple[list[Note], list[Note]]:
    """Pregnancy / post-partum: HELLP alert; the gestational / pre-eclampsia / HELLP differential."""
    pp = _postpartum(s)
    if not (s.pregnant or pp):
        return [], []
    latest = _latest_count(s)
    weeks = getattr(s.timeline.record, "gestational_weeks", None)
    ga = f" at {weeks:g} weeks" if isinstance(weeks, (int, float)) else " (gestational age not recorded)"
    when = f"post-partum (delivery {pp.isoformat()})" if pp else f"pregnant{ga}"
    ast, alt, ldh = _current(s, "ast"), _current(s, "alt"), _current(s, "ldh")
    liver = ("; ".join(_lab_text(x) for x in (ast, alt, ldh) if x is not None)
             or "no AST / ALT / LDH within 14 days")
    refs = ("HELLP-CK", "HELLP-BLOODPROJECT", "PREG-TP-GP")
    alerts, advice = [], []
    if latest is not None and latest[1] < ITP_BELOW and ast is not None and ast.value is not None \
            and ast.value >= HELLP_AST_AT_LEAST:  # [HELLP-CK] AST usually >= 70, platelets < 100
        alerts.append(Note(
            f"Possible HELLP syndrome: {when}, platelets {latest[1]:g}, {_lab_text(ast)} (>= 70). "
            "Blood film for "
            "microangiopathic haemolysis, LDH, coagulation; blood pressure and urine protein are not in the "
            "record: check them now; obstetric team (delivery is the treatment of HELLP). "
            + TRANSFUSION_CAUTION, (*refs, *TRANSFUSION_REFS)))
    elif due or (latest is not None and latest[1] < ITP_BELOW):
        advice.append(Note(
            f"Thrombocytopenia {when}: consider gestational thrombocytopenia (mild, late second or third "
            "trimester), pre-eclampsia / HELLP (hypertension, proteinuria, raised liver enzymes), and TTP / "
            f"HUS / acute fatty liver. Record: {liver}. Blood pressure and urine protein are not held by the "
            "record: check them.", refs))
    return alerts, advice


def marrow(s: PatientState) -> list[Note]:
    """Low megakaryocytes, or cytopenia of two or three lineages: examine the marrow."""
    out = []
    mk = s.timeline.latest("megakaryocytes") if s.timeline is not None else None
    if mk is not None and mk.value is not None and mk.value < LOW_MEGAKARYOCYTES_BELOW:  # [ZHAO2016]
        out.append(f"{_lab_text(mk)} (< 20/slide: poor response to immunotherapy, Zhao 2016)")
    lineages = []
    latest = _latest_count(s)
    if latest is not None and latest[1] <= HSCORE_PLT_AT_MOST:
        lineages.append(f"platelets {latest[1]:g}")
    for test, limit in (("hemoglobin", HSCORE_HB_AT_MOST), ("wbc", HSCORE_WBC_AT_MOST)):
        lab = _current(s, test)
        if lab is not None and lab.value is not None and lab.value <= limit:  # [FARDET2014] lineage cut-offs
            lineages.append(_lab_text(lab))
    if len(lineages) >= 2:
        out.append(f"cytopenia of {len(lineages)} lineages ({'; '.join(lineages)}; HScore cut-offs)")
    if not out:
        return []
    return [Note(
        "Check the bone marrow (aspirate and biopsy) for marrow failure or infiltration: " + "; ".join(out)
        + ". ASH 2011: abnormalities of the blood count or film beyond isolated thrombocytopenia should be "
        "investigated, e.g. with a marrow examination.",
        ("ZHAO2016", "FARDET2014", "ASH2011-WORKUP"),
    )]


def secondary_screen(s: PatientState, due: str | None) -> list[Note]:
    """Secondary-ITP screen (ICR 2019 initial work-up): the tests never recorded."""
    if due is None or s.timeline is None:
        return []
    names = {"anti_hiv": "HIV", "anti_hcv": "HCV", "hbsag": "HBsAg", "anti_hbc": "anti-HBc",
             "h_pylori": "H. pylori"}
    missing = [w for t, w in names.items() if not s.timeline.labs(t)]
    if not missing:
        return []
    return [Note(
        f"Secondary-ITP screen (ICR 2019 initial work-up): not recorded: {', '.join(missing)}. Most authors "
        "test HIV, HCV and HBV in all adults; H. pylori (urea breath or stool antigen) in appropriate "
        "geographical areas.",
        ("ICR2019-WORKUP", "ASH2011-WORKUP"),
    )]


# --- 4. hepatitis B, infection and monitoring -----------------------------------------------------------
def hbv_status(s: PatientState) -> tuple[bool, bool | None, bool | None, list[str]]:
    """(positive: HBsAg or anti-HBc or HBV DNA, HBsAg latest, anti-HBc ever, data in words)."""
    tl = s.timeline
    hbsag, core = s.hepatitis_b, tl.ever_positive("anti_hbc") if tl is not None else None
    dna = tl.latest("hbv_dna") if tl is not None else None
    words = []
    for t in ("hbsag", "anti_hbc", "hbv_dna"):
        lab = tl.latest(t) if tl is not None else None
        if lab is not None:
            words.append(_lab_text(lab))
    if tl is not None and tl.record.history.hepatitis_b:
        words.append("hepatitis B in the history")
    positive = bool(hbsag) or bool(core) or bool(dna is not None and dna.value and dna.value > 0)
    return positive, hbsag, core, words


def hbv_exposure(s: PatientState) -> list[str]:
    """Immunosuppression running now that carries HBV reactivation risk, in words."""
    running = s.timeline.running_agents() if s.timeline is not None else s.running_agents
    out = [a for a in IMMUNOSUPPRESSANTS if a in running]
    if (s.gc_mg_day or 0) >= HBV_GC_MG_DAY and s.gc_continuous_days >= HBV_GC_DAYS:  # [HBV-RISK-TABLE]
        out.append(f"glucocorticoids {s.gc_mg_day:g} mg/day prednisone-equivalent for "
                   f"{s.gc_continuous_days} days")
    return out


def hbv(s: PatientState, setting: str) -> tuple[list[Note], list[Note]]:
    """Screen HBsAg + anti-HBc; prophylaxis and hepatology when positive; an ALT-rise alert."""
    alerts, advice = [], []
    positive, hbsag, core, words = hbv_status(s)
    exposure = hbv_exposure(s)
    refs = ("AGA-HBV2015", "HBV-RISK-TABLE", "EULAR-INFECT2022")
    if positive:
        # [AGA-HBV2015] high risk: B-cell depletion (HBsAg+ or anti-HBc+); moderate/high-dose GC >= 4 weeks
        # is high risk only when HBsAg is positive (moderate when HBsAg- / anti-HBc+)
        high = [e for e in exposure if e in B_CELL_DEPLETING or (e.startswith("glucocorticoids") and hbsag)]
        text = (f"Hepatitis B marker positive ({'; '.join(words)}): before or with any immunosuppression, "
                "start antiviral prophylaxis with a high-barrier agent (AGA 2015 rec 5; entecavir / "
                "tenofovir are the issue's examples, the drug names were not in the AGA text read) and ask "
                "for hepatology input, rather than withholding ITP treatment; HBV DNA now; continue "
                "prophylaxis >= 6 months after immunosuppression stops (>= 12 months after B-cell "
                "depletion). AGA 2015 risk: B-cell depletion high (HBsAg+, and HBsAg- / anti-HBc+); "
                "glucocorticoids >= 4 weeks at moderate / high dose high if HBsAg+, moderate if HBsAg- / "
                "anti-HBc+; azathioprine low. The record cannot show whether an antiviral is being given.")
        if high:
            alerts.append(Note(f"HBV reactivation risk now: {', '.join(high)}. " + text, refs))
        else:
            advice.append(Note(text + (f" Running now: {', '.join(exposure)}." if exposure else ""), refs))
        alt = _current(s, "alt", ALT_RECENT_DAYS)
        if alt is not None and alt.value is not None:
            if alt.reference_high is not None:
                limit, whose = alt.reference_high, "the laboratory's upper limit"
            else:  # DEFAULT [ACG-ALT2017] healthy normal: 33 men, 25 women / unknown (conditions.py)
                sex = s.timeline.record.sex
                limit = ALT_DEFAULT_UPPER.get(sex, ALT_DEFAULT_UPPER_OTHER)
                whose = "the DEFAULT upper limit (ACG 2017 healthy normal; the laboratory gave none)"
            if alt.value > limit:
                alerts.append(Note(
                    f"Possible HBV reactivation / hepatitis flare: {_lab_text(alt)} is above {whose} "
                    f"{limit:g} U/L in a patient with {'; '.join(words)}. HBV DNA now and hepatology "
                    "review; review hepatotoxic drugs.",
                    ("AGA-HBV2015", "ACG-ALT2017"),
                ))
    elif hbsag is None or core is None:
        if exposure or setting != "maintenance":
            gap = []
            if hbsag is None:
                gap.append("HBsAg")
            if core is None:
                gap.append("anti-HBc")
            note = " (HBsAg negative alone does not exclude past infection)" if hbsag is False else ""
            advice.append(Note(
                f"Hepatitis B screening incomplete: not recorded: {', '.join(gap)}{note}. Before rituximab, "
                "other immunosuppressants or glucocorticoids >= 20 mg/day for >= 4 weeks, test HBsAg and "
                "anti-HBc, with HBV DNA if either is positive (AGA 2015)."
                + (f" Running now: {', '.join(exposure)}." if exposure else ""),
                refs,
            ))
    return alerts, advice


def pjp(s: PatientState) -> list[Note]:
    """PJP prophylaxis: glucocorticoids > 15-30 mg/day for > 2-4 weeks; rituximab / cyclophosphamide."""
    running = s.timeline.running_agents() if s.timeline is not None else s.running_agents
    gc = (s.gc_mg_day or 0) > PJP_GC_MG_DAY and s.gc_continuous_days > PJP_GC_DAYS  # [EULAR-INFECT2022]
    partners = [a for a in ("rituximab", "obinutuzumab", "cyclophosphamide") if a in running]
    if not gc:
        return []
    return [Note(
        f"Consider Pneumocystis prophylaxis: glucocorticoids {s.gc_mg_day:g} mg/day prednisone-equivalent "
        f"for {s.gc_continuous_days} days (EULAR 2022: beneficial at > 15-30 mg/day for > 2-4 weeks)"
        + (f", with {', '.join(partners)} (ACR/VF vasculitis guideline: prophylaxis with rituximab or "
           "cyclophosphamide; lupus guidelines have generally not addressed it)" if partners else "") + ".",
        ("EULAR-INFECT2022", "PJP-RHEUM-REVIEW"),
    )]


def bone(s: PatientState) -> list[Note]:
    """Bone protection on glucocorticoids >= 2.5 mg/day (ACR 2022, for > 3 months)."""
    if (s.gc_mg_day or 0) < GIOP_GC_MG_DAY:
        return []
    long = s.gc_continuous_days > GIOP_GC_DAYS  # [ACR-GIOP2022] > 3 months
    return [Note(
        f"Bone protection: glucocorticoids {s.gc_mg_day:g} mg/day for {s.gc_continuous_days} days"
        + (" (over 3 months)" if long else " (if they will continue beyond 3 months)")
        + ": calcium and vitamin D, exercise, no smoking or excess alcohol; fracture-risk assessment as soon "
        "as possible (FRAX if >= 40 years, bone density with vertebral fracture assessment); osteoporosis "
        "therapy at medium or higher fracture risk (ACR 2022).",
        ("ACR-GIOP2022",),
    )]


def vaccination(s: PatientState, setting: str) -> list[Note]:
    """Vaccinate before B-cell depletion and >= 2 weeks before elective splenectomy."""
    if setting not in ("second_line", "refractory_relapsed") or s.splenectomised:
        return []
    return [Note(
        "Vaccination before the second-line options: preferably before immunosuppression such as B-cell "
        "depletion (EULAR 2019: influenza and pneumococcal for most patients); before an elective "
        "splenectomy give pneumococcal conjugate, Hib, MenACWY and MenB vaccines at least 14 days before "
        "surgery (or once stable after it).",
        ("EULAR-VACC2019", "ASPLENIA-VACC"),
    )]


def teratogens(s: PatientState, setting: str) -> tuple[list[Note], list[Note]]:
    """Pregnancy tests and contraception for mycophenolate, cyclophosphamide, danazol, fostamatinib."""
    if not _female(s):
        return [], []
    running = s.timeline.running_agents() if s.timeline is not None else s.running_agents
    alerts, advice = [], []
    for agent in sorted(set(TERATOGENS) & set(running)):
        key, words = TERATOGENS[agent]
        if s.pregnant:
            alerts.append(Note(f"Pregnant and receiving {agent}: label: {words}. Review now.", (key,)))
        else:
            advice.append(Note(f"{agent} is being given: if of reproductive potential, {words} (label).",
                               (key,)))
    if not s.pregnant and setting in ("second_line", "refractory_relapsed"):
        options = [a for a in TERATOGENS if a not in running]
        if options:
            advice.append(Note(
                "Before starting " + ", ".join(options) + " in a woman of reproductive potential: "
                + "; ".join(f"{a}: {TERATOGENS[a][1]}" for a in options) + ".",
                tuple(TERATOGENS[a][0] for a in options),
            ))
    return alerts, advice


def tpmt(s: PatientState, setting: str) -> tuple[list[Note], list[Note]]:
    """TPMT / NUDT15 before azathioprine; an alert when TPMT is deficient and azathioprine is given."""
    running = s.timeline.running_agents() if s.timeline is not None else s.running_agents
    result = s.timeline.latest("tpmt") if s.timeline is not None else None
    if "azathioprine" in running and result is not None and result.positive:
        return [Note(f"Azathioprine with {_lab_text(result)} (deficient / low activity): reduce the starting "
                     "dose "
                     "or choose an alternative by TPMT / NUDT15 phenotype (CPIC 2018; tables not read here).",
                     ("CPIC-THIOPURINE2018",))], []
    if result is None and ("azathioprine" in running or setting in ("second_line", "refractory_relapsed",
                                                                      "maintenance")):
        return [], [Note("TPMT (and NUDT15, common loss-of-function in Asian and Hispanic patients) not "
                         "recorded: test before azathioprine and dose by phenotype (CPIC 2018)"
                         + (" — azathioprine is being given now." if "azathioprine" in running else "."),
                         ("CPIC-THIOPURINE2018",))]
    return [], []


def anticoagulation(s: PatientState) -> tuple[list[Note], list[Note]]:
    """Platelet thresholds for anticoagulation (ISTH SSC 2018, cancer-associated thrombosis, extrapolated)."""
    running = s.timeline.running_agents() if s.timeline is not None else s.running_agents
    on = sorted(set(ANTICOAGULANTS) & set(running))
    latest = _latest_count(s)
    if not on or latest is None:
        return [], []
    refs = ("ISTH-CAT2018",)
    text = (f"Anticoagulation ({', '.join(on)}) at platelets {latest[1]:g} on {latest[0].isoformat()}"
            f"{' with antiphospholipid antibodies / APS' if s.antiphospholipid else ''}. ISTH SSC 2018 "
            "(cancer-associated thrombosis, applied here by extrapolation; no APS-specific source read): "
            "full dose without transfusion at >= 50; below 50 with a high risk of thrombus progression full "
            "dose with platelet support to keep >= 40-50; lower risk: 25-50 half-dose or prophylactic LMWH, "
            "< 25 pause; resume full dose above 50.")
    if latest[1] < ANTICOAG_FULL_DOSE_AT_LEAST:  # [ISTH-CAT2018]
        return [Note(text, refs)], []
    return [], [Note(text, refs)]


# --- the module's entry point ---------------------------------------------------------------------------
def workup(s: PatientState, setting: str) -> tuple[list[Note], list[Note]]:
    """(alerts, advice) — each a Note(text, references), for the plan of ``setting``."""
    if s.timeline is None:
        return [], []
    due = occasion(s, setting)
    alerts: list[Note] = []
    advice: list[Note] = []

    def add(result):
        a, b = result
        alerts.extend(a)
        advice.extend(b)

    add(tma(s, setting, due))
    hit_notes = hit(s, due)
    alerts.extend(hit_notes)
    advice.extend(pseudothrombocytopenia(s, due))
    advice.extend(drug_induced(s, due))
    alerts.extend(evans(s))
    add(mas(s))
    add(pregnancy(s, due))
    advice.extend(marrow(s))
    advice.extend(secondary_screen(s, due))
    add(hbv(s, setting))
    advice.extend(pjp(s))
    advice.extend(bone(s))
    advice.extend(vaccination(s, setting))
    add(teratogens(s, setting))
    add(tpmt(s, setting))
    add(anticoagulation(s))
    return alerts, advice


__all__ = [
    "IMMUNOSUPPRESSANTS", "TERATOGENS", "TRANSFUSION_CAUTION", "occasion", "workup",
]
