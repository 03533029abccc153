"""`sleitp fhir view VIEW.json SOURCE --out OUT [--backend duckdb]`: run a SQL on FHIR v2 ViewDefinition
(docs/sql-on-fhir.md)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from sleitp.cli import app
from sleitp.errors import SourceError

fhir_app = typer.Typer(
    help="FHIR: run SQL on FHIR v2 ViewDefinitions over bulk exports.", no_args_is_help=True
)
app.add_typer(fhir_app, name="fhir")


@fhir_app.command("view")
def view_cmd(
    view: Annotated[Path, typer.Argument(help="A SQL on FHIR v2 ViewDefinition (.json).")],
    source: Annotated[
        Path,
        typer.Argument(
            help="An NDJSON file, a folder of bulk-export NDJSON (Type.ndjson, Type.000.ndjson, "
            ".ndjson.gz), or a Bundle / JSON array of resources (.json)."
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="Output file: .parquet, .csv, .ndjson or .json (one JSON array of row objects)."
        ),
    ],
    backend: Annotated[
        str, typer.Option("--backend", help="duckdb (default) or spark (Spark 4.0, local).")
    ] = "duckdb",
    show_sql: Annotated[bool, typer.Option("--sql", help="Print the compiled SQL and exit.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run summary as JSON.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUT if it exists.")] = False,
) -> None:
    """Compile the view to set-based SQL and run it in DuckDB (or Spark) over the source's resources (no
    Python runs per resource). An invalid view exits 2 with a message naming the part of the view at
    fault."""
    # lazy: not loaded at CLI start
    from sleitp.sqlonfhir.runner import FORMATS, DuckDBViewRunner, load_view, resources_sql

    if backend not in ("duckdb", "spark"):
        raise SourceError(f"--backend: expected duckdb or spark, got {backend!r}")
    parsed = load_view(view)
    if not show_sql:
        if out.suffix.lower() not in FORMATS:
            raise SourceError(f"--out {out}: expected a .parquet, .csv, .ndjson or .json file")
        if out.exists() and out.is_dir():
            raise SourceError(f"--out {out}: is a folder, expected a file")
        if out.exists() and not overwrite:
            raise SourceError(f"--out {out}: exists; give --overwrite to replace it")
        if out.resolve() in (source.resolve(), view.resolve()):
            raise SourceError(f"--out {out}: is an input; choose another file")
    if backend == "duckdb":
        runner, src = DuckDBViewRunner(), resources_sql(source, parsed.resource)
    else:
        from sleitp.sqlonfhir.spark import SparkViewRunner  # lazy: not loaded at CLI start

        runner = SparkViewRunner()
        src = runner.source_table(source, parsed.resource)
    if show_sql:
        print(runner.sql(parsed, src))
        return
    console = Console(stderr=True)
    started = time.perf_counter()
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]view[/bold] {task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=as_json,
    ) as bar:
        bar.add_task(f"{parsed.name or view.stem}: {parsed.resource} -> {out.name}", total=None)
        n = runner.write(parsed, src, out)
    seconds = time.perf_counter() - started
    summary = {
        "view": parsed.name or view.stem,
        "resource": parsed.resource,
        "rows": n,
        "columns": [c.name for c in parsed.columns()],
        "out": str(out),
        "format": FORMATS[out.suffix.lower()],
        "seconds": round(seconds, 3),
        "backend": backend,
    }
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    table = Table(title=f"sleitp fhir view {summary['view']}", show_header=False)
    for key in ("resource", "rows", "columns", "out", "format", "seconds"):
        value = summary[key]
        table.add_row(key, ", ".join(value) if isinstance(value, list) else str(value))
    Console().print(table)
