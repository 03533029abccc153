"""``sleitp synth``: a synthetic, longitudinal SLE-ITP cohort drawn from published figures.

Per patient: demographics, SLE features and antibodies at the work-up of the ITP episode, a first line
of glucocorticoids (+ IVIG when bleeding), later lines after failure or loss of response (rituximab,
immunosuppressants, danazol, TPO-RAs, splenectomy ...), bleeding at presentation, and platelet counts
that realise each line's IWG outcome (:mod:`.synth_course`). The first line's outcome is drawn from the
TRUE model (:mod:`.synth_model`); every other number is in :mod:`.synth_params` with its source.

Generation is vectorised numpy over chunks of patients (bounded memory); each chunk has its own
random stream spawned from the seed, so the same ``(patients, seed, chunk_size)`` gives byte-identical
files. Output (spec/cli.md)::

    DIR/records.jsonl                     one record a line (spec/record.md)
    DIR/tables/NAME-00000.parquet ...     the five tables of sleitp.cohort.tables.SCHEMAS, in parts
    DIR/truth.parquet                     patient_id, p_first_line_response, the latent outcome ...
    DIR/truth_lines.parquet               the generator's IWG outcome of every line (responses schema)
    DIR/site.json                         with --site: the site's TRUE model (synth_model.site_effects)
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sleitp.cohort.synth import params as P
from sleitp.cohort.synth import truth as M
from sleitp.cohort.synth.course import LinePlan, LineResult, realise_line, visit_days
from sleitp.cohort.synth.jsonl import JsonlWriter
from sleitp.cohort.tables import RESPONSES, SCHEMAS
from sleitp.errors import SynthError
from sleitp.record import HISTORY_FLAGS

DEFAULT_CHUNK = 50_000
_EPOCH = dt.date(1970, 1, 1)

TRUTH = pa.schema(
    [
        ("patient_id", pa.string()),
        ("p_first_line_response", pa.float64()),  # the TRUE model's probability given the record
        ("p_first_line_response_latent", pa.float64()),  # ... given every latent characteristic
        ("first_line_response", pa.bool_()),  # the latent outcome drawn from it (R or CR)
        ("first_line_category", pa.string()),  # realised IWG category of line 1 (NE when lost to follow-up)
        ("first_line_complete", pa.bool_()),
        ("first_line_time_to_response_days", pa.int32()),
        ("first_line_loss_of_response_date", pa.date32()),
        ("megakaryocytes_below_20", pa.bool_()),  # latent, also when not measured
        ("anti_tpo_receptor", pa.bool_()),  # latent, also when not measured
        # chronic: seen in the counts, < 100 at the last count > 12 months after the ITP diagnosis
        ("chronic", pa.bool_()),
        ("chronic_latent", pa.bool_()),  # drawn from the AHN2024 model (False for NE patients)
        ("n_lines", pa.int8()),
    ]
)
TRUTH_LINES = RESPONSES  # the generator's planned outcome of every line, as derive writes it


@dataclass(frozen=True)
class SynthSummary:
    patients: int
    seed: int
    out: str
    chunks: int
    seconds: float
    rows: dict[str, int] = field(default_factory=dict)
    first_line_response_rate: float = 0.0  # mean of the true probabilities
    first_line_categories: dict[str, int] = field(default_factory=dict)
    site: int | None = None  # --site (None: the published TRUE model)
    heterogeneity: float = 0.0  # --heterogeneity: SD of the site's effects around the published ones

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


# ------------------------------------------------------------------------------------------ helpers
def _date_ordinal(text: str) -> int:
    return (dt.date.fromisoformat(text) - _EPOCH).days


def _choice(rng: np.random.Generator, shares: dict, n: int) -> np.ndarray:
    names = np.array(list(shares), dtype=object)
    p = np.array(list(shares.values()), dtype=np.float64)
    return names[rng.choice(len(names), size=n, p=p / p.sum())]


def _dates(days: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(days, dtype=np.int32), type=pa.int32()).cast(pa.date32())


def _nullable_dates(days: np.ndarray) -> pa.Array:
    d = np.asarray(days, dtype=np.int32)
    return pa.array(d, type=pa.int32(), mask=d < -100_000).cast(pa.date32())


_NO_DATE = -1_000_000  # sentinel for a missing date in int arrays


# ------------------------------------------------------------------------------------- the patients
def draw_patients(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Latent characteristics at the work-up of the ITP episode (one array per characteristic)."""
    male = rng.random(n) < P.MALE_SHARE  # [LIU2021]
    age = np.clip(rng.normal(P.AGE_MEAN, P.AGE_SD, n), P.AGE_MIN, P.AGE_MAX)  # [KHELLAF2014]
    pregnant = (~male) & (age >= 18) & (age <= 45) & (rng.random(n) < P.PREGNANT_SHARE_OF_WOMEN_18_45)
    baseline = np.clip(
        np.round(P.PLATELET_MEDIAN * np.exp(rng.normal(0, P.PLATELET_LOG_SD, n))),
        P.PLATELET_MIN,
        P.PLATELET_MAX,
    )
    c3 = np.round(np.clip(rng.normal(P.C3_MEAN, P.C3_SD, n), 0.2, 2.0), 2)
    c4 = np.round(np.clip(P.C4_GIVEN_C3[0] + P.C4_GIVEN_C3[1] * c3 + rng.normal(0, 0.03, n), 0.02, 0.6), 2)
    lymph = np.round(
        np.clip(P.LYMPHOCYTES_MEDIAN * np.exp(rng.normal(0, P.LYMPHOCYTES_LOG_SD, n)), 0.2, 5), 2
    )
    nlr_latent = P.NLR_MEDIAN * np.exp(rng.normal(0, P.NLR_LOG_SD, n))
    neutro = np.round(np.clip(nlr_latent * lymph, 0.3, 30), 2)
    aiha = rng.random(n) < P.AIHA_SHARE
    mk_low = rng.random(n) < P.MK_BELOW_20_SHARE  # [ZHAO2016] derived share
    mk = np.where(
        mk_low,
        rng.integers(2, 20, n),
        np.maximum(20, np.round(rng.normal(P.MK_NORMAL_MEAN, P.MK_NORMAL_SD, n))),
    )
    return {
        "male": male,
        "age_years": age,
        "pregnant": pregnant,
        "baseline_platelets": baseline,
        "platelets_below_20": baseline < 20,  # [AHN2024] < 20 x10^9/L
        "c3": c3,
        "c4": c4,
        "lymphocytes": lymph,
        "neutrophils": neutro,
        "nlr": neutro / lymph,
        "hemoglobin": np.round(np.where(aiha, rng.normal(80, 12, n), rng.normal(118, 14, n)).clip(40, 170)),
        "anticardiolipin": rng.random(n) < P.ANTICARDIOLIPIN_SHARE,
        "anti_b2gp1": rng.random(n) < P.ANTI_B2GP1_SHARE,
        "lupus_anticoagulant": rng.random(n) < P.LUPUS_ANTICOAGULANT_SHARE,
        "autoimmune_hemolysis": aiha,
        "megakaryocytes_below_20": mk_low,
        "megakaryocytes": mk.astype(np.float64),
        "mk_measured": rng.random(n) < P.MK_MEASURED_SHARE,
        "anti_tpo_receptor": rng.random(n) < P.ANTI_TPOR_SHARE,  # [KUWANA2006]
        "tpor_measured": rng.random(n) < P.ANTI_TPOR_MEASURED_SHARE,
        "anti_sm": rng.random(n) < P.ANTI_SM_SHARE,
        "anti_ssa": rng.random(n) < P.ANTI_SSA_SHARE,
        "anti_dsdna_positive": rng.random(n) < P.ANTI_DSDNA_POSITIVE_SHARE,
    }


