"""PySpark 4.0, local or on a cluster: the process's one SparkSession, and the engine on it.

- Local mode (``--backend spark``): one shared session a process. Pitfalls measured in software.md §5/§7
  are handled at start: ``SPARK_LOCAL_IP=127.0.0.1`` (else it binds a non-loopback address),
  ``spark.ui.enabled=false``, and a temporary ``spark.sql.warehouse.dir`` (re-running a ``create_table``
  into the default ``spark-warehouse/`` fails with LOCATION_ALREADY_EXISTS).
- A cluster (``--spark-master``, ``SLEITP_SPARK_MASTER``; docs/spark.md): a standalone master
  (``spark://``), YARN, Kubernetes (``k8s://``), a session built by ``spark-submit`` or by the caller
  (``connect(session=...)``), Spark Connect (``sc://``) where the client is installed. The master's address
  is probed before the JVM starts (an unreachable master is a SourceError in seconds, not Spark's minute of
  retries); loopback (``SPARK_LOCAL_IP``, this Python for the executors) only for local and 127.0.0.1
  masters. Storage URIs (``hdfs://``, ``s3a://``, ...) go to Spark untouched, listed through the session's
  Hadoop FileSystem; results are written by the executors (``_spark_write``), never collected.

pyspark is the optional ``[spark]`` extra: it is imported only where a Spark session is started or used
(each such import is marked ``lazy``), so DuckDB runs neither need nor load it.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import re
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import duckdb
import ibis
import pyarrow as pa
import pyarrow.parquet as pq

from sleitp.cohort.engine._base import SEQ_ROW_BITS, Engine
from sleitp.errors import SourceError

SPARK_MASTER_ENV = "SLEITP_SPARK_MASTER"  # the master when --spark-master is not given (default local[N])
MASTER_FORMS = "local[N], spark://HOST:PORT, yarn, k8s://https://HOST:PORT or sc://HOST:PORT"
PROBE_SECONDS = 5.0  # how long a master's host:port may take to accept a connection (bounded start)
_SPARK: Any = None  # the one SparkSession of this process (starting one costs ~6 s, software.md §6)
_SPARK_DIR: str | None = None
_SPARK_OWNED = False  # started here (stopped at exit), not adopted from spark-submit or the caller


# -- the session ----------------------------------------------------------------------------------------
def master_kind(master: str) -> str:
    """``local`` | ``standalone`` | ``yarn`` | ``k8s`` | ``connect`` for a master URL, or a SourceError."""
    m = master.strip()
    if re.fullmatch(r"local(\[(\*|\d+)(,\d+)?\])?", m):
        return "local"
    if m.startswith("spark://") and _host_ports(m[len("spark://"):]):
        return "standalone"
    if m == "yarn":
        return "yarn"
    if m.startswith("k8s://") and len(m) > len("k8s://"):
        return "k8s"
    if m.startswith("sc://") and len(m) > len("sc://"):
        return "connect"
    raise SourceError(f"--spark-master: {master!r} is not a Spark master URL (expected {MASTER_FORMS})")


def _host_ports(spec: str) -> list[tuple[str, int]]:
    """``h1:p1,h2:p2`` (a standalone master and its standbys) -> [(h1, p1), ...]; [] if malformed."""
    out = []
    for part in spec.split(","):
        host, sep, port = part.strip().rpartition(":")
        if not sep or not host or not port.isdigit():
            return []
        out.append((host.strip("[]"), int(port)))
    return out


def _probe(master: str, targets: list[tuple[str, int]]) -> None:
    """A SourceError within ``PROBE_SECONDS`` a target when none accepts a TCP connection: Spark itself
    retries a standalone master for a minute before giving up, and a bad k8s address fails late."""
    problems = []
    for host, port in targets:
        try:
            with socket.create_connection((host, port), timeout=PROBE_SECONDS):
                return
        except OSError as e:
            problems.append(f"{host}:{port}: {e.strerror or type(e).__name__}")
    raise SourceError(
        f"--spark-master {master}: cannot reach the Spark master ({'; '.join(problems)}); is the master "
        f"running, and is this machine allowed to connect to it?"
    )


def _loopback(master: str, kind: str) -> bool:
    if kind == "local":
        return True
    if kind != "standalone":
        return False
    return all(h in ("127.0.0.1", "localhost", "::1") for h, _ in _host_ports(master[len("spark://"):]))


def spark_session(
    master: str | None = None,
    *,
    executor_memory: str | None = None,
    executor_cores: int | None = None,
    conf: dict[str, str] | None = None,
) -> Any:
    """The process-wide SparkSession (created on first use, stopped at exit).

    ``master``: ``local[N]`` (default: ``local[<cores>]``), ``spark://HOST:PORT`` (standalone),
    ``yarn``, ``k8s://https://HOST:PORT`` or ``sc://HOST:PORT`` (Spark Connect); else the environment
    variable ``SLEITP_SPARK_MASTER``. Without either, a session that already runs in this process (one
    built by the caller, or by ``spark-submit``, which starts the JVM with its own ``--master`` and
    settings) is used as it is. ``conf``: more session settings (``spark.*`` keys; they win over
    sleitp's). A process has one session: asking for another master once one runs is a SourceError."""
    global _SPARK, _SPARK_DIR, _SPARK_OWNED
    master = (master or os.environ.get(SPARK_MASTER_ENV) or "").strip() or None
    kind = master_kind(master) if master else None
    if _SPARK is not None:
        running = _session_master(_SPARK)
        if master and master != running and not (kind == "local" and running.startswith("local")):
            raise SourceError(
                f"--spark-master {master}: this process already runs a Spark session on {running} (one "
                f"session a process); run sleitp in a new process for another master"
            )
        return _SPARK
    if kind in ("standalone", "k8s"):
        spec = master[len("spark://"):] if kind == "standalone" else master[len("k8s://"):]
        if kind == "k8s":
            url = urlsplit(spec if "://" in spec else f"https://{spec}")
            targets = [(url.hostname or "", url.port or (80 if url.scheme == "http" else 443))]
        else:
            targets = _host_ports(spec)
        _probe(master, targets)
    try:  # lazy: pyspark is the optional [spark] extra, and heavy; DuckDB runs never import it
        from pyspark.sql import SparkSession
    except ImportError:  # the optional [spark] extra is not installed
        raise SourceError(
            "--backend spark needs pyspark: install sleitp[spark] (pyspark>=3.5,<4.1) and Java 17"
        ) from None
    if kind == "connect":
        _SPARK = _connect_session(master, conf or {})
        return _SPARK
    active = SparkSession.getActiveSession()
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ  # inside spark-submit: the JVM and its conf exist
    if master is None and (active is not None or submitted):
        _SPARK = active if active is not None else _start(SparkSession.builder, None, executor_memory,
                                                          executor_cores, conf, submitted=True)
        return _SPARK
    master = master or f"local[{os.cpu_count() or 2}]"
    kind = kind or "local"
    if kind == "yarn" and not (os.environ.get("HADOOP_CONF_DIR") or os.environ.get("YARN_CONF_DIR")):
        raise SourceError(
            "--spark-master yarn: set HADOOP_CONF_DIR (or YARN_CONF_DIR) to the folder of the cluster's "
            "core-site.xml and yarn-site.xml; Spark finds the ResourceManager there"
        )
    if _loopback(master, kind):  # software.md §5: else it binds a public address
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # executors on this machine: this Python
    _SPARK = _start(SparkSession.builder.master(master), kind, executor_memory, executor_cores, conf)
    return _SPARK


def _start(
    builder: Any,
    kind: str | None,
    executor_memory: str | None,
    executor_cores: int | None,
    conf: dict[str, str] | None,
    *,
    submitted: bool = False,
) -> Any:
    """Start the session: sleitp's settings, then the caller's (``conf`` wins)."""
    global _SPARK_DIR, _SPARK_OWNED
    _SPARK_DIR = tempfile.mkdtemp(prefix="sleitp-spark-")
    settings = {
        "spark.ui.showConsoleProgress": "false",  # sleitp shows its own progress (SparkEngine.progress)
        "spark.sql.warehouse.dir": Path(_SPARK_DIR, "warehouse").as_uri(),
        "spark.sql.session.timeZone": "UTC",  # dates never shift with the machine's zone
        "spark.sql.execution.arrow.pyspark.enabled": "true",
    }
    if kind == "local":
        cores = os.cpu_count() or 2
        settings |= {
            "spark.ui.enabled": "false",
            "spark.local.dir": str(Path(_SPARK_DIR) / "tmp"),
            "spark.sql.shuffle.partitions": str(max(2, 2 * cores)),
        }
    if not submitted:  # under spark-submit the JVM runs with its --name and --driver-memory
        settings["spark.app.name"] = "sleitp"
        settings["spark.driver.memory"] = os.environ.get("SLEITP_SPARK_DRIVER_MEMORY", "2g")
    if executor_memory:
        settings["spark.executor.memory"] = executor_memory
    if executor_cores:
        settings["spark.executor.cores"] = str(executor_cores)
    for key, value in (settings | dict(conf or {})).items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as e:  # noqa: BLE001 - py4j/pyspark raise many types; the JVM printed its reason
        raise SourceError(
            f"cannot start the Spark session ({_first_line(e)}); see Spark's log above"
        ) from None
    if session.sparkContext._jsc.sc().isStopped():  # a standalone master that never registered the app
        raise SourceError(
            f"Spark session on {session.sparkContext.master} stopped at start: the master did not accept "
            "the application (all masters unresponsive, or not enough memory/cores for one executor)"
        )
    session.sparkContext.setLogLevel("ERROR")
    _SPARK_OWNED = True
    atexit.register(_stop_spark)
    return session


def _connect_session(url: str, conf: dict[str, str]) -> Any:
    """A Spark Connect session (``sc://HOST:PORT``): the driver runs in the server; Ibis's PySpark backend
    accepts such a session. Needs the Connect client (``pyspark[connect]``: grpcio, grpcio-status,
    googleapis-common-protos, zstandard)."""
    global _SPARK_OWNED
    from pyspark.sql import SparkSession  # lazy: the optional [spark] extra (spark_session checked it)

    missing = [m for m in ("grpc", "grpc_status", "google.rpc", "zstandard") if not _importable(m)]
    if missing:
        raise SourceError(
            f"--spark-master {url}: Spark Connect needs its client, which is not installed here (missing "
            f"Python modules: {', '.join(missing)}); install pyspark[connect] of the server's Spark version "
            f"(pip install 'pyspark[connect]==4.0.*'), or use the cluster's master URL (spark://, yarn, k8s://)"
        )
    spec = urlsplit(url)
    _probe(url, [(spec.hostname or "", spec.port or 15002)])
    builder = SparkSession.builder.remote(url)
    for key, value in ({"spark.sql.session.timeZone": "UTC"} | conf).items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as e:  # noqa: BLE001 - the gRPC client raises many types
        raise SourceError(
            f"--spark-master {url}: cannot open the Spark Connect session ({_first_line(e)})"
        ) from None
    _SPARK_OWNED = True
    atexit.register(_stop_spark)
    return session


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _first_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0][:300]


