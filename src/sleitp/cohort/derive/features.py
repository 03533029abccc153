"""Predictors at the first line's start, set-based: the cohort twin of ``sleitp.features.patient_features``.

Definitions are those of ``sleitp.features`` (docs/features.md), read once for all patients:

- baseline platelets: the first line's IWG baseline (the last day with a count within 30 days on or before
  the start, the lowest count of that day: ``Timeline.baseline``), taken from the responses;
- a *latest value* (C3, haemoglobin, megakaryocytes) is the last result on or before the
  index date within the feature's window; on a day with several results the last one in the source's row
  order wins (the record keeps its list order; ``seq`` carries it): an arg-max over ``(date, seq)`` for
  each test, all in ONE group-by a patient (with the antibody counts below);
- *ever positive* antibodies: any positive result up to the index date; none recorded -> unknown (null);
- NLR / SII: per day the last value of each count, then the latest day with neutrophils and lymphocytes
  (> 0) (and platelets for SII) within 90 days;
- manifestations ever recorded up to the index date; the worst WHO bleeding grade in the 7 days up to it.
"""

from __future__ import annotations

import ibis

from sleitp.cohort.engine import Engine
from sleitp.cohort.sources import plausible
from sleitp.features import C3_DEFAULT_LOW, C4_DEFAULT_LOW, FEATURE_NAMES, LAB_WINDOW_DAYS
from sleitp.instruments.bleeding import BLEEDING_WINDOW_DAYS

_LATEST = {  # test -> window in days for "the latest value"
    "c3": LAB_WINDOW_DAYS,
    "c4": LAB_WINDOW_DAYS,
    "hemoglobin": LAB_WINDOW_DAYS,
    "megakaryocytes": LAB_WINDOW_DAYS,
}
_COUNTS = ("neutrophils", "lymphocytes", "platelets")
_EVER = (
    "anticardiolipin",
    "anti_b2gp1",
    "lupus_anticoagulant",
    "anti_tpo_receptor",
    "antiplatelet_antibody",
    "anti_sm",
    "anti_ssa",
)
# the order key: days since 1970 in the high bits, the row's position in the source in the low 40 bits
_SEQ_BITS = 1 << 40


def _days(n: int):
    return ibis.interval(days=n)


def _order_key(t: ibis.Table) -> ibis.Value:
    return t.date.epoch_days().cast("int64") * _SEQ_BITS + t.seq