# ------------------------------------------------------------------------------------- one chunk
@dataclass
class Chunk:
    tables: dict[str, pa.Table]
    truth: pa.Table
    truth_lines: pa.Table


def generate_chunk(
    rng: np.random.Generator,
    n: int,
    first_index: int,
    id_prefix: str = "SYN",
    effects: M.SiteEffects | None = None,
) -> Chunk:
    """``n`` synthetic patients numbered from ``first_index`` (vectorised; no loop over patients);
    ``effects``: a site's TRUE model (:func:`.synth_model.site_effects`), default the published one."""
    pts = draw_patients(rng, n)
    ids = np.char.add(id_prefix + "-", np.char.zfill(np.arange(first_index, first_index + n).astype(str), 7))
    day0 = rng.integers(_date_ordinal(P.INDEX_DATE_FIRST), _date_ordinal(P.INDEX_DATE_LAST) + 1, n)
    workup = -rng.integers(1, 4, n)  # work-up 1-3 days before the first line (baseline count, labs)
    follow = rng.integers(P.FOLLOW_UP_DAYS[0], P.FOLLOW_UP_DAYS[1] + 1, n)

    # bleeding at presentation [COSTA2021, JUNG2016]
    p_bleed = np.where(pts["platelets_below_20"], P.BLEEDING_SHARE_BELOW_20, P.BLEEDING_SHARE_ABOVE_20)
    grade = np.where(rng.random(n) < p_bleed, _choice(rng, P.WHO_GRADE_SHARES, n).astype(int), 0)

    # line 1: glucocorticoid +/- IVIG; response from the TRUE model
    p_true = M.probability(pts, effects)
    responds = rng.random(n) < p_true
    complete = rng.random(n) < P.CR_SHARE_OF_RESPONDERS  # [ZHENG2025] derived CR share
    gc = _choice(rng, P.FIRST_LINE_GC_SHARES, n)
    ivig = grade >= P.IVIG_FROM_WHO_GRADE
    lo_hi = np.array([P.RESPONSE_VISITS[a] for a in gc])
    first_visit = rng.integers(lo_hi[:, 0], lo_hi[:, 1] + 1)
    ne = rng.random(n) < P.NOT_EVALUABLE_SHARE
    days1 = visit_days(rng, n)
    complete_eff = complete | (pts["baseline_platelets"] > 49)  # R impossible when 2 x baseline >= 100

    # chronic ITP, latent [AHN2024]: baseline < 20 and no response within 1 month
    ttr1 = np.take_along_axis(days1, (first_visit - 1)[:, None], axis=1)[:, 0]
    no_response_1_month = ~responds | (ttr1 > 30)
    chronic = rng.random(n) < M.chronic_probability(pts["platelets_below_20"], no_response_1_month)
    # A chronic patient's CR is always lost; the others' with the calibrated share [LI2023]
    relapse1 = np.where(
        complete_eff,
        chronic | (rng.random(n) < P.RELAPSE_SHARE_RESOLVING),
        chronic & (rng.random(n) < P.RELAPSE_SHARE),
    )
    plan1 = LinePlan(
        np.arange(n),
        np.zeros(n, dtype=np.int64),
        pts["baseline_platelets"],
        responds,
        complete,
        rng.random(n) < P.CR_THROUGH_R_SHARE,
        first_visit,
        rng.integers(P.RELAPSE_DELAY_DAYS[0], P.RELAPSE_DELAY_DAYS[1] + 1, n),
        relapse1,
        force_relapse=chronic & complete_eff,
        consolidate=~chronic & ~complete_eff,
        days=days1,
    )
    lines = [realise_line(rng, plan1, follow, last_line=False, not_evaluable=ne)]
    fu = lines[0].follow_up_end.copy()
    agents_of_line = [gc]

    for number in (2, 3):
        prev = lines[-1]
        has = prev.next_start >= 0
        rows = prev.rows[has]
        m = len(rows)
        chronic_m = chronic[rows]
        after_r = prev.category[has] == "R"  # a consolidation line follows an R in a resolving patient
        agent = np.where(
            after_r,
            _choice(rng, P.MAINTENANCE_AGENTS, m),
            _choice(rng, P.SECOND_LINE_AGENTS if number == 2 else P.THIRD_LINE_AGENTS, m),
        )
        if number == 3:  # never the same agent twice in a row
            agent = np.where(agent == agents_of_line[-1][rows], "splenectomy", agent)
        orr = np.array([P.LATER_LINE_RESPONSE[a][0] for a in agent])
        crs = np.array([P.LATER_LINE_RESPONSE[a][1] for a in agent])
        lo_hi = np.array([P.RESPONSE_VISITS[a] for a in agent]).reshape(m, 2)
        # Line 2 responds at the agent's published rate. A chronic patient loses any CR (the
        # thrombocytopenia outlasts 12 months); a resolving patient keeps it, and one who is not yet in
        # CR after line 2 (NR, or R -> consolidation) reaches a lasting CR on line 3.
        forced = ~chronic_m if number == 3 else np.zeros(m, dtype=bool)
        responds_m = forced | (rng.random(m) < orr)
        complete_m = forced | (rng.random(m) < crs)
        complete_m_eff = complete_m | (prev.last_count[has] > 49)
        relapses_m = chronic_m & (complete_m_eff | (rng.random(m) < P.RELAPSE_SHARE))
        consolidate = ~chronic_m & ~complete_m_eff if number == 2 else None
        plan = LinePlan(
            rows,
            prev.next_start[has],
            prev.last_count[has],
            responds_m,
            complete_m,
            rng.random(m) < P.CR_THROUGH_R_SHARE,
            rng.integers(lo_hi[:, 0], lo_hi[:, 1] + 1),
            rng.integers(P.RELAPSE_DELAY_DAYS[0], P.RELAPSE_DELAY_DAYS[1] + 1, m),
            relapses_m,
            force_relapse=chronic_m & complete_m_eff,
            consolidate=consolidate,
        )
        res = realise_line(rng, plan, fu[rows], last_line=(number == 3))
        fu[rows] = np.maximum(fu[rows], res.follow_up_end)
        lines.append(res)
        full = np.full(n, None, dtype=object)
        full[rows] = agent
        agents_of_line.append(full)

    return _assemble(
        rng, pts, ids, day0, workup, fu, grade, ivig, p_true, responds, lines, agents_of_line, chronic & ~ne,
        effects,
    )


