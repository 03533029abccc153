"""`sleitp cohort derive SOURCE --out DIR [--backend duckdb|spark]` (spec/cli.md; docs/cohort-derive.md)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sleitp.cli import cohort_app
from sleitp.cli.outputs import OutputFolderError, check_output_folder
from sleitp.cohort.engine.storage import join, require_spark
from sleitp.errors import SourceError

STEPS = ("read", "lines", "responses", "features", "write")


@cohort_app.command("derive")
def derive_cmd(
    source: Annotated[
        str,
        typer.Argument(
            help="records.jsonl, a synth tables folder, FHIR Bundles/NDJSON, or an "
            "OMOP CDM (DuckDB file or folder of CSV/TSV/Parquet). With --backend spark also a URI of a "
            "tables folder on the cluster's storage (file://, hdfs://, s3a://; docs/spark.md)."
        ),
    ],
    out: Annotated[
        str,
        typer.Option(
            "--out",
            help="Folder for responses.parquet, features.parquet, unmapped.json (with --backend spark "
            "also a URI: hdfs://, s3a://, file://).",
        ),
    ],
    backend: Annotated[
        str, typer.Option("--backend", help="duckdb (default) or spark (local mode, or --spark-master).")
    ] = "duckdb",
    spark_master: Annotated[
        str | None,
        typer.Option(
            "--spark-master",
            help="Spark only: local[N] (default), spark://HOST:PORT, yarn, k8s://https://HOST:PORT or "
            "sc://HOST:PORT (Spark Connect); default $SLEITP_SPARK_MASTER.",
        ),
    ] = None,
    executor_memory: Annotated[
        str | None,
        typer.Option("--executor-memory", help="Spark only: memory of each executor, e.g. 4g."),
    ] = None,
    executor_cores: Annotated[
        int | None,
        typer.Option("--executor-cores", min=1, help="Spark only: cores of each executor."),
    ] = None,
    spark_conf: Annotated[
        list[str] | None,
        typer.Option(
            "--spark-conf",
            help="Spark only: a session setting KEY=VALUE (repeatable), e.g. spark.cores.max=8.",
        ),
    ] = None,
    vocabulary: Annotated[
        Path | None,
        typer.Option(
            "--vocabulary", help="OMOP only: a concept table (CONCEPT.csv/.parquet) when the CDM has none."
        ),
    ] = None,
    fhir_mapping: Annotated[
        str,
        typer.Option(
            "--fhir-mapping",
            help="FHIR only: views (the mapping as SQL on FHIR ViewDefinitions run in DuckDB, set-based; "
            "default; docs/fhir-views.md) or python (the per-resource mapping with fhir.resources "
            "validation, about 1,500 resources a second; docs/fhir.md).",
        ),
    ] = "views",
    as_json: Annotated[bool, typer.Option("--json", help="Print the run summary as JSON.")] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the outputs in a non-empty --out folder.")
    ] = False,
) -> None:
    """Treatment lines, IWG responses and predictors of every patient, computed in the engine.
    --out must be a new or empty folder (or --overwrite), never the source's folder."""
    from sleitp.cohort.derive.run import derive  # lazy: not loaded at CLI start

    if backend not in ("duckdb", "spark"):
        raise SourceError(f"--backend: expected duckdb or spark, got {backend!r}")
    spark_options = {
        "--spark-master": spark_master, "--executor-memory": executor_memory,
        "--executor-cores": executor_cores, "--spark-conf": spark_conf,
    }
    if backend != "spark" and any(v for v in spark_options.values()):
        given = ", ".join(k for k, v in spark_options.items() if v)
        raise SourceError(f"{given}: Spark settings; give --backend spark with them")
    src_at = require_spark(source, backend, "SOURCE")  # a Path, or a URI of a cluster's storage
    out_at = require_spark(out, backend, "--out")
    if isinstance(src_at, Path) and not src_at.exists():
        raise SourceError(f"{src_at}: no such file or folder")
    if isinstance(out_at, Path):
        inputs = ([src_at] if isinstance(src_at, Path) else []) + ([vocabulary] if vocabulary else [])
        check_output_folder(out_at, sources=inputs, overwrite=overwrite)
    engine = None
    if backend == "spark":
        from sleitp.cohort.engine import connect  # lazy: not loaded at CLI start

        engine = connect(
            "spark",
            spark_master=spark_master,
            executor_memory=executor_memory,
            executor_cores=executor_cores,
            spark_conf=_spark_settings(spark_conf or []),
        )
        if isinstance(out_at, str) and engine.has_files(out_at) and not overwrite:
            raise OutputFolderError(
                f"--out: {out_at} is not empty; choose a new or empty folder, or give --overwrite to "
                "replace the files sleitp writes there"
            )
    console = Console(stderr=True)
    with Progress(
        TextColumn("[bold]derive[/bold] {task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=as_json,
    ) as bar:
        now = ["reading the source"]
        task = bar.add_task(now[0], total=len(STEPS))

        def step(name: str) -> None:
            if name not in STEPS:  # a part of a step (an OMOP table mapped): the description only
                now[0] = name
                bar.update(task, description=now[0])
                return
            nxt = STEPS[min(STEPS.index(name) + 1, len(STEPS) - 1)]
            now[0] = f"{name} done; {nxt}"
            bar.update(task, advance=1, description=now[0])

        stop = threading.Event()
        if engine is not None:  # Spark: the running stage's tasks on the line, twice a second
            def spark_line() -> None:
                while not stop.wait(0.5):
                    note = engine.spark_progress()
                    bar.update(task, description=now[0] + (f" [dim]({note})[/dim]" if note else ""))

            threading.Thread(target=spark_line, daemon=True).start()
        try:
            result = derive(
                source if engine is not None else src_at, out_at, backend=backend, engine=engine,
                vocabulary=vocabulary, progress=step, fhir_mapping=fhir_mapping,
            )
        finally:
            stop.set()
            if engine is not None:
                engine.close()
    if os.environ.get("SLEITP_PROFILE"):
        print_profile(result.profile, Console(stderr=True))
    if as_json:
        print(json.dumps(result.to_json(), indent=2))
        return
    con = Console()
    t = Table(title=f"cohort derive ({result.backend}, {result.source_kind} source)", title_justify="left")
    t.add_column("what")
    t.add_column("n", justify="right")
    t.add_row("patients", str(result.patients))
    t.add_row("treatment lines", str(result.lines))
    t.add_row("patients without a treatment line", str(result.patients_without_line))
    for cat in ("CR", "R", "NR", "NE"):
        t.add_row(f"lines with IWG category {cat}", str(result.categories.get(cat, 0)))
    con.print(t)
    u = Table(
        title="Not mapped (left out, counted per reason; details in unmapped.json)", title_justify="left"
    )
    u.add_column("reason")
    u.add_column("rows", justify="right")
    for reason, n in sorted(result.unmapped.counts.items(), key=lambda kv: (-kv[1], kv[0])):
        u.add_row(reason, str(n))
    if not result.unmapped.counts:
        u.add_row("[dim]nothing: every row was mapped[/dim]", "0")
    con.print(u)
    names = ("responses.parquet", "features.parquet", "unmapped.json")
    con.print("wrote " + ", ".join(str(join(out_at, n)) for n in names))


def _spark_settings(items: list[str]) -> dict[str, str]:
    """``--spark-conf KEY=VALUE`` (repeatable) -> {KEY: VALUE}."""
    conf = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SourceError(f"--spark-conf {item!r}: expected KEY=VALUE, e.g. spark.executor.instances=4")
        conf[key.strip()] = value.strip()
    return conf


def print_profile(profile: list[tuple[str, float]], console: Console) -> None:
    """SLEITP_PROFILE=1: every engine step's time (the caller of each materialize), slowest first."""
    t = Table(title="engine steps (SLEITP_PROFILE)", title_justify="left")
    t.add_column("step (module.function:line)")
    t.add_column("seconds", justify="right")
    total = sum(s for _, s in profile) or 1.0
    for where, sec in sorted(profile, key=lambda p: -p[1]):
        t.add_row(where, f"{sec:.2f} ({100 * sec / total:.0f}%)")
    console.print(t)