def _session_master(session: Any) -> str:
    try:
        return str(session.sparkContext.master)
    except Exception:  # noqa: BLE001 - a Spark Connect session has no SparkContext
        return str(session.conf.get("spark.remote", "sc://"))


def _stop_spark() -> None:
    global _SPARK
    if _SPARK is not None and _SPARK_OWNED:
        _SPARK.stop()
    _SPARK = None
    if _SPARK_DIR:
        shutil.rmtree(_SPARK_DIR, ignore_errors=True)


# -- the engine --------------------------------------------------------------------------------------------
class SparkEngine(Engine):
    backend = "spark"

    @classmethod
    def open(
        cls,
        *,
        master: str | None = None,
        executor_memory: str | None = None,
        executor_cores: int | None = None,
        conf: dict[str, str] | None = None,
        session: Any = None,
    ) -> SparkEngine:
        """On ``session``, else on the process's session (``spark_session``)."""
        if session is None:
            session = spark_session(
                master, executor_memory=executor_memory, executor_cores=executor_cores, conf=conf
            )
        return cls(ibis.pyspark.connect(session))

    @property
    def session(self) -> Any:
        """The SparkSession under the Ibis connection."""
        return self.con._session

    def exceptions(self) -> tuple[type[BaseException], ...]:
        # lazy: the optional [spark] extra; here it is installed (the session could not have started)
        from py4j.protocol import Py4JError
        from pyspark.errors import PySparkException

        # DuckDB's too: OMOP and FHIR-view sources are mapped in DuckDB before Spark reads them
        return (duckdb.Error, PySparkException, Py4JError)

    # -- getting data in ----------------------------------------------------------------------
    def from_arrow(self, table: pa.Table, name: str | None = None) -> ibis.Table:
        return self._spark_view(self.session.createDataFrame(table), name or self._name("arrow"))

    def read_parquet(self, paths: list[Path] | list[str], name: str | None = None) -> ibis.Table:
        from pyspark.sql import functions as F  # lazy: the optional [spark] extra

        name = name or self._name("parquet")
        # a local path as a file:// URI (a cluster's default file system may be HDFS), a URI untouched
        files = [f"file://{Path(p).resolve()}" if isinstance(p, Path) else p for p in paths]
        df = self.session.read.parquet(*files)
        # the same seq as DuckDB's, from Parquet's hidden per-file metadata: Spark packs files into
        # partitions largest first, so partition order (monotonically_increasing_id) is not file order.
        # _metadata.file_path is a URI (percent-encoded); its decoded path is matched to the list given.
        given = F.array(*[F.lit(_uri_path(f)) for f in files])
        path = F.url_decode(F.regexp_replace(F.col("_metadata.file_path"), _SCHEME_HOST, ""))
        pos = (F.array_position(given, path) - 1).cast("bigint")
        df = df.withColumn("seq", pos * F.lit(1 << SEQ_ROW_BITS) + F.col("_metadata.row_index"))
        df.createOrReplaceTempView(name)
        return self.con.table(name)

    # -- expressions --------------------------------------------------------------------------
    def row_key(self, t: ibis.Table, by: list[str]) -> ibis.Value:
        """The columns joined into one string (``"p1:2"``): a global row_number would sort every row in one
        partition; a string key is unique and shuffles."""
        parts = [t[c].cast("string") for c in by]
        out = parts[0]
        for p in parts[1:]:
            out = out.concat(ibis.literal(":"), p)
        return out

    # -- running ------------------------------------------------------------------------------
    def _materialize(self, sql: str) -> ibis.Table:
        # computed now, and the lineage cut (a cached plan of cached plans grows until explaining it runs
        # the driver out of memory)
        return self._spark_view(self.session.sql(sql), self._name("step"))

    def _spark_view(self, df: Any, name: str) -> ibis.Table:
        df = df.localCheckpoint(eager=True)
        df.createOrReplaceTempView(name)
        return self.con.table(name)

    def _spark_df(self, expr: ibis.Table) -> Any:
        return self.session.sql(self.compile(expr))

    def to_arrow(self, expr: ibis.Table) -> pa.Table:
        return self.con.to_pyarrow(expr)

    def count(self, expr: ibis.Table) -> int:
        return int(self.con.execute(expr.count()))

    def write_parquet(self, expr: ibis.Table, path: Path | str, schema: pa.Schema) -> int:
        """Spark writes ``expr`` from the executors, one part file a partition (nothing is collected to the
        driver). To a URI (``hdfs://``, ``s3a://``) the folder of parts is the output (Spark's layout:
        every Spark, DuckDB and pyarrow reads it). To a local path the parts are joined into the one file
        the other commands read (``sleitp cohort table1``, ``train``): a streamed copy on the driver, one
        row group at a time."""
        return self._spark_write(expr, path, schema)

    def _spark_write(self, expr: ibis.Table, path: Path | str, schema: pa.Schema) -> int:
        # lazy: the optional [spark] extra
        from pyspark.sql import functions as F
        from pyspark.sql.pandas.types import from_arrow_type

        df = self._spark_df(expr).select(
            *[F.col(f"`{f.name}`").cast(from_arrow_type(f.type)).alias(f.name) for f in schema]
        )
        if isinstance(path, str):
            df.write.mode("overwrite").parquet(path)
            return int(self.session.read.parquet(path).count())  # from the parts' footers
        path.parent.mkdir(parents=True, exist_ok=True)
        parts = path.with_name(f".{path.name}.parts")
        try:
            df.write.mode("overwrite").parquet(f"file://{parts.resolve()}")
            return _join_parts(parts, path, schema)
        finally:
            shutil.rmtree(parts, ignore_errors=True)

    # -- storage URIs, through the session's Hadoop FileSystem ---------------------------------------
    def write_text(self, target: Path | str, text: str) -> None:
        if isinstance(target, Path):
            target.write_text(text)
            return
        fs, path = self._hadoop_fs(target)
        stream = fs.create(path, True)
        try:
            stream.write(text.encode("utf-8"))
        finally:
            stream.close()

    def list_files(self, pattern: str) -> list[str]:
        """Listed by the cluster's view of its storage."""
        fs, path = self._hadoop_fs(pattern)
        try:
            found = fs.globStatus(path)
        except Exception as e:  # noqa: BLE001 - py4j wraps the Java exception
            raise SourceError(_storage_error(pattern, e)) from None
        return sorted(str(st.getPath().toString()) for st in (found or []))

    def parquet_schema(self, uris: list[str]) -> pa.Schema:
        """One footer: Spark does not merge schemas."""
        from pyspark.sql.pandas.types import to_arrow_schema  # lazy: the optional [spark] extra

        try:
            return to_arrow_schema(self.session.read.parquet(*uris).schema)
        except Exception as e:  # noqa: BLE001 - AnalysisException, Py4JJavaError
            raise ValueError(_java_message(e)) from None

    def _hadoop_fs(self, uri: str) -> tuple[Any, Any]:
        try:
            sc = self.session.sparkContext
            jvm = sc._jvm
        except Exception:  # noqa: BLE001 - a Spark Connect session has no JVM on this side
            raise SourceError(
                f"{uri}: storage URIs are listed through a classic Spark session (spark://, yarn, k8s://, "
                "local), not Spark Connect; with sc:// give local paths, or run sleitp on the cluster"
            ) from None
        path = jvm.org.apache.hadoop.fs.Path(uri)
        try:
            return path.getFileSystem(sc._jsc.hadoopConfiguration()), path
        except Exception as e:  # noqa: BLE001 - py4j wraps the Java exception
            raise SourceError(_storage_error(uri, e)) from None

    # -- the run --------------------------------------------------------------------------------
    def progress(self) -> str | None:
        """What Spark runs now, e.g. ``stage 12: 37/200 tasks``; None when idle (or where the status tracker
        is not reachable)."""
        try:
            tracker = self.session.sparkContext.statusTracker()
            notes = []
            for sid in sorted(tracker.getActiveStageIds()):
                info = tracker.getStageInfo(sid)
                if info is not None:
                    notes.append(f"stage {sid}: {info.numCompletedTasks}/{info.numTasks} tasks")
        except Exception:  # noqa: BLE001 - a stopped or Connect session: no progress, never an error
            return None
        return "; ".join(notes[:2]) or None