def _assemble(
    rng,
    pts,
    ids,
    day0,
    workup,
    fu,
    grade,
    ivig,
    p_true,
    responds,
    lines: list[LineResult],
    agents_of_line,
    chronic_latent,
    effects: M.SiteEffects | None = None,
) -> Chunk:
    n = len(ids)
    pid = pa.array(ids.tolist(), type=pa.string())
    wday = day0 + workup  # the work-up day (ITP diagnosis, baseline labs)
    end_day = day0 + fu  # the assessment date

    # SLE diagnosis timing [ZIAKAS2005, COSTA2021]; the delays (1-12 months after, 1-10 years before)
    # are an ASSUMPTION
    u = rng.random(n)
    sle = np.where(
        u < P.SLE_AT_ITP_SHARE,
        wday,
        np.where(
            u < P.SLE_AT_ITP_SHARE + P.ITP_BEFORE_SLE_SHARE,
            wday + rng.integers(30, 366, n),
            wday - rng.integers(365, 3653, n),
        ),
    )
    sle = np.minimum(sle, end_day)
    birth = day0 - np.round(pts["age_years"] * 365.25).astype(np.int64)

    # manifestations at work-up
    man_pid, man_day, man_name, man_class = [], [], [], []
    for name, share in P.MANIFESTATION_SHARES.items():
        has = rng.random(n) < share
        man_pid.append(np.nonzero(has)[0])
        man_day.append(wday[has])
        man_name.append(np.full(has.sum(), name))
        cls = (
            rng.choice(np.array(["II", "III", "IV", "V"]), has.sum())
            if name == "lupus_nephritis"
            else np.full(has.sum(), None, dtype=object)
        )
        man_class.append(cls.astype(object))
        if name == "lupus_nephritis":
            nephritis = has
    aiha = pts["autoimmune_hemolysis"]
    man_pid.append(np.nonzero(aiha)[0])
    man_day.append(wday[aiha])
    man_name.append(np.full(aiha.sum(), "autoimmune_hemolysis"))
    man_class.append(np.full(aiha.sum(), None, object))
    mi = np.concatenate(man_pid)
    manifestations = pa.table(
        {
            "patient_id": pid.take(pa.array(mi)),
            "date": _dates(np.concatenate(man_day)),
            "name": pa.array(np.concatenate(man_name).tolist(), pa.string()),
            "nephritis_class": pa.array(np.concatenate(man_class).tolist(), pa.string()),
        },
        schema=SCHEMAS["manifestations"],
    )

    labs = _labs(rng, pts, pid, wday, day0, lines)
    treatments = _treatments(pts, pid, day0, end_day, sle, grade, ivig, lines, agents_of_line, rng)
    bleeders = np.nonzero(grade > 0)[0]
    pick = rng.integers(0, 6, len(bleeders))  # one of the grade's sites (6 is a multiple of 1, 2 and 3)
    sites = np.array(
        [
            P.WHO_GRADE_SITES[g][j % len(P.WHO_GRADE_SITES[g])]
            for g, j in zip(grade[bleeders].tolist(), pick.tolist(), strict=True)
        ],
        dtype=object,
    )
    bleeding = pa.table(
        {
            "patient_id": pid.take(pa.array(bleeders)),
            "date": _dates(wday[bleeders]),
            "who_grade": pa.array(grade[bleeders].astype(np.int8), pa.int8()),
            "site": pa.array(sites.tolist(), pa.string()),
        },
        schema=SCHEMAS["bleeding"],
    )

    had_splenectomy = np.zeros(n, dtype=bool)
    for line, agents in zip(lines[1:], agents_of_line[1:], strict=True):
        had_splenectomy[line.rows] |= agents[line.rows] == "splenectomy"
    patients = {
        "patient_id": pid,
        "sex": pa.array(np.where(pts["male"], "male", "female").tolist(), pa.string()),
        "birth_date": _dates(birth),
        "age_years": pa.nulls(n, pa.float64()),
        "pregnant": pa.array(pts["pregnant"]),
        "weight_kg": pa.nulls(n, pa.float64()),
        "sle_diagnosis_date": _dates(sle),
        "itp_diagnosis_date": _dates(wday),
        "assessment_date": _dates(end_day),
    }
    for flag in HISTORY_FLAGS:
        value = {"lupus_nephritis": nephritis, "splenectomy": had_splenectomy}.get(
            flag, np.zeros(n, dtype=bool)
        )
        patients[f"history_{flag}"] = pa.array(value)
    patients_t = pa.table(patients, schema=SCHEMAS["patients"])

    # truth: P(response | the record) is what a model of the records can at best reach; the latent too
    p_record = M.probability_given_record(
        pts,
        {"megakaryocytes_below_20": pts["mk_measured"], "anti_tpo_receptor": pts["tpor_measured"]},
        {"megakaryocytes_below_20": P.MK_BELOW_20_SHARE, "anti_tpo_receptor": P.ANTI_TPOR_SHARE},
        effects,
    )
    l1 = lines[0]
    n_lines = np.ones(n, dtype=np.int8)
    for k, line in enumerate(lines[1:], start=2):
        n_lines[line.rows] = k
    chronic = _chronic(lines, wday - day0, fu, n)
    truth = pa.table(
        {
            "patient_id": pid,
            "p_first_line_response": pa.array(p_record),
            "p_first_line_response_latent": pa.array(p_true),
            "first_line_response": pa.array(responds),
            "first_line_category": pa.array(l1.category.tolist(), pa.string()),
            "first_line_complete": pa.array(l1.category == "CR"),
            "first_line_time_to_response_days": pa.array(l1.ttr.astype(np.int32), mask=l1.ttr < 0),
            "first_line_loss_of_response_date": _nullable_dates(
                np.where(l1.loss >= 0, day0 + l1.loss, _NO_DATE)
            ),
            "megakaryocytes_below_20": pa.array(pts["megakaryocytes_below_20"]),
            "anti_tpo_receptor": pa.array(pts["anti_tpo_receptor"]),
            "chronic": pa.array(chronic[0], mask=~chronic[1]),
            "chronic_latent": pa.array(chronic_latent),
            "n_lines": pa.array(n_lines, pa.int8()),
        },
        schema=TRUTH,
    )
    return Chunk(
        {
            "patients": patients_t,
            "labs": labs,
            "treatments": treatments,
            "bleeding": bleeding,
            "manifestations": manifestations,
        },
        truth,
        _truth_lines(pid, day0, fu, lines, agents_of_line, ivig),
    )


