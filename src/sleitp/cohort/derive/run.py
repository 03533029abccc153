"""`sleitp cohort derive`: treatment lines, IWG responses and predictors of a whole cohort, in the engine.

    source (records.jsonl | synth tables | FHIR | OMOP)  --sources-->  five engine tables
        --derive_roles-->  course roles (ITP line / background / not ITP treatment)
        --derive_lines-->  lines  --derive_iwg-->  responses.parquet (IWG category and line status)
        --derive_features (at line 1's start, its IWG baseline)-->  features.parquet
    + unmapped.json: what could not be mapped, per reason (never dropped in silence)

Every step is an Ibis expression over all patients at once (DuckDB by default, PySpark with
``backend="spark"``); the single-patient references are ``sleitp.instruments.iwg.iwg_responses`` and
``sleitp.features.patient_features`` (tests/cohort/derive/test_derive.py holds the engine to them on random
cohorts).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import ibis

from sleitp.cohort.derive.features import features
from sleitp.cohort.derive.iwg import (
    bleeding_events,
    daily_counts,
    iwg_responses,
    patient_days,
    platelet_counts,
)
from sleitp.cohort.derive.lines import treatment_lines
from sleitp.cohort.engine import Engine, connect
from sleitp.cohort.engine.errors import engine_errors
from sleitp.cohort.engine.storage import join, require_spark
from sleitp.cohort.sources import CohortTables, Unmapped, open_source
from sleitp.cohort.tables import DERIVED_RESPONSES, FEATURES_SCHEMA, RESPONSES
from sleitp.instruments.iwg import CONTINUATION_GAP_DAYS


@dataclass
class DeriveResult:
    """What a derive run wrote and found."""

    out: Path | str  # a URI (hdfs://, s3a://) when Spark wrote to a cluster's storage
    backend: str
    source_kind: str
    patients: int
    lines: int
    patients_without_line: int
    categories: dict[str, int]
    unmapped: Unmapped
    seconds: dict[str, float] = field(default_factory=dict)
    profile: list[tuple[str, float]] = field(default_factory=list)  # each engine step: (caller, seconds)

    def to_json(self) -> dict:
        return {
            "out": str(self.out),
            "backend": self.backend,
            "source": self.source_kind,
            "patients": self.patients,
            "lines": self.lines,
            "patients_without_line": self.patients_without_line,
            "categories": self.categories,
            "unmapped": self.unmapped.to_json(),
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


def assessment_dates(t: CohortTables) -> ibis.Table:
    """``patient_id, at``: the patient's assessment date, else the latest date anywhere in their data
    (spec/record.md; ``PatientRecord.effective_assessment_date``)."""
    p = t.patients
    parts = [
        p.select("patient_id", d=p.sle_diagnosis_date),
        p.select("patient_id", d=p.itp_diagnosis_date),
        t.labs.select("patient_id", d=t.labs.date),
        t.manifestations.select("patient_id", d=t.manifestations.date),
        t.bleeding.select("patient_id", d=t.bleeding.date),
        t.treatments.select("patient_id", d=t.treatments.start),
        t.treatments.select("patient_id", d=t.treatments.end),
    ]
    latest = ibis.union(*parts, distinct=False).group_by("patient_id").agg(latest=lambda s: s.d.max())
    j = p.left_join(latest, "patient_id")
    return j.select(patient_id=p.patient_id, at=ibis.coalesce(j.assessment_date, j.latest))


def derive_tables(
    t: CohortTables,
    engine: Engine,
    *,
    continuation_gap_days: int = CONTINUATION_GAP_DAYS,
    timer: Callable[[str], None] | None = None,
) -> tuple[ibis.Table, ibis.Table]:
    """The two result tables as engine expressions: ``(responses, features)``."""
    tick = timer or (lambda _name: None)
    missing = engine.count(t.patients.filter(t.patients.assessment_date.isnull()))
    if missing:
        at = assessment_dates(t)
    else:
        at = t.patients.select("patient_id", at=t.patients.assessment_date)
    at = engine.materialize(at)
    # one row a patient-day (the lowest count, bleeding): computed once, read by every step below
    days = engine.materialize(patient_days(platelet_counts(t.labs), bleeding_events(t.bleeding)))
    counts = daily_counts(days)
    lines = treatment_lines(
        t.treatments,
        at,
        engine,
        patients=t.patients,
        counts=counts,
        continuation_gap_days=continuation_gap_days,
    )
    tick("lines")
    responses = engine.materialize(iwg_responses(lines, days, engine))
    tick("responses")
    # one index date (sleitp.features.index_date): the start of the first ITP line; and one baseline: the
    # line's IWG baseline, read from the responses, so both files carry the same number
    r1 = responses.filter(responses.line == 1)
    first = r1.select(
        "patient_id", "baseline_platelets", index_date=r1.start, first_line_agents=r1.agents
    )
    feats = engine.materialize(features(first, t.patients, t.labs, t.bleeding, t.manifestations, engine))
    tick("features")
    return responses, feats


_NEXT_STEP = {"read": "lines", "lines": "responses", "responses": "features", "features": "write"}


def derive(
    source: str | Path,
    out: str | Path,
    *,
    backend: str = "duckdb",
    engine: Engine | None = None,
    continuation_gap_days: int = CONTINUATION_GAP_DAYS,
    vocabulary: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
    fhir_mapping: str = "views",
) -> DeriveResult:
    """Read ``source``, derive, and write ``out/responses.parquet``, ``out/features.parquet`` and
    ``out/unmapped.json``. ``progress`` is called with the name of each finished step. ``fhir_mapping``:
    ``views`` (default: a FHIR source through SQL on FHIR ViewDefinitions; docs/fhir-views.md) or ``python``
    (the per-resource mapping; docs/fhir.md)."""
    out = require_spark(out, engine.backend if engine else backend, "--out")  # a Path, or a URI for Spark
    own = engine is None
    eng = engine or connect(backend)
    seconds: dict[str, float] = {}
    t0 = [time.perf_counter()]
    step = ["read"]  # the step running now, named in an engine error

    def tick(name: str) -> None:
        now = time.perf_counter()
        seconds[name] = now - t0[0]
        t0[0] = now
        step[0] = _NEXT_STEP.get(name, name)
        if progress:
            progress(name)

    try:
        with engine_errors(eng, step):
            src = open_source(
                source, eng, vocabulary=vocabulary, progress=progress, fhir_mapping=fhir_mapping
            )
            tick("read")
            responses, feats = derive_tables(
                src.tables, eng, continuation_gap_days=continuation_gap_days, timer=tick
            )
            n_lines = eng.write_parquet(responses, join(out, "responses.parquet"), DERIVED_RESPONSES)
            n_patients = eng.write_parquet(feats, join(out, "features.parquet"), FEATURES_SCHEMA)
            tick("write")
            cats = eng.to_arrow(responses.group_by("category").agg(n=responses.count())).to_pylist()
            without = eng.count(feats.filter(feats.index_date.isnull()))
            result = DeriveResult(
                out=out,
                backend=eng.backend,
                source_kind=src.kind,
                patients=n_patients,
                lines=n_lines,
                patients_without_line=without,
                categories={c: 0 for c in ("CR", "R", "NR", "NE")} | {r["category"]: r["n"] for r in cats},
                unmapped=src.unmapped,
                seconds=seconds,
                profile=list(eng.profile),
            )
            report = {"source": str(source), "kind": src.kind, **src.unmapped.to_json()}
            eng.write_text(join(out, "unmapped.json"), json.dumps(report, indent=2) + "\n")
            return result
    finally:
        if own:
            eng.close()


__all__ = [
    "DERIVED_RESPONSES", "FEATURES_SCHEMA", "RESPONSES", "DeriveResult", "assessment_dates", "derive",
    "derive_tables",
]