def features(
    index: ibis.Table,
    patients: ibis.Table,
    labs: ibis.Table,
    bleeding: ibis.Table,
    manifestations: ibis.Table,
    engine: Engine,
) -> ibis.Table:
    """One row a patient: ``patient_id, index_date, first_line_agents`` then exactly ``FEATURE_NAMES``.

    ``index`` has ``patient_id, index_date, first_line_agents, baseline_platelets`` for patients with a
    treatment line (the baseline: the first line's IWG baseline, ``derive_iwg``, the same number as in
    responses.parquet); patients without one get a row with a null index date and null predictors.
    """
    window = LAB_WINDOW_DAYS
    # the first day of the longest window, as a date (a date column compared with "index - interval", a
    # timestamp on DuckDB, would cast every lab row)
    idx = index.select(
        "patient_id", "index_date", window_from=(index.index_date - _days(window)).cast("timestamp").date()
    )
    # measured values: only the rows inside the longest window before the index date (few a patient), kept
    measured = sorted(set(_LATEST) | set(_COUNTS))
    # the labs are read once: the measured values inside the longest window, and every qualitative
    # antibody result up to the index date (for "ever positive"), in one scan and one join
    measured_ok = labs.test.isin(measured) & plausible(labs, measured)
    antibody_ok = labs.test.isin(list(_EVER)) & labs.result.isin(["positive", "negative"])
    lx = labs.filter(measured_ok | antibody_ok).join(idx, "patient_id")
    lx = lx.filter(
        lx.date <= lx.index_date,
        lx.test.isin(list(_EVER)) | (lx.date >= lx.window_from),
    )
    lx = engine.materialize(  # only the columns read below: the copy is the cost of this step
        lx.select(
            "patient_id",
            "date",
            "test",
            "value",
            "reference_low",
            "result",
            k=_order_key(lx),
            ago=lx.index_date.delta(lx.date, unit="day"),  # days before the index date (an integer compare)
        )
    )

    # -- one group-by a patient: the latest value of each test within its window, and the antibodies ------
    # only the rows of these tests: every aggregate below is filtered on its test, and the blood counts
    # (a quarter of the rows at 100k synth patients) are read by NLR / SII only (issue #12)
    lw = lx.filter(lx.test.isin(sorted(set(_LATEST) | set(_EVER))))

    def latest(column: str, test: str) -> ibis.Value:
        in_window = (lw.test == test) & (lw.ago <= _LATEST[test])
        return engine.arg_max(lw[column], lw.k, where=in_window)

    def results(test: str, positive: bool = False) -> ibis.Value:
        hit = lw.test == test
        if positive:
            hit = hit & (lw.result == "positive")
        return hit.cast("int64").sum()

    wide = lw.group_by("patient_id").agg(
        c3=latest("value", "c3"),
        c4=latest("value", "c4"),
        c3_low=latest("reference_low", "c3"),
        c4_low=latest("reference_low", "c4"),
        hemoglobin=latest("value", "hemoglobin"),
        megakaryocytes=latest("value", "megakaryocytes"),
        # ever positive: every qualitative result up to the index date
        **{f"{t}_n": results(t) for t in _EVER},
        **{f"{t}_pos": results(t, positive=True) for t in _EVER},
    )

    # -- NLR and SII: same-day counts, the last value of each count of the day ----------------------------
    cv = lx.filter(lx.value.notnull(), lx.test.isin(_COUNTS), lx.ago <= LAB_WINDOW_DAYS)
    day = cv.group_by(["patient_id", "date"]).agg(
        neu=engine.arg_max(cv.value, cv.k, where=cv.test == "neutrophils"),
        lym=engine.arg_max(cv.value, cv.k, where=cv.test == "lymphocytes"),
        plt=engine.arg_max(cv.value, cv.k, where=cv.test == "platelets"),
    )
    day = day.filter(day.neu.notnull(), day.lym > 0)
    ratios = day.group_by("patient_id").agg(
        nlr=engine.arg_max(day.neu / day.lym, day.date),
        sii=engine.arg_max(day.plt * day.neu / day.lym, day.date, where=day.plt.notnull()),
    )

    # -- manifestations and bleeding ------------------------------------------------------------------------
    mx = manifestations.filter(manifestations.name.isin(["autoimmune_hemolysis", "lupus_nephritis"]))
    mx = mx.join(index.select("patient_id", "index_date"), "patient_id")
    mx = mx.filter(mx.date <= mx.index_date)
    manif = mx.group_by("patient_id").agg(
        aiha_n=(mx.name == "autoimmune_hemolysis").cast("int64").sum(),
        ln_n=(mx.name == "lupus_nephritis").cast("int64").sum(),
    )
    bx = bleeding.join(index.select("patient_id", "index_date"), "patient_id")
    bx = bx.filter(bx.date <= bx.index_date, bx.date >= bx.index_date - _days(BLEEDING_WINDOW_DAYS))
    bleed = bx.group_by("patient_id").agg(who_max=bx.who_grade.max())

    # -- one row a patient ----------------------------------------------------------------------------------
    t = patients.left_join(index, "patient_id").drop("patient_id_right")
    for part in (wide, ratios, manif, bleed):
        t = t.left_join(part, "patient_id").drop("patient_id_right")
    has = t.index_date.notnull()

    def ever_pos(test: str) -> ibis.Value:
        n, pos = t[f"{test}_n"].fill_null(0), t[f"{test}_pos"].fill_null(0)
        return ibis.ifelse(n == 0, ibis.null("boolean"), pos > 0)  # not measured: unknown, never "negative"

    def when(x: ibis.Value, kind: str) -> ibis.Value:
        return ibis.ifelse(has, x, ibis.null(kind))

    age = ibis.ifelse(
        t.birth_date.notnull(),
        t.index_date.delta(t.birth_date, unit="day").cast("float64") / 365.25,
        t.age_years,
    )
    acl, b2, la = ever_pos("anticardiolipin"), ever_pos("anti_b2gp1"), ever_pos("lupus_anticoagulant")
    any_apl = acl.fill_null(False) | b2.fill_null(False) | la.fill_null(False)
    none_apl = acl.isnull() & b2.isnull() & la.isnull()
    aps = t.history_antiphospholipid_syndrome.fill_null(False)
    c3_limit = t.c3_low.fill_null(C3_DEFAULT_LOW)  # laboratory's lower limit, else [RCPA-C3C4] 0.9 g/L
    c4_limit = t.c4_low.fill_null(C4_DEFAULT_LOW)  # laboratory's lower limit, else [RCPA-C3C4] 0.16 g/L
    cols = {
        "age_years": age,
        "male": ibis.ifelse(t.sex.isin(["male", "female"]), t.sex == "male", ibis.null("boolean")),
        "baseline_platelets": t.baseline_platelets,
        "platelets_below_20": t.baseline_platelets < 20,  # [AHN2024] < 20 x10^9/L
        "c3": t.c3,
        "low_c3": t.c3 < c3_limit,
        "low_c4": t.c4 < c4_limit,
        "anticardiolipin": acl,
        "antiphospholipid": ibis.ifelse(
            aps | any_apl, True, ibis.ifelse(none_apl, ibis.null("boolean"), False)
        ),
        "autoimmune_hemolysis": t.aiha_n.fill_null(0) > 0,
        "pregnant": t.pregnant,
        "nlr": t.nlr,
        "sii": t.sii,
        "megakaryocytes": t.megakaryocytes,
        "megakaryocytes_below_20": t.megakaryocytes < 20,  # [ZHAO2016] BM-MK < 20/slide
        "anti_tpo_receptor": ever_pos("anti_tpo_receptor"),
        "antiplatelet_antibody": ever_pos("antiplatelet_antibody"),
        "anti_sm": ever_pos("anti_sm"),
        "anti_ssa": ever_pos("anti_ssa"),
        "hemoglobin": t.hemoglobin,
        "lupus_nephritis": t.history_lupus_nephritis.fill_null(False) | (t.ln_n.fill_null(0) > 0),
        "who_bleeding_grade": t.who_max.fill_null(0).cast("float64"),
    }
    assert tuple(cols) == FEATURE_NAMES, "features.parquet must carry exactly sleitp.features.FEATURE_NAMES"
    kinds = {name: ("float64" if c.type().is_numeric() else "boolean") for name, c in cols.items()}
    return t.select(
        "patient_id",
        "index_date",
        "first_line_agents",
        **{name: when(c.cast(kinds[name]), kinds[name]) for name, c in cols.items()},
    )


__all__ = ["features"]