def _chronic(lines: list[LineResult], wday_rel: np.ndarray, fu: np.ndarray, n: int):
    """Chronic ITP [IWG2009: lasting > 12 months]: the last count > 365 days after the ITP diagnosis is
    < 100. Unknown (mask False) when follow-up ends within 12 months."""
    last_day = np.full(n, -(10**9))
    last_val = np.full(n, np.nan)
    for line in lines:
        d = np.where(line.count_mask, line.count_days, -(10**9))
        j = np.argmax(d, axis=1)
        dd = d[np.arange(len(j)), j]
        vv = line.count_values[np.arange(len(j)), j]
        newer = dd > last_day[line.rows]
        last_day[line.rows] = np.where(newer, dd, last_day[line.rows])
        last_val[line.rows] = np.where(newer, vv, last_val[line.rows])
    known = last_day > wday_rel + 365
    return (last_val < 100) & known, known


def _labs(rng, pts, pid, wday, day0, lines: list[LineResult]) -> pa.Table:
    n = len(wday)
    parts = []

    def add(rows, day, test, value=None, unit=None, result=None, ref_high=None):
        rows = np.asarray(rows)
        m = len(rows)
        parts.append(
            {
                "patient_id": pid.take(pa.array(rows)),
                "date": _dates(day),
                "test": pa.array(np.full(m, test).tolist(), pa.string()),
                "value": pa.array(value, pa.float64()) if value is not None else pa.nulls(m, pa.float64()),
                "unit": pa.array([unit] * m, pa.string()),
                "result": pa.array(result.tolist(), pa.string())
                if result is not None
                else pa.nulls(m, pa.string()),
                "reference_low": pa.nulls(m, pa.float64()),
                "reference_high": pa.array(np.full(m, ref_high), pa.float64())
                if ref_high is not None
                else pa.nulls(m, pa.float64()),
            }
        )

    allr = np.arange(n)
    pos = lambda b: np.where(b, "positive", "negative")  # noqa: E731
    add(allr, wday, "platelets", pts["baseline_platelets"], "10^9/L")  # the baseline count [IWG2009]
    add(allr, wday, "hemoglobin", pts["hemoglobin"], "g/L")
    add(allr, wday, "neutrophils", pts["neutrophils"], "10^9/L")
    add(allr, wday, "lymphocytes", pts["lymphocytes"], "10^9/L")
    add(allr, wday, "wbc", np.round(pts["neutrophils"] + pts["lymphocytes"] + 0.5, 2), "10^9/L")
    add(allr, wday, "c3", pts["c3"], "g/L")
    add(allr, wday, "c4", pts["c4"], "g/L")
    add(allr, wday, "ana", rng.choice(np.array([160.0, 320.0, 640.0, 1280.0]), n), "titer")
    dsdna = np.where(pts["anti_dsdna_positive"], rng.uniform(40, 400, n), rng.uniform(1, 25, n)).round(0)
    add(allr, wday, "anti_dsdna", dsdna, "IU/mL", ref_high=30.0)  # [MAYO-ADNAR] < 30 IU/mL negative
    for test in ("anticardiolipin", "anti_b2gp1", "lupus_anticoagulant", "anti_sm", "anti_ssa"):
        add(allr, wday, test, result=pos(pts[test]))
    add(allr, wday, "direct_coombs", result=pos(pts["autoimmune_hemolysis"]))  # [EULARACR2019] AIH needs DAT+
    mk = np.nonzero(pts["mk_measured"])[0]
    add(mk, wday[mk], "megakaryocytes", pts["megakaryocytes"][mk], "/slide")
    tp = np.nonzero(pts["tpor_measured"])[0]
    add(tp, wday[tp], "anti_tpo_receptor", result=pos(pts["anti_tpo_receptor"][tp]))
    for line in lines:  # the platelet counts after each line's start
        r, c = np.nonzero(line.count_mask)
        rows = line.rows[r]
        add(rows, day0[rows] + line.count_days[r, c], "platelets", line.count_values[r, c], "10^9/L")
    cols = {k: pa.concat_arrays([p[k] for p in parts]) for k in parts[0]}
    return pa.table(cols, schema=SCHEMAS["labs"])