# -- storage helpers ------------------------------------------------------------------------------------
_SCHEME_HOST = r"^[A-Za-z][A-Za-z0-9+.-]*:(//[^/]*)?"  # file:// hdfs://nn:8020 s3a://bucket file:


def _uri_path(f: str) -> str:
    """The path of a file as Spark's ``_metadata.file_path`` gives it once its scheme and host are cut
    (``file:///a/b`` and ``hdfs://nn:8020/a/b`` -> ``/a/b``; a plain path -> its absolute path, as Spark
    resolves it), percent-decoded as the column is: how ``read_parquet`` finds a row's file."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]+:", f):  # a URI (not a Windows drive letter)
        return unquote(re.sub(_SCHEME_HOST, "", f))
    return os.path.abspath(f)


def _join_parts(parts: Path, path: Path, schema: pa.Schema) -> int:
    """Spark's part files (in name order) -> one Parquet file with exactly ``schema``, streamed."""
    files = sorted(p for p in parts.glob("*.parquet") if not p.name.startswith((".", "_")))
    rows = 0
    with pq.ParquetWriter(str(path), schema) as writer:
        for f in files:
            for batch in pq.ParquetFile(f).iter_batches(batch_size=1_000_000):
                tbl = pa.Table.from_batches([batch]).select(schema.names).cast(schema)
                writer.write_table(tbl)
                rows += tbl.num_rows
    return rows


