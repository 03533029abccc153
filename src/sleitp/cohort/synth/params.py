"""Every number the synthetic SLE-ITP cohort is drawn from, with its source.

One place, so that the generator's assumptions can be read (and changed) in one screen. Each value
cites a key of ``sleitp/evidence/references.yaml`` (figures read in ../shared/reference/clinical.md), or
is marked ``ASSUMPTION`` when the reference had no figure (documented in docs/synthetic-cohort.md,
table "Assumptions"). Derived arithmetic is shown next to the value.
"""

from __future__ import annotations

import math

# --- demographics ---------------------------------------------------------------------------------
MALE_SHARE = 17 / 162  # [LIU2021] 17 of 162 SLE with severe TP were male (10.5%)
AGE_MEAN, AGE_SD = 35.0, 15.0  # [KHELLAF2014] mean age 35 +/- 17; §5 guidance "mean ~35 (SD ~12-17)"
AGE_MIN, AGE_MAX = 16.0, 80.0  # ASSUMPTION: adult-onset cohort, truncated to plausible ages
PREGNANT_SHARE_OF_WOMEN_18_45 = 0.04  # ASSUMPTION: pregnancy is an SU2022 predictor; its share was not read

# Timing of SLE diagnosis against the ITP episode
SLE_AT_ITP_SHARE = 0.58  # [ZIAKAS2005] 58% had TP at the diagnosis of SLE
ITP_BEFORE_SLE_SHARE = 0.142  # [COSTA2021] 14.2% had isolated ITP before SLE
# the rest (27.8%) had SLE years before the ITP episode

INDEX_DATE_FIRST = "2010-01-01"  # ASSUMPTION: calendar window of the first treatment line
INDEX_DATE_LAST = "2023-12-31"
# ASSUMPTION: 16 months to 6 years (LI2023 median follow-up 62 months lies inside); at least 16 months so
# that a count more than 12 months after the ITP diagnosis shows whether the ITP became chronic
FOLLOW_UP_DAYS = (480, 2190)

# --- baseline platelets (10^9/L), log-normal --------------------------------------------------------
# [KHELLAF2014] 14 +/- 13 at diagnosis; [AHN2024] median initial 16 (chronic) vs 51 (non-chronic);
# §5 guidance: "log-normal with a large mass < 20 in severe series"; treatment is usually started
# below 30 [BONFA2020]. Median 20, log-SD 0.75 gives P(<20) = 50%, P(<30) = 70% (derived).
PLATELET_MEDIAN, PLATELET_LOG_SD = 20.0, 0.75
PLATELET_MIN, PLATELET_MAX = 2.0, 95.0  # ITP needs < 100 [IWG2009]

# --- SLE features and antibodies (prevalence among SLE-ITP) --------------------------------------------
C3_MEAN, C3_SD = 0.85, 0.15  # ASSUMPTION: SLE-ITP C3 distribution not read (§5 "not read"); g/L
C4_GIVEN_C3 = (0.02, 0.16)  # ASSUMPTION: C4 = 0.02 + 0.16 x C3 (+ noise): C4 falls with C3
NLR_MEDIAN, NLR_LOG_SD = 2.5, 0.25  # ASSUMPTION: NLR distribution in SLE-ITP not read
LYMPHOCYTES_MEDIAN, LYMPHOCYTES_LOG_SD = 1.1, 0.4  # ASSUMPTION (10^9/L)
ANTICARDIOLIPIN_SHARE = 0.25  # ASSUMPTION: aPL over-represented in SLE-TP [CHOCK2019] (29% vs 15.1%
ANTI_B2GP1_SHARE = 0.15  # of aPL+ vs aPL- SLE had TP); the aPL+ share among SLE-TP was not read
LUPUS_ANTICOAGULANT_SHARE = 0.15  # ASSUMPTION (same)
AIHA_SHARE = 0.10  # ASSUMPTION: Evans/AIHA share among SLE-ITP not read (an SU2022 predictor)
MK_MEASURED_SHARE = 0.60  # ASSUMPTION: share with a bone-marrow aspirate at work-up
# [ZHAO2016] response 29% if BM-MK <= 20/slide vs 88% above; 25 of 35 responded (71.4%), so the share
# q below 20 solves 0.29 q + 0.88 (1 - q) = 0.714 -> q = 0.28 (derived). ZIAKAS2005 found reduced
# megakaryocytes in only 2/28 marrows (7%); ZHAO2016 is the treated severe-TP population we simulate.
MK_BELOW_20_SHARE = 0.28
MK_NORMAL_MEAN, MK_NORMAL_SD = 110.0, 40.0  # [ZHAO2016] CR 102 +/- 25, PR 136 +/- 48 per slide
ANTI_TPOR_SHARE = 0.22  # [KUWANA2006] anti-TPO-receptor in 22% of SLE with TP
ANTI_TPOR_MEASURED_SHARE = 0.30  # ASSUMPTION: a research assay, measured in a minority
ANTI_SM_SHARE = 0.25  # ASSUMPTION (not read for SLE-ITP)
ANTI_SSA_SHARE = 0.40  # ASSUMPTION (not read for SLE-ITP)
ANTI_DSDNA_POSITIVE_SHARE = 0.60  # ASSUMPTION (not read for SLE-ITP)
HCQ_BACKGROUND_SHARE = 0.70  # ASSUMPTION: background antimalarial; [KHELLAF2014] HCQ in ANA+ ITP
MANIFESTATION_SHARES = {  # ASSUMPTION: SLE features at the ITP episode (SLE-ITP tables not read, §5)
    "lupus_nephritis": 0.25,  # [JIANG2019] LN is associated with TP (OR 1.539); its share was not read
    "arthritis": 0.30,
    "rash": 0.30,
    "alopecia": 0.20,
    "oral_ulcers": 0.15,
    "fever": 0.15,
    "pleurisy": 0.10,
}