def _treatments(pts, pid, day0, end_day, sle, grade, ivig, lines, agents_of_line, rng) -> pa.Table:
    n = len(day0)
    cols: dict[str, list] = {
        k: [] for k in ("row", "agent", "start", "end", "dose", "dose_unit", "frequency", "route")
    }

    def add(rows, agent, start, end, dose=None, dose_unit=None, frequency=None, route=None):
        rows = np.asarray(rows)
        m = len(rows)
        cols["row"].append(rows)
        cols["agent"].append(np.broadcast_to(np.asarray(agent, dtype=object), (m,)))
        cols["start"].append(np.asarray(start, dtype=np.int64))
        cols["end"].append(np.broadcast_to(np.asarray(end, dtype=np.int64), (m,)))
        for k, v in (("dose", dose), ("dose_unit", dose_unit), ("frequency", frequency), ("route", route)):
            cols[k].append(np.full(m, v, dtype=object))

    l1 = lines[0]
    next1 = np.where(l1.next_start >= 0, day0 + l1.next_start - 1, end_day)  # the day before line 2
    gc = agents_of_line[0]

    def cap(x, rows):
        return np.minimum(np.minimum(x, next1[rows]), end_day[rows])

    # line 1's glucocorticoid, daily from day 0, capped at line 2 and the end of follow-up: prednisone
    # 1 mg/kg/d [ARNAL2002][WEI2016] for <= 6 weeks [ASH2019]; dexamethasone 40 mg/day x 4 days [ASH2019];
    # methylprednisolone pulses [ARNAL2002]
    for agent, days, dose, dose_unit, route in (
        ("prednisone", P.PREDNISONE_DAYS, P.PREDNISONE_MG_KG, "mg/kg", "oral"),
        ("dexamethasone", P.DEXAMETHASONE_DAYS, P.DEXAMETHASONE_MG, "mg", "oral"),
        ("methylprednisolone", P.MP_PULSE_DAYS, None, None, "intravenous"),
    ):
        r = np.nonzero(gc == agent)[0]
        add(r, agent, day0[r], cap(day0[r] + days - 1, r), dose, dose_unit, "daily", route)
    # [ARNAL2002] after the pulses, prednisone (the same line: it starts within 7 days)
    r = np.nonzero(gc == "methylprednisolone")[0]
    add(
        r,
        "prednisone",
        np.minimum(day0[r] + P.MP_PULSE_DAYS, end_day[r]),
        np.maximum(
            cap(day0[r] + P.PREDNISONE_DAYS - 1, r), np.minimum(day0[r] + P.MP_PULSE_DAYS, end_day[r])
        ),
        P.PREDNISONE_MG_KG,
        "mg/kg",
        "daily",
        "oral",
    )
    r = np.nonzero(ivig)[0]
    add(r, "ivig", day0[r], day0[r], P.IVIG_G_KG, "g/kg", "once", "intravenous")  # [ICR2019]
    hcq = np.nonzero((rng.random(n) < P.HCQ_BACKGROUND_SHARE) & (sle <= end_day))[0]
    add(hcq, "hydroxychloroquine", sle[hcq], np.full(len(hcq), _NO_DATE), None, None, "daily", "oral")

    for line, agents in zip(lines[1:], agents_of_line[1:], strict=True):
        rows = line.rows
        start = day0[rows] + line.start
        stop = np.where(line.next_start >= 0, day0[rows] + line.next_start - 1, _NO_DATE)
        a = agents[rows]
        for agent in np.unique(a):
            sel = a == agent
            rr, s, e = rows[sel], start[sel], stop[sel]
            if agent in P.CONTINUOUS_AGENTS:  # runs until the next line (or ongoing)
                dose = P.DANAZOL_MG if agent == "danazol" else None
                add(rr, agent, s, e, dose, "mg" if dose else None, "daily", "oral")
            elif agent == "rituximab":  # [RTX-LOWDOSE2011] 100 mg weekly x 4
                last = s + 7 * (P.RITUXIMAB_WEEKS - 1)
                add(
                    rr,
                    agent,
                    s,
                    np.where(e > _NO_DATE, np.minimum(last, e), last).clip(s),
                    P.RITUXIMAB_MG,
                    "mg",
                    "weekly",
                    "intravenous",
                )
            else:  # splenectomy, a cyclophosphamide pulse: one day
                add(rr, agent, s, s, None, None, "once", None)
    row = np.concatenate(cols["row"])
    end = np.concatenate(cols["end"])
    end = np.where(end > _NO_DATE, np.minimum(end, end_day[row]), _NO_DATE)
    start = np.minimum(np.concatenate(cols["start"]), end_day[row])
    order = np.lexsort((np.concatenate(cols["agent"]).astype(str), start, row))
    obj = lambda k: pa.array(np.concatenate(cols[k])[order].tolist())  # noqa: E731
    return pa.table(
        {
            "patient_id": pid.take(pa.array(row[order])),
            "agent": obj("agent").cast(pa.string()),
            "start": _dates(start[order]),
            "end": _nullable_dates(end[order]),
            "dose": obj("dose").cast(pa.float64()),
            "dose_unit": obj("dose_unit").cast(pa.string()),
            "frequency": obj("frequency").cast(pa.string()),
            "route": obj("route").cast(pa.string()),
        },
        schema=SCHEMAS["treatments"],
    )


