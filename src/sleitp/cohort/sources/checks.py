"""The rules a row of the engine tables must keep (patient known, vocabulary, plausible value, ...): the
rows that break one are counted per reason and left out, all in the engine (no Python per row).
"""

from __future__ import annotations

import ibis

from sleitp.cohort.engine import Engine
from sleitp.cohort.sources._base import TABLES, CohortTables, Unmapped
from sleitp.errors import SourceError
from sleitp.record import AGENTS, MANIFESTATIONS
from sleitp.units import TESTS


def _reasons(t: ibis.Table, name: str, ids: ibis.Table) -> ibis.Value:
    """Why a row cannot be used (null when it can): one expression a table, evaluated in the engine."""
    cases = [(t.patient_id.isnull(), f"{name}: no patient_id")]
    if name == "patients":
        cases.append(
            (
                t.sex.notnull() & ~t.sex.isin(["female", "male", "other", "unknown"]),
                "patients: sex not female/male/other/unknown",
            )
        )
        return ibis.cases(*cases, else_=ibis.null("string"))
    # a left join flag, not NOT IN: Spark plans NOT IN (subquery) as a nested-loop join
    cases.append((t._known.isnull(), f"{name}: patient_id not in the patients table"))
    if name == "labs":
        # the test's row of the vocabulary table (``_vocabulary``), joined: a CASE over every test's range
        # would be one huge expression, which Spark cannot compile to code (it then interprets it, 10 s a
        # 3 M rows); a join to 31 rows is cheap on both engines
        cases += [
            (t.date.isnull(), "labs: no date"),
            (t._test.isnull(), "labs: test not in the record vocabulary (spec/record.md)"),
            (t.value.isnull() & t.result.isnull(), "labs: neither value nor result"),
            (
                t.result.notnull() & ~t.result.isin(["positive", "negative"]),
                "labs: result not positive/negative",
            ),
            # values are canonical in the tables: the plausible range of the test (sleitp.units)
            (
                t._lo.notnull()
                & t.value.notnull()
                & ((t.value < t._lo) | (t.value > t._hi) | t.value.isnan()),
                t._outside,
            ),
        ]
    elif name == "treatments":
        cases += [
            (t.start.isnull(), "treatments: no start"),
            (~t.agent.isin(list(AGENTS)), "treatments: agent not in the record vocabulary (spec/record.md)"),
            (t.end.notnull() & (t.end < t.start), "treatments: end before start"),
            (
                t.indication.notnull() & ~t.indication.isin(["itp", "sle", "other"]),
                "treatments: indication not itp/sle/other",
            ),
        ]
    elif name == "bleeding":
        cases += [
            (t.date.isnull(), "bleeding: no date"),
            (t.who_grade.isnull() | (t.who_grade < 0) | (t.who_grade > 4), "bleeding: who_grade not 0-4"),
        ]
    elif name == "manifestations":
        cases += [
            (t.date.isnull(), "manifestations: no date"),
            (~t.name.isin(list(MANIFESTATIONS)), "manifestations: name not in the record vocabulary"),
        ]
    return ibis.cases(*cases, else_=ibis.null("string"))


def _vocabulary(engine: Engine) -> ibis.Table:
    """The lab tests of the record (``sleitp.units.TESTS``), one row each: ``_test`` and, for a measured
    test, its plausible range ``_lo``-``_hi`` in the canonical unit and the reason a value outside it is
    counted under."""
    rows = [
        {
            "_test": n,
            "_lo": float(spec.bounds[0]) if spec.canonical_unit else None,
            "_hi": float(spec.bounds[1]) if spec.canonical_unit else None,
            "_outside": (
                f"labs: {n} value outside {spec.bounds[0]:g}-{spec.bounds[1]:g} {spec.canonical_unit}"
                if spec.canonical_unit
                else None
            ),
        }
        for n, spec in TESTS.items()
    ]
    types = {"_test": "string", "_lo": "float64", "_hi": "float64", "_outside": "string"}
    return engine.lookup_table(rows, types)


def checked_tables(raw: dict[str, ibis.Table], engine: Engine, unmapped: Unmapped) -> CohortTables:
    """Count the rows that break a rule, per reason, and keep the others (all in the engine)."""
    p = raw["patients"]
    dup = p.group_by("patient_id").agg(n=p.count()).filter(lambda x: x.n > 1)
    n_dup = engine.count(dup)
    if n_dup:
        raise SourceError(
            f"patients table: {n_dup} patient_id value(s) appear more than once (expected one row a patient)"
        )
    out = {}
    ids = p.filter(p.patient_id.notnull()).select("patient_id", _known=ibis.literal(True))
    for name in TABLES:
        t = raw[name]
        if name != "patients":
            t = t.left_join(ids, "patient_id").drop("patient_id_right")
        if name == "labs":
            vocabulary = _vocabulary(engine)
            t = t.left_join(vocabulary, t.test == vocabulary._test)
        t = t.mutate(_why=_reasons(t, name, ids))
        bad = t.filter(t._why.notnull())
        counts = engine.to_arrow(bad.group_by("_why").agg(n=bad.count())).to_pylist()
        for row in counts:
            unmapped.add(row["_why"], int(row["n"]))
        if name == "labs":
            # The lab table is the big one (30 M rows for 1 M patients): re-checking every rule on every
            # read would cost more than the derivation. Its rules hold where labs are read instead: only
            # known tests are selected, rows without a date or with an unknown patient fall out of the
            # joins and date comparisons, values are kept within plausible() and results are
            # positive/negative only (derive_iwg, derive_features). The counts above already name them.
            out[name] = raw[name]
        else:
            # kept once: every step reads these tables again, and would re-join them to the patients
            out[name] = engine.materialize(
                t.filter(t._why.isnull()).drop("_why", *(["_known"] if name != "patients" else []))
            )
    return CohortTables(**out)


def plausible(t: ibis.Table, tests: list[str] | tuple[str, ...]) -> ibis.Value:
    """The value is inside the plausible range of its test (``sleitp.units``), for the measured ``tests``."""
    cases = []
    for n in tests:
        lo, hi = TESTS[n].bounds
        cases.append((t.test == n, (t.value >= lo) & (t.value <= hi)))
    return t.value.notnull() & ~t.value.isnan() & ibis.cases(*cases, else_=False)


__all__ = ["checked_tables", "plausible"]