# --- bleeding at presentation ----------------------------------------------------------------------
# [COSTA2021] 60.5% of SLE-TP asymptomatic, 3.7% major bleeding. [JUNG2016] severe TP -> more bleeding.
# P(bleeding | < 20) = 0.55 and P(bleeding | >= 20) = 0.28 give 0.5 x 0.55 + 0.5 x 0.28 = 0.415 ~ 39.5%
# (derived; the split by count is an ASSUMPTION).
BLEEDING_SHARE_BELOW_20, BLEEDING_SHARE_ABOVE_20 = 0.55, 0.28
# WHO grade among bleeders: grades 3-4 = 3.7 / 39.5 = 9.4% [COSTA2021, derived]; 1 vs 2 ASSUMPTION
WHO_GRADE_SHARES = {1: 0.60, 2: 0.306, 3: 0.084, 4: 0.010}
WHO_GRADE_SITES = {
    1: ("skin",),
    2: ("mucosal", "epistaxis", "menorrhagia"),
    3: ("gi", "menorrhagia", "gu"),
    4: ("intracranial",),
}

# --- first line -------------------------------------------------------------------------------------
# Glucocorticoid choice: ASSUMPTION (ASH2019 suggests prednisone or dexamethasone; BONFA2020
# "dexamethasone is the hematologists 1st choice"; ARNAL2002 prednisone and MP pulses)
FIRST_LINE_GC_SHARES = {"prednisone": 0.65, "dexamethasone": 0.25, "methylprednisolone": 0.10}
PREDNISONE_MG_KG = 1.0  # [ARNAL2002] mean 1 mg/kg/d; [WEI2016] 1.0 mg/kg/d
PREDNISONE_DAYS = 42  # [ASH2019] short course <= 6 weeks including taper
DEXAMETHASONE_MG, DEXAMETHASONE_DAYS = 40.0, 4  # [ASH2019] 40 mg/day for 4 days
MP_PULSE_DAYS = 3  # [ARNAL2002] MP pulses, followed by prednisone
IVIG_G_KG = 1.0  # [ICR2019] IVIG with IV corticosteroids when the count must rise quickly; 1 g/kg once
IVIG_FROM_WHO_GRADE = 2  # ASSUMPTION: IVIG added for WHO grade >= 2 at presentation ([KHELLAF2005] score
#                          > 8 -> IVIG; the Khellaf score itself is not simulated)

# first-line response: TRUE model, see synth_model.py. Share of CR among responders:
# [ZHENG2025] CR 44.4%, PR 26.4% -> CR share 44.4 / 70.8 = 0.627 (derived)
FIRST_LINE_RESPONSE_TARGET = 0.708  # [ZHENG2025] CR + PR = 70.8% (ARNAL2002 80% with prednisone)
CR_SHARE_OF_RESPONDERS = 0.444 / 0.708
CR_THROUGH_R_SHARE = 0.5  # ASSUMPTION: half of complete responders pass one visit at R level first
NOT_EVALUABLE_SHARE = 0.03  # ASSUMPTION: lost to follow-up after one post-treatment count (-> NE)

# Visit of the first qualifying count (dense visits ~7-10 days apart: visit k ~ day 8.5 k)
RESPONSE_VISITS = {  # ASSUMPTION on the exact spread; the ranges follow the clinical.md §3 column
    "prednisone": (1, 4),  # slower than dexamethasone [WEI2016]
    "dexamethasone": (1, 2),  # faster, higher response at 7 days [ASH2019]
    "methylprednisolone": (1, 3),
    "rituximab": (4, 9),  # 1-3 months [clinical.md §3]
    "eltrombopag": (1, 2),
    "romiplostim": (1, 2),
    "hetrombopag": (2, 5),  # 1-2 weeks; week 8
    "danazol": (5, 10),  # ~6 weeks - 8 months [CERVERA1995]
    "mycophenolate": (4, 9),
    "cyclosporine": (4, 9),
    "azathioprine": (4, 10),
    "tacrolimus": (4, 9),
    "cyclophosphamide": (3, 8),
    "splenectomy": (1, 3),  # 1-24 days [SPLENECTOMY2004]
}
NR_SECOND_LINE_VISIT = 5  # ASSUMPTION: a non-responder moves on after 5 visits (~6 weeks)