def _truth_lines(pid, day0, fu, lines, agents_of_line, ivig) -> pa.Table:
    out = []
    for k, (line, agents) in enumerate(zip(lines, agents_of_line, strict=True), start=1):
        rows = line.rows
        a = agents[rows]
        if k == 1:  # the glucocorticoid(s) of line 1, with IVIG when it was given on day 0
            lists = []
            for x, given_ivig in zip(a.tolist(), ivig[rows].tolist(), strict=True):
                names = {x, "prednisone"} if x == "methylprednisolone" else {x}
                lists.append(sorted(names | ({"ivig"} if given_ivig else set())))
        else:
            lists = [[str(x)] for x in a]
        end = np.where(line.next_start >= 0, line.next_start - 1, fu[rows])
        out.append(
            pa.table(
                {
                    "patient_id": pid.take(pa.array(rows)),
                    "line": pa.array(np.full(len(rows), k, np.int32)),
                    "agents": pa.array(lists, pa.list_(pa.string())),
                    "start": _dates(day0[rows] + line.start),
                    "baseline_platelets": pa.array(line.baseline.astype(np.float64)),
                    "category": pa.array(line.category.tolist(), pa.string()),
                    "time_to_response_days": pa.array(line.ttr.astype(np.int32), mask=line.ttr < 0),
                    "time_to_complete_response_days": pa.array(
                        line.ttcr.astype(np.int32), mask=line.ttcr < 0
                    ),
                    "loss_of_response_date": _nullable_dates(
                        np.where(line.loss >= 0, day0[rows] + line.loss, _NO_DATE)
                    ),
                    "evaluation_end": _dates(day0[rows] + end),
                },
                schema=TRUTH_LINES,
            )
        )
    return pa.concat_tables(out).sort_by([("patient_id", "ascending"), ("line", "ascending")])


