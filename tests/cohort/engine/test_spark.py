"""The same Ibis expressions on PySpark (local mode): engine == references, and Spark == DuckDB.

Marker ``spark`` (runs in CI: Java 17 is on the machine). One shared local session (sleitp.cohort.engine),
``SPARK_LOCAL_IP=127.0.0.1``, UI off, a temporary warehouse folder; few, larger examples, because every
Spark query costs about a second whatever its size.
"""

from __future__ import annotations

import os
import shutil

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings

from sleitp.cohort.derive.run import derive
from tests.cohort.derive.test_derive import (  # the strategies and the comparison
    assert_matches_reference,
    cohort,
    run_engine,
)

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(
        shutil.which("java") is None and not os.environ.get("JAVA_HOME"), reason="needs Java 17"
    ),
]


@pytest.fixture(scope="module")
def spark_engine():
    pytest.importorskip("pyspark")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from sleitp.cohort.engine import connect

    return connect("spark")


@settings(max_examples=2, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(records=cohort(max_patients=25))
def test_spark_engine_equals_reference(spark_engine, records):
    responses, feats = run_engine(spark_engine, records)
    assert_matches_reference(records, responses, feats)


def test_spark_and_duckdb_write_the_same_files(spark_engine, tmp_path):
    import json

    from sleitp.cohort.tables import records_to_tables
    from tests.cohort.sources.test_sources import _records, _write_tables

    src = tmp_path / "records.jsonl"
    src.write_text(
        "".join(json.dumps(r.model_dump(mode="json", exclude_none=True)) + "\n" for r in _records())
    )
    a = derive(src, tmp_path / "duck", backend="duckdb")
    # Spark reads the synth-style Parquet parts itself (the big-cohort path)
    _write_tables(tmp_path / "synth" / "tables", records_to_tables(_records()), parts=True)
    b = derive(tmp_path / "synth", tmp_path / "spark", engine=spark_engine)
    assert (a.lines, a.categories) == (b.lines, b.categories)
    for name in ("responses", "features"):
        ta = pq.read_table(tmp_path / "duck" / f"{name}.parquet")
        tb = pq.read_table(tmp_path / "spark" / f"{name}.parquet")
        assert ta.schema.equals(tb.schema)

        def key(r):
            return (r["patient_id"], r.get("line", 0))

        assert sorted(ta.to_pylist(), key=key) == sorted(tb.to_pylist(), key=key)


def test_twelve_parts_of_unequal_size_read_in_file_order_on_spark(spark_engine, tmp_path):
    """Spark packs files into partitions largest first; the row key ``seq`` must still follow the order of
    the parts (issue #12), else same-day ties (two courses of one agent on one day, two results of one
    test on one day) resolve differently from DuckDB and from the record."""
    from sleitp.cohort.engine import connect
    from sleitp.cohort.synth.generate import synthesize

    synthesize(240, 5, tmp_path / "synth", chunk_size=20, jsonl=False)  # 12 parts of every table
    eng = connect("duckdb")
    try:
        files = sorted((tmp_path / "synth" / "tables").glob("labs-*.parquet"))
        duck = eng.to_arrow(eng.read_parquet(files).select("patient_id", "date", "test", "seq")).to_pylist()
    finally:
        eng.close()
    spark = spark_engine.to_arrow(
        spark_engine.read_parquet(files).select("patient_id", "date", "test", "seq")
    ).to_pylist()
    key = lambda r: r["seq"]  # noqa: E731
    assert sorted(duck, key=key) == sorted(spark, key=key)


def test_omop_cdm_on_spark_equals_duckdb(spark_engine, tmp_path):
    """An OMOP CDM is mapped to Parquet by DuckDB and read by the engine: Spark gives DuckDB's results."""
    from tests.cohort.sources.test_omop import SYNPUF, _vocabulary

    vocabulary = _vocabulary(tmp_path)
    a = derive(SYNPUF, tmp_path / "duck", backend="duckdb", vocabulary=vocabulary)
    b = derive(SYNPUF, tmp_path / "spark", engine=spark_engine, vocabulary=vocabulary)
    assert (a.patients, a.lines, a.categories) == (b.patients, b.lines, b.categories)
    assert a.unmapped.to_json() == b.unmapped.to_json()
    for name in ("responses", "features"):
        ta = pq.read_table(tmp_path / "duck" / f"{name}.parquet").to_pylist()
        tb = pq.read_table(tmp_path / "spark" / f"{name}.parquet").to_pylist()
        assert sorted(ta, key=lambda r: (r["patient_id"], r.get("line", 0))) == sorted(
            tb, key=lambda r: (r["patient_id"], r.get("line", 0))
        )


def test_seq_of_relative_paths_follows_the_files_given(spark_engine, tmp_path):
    """A tables folder given relative to the working directory (``cohort/tables``): Spark reports absolute
    file URIs; the file positions must still be found (else every row gets one position). The JVM resolves
    relative paths against the working directory it started in, this process's: no chdir here."""
    import pyarrow as pa

    for i in range(3):
        pq.write_table(pa.table({"x": list(range(i * 10, i * 10 + 2))}), tmp_path / f"p {i}.parquet")
    files = [os.path.relpath(tmp_path / f"p {i}.parquet") for i in (2, 0, 1)]
    assert not os.path.isabs(files[0])
    t = spark_engine.to_arrow(spark_engine.read_parquet(files)).to_pylist()
    assert sorted((r["seq"] >> 40, r["x"]) for r in t) == [(0, 20), (0, 21), (1, 0), (1, 1), (2, 10), (2, 11)]