_CONNECTORS = {  # what a Spark cluster must provide for a scheme Hadoop does not ship (docs/spark.md)
    "s3a": "hadoop-aws (--spark-conf spark.jars.packages=org.apache.hadoop:hadoop-aws:3.4.1, the Hadoop "
    "of pyspark 4.0) and credentials (fs.s3a.*)",
    "gs": "the GCS connector (com.google.cloud.bigdataoss:gcs-connector, hadoop3)",
    "abfs": "hadoop-azure (org.apache.hadoop:hadoop-azure:3.4.1) and the account's credentials",
    "abfss": "hadoop-azure (org.apache.hadoop:hadoop-azure:3.4.1) and the account's credentials",
    "wasbs": "hadoop-azure (org.apache.hadoop:hadoop-azure:3.4.1) and the account's credentials",
}


def _java_message(e: BaseException) -> str:
    """The Java exception's own line (``...: No FileSystem for scheme "s3a"``), not py4j's wrapper."""
    java = getattr(e, "java_exception", None)
    if java is not None:
        try:
            return str(java.toString()).splitlines()[0]
        except Exception:  # noqa: BLE001 - the JVM is gone
            pass
    return _first_line(e)


def _storage_error(uri: str, e: BaseException) -> str:
    message = _java_message(e)
    kind = uri.split("://", 1)[0].lower() if "://" in uri else "file"
    # Hadoop 3.4 names the s3a/abfs classes itself (ClassNotFoundException ...S3AFileSystem); other schemes
    # are unknown to it (No FileSystem for scheme "gs"): either way the connector jar is missing
    missing = "ClassNotFoundException" in message and "FileSystem" in message
    if missing or "No FileSystem for scheme" in message:
        need = _CONNECTORS.get(kind, "the Hadoop FileSystem connector of this scheme (spark.jars.packages)")
        return (
            f"{uri}: this Spark session has no file system for {kind}:// ({message}); the cluster must "
            f"provide {need}"
        )
    return f"{uri}: cannot list it through Spark's Hadoop FileSystem ({message})"


__all__ = ["MASTER_FORMS", "SPARK_MASTER_ENV", "SparkEngine", "master_kind", "spark_session"]