# ------------------------------------------------------------------------------------- the cohort
def synthesize(
    patients: int,
    seed: int,
    out: str | Path,
    *,
    chunk_size: int = DEFAULT_CHUNK,
    jsonl: bool = True,
    on_chunk: Callable[[int], None] | None = None,
    site: int | None = None,
    heterogeneity: float = 0.0,
) -> SynthSummary:
    """Write a synthetic cohort of ``patients`` to ``out`` (see the module docstring). With ``site`` (and
    ``heterogeneity`` > 0) the first-line response follows that site's TRUE model
    (:func:`.synth_model.site_effects`), written to ``DIR/site.json``; truth.parquet holds its
    probabilities. ``heterogeneity`` 0 (the default) is the published model, byte for byte."""
    if patients < 1:
        raise SynthError(f"--patients: expected a positive number of patients, got {patients}")
    if seed < 0:
        raise SynthError(f"--seed: expected a non-negative integer, got {seed}")
    if chunk_size < 1:
        raise SynthError(f"chunk size: expected a positive number, got {chunk_size}")
    try:
        effects = M.site_effects(site, heterogeneity) if site is not None or heterogeneity else None
    except ValueError as e:
        raise SynthError(f"--site/--heterogeneity: {e}") from None
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SynthError(f"--out: {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        raise SynthError(f"--out: {out} is not empty; choose a new directory (nothing is overwritten)")
    (out / "tables").mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    streams = np.random.SeedSequence(seed).spawn((patients + chunk_size - 1) // chunk_size)
    rows = {name: 0 for name in SCHEMAS}
    cats: dict[str, int] = {}
    p_sum = 0.0
    truth_w = pq.ParquetWriter(out / "truth.parquet", TRUTH)
    lines_w = pq.ParquetWriter(out / "truth_lines.parquet", TRUTH_LINES)
    writer = None
    if jsonl:
        writer = JsonlWriter(out / "records.jsonl")
    try:
        for i, ss in enumerate(streams):
            first = i * chunk_size
            n = min(chunk_size, patients - first)
            chunk = generate_chunk(np.random.default_rng(ss), n, first, effects=effects)
            for name, table in chunk.tables.items():
                pq.write_table(table, out / "tables" / f"{name}-{i:05d}.parquet")
                rows[name] += table.num_rows
            truth_w.write_table(chunk.truth)
            lines_w.write_table(chunk.truth_lines)
            if writer is not None:
                writer.write(chunk.tables)
            p_sum += float(np.sum(chunk.truth.column("p_first_line_response").to_numpy()))
            for c in chunk.truth.column("first_line_category").to_pylist():
                cats[c] = cats.get(c, 0) + 1
            if on_chunk is not None:
                on_chunk(n)
    finally:
        truth_w.close()
        lines_w.close()
        if writer is not None:
            writer.close()
    if effects is not None:
        import json

        (out / "site.json").write_text(json.dumps(effects.to_json(), indent=2) + "\n")
    return SynthSummary(
        patients,
        seed,
        str(out),
        len(streams),
        round(time.perf_counter() - t0, 3),
        rows,
        round(p_sum / patients, 4),
        dict(sorted(cats.items())),
        site,
        float(heterogeneity),
    )


__all__ = [
    "DEFAULT_CHUNK",
    "TRUTH",
    "TRUTH_LINES",
    "Chunk",
    "SynthError",
    "SynthSummary",
    "draw_patients",
    "generate_chunk",
    "synthesize",
]
