"""SQL on FHIR v2 on Spark 4.0: the same compiler, Spark dialect (docs/sql-on-fhir.md, 'Backends').

Marker ``spark`` (one shared local session, as tests/cohort/engine/test_spark.py). A Spark query costs
seconds here, so
this runs the suite files that exercise the Spark-specific SQL (lists of VARIANT, lambdas, aggregate for
repeat, errors raised in the query); `python -m sleitp.sqlonfhir.suite TESTS --backend spark` runs all.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil

import pytest

from sleitp.sqlonfhir.suite import rows_match, run_test
from tests.conftest import SHARED_DATA

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(
        shutil.which("java") is None and not os.environ.get("JAVA_HOME"), reason="needs Java 17"
    ),
]

SUITE = SHARED_DATA / "sql-on-fhir-v2" / "tests"
FILES = ["repeat.json", "union.json", "collection.json", "validate.json", "fn_reference_keys.json"]


@pytest.fixture(scope="module")
def spark():
    pytest.importorskip("pyspark")
    from sleitp.cohort.engine import spark_session

    return spark_session()


@pytest.mark.skipif(not SUITE.is_dir(), reason="the shared SQL on FHIR suite is not here")
@pytest.mark.parametrize("file", FILES)
def test_suite_file_on_spark(spark, file):
    doc = json.loads((SUITE / file).read_text())
    failed = []
    for case in doc["tests"]:
        passed, error = run_test(case, doc["resources"], backend="spark")
        if not passed:
            failed.append(f"{case['title']}: {error}")
    assert not failed, failed


def test_spark_writes_what_duckdb_writes(spark, tmp_path):
    from sleitp.sqlonfhir.runner import DuckDBViewRunner, resources_sql
    from sleitp.sqlonfhir.spark import SparkViewRunner
    from sleitp.sqlonfhir.viewdef import parse_view

    folder = tmp_path / "export"
    folder.mkdir()
    obs = [
        {
            "resourceType": "Observation",
            "id": f"o{i}",
            "subject": {"reference": f"Patient/p{i % 3}"},
            "code": {"coding": [{"system": "http://loinc.org", "code": "777-3"}, {"code": "x"}][: 1 + i % 2]},
            "valueQuantity": {"value": 100 + i, "code": "10*9/L"},
        }
        for i in range(9)
    ]
    (folder / "Observation.ndjson").write_text("".join(json.dumps(o) + "\n" for o in obs[:5]))
    with gzip.open(folder / "Observation.001.ndjson.gz", "wt") as f:
        f.write("".join(json.dumps(o) + "\n" for o in obs[5:]))
    view = parse_view(
        {
            "resource": "Observation",
            "select": [
                {
                    "column": [
                        {"name": "id", "path": "getResourceKey()"},
                        {"name": "patient", "path": "subject.getReferenceKey(Patient)"},
                        {"name": "value", "path": "value.ofType(Quantity).value", "type": "decimal"},
                        {"name": "raw", "path": "value.ofType(Quantity).code"},
                    ]
                },
                {
                    "forEachOrNull": "code.coding.where(system = 'http://loinc.org')",
                    "column": [{"name": "loinc", "path": "code", "type": "code"}],
                },
            ],
        }
    )
    duck = DuckDBViewRunner()
    sp = SparkViewRunner(spark)
    table = sp.source_table(folder, "Observation")
    assert rows_match(sp.rows(view, table), duck.rows(view, resources_sql(folder, "Observation")))
    for suffix in (".json", ".parquet", ".csv"):
        assert sp.write(view, table, tmp_path / f"spark{suffix}") == 9
        duck.write(view, resources_sql(folder, "Observation"), tmp_path / f"duck{suffix}")
    assert rows_match(
        json.loads((tmp_path / "spark.json").read_text()), json.loads((tmp_path / "duck.json").read_text())
    )
    import duckdb

    con = duckdb.connect()
    for suffix in (".parquet", ".csv"):
        a = con.execute(f"SELECT * FROM '{tmp_path / ('spark' + suffix)}' ORDER BY id").fetchall()
        b = con.execute(f"SELECT * FROM '{tmp_path / ('duck' + suffix)}' ORDER BY id").fetchall()
        assert a == b
