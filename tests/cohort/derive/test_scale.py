"""The cohort path at scale (issue #12): many Parquet parts, the engine's own errors, and the file order.

`sleitp synth` writes each table in parts (NAME-00000.parquet ...); at 1M patients there are 20 of each.
The row key ``seq`` (file position in the high bits) once overflowed DuckDB's INTEGER from the 9th part on
(`Overflow in multiplication of INT32 (8 * 268435456)`): these tests write more than 9 parts at a size CI
can afford.
"""

from __future__ import annotations

import subprocess
import sys

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sleitp.cohort.derive.run import derive
from sleitp.cohort.engine import SEQ_ROW_BITS, connect
from sleitp.cohort.engine.errors import engine_errors
from sleitp.cohort.synth.generate import synthesize
from sleitp.errors import SourceError


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    out = tmp_path_factory.mktemp("parts") / "synth"
    synthesize(240, 3, out, chunk_size=20)  # 12 parts of every table
    return out


def test_more_than_nine_parts_derive_and_equal_the_records(parts, tmp_path):
    assert len(sorted((parts / "tables").glob("labs-*.parquet"))) == 12
    a = derive(parts / "tables", tmp_path / "tables")
    b = derive(parts / "records.jsonl", tmp_path / "records")
    assert a.patients == b.patients == 240
    for name in ("responses", "features"):
        ta = pq.read_table(tmp_path / "tables" / f"{name}.parquet").sort_by([("patient_id", "ascending")])
        tb = pq.read_table(tmp_path / "records" / f"{name}.parquet").sort_by([("patient_id", "ascending")])
        if name == "responses":
            ta = ta.sort_by([("patient_id", "ascending"), ("line", "ascending")])
            tb = tb.sort_by([("patient_id", "ascending"), ("line", "ascending")])
        assert ta.to_pylist() == tb.to_pylist()


def test_seq_follows_the_files_in_the_order_given(tmp_path):
    files = []
    for i in range(11):
        f = tmp_path / f"p{i:02d}.parquet"
        pq.write_table(pa.table({"x": list(range(i * 10, i * 10 + 3))}), f)
        files.append(f)
    eng = connect("duckdb")
    try:
        order = list(reversed(files))  # the 11th file given first
        t = eng.to_arrow(eng.read_parquet(order).order_by("seq")).to_pylist()
    finally:
        eng.close()
    assert [r["x"] for r in t][:3] == [100, 101, 102]
    assert t[-1] == {"x": 2, "seq": (10 << SEQ_ROW_BITS) + 2}  # the 11th position, row 2: past INT32


def test_an_engine_error_names_the_step_and_what_to_try(parts, tmp_path):
    """DuckDB out of memory (a 2 MB limit) is a clear error with the step, never a traceback."""
    out = str(tmp_path / "o")
    cmd = [sys.executable, "-m", "sleitp", "cohort", "derive", str(parts / "tables"), "--out", out]
    env = {"SLEITP_DUCKDB_MEMORY_LIMIT": "2MB", "PATH": ""}
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr
    assert "the duckdb engine failed in step '" in p.stderr
    assert "SLEITP_DUCKDB_MEMORY_LIMIT" in p.stderr


@pytest.mark.parametrize(
    ("engine_says", "try_this"),
    [
        ("Out of Memory Error: failed to allocate data of size 16.0 MiB", "SLEITP_DUCKDB_MEMORY_LIMIT"),
        ("java.lang.OutOfMemoryError: Java heap space", "--executor-memory"),
        ("IO Error: No space left on device", "free disk space"),
        ("IO Error: No files found that match the pattern", "complete and readable"),
        ("Invalid Input Error: Invalid Parquet file", "complete and readable"),
        ("Binder Error: something unexpected", "SLEITP_DEBUG=1"),
    ],
)
def test_each_kind_of_engine_error_says_what_to_try(engine_says, try_this):
    with pytest.raises(SourceError) as err, engine_errors(connect("duckdb"), ["features"]):
        raise duckdb.Error(engine_says)
    assert "failed in step 'features'" in str(err.value) and try_this in str(err.value)


def test_a_bug_in_sleitp_is_not_disguised_as_an_engine_error():
    with pytest.raises(KeyError), engine_errors(connect("duckdb"), ["lines"]):
        raise KeyError("not an engine error")
