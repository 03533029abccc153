"""Snapshots of the SQL the cohort derive runs (issue #12 item 3, issue #14 item 3).

A tiny fixed synthetic cohort is derived on DuckDB with the engine's ``sql_log`` on; the SQL of every
materialized step, grouped by the module that built it (source checks, roles, lines, IWG, features), pretty
printed by sqlglot, must equal ``tests/snapshots/sql/<module>.sql``. A change of SQL shape (a new join, a
lost filter, a window where a group-by was) then shows in review as a diff of those files. After an
intended change, regenerate them with::

    SLEITP_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/cohort/derive/test_sql_snapshots.py
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from pathlib import Path

import pytest
import sqlglot

from sleitp.cohort.derive.run import derive_tables
from sleitp.cohort.engine import connect
from sleitp.cohort.sources import Unmapped, read_tables
from sleitp.cohort.synth.generate import synthesize

SNAPSHOTS = Path(__file__).resolve().parents[2] / "snapshots" / "sql"
# the modules that materialize a step: the source checks (cohort/sources/checks.py) and cohort/derive/*
MODULES = ("checks", "run", "roles", "lines", "iwg", "features")


def _pretty(sql: str) -> str:
    text = sqlglot.transpile(sql, read="duckdb", write="duckdb", pretty=True)[0]
    # Ibis builds EXCLUDE lists from a set: their order follows the process's string hash seed
    return re.sub(r"EXCLUDE \(([^)]*)\)", lambda m: f"EXCLUDE ({', '.join(sorted(m[1].split(', ')))})", text)


@pytest.fixture(scope="module")
def logged(tmp_path_factory) -> dict[str, list[str]]:
    out = tmp_path_factory.mktemp("snap") / "synth"
    synthesize(6, 11, out, jsonl=False)
    eng = connect("duckdb", threads=1)
    eng.sql_log = []
    try:
        tables = read_tables(out / "tables", eng, Unmapped())
        derive_tables(tables, eng)
    finally:
        eng.close()
    by_module: dict[str, list[str]] = defaultdict(list)
    for step, sql in eng.sql_log:
        module, function = step.split(".", 1)
        by_module[module].append(f"-- {module}.{function}\n{_pretty(sql)};\n")
    return by_module


@pytest.mark.parametrize("module", MODULES)
def test_compiled_sql_equals_its_snapshot(logged, module):
    got = "\n".join(logged.get(module, []))
    path = SNAPSHOTS / f"{module}.sql"
    if os.environ.get("SLEITP_UPDATE_SNAPSHOTS"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(got.encode())
    assert path.exists(), f"{path} missing: run with SLEITP_UPDATE_SNAPSHOTS=1 once"
    assert got, f"no SQL was logged for {module}"
    assert got == path.read_bytes().decode(), (  # bytes: the SQL holds a "\r" (TRIM's characters)
        f"the SQL of {module} changed: regenerate with SLEITP_UPDATE_SNAPSHOTS=1 and review `git diff {path}`"
    )


def test_every_module_that_materializes_has_a_snapshot(logged):
    assert set(logged) <= set(MODULES), f"new module(s) materialize SQL: {set(logged) - set(MODULES)}"