# --- relapse / loss of response --------------------------------------------------------------------
RELAPSE_SHARE = 19 / 65  # [LI2023] 29.2% significant relapse after first CR (applied to R too: ASSUMPTION)
# Chronic patients (synth_model, AHN2024) cannot stay in CR: their CR always ends in a loss of response.
# The others relapse with the share that keeps 29.2% overall after a first-line CR (calibrated, derived;
# tests/cohort/synth/test_synth.py re-checks the overall share).
RELAPSE_SHARE_RESOLVING = 0.2
RELAPSE_DELAY_DAYS = (60, 720)  # ASSUMPTION: loss 2-24 months after response (RTX-RENJI: mostly <= 9 mo)

# --- later lines (agent, overall response, CR share among responders) ---------------------------------
SECOND_LINE_AGENTS = {  # ASSUMPTION on the shares (GLADEL2018: IVIG or RTX plus GCs after first-line
    # failure, IS for cost; GALANOPOULOS2017 list; BONFA2020 advises against TPO-RA in SLE)
    "rituximab": 0.35,
    "mycophenolate": 0.12,
    "cyclosporine": 0.12,
    "azathioprine": 0.08,
    "danazol": 0.10,
    "tacrolimus": 0.05,
    "eltrombopag": 0.12,
    "romiplostim": 0.03,
    "hetrombopag": 0.03,
}
THIRD_LINE_AGENTS = {  # ASSUMPTION on the shares; splenectomy "3rd" line in clinical.md §3
    "splenectomy": 0.30,
    "eltrombopag": 0.25,
    "rituximab": 0.20,
    "cyclophosphamide": 0.25,
}
LATER_LINE_RESPONSE = {  # agent: (overall response, CR share among responders)
    "rituximab": (0.8095, 0.524 / 0.8095),  # [RTX-RENJI] ORR 80.95%, CR 52.4%
    "eltrombopag": (0.75, 0.70 / 0.75),  # [ELTROMBOPAG-CTD2024] CR 70%, PR 5% (CTD-ITP)
    "romiplostim": (0.91, CR_SHARE_OF_RESPONDERS),  # [KUTER2008] pooled 91% non-splenectomised (pITP)
    "hetrombopag": (0.643, CR_SHARE_OF_RESPONDERS),  # [HETROMBOPAG2021] 64.3% at 5 mg (pITP)
    "danazol": (0.75, CR_SHARE_OF_RESPONDERS),  # [CERVERA1995] review range 50-100%: midpoint (derived)
    "splenectomy": (
        0.88,
        10 / 11,
    ),  # [SPLENECTOMY2004] early response 88%; [ARNAL2002] 10 CR of 11 responders
    # immunosuppressants: no response rates read (clinical.md §3) -> ASSUMPTION 0.5
    "mycophenolate": (0.5, CR_SHARE_OF_RESPONDERS),
    "cyclosporine": (0.5, CR_SHARE_OF_RESPONDERS),
    "azathioprine": (0.5, CR_SHARE_OF_RESPONDERS),
    "tacrolimus": (0.5, CR_SHARE_OF_RESPONDERS),
    "cyclophosphamide": (0.5, CR_SHARE_OF_RESPONDERS),
}
# A first-line R (30-99) in a patient whose ITP resolves needs a consolidation line to reach CR:
# ASSUMPTION, following the maintenance immunosuppression of LI2023 (agents and equal shares assumed)
MAINTENANCE_AGENTS = {"azathioprine": 0.25, "mycophenolate": 0.25, "cyclosporine": 0.25, "tacrolimus": 0.25}
CONTINUOUS_AGENTS = {
    "mycophenolate",
    "cyclosporine",
    "azathioprine",
    "tacrolimus",
    "danazol",
    "eltrombopag",
    "romiplostim",
    "hetrombopag",
}
RITUXIMAB_MG, RITUXIMAB_WEEKS = 100.0, 4  # [RTX-LOWDOSE2011] 100 mg weekly x 4
DANAZOL_MG = 200.0  # [CERVERA1995] 200 mg/d titrated up
CYCLOPHOSPHAMIDE_DAYS = 1  # one pulse, dose not simulated


def logit(p: float) -> float:
    return math.log(p / (1 - p))


__all__ = [name for name in dir() if name.isupper()] + ["logit"]
