"""Spark beyond local mode (issue #12, item 4): a real standalone cluster, storage URIs, clear errors.

The cluster test starts a standalone master and one worker from the installed pyspark
(``bin/spark-class org.apache.spark.deploy.master.Master`` / ``...deploy.worker.Worker``) on 127.0.0.1,
on free ports, runs ``sleitp cohort derive --backend spark --spark-master spark://...`` against it in a
process of its own (a process has one SparkSession; tests/cohort/engine/test_spark.py's local one may share
this
pytest worker), checks that the master ran the application on the worker's executors, and that the files
equal DuckDB's. Master and worker are stopped by pid in the fixture's teardown, whatever the outcome.
The other tests need no cluster: they run the CLI in a subprocess (errors raised before any JVM starts)
or use this process's local session (engine-level URI paths, the plans of the steps).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sleitp.cohort.derive.run import derive
from sleitp.errors import SourceError

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(
        shutil.which("java") is None and not os.environ.get("JAVA_HOME"), reason="needs Java 17"
    ),
]

START_TIMEOUT = 120  # seconds for the master and the worker to come up (about 15 s on an idle machine)
DERIVE_TIMEOUT = 900  # a hang guard for the derive subprocess (no timed assert: a bound, not a figure)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    """This environment for a child: loopback Spark, this Python on the executors, no inherited master."""
    env = {k: v for k, v in os.environ.items() if k not in ("SLEITP_SPARK_MASTER", "PYSPARK_GATEWAY_PORT")}
    env |= {"SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable, "PYTHONUNBUFFERED": "1"}
    return env | extra


def _sleitp(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sleitp", *args],
        capture_output=True,
        text=True,
        env=env or _env(),
        timeout=timeout,
        cwd=Path(__file__).resolve().parents[3],
    )


@dataclass
class Cluster:
    url: str  # spark://127.0.0.1:PORT
    web: str  # the master's web UI (its /json/ lists workers and applications)
    work: Path  # the worker's folder: one sub-folder an application, one an executor

    def state(self) -> dict:
        with urllib.request.urlopen(f"{self.web}/json/", timeout=5) as r:
            return json.load(r)


def _stop(proc: subprocess.Popen) -> None:
    """Stop one daemon by its pid (spark-class execs java: the pid is the JVM's): TERM, then KILL."""
    if proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def _wait(what: str, ready, procs: list[subprocess.Popen], logs: list[Path]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        for p, log in zip(procs, logs, strict=True):
            if p.poll() is not None:
                pytest.fail(f"{what}: a Spark daemon exited ({p.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if ready():
                return
        except OSError:  # the web UI is not up yet
            pass
        time.sleep(0.5)
    tails = "\n".join(x.read_text()[-2000:] for x in logs)
    pytest.fail(f"{what}: not ready after {START_TIMEOUT} s:\n{tails}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    pyspark = pytest.importorskip("pyspark")
    home = Path(pyspark.__file__).parent
    spark_class = home / "bin" / "spark-class"
    if not spark_class.exists():
        pytest.skip("this pyspark has no bin/spark-class")
    root = tmp_path_factory.mktemp("spark-cluster")
    env = _env(SPARK_HOME=str(home), SPARK_WORKER_DIR=str(root / "work"), SPARK_LOG_DIR=str(root / "logs"))
    port, web, w_port, w_web = (_free_port() for _ in range(4))
    url = f"spark://127.0.0.1:{port}"
    procs: list[subprocess.Popen] = []
    logs: list[Path] = []

    def start(name: str, args: list[str]) -> None:
        log = root / f"{name}.log"
        with log.open("w") as fh:  # the child keeps its own descriptor
            procs.append(
                subprocess.Popen([str(spark_class), *args], stdout=fh, stderr=subprocess.STDOUT, env=env,
                                 cwd=root, start_new_session=True)
            )
        logs.append(log)

    c = Cluster(url=url, web=f"http://127.0.0.1:{web}", work=root / "work")
    try:
        start("master", ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
                         "--webui-port", str(web)])
        _wait("master", lambda: c.state()["status"] == "ALIVE", procs, logs)
        # 2 cores and 2g: two executors of 1 core and 1g each (--executor-cores 1 --executor-memory 1g)
        start("worker", ["org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
                         "--port", str(w_port), "--webui-port", str(w_web), "--cores", "2", "--memory", "2g",
                         "--work-dir", str(c.work), url])
        _wait("worker", lambda: c.state()["aliveworkers"] >= 1, procs, logs)
        yield c
    finally:
        for p in reversed(procs):  # the worker first (it stops its executors), then the master
            _stop(p)


def _cohort(folder: Path) -> Path:
    """A small synthetic cohort written as two Parquet parts a table (two chunks)."""
    from sleitp.cohort.synth.generate import synthesize

    synthesize(40, 12, folder, chunk_size=20, jsonl=False)
    assert len(list((folder / "tables").glob("labs-*.parquet"))) == 2
    return folder


def _rows(path: Path) -> list[dict]:
    return sorted(pq.read_table(path).to_pylist(), key=lambda r: (r["patient_id"], r.get("line", 0)))


def test_derive_on_a_standalone_cluster_equals_duckdb(cluster, tmp_path):
    src = _cohort(tmp_path / "cohort")
    duck = derive(src, tmp_path / "duck", backend="duckdb")
    app = f"sleitp-cluster-test-{uuid.uuid4().hex[:8]}"
    run = _sleitp(
        "cohort", "derive", (src / "tables").as_uri(), "--out", (tmp_path / "spark").as_uri(),
        "--backend", "spark", "--spark-master", cluster.url,
        "--executor-memory", "1g", "--executor-cores", "1",
        "--spark-conf", f"spark.app.name={app}",
        "--spark-conf", "spark.ui.enabled=false",
        "--spark-conf", "spark.sql.shuffle.partitions=4",
        "--json",
        timeout=DERIVE_TIMEOUT,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    summary = json.loads(run.stdout)
    assert summary["backend"] == "spark" and summary["source"] == "tables"
    assert (summary["patients"], summary["lines"], summary["categories"]) == (
        duck.patients, duck.lines, duck.categories
    )
    assert summary["patients"] == 40

    # the application ran on the cluster: the master lists it, with cores granted, and the worker
    # launched its executors (one folder each under the application's folder)
    state = cluster.state()
    apps = [a for a in state["activeapps"] + state["completedapps"] if a["name"] == app]
    assert len(apps) == 1, [a["name"] for a in state["activeapps"] + state["completedapps"]]
    assert apps[0]["cores"] >= 1 and apps[0]["memoryperexecutor"] == 1024
    executors = [p for p in (cluster.work / apps[0]["id"]).iterdir() if p.is_dir()]
    assert executors, f"no executor folder under {cluster.work / apps[0]['id']}"

    for name in ("responses", "features"):
        a, b = tmp_path / "duck" / f"{name}.parquet", tmp_path / "spark" / f"{name}.parquet"
        assert b.is_file(), f"{b}: one file (Spark's parts joined), as the other commands read it"
        assert pq.read_schema(a).equals(pq.read_schema(b))
        assert _rows(a) == _rows(b)
    unmapped = json.loads((tmp_path / "spark" / "unmapped.json").read_text())
    assert unmapped["total"] == duck.unmapped.total
    assert not list((tmp_path / "spark").glob(".*.parts")), "the staging folders of the parts are removed"


def test_an_unreachable_master_is_a_clear_error_not_a_hang(tmp_path):
    src = _cohort(tmp_path / "cohort")
    port = _free_port()  # nothing listens there
    run = _sleitp("cohort", "derive", str(src), "--out", str(tmp_path / "out"), "--backend", "spark",
                  "--spark-master", f"spark://127.0.0.1:{port}")
    assert run.returncode == 2, run.stderr[-2000:]
    assert f"cannot reach the Spark master (127.0.0.1:{port}: Connection refused)" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_spark_connect_says_what_it_needs(tmp_path):
    """ibis 12 accepts a Spark Connect session; without the gRPC client (not in this venv) the message
    names what to install, with it an unreachable server is named."""
    src = _cohort(tmp_path / "cohort")
    port = _free_port()
    run = _sleitp("cohort", "derive", str(src), "--out", str(tmp_path / "out"), "--backend", "spark",
                  "--spark-master", f"sc://127.0.0.1:{port}")
    assert run.returncode == 2, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    try:
        import grpc  # noqa: F401
    except ImportError:
        assert "Spark Connect needs its client" in run.stderr and "pyspark[connect]" in run.stderr
    else:
        assert "cannot reach the Spark master" in run.stderr


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--spark-master", "mesos://h:5050"], {}, "is not a Spark master URL (expected local[N], spark://"),
        (["--spark-master", "yarn"], {"HADOOP_CONF_DIR": "", "YARN_CONF_DIR": ""}, "set HADOOP_CONF_DIR"),
        (["--spark-master", "k8s://https://127.0.0.1:1"], {}, "cannot reach the Spark master"),
        (["--spark-conf", "spark.executor.instances"], {}, "expected KEY=VALUE"),
    ],
)
def test_cluster_settings_are_checked_before_spark_starts(tmp_path, args, env, message):
    src = _cohort(tmp_path / "cohort")
    run = _sleitp("cohort", "derive", str(src), "--out", str(tmp_path / "out"), "--backend", "spark", *args,
                  env=_env(**env))
    assert run.returncode == 2
    assert message in run.stderr, run.stderr[-2000:]
    assert "Traceback" not in run.stderr


def test_duckdb_refuses_cluster_storage_and_spark_settings(tmp_path):
    src = _cohort(tmp_path / "cohort")
    with pytest.raises(SourceError, match=r"SOURCE hdfs://nn:8020/cohort: a hdfs:// URI .* --backend spark"):
        derive("hdfs://nn:8020/cohort", tmp_path / "out", backend="duckdb")
    with pytest.raises(SourceError, match=r"--out s3a://bucket/out: a s3a:// URI .* --backend spark"):
        derive(src, "s3a://bucket/out", backend="duckdb")
    run = _sleitp("cohort", "derive", str(src), "--out", "s3a://bucket/out")
    assert run.returncode == 2 and "--out s3a://bucket/out: a s3a:// URI" in run.stderr
    run = _sleitp("cohort", "derive", str(src), "--out", str(tmp_path / "o"), "--executor-memory", "2g")
    assert run.returncode == 2 and "--executor-memory: Spark settings; give --backend spark" in run.stderr
    # a file:// URI is a local path: DuckDB reads and writes it
    a = derive(src.as_uri(), (tmp_path / "uri").as_uri(), backend="duckdb")
    b = derive(src, tmp_path / "plain", backend="duckdb")
    assert (a.out, a.patients, a.lines) == (tmp_path / "uri", b.patients, b.lines)
    assert _rows(tmp_path / "uri" / "responses.parquet") == _rows(tmp_path / "plain" / "responses.parquet")


# -- this process's local session: the URI code paths of the engine, and the plans of the steps ----------
@pytest.fixture(scope="module")
def spark_engine():
    pytest.importorskip("pyspark")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from sleitp.cohort.engine import connect

    return connect("spark")


def test_s3a_without_its_connector_names_what_the_cluster_must_provide(spark_engine):
    from sleitp.cohort.sources import open_source

    with pytest.raises(SourceError, match=r"s3a://bucket/cohort.*no file system for s3a://.*hadoop-aws"):
        open_source("s3a://bucket/cohort", spark_engine)


def test_a_uri_output_is_sparks_folder_of_parts(spark_engine, tmp_path):
    """To a URI (here file://, the same code as hdfs:// or s3a://) Spark writes its folder of parts from
    the executors; unmapped.json goes through the same Hadoop FileSystem."""
    schema = pa.schema([("patient_id", pa.string()), ("line", pa.int32()), ("agents", pa.list_(pa.string()))])
    rows = [{"patient_id": f"p{i}", "line": i % 3, "agents": ["ivig"] * (i % 2)} for i in range(50)]
    t = spark_engine.from_arrow(pa.Table.from_pylist(rows, schema=schema))
    target = (tmp_path / "out" / "responses.parquet").as_uri()
    assert not spark_engine.has_files((tmp_path / "out").as_uri())
    assert spark_engine.write_parquet(t, target, schema) == 50
    assert (tmp_path / "out" / "responses.parquet").is_dir()
    assert spark_engine.has_files((tmp_path / "out").as_uri())
    back = pq.read_table(tmp_path / "out" / "responses.parquet").cast(schema)
    by_id = lambda r: r["patient_id"]  # noqa: E731
    assert sorted(back.to_pylist(), key=by_id) == sorted(rows, key=by_id)
    spark_engine.write_text((tmp_path / "out" / "unmapped.json").as_uri(), '{"total": 0}\n')
    assert json.loads((tmp_path / "out" / "unmapped.json").read_text()) == {"total": 0}


def test_a_uri_tables_folder_in_spark_folders_reads_like_the_files(spark_engine, tmp_path):
    """``NAME.parquet`` as Spark writes it (a folder of parts) is read from a URI as its part files."""
    from sleitp.cohort.sources import open_source

    src = _cohort(tmp_path / "cohort")
    spark_layout = tmp_path / "spark-layout"
    for name in ("patients", "labs", "treatments", "bleeding", "manifestations"):
        folder = spark_layout / f"{name}.parquet"
        folder.mkdir(parents=True)
        for i, part in enumerate(sorted((src / "tables").glob(f"{name}-*.parquet"))):
            shutil.copy(part, folder / f"part-{i:05d}-x.snappy.parquet")
        (folder / "_SUCCESS").write_text("")
    a = open_source(src / "tables", spark_engine)
    b = open_source(spark_layout.as_uri(), spark_engine)
    for name in ("patients", "treatments"):
        ta = spark_engine.to_arrow(getattr(a.tables, name)).to_pylist()
        tb = spark_engine.to_arrow(getattr(b.tables, name)).to_pylist()
        assert sorted(ta, key=lambda r: r["seq"]) == sorted(tb, key=lambda r: r["seq"])


def test_no_step_runs_in_one_partition(spark_engine, tmp_path, monkeypatch):
    """Every step Spark computes (materialized views and the written tables) is planned as partitioned
    work: no ``Exchange SinglePartition`` (a global window or sort that would gather all patients on one
    executor). The plans do not depend on the master, so local mode shows what a cluster runs."""
    from sleitp.cohort.engine import SparkEngine

    plans: list[str] = []
    view, df_of = SparkEngine._spark_view, SparkEngine._spark_df

    def spy_view(self, df, name):
        plans.append(str(df._jdf.queryExecution().executedPlan().toString()))
        return view(self, df, name)

    def spy_df(self, expr):
        df = df_of(self, expr)
        plans.append(str(df._jdf.queryExecution().executedPlan().toString()))
        return df

    # the detector is live: a global window (what derive_iwg avoids on Spark) plans as SinglePartition
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    glob = spark_engine.session.range(10).withColumn("k", F.row_number().over(Window.orderBy("id")))
    assert "SinglePartition" in str(glob._jdf.queryExecution().executedPlan().toString())

    monkeypatch.setattr(SparkEngine, "_spark_view", spy_view)
    monkeypatch.setattr(SparkEngine, "_spark_df", spy_df)
    src = _cohort(tmp_path / "cohort")
    derive(src, tmp_path / "out", engine=spark_engine)
    assert len(plans) > 10
    single = [p for p in plans if "SinglePartition" in p]
    assert not single, single[0][:3000]


def test_the_progress_line_names_the_running_stage(spark_engine):
    """While Spark works, ``progress`` names the stage and its tasks (the CLI shows it twice a second
    beside the step); idle, it says nothing."""
    import re
    import threading

    session = spark_engine.session
    assert spark_engine.progress() is None

    def long_sum() -> None:  # a job group is per thread: set in the thread that runs the job
        session.sparkContext.setJobGroup("progress-test", "a long sum", interruptOnCancel=True)
        try:
            session.range(0, 10**11, numPartitions=40).selectExpr("sum(id)").collect()
        except Exception:  # noqa: BLE001 - cancelled on purpose
            pass

    job = threading.Thread(target=long_sum)
    job.start()
    seen = None
    try:
        deadline = time.monotonic() + 120
        while seen is None and job.is_alive() and time.monotonic() < deadline:
            seen = spark_engine.progress()
            time.sleep(0.2)
    finally:
        session.sparkContext.cancelJobGroup("progress-test")
        job.join(timeout=60)
    assert seen is not None and re.fullmatch(r"stage \d+: \d+/40 tasks", seen), seen


def test_hdfs_goes_to_hadoops_client_and_an_unreachable_name_node_is_named(spark_engine):
    """hdfs:// is passed to Spark untouched: Hadoop's HDFS client (in pyspark's hadoop-client-runtime)
    answers, here that no name node listens (its retries set to 0 for the test; Hadoop's default retries
    a refused connection for about 10 s)."""
    from sleitp.cohort.sources import open_source

    conf = spark_engine.session.sparkContext._jsc.hadoopConfiguration()
    keys = ("ipc.client.connect.max.retries", "ipc.client.connect.max.retries.on.timeouts")
    before = {k: conf.get(k) for k in keys}
    for k in keys:
        conf.set(k, "0")
    try:
        port = _free_port()
        expected = rf"^hdfs://127.0.0.1:{port}/cohort: cannot list it .*Connection refused"
        with pytest.raises(SourceError, match=expected):
            open_source(f"hdfs://127.0.0.1:{port}/cohort", spark_engine)
    finally:
        for k, v in before.items():
            if v is None:
                conf.unset(k)
            else:
                conf.set(k, v)
    with pytest.raises(SourceError, match=r"file:///no/such/folder|no such file or folder"):
        open_source("file:///no/such/folder", spark_engine)
