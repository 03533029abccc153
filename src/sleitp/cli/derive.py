"""`sleitp cohort derive SOURCE --out DIR [--backend duckdb|spark]` (spec/cli.md; docs/cohort-derive.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..errors import SourceError
from . import cohort_app
from .outputs import check_output_folder

STEPS = ("read", "lines", "responses", "features", "write")


@cohort_app.command("derive")
def derive_cmd(
    source: Annotated[
        Path,
        typer.Argument(
            help="records.jsonl, a synth tables folder, FHIR Bundles/NDJSON, or an "
            "OMOP CDM (DuckDB file or folder of CSV/TSV/Parquet)."
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Folder for responses.parquet, features.parquet, unmapped.json.")
    ],
    backend: Annotated[
        str, typer.Option("--backend", help="duckdb (default) or spark (PySpark local mode).")
    ] = "duckdb",
    vocabulary: Annotated[
        Path | None,
        typer.Option(
            "--vocabulary", help="OMOP only: a concept table (CONCEPT.csv/.parquet) when the CDM has none."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run summary as JSON.")] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the outputs in a non-empty --out folder.")
    ] = False,
) -> None:
    """Treatment lines, IWG responses and predictors of every patient, computed in the engine.
    --out must be a new or empty folder (or --overwrite), never the source's folder."""
    from ..cohort.derive import derive

    if backend not in ("duckdb", "spark"):
        raise SourceError(f"--backend: expected duckdb or spark, got {backend!r}")
    if not source.exists():
        raise SourceError(f"{source}: no such file or folder")
    check_output_folder(out, sources=[source] + ([vocabulary] if vocabulary else []), overwrite=overwrite)
    console = Console(stderr=True)
    with Progress(
        TextColumn("[bold]derive[/bold] {task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=as_json,
    ) as bar:
        task = bar.add_task("reading the source", total=len(STEPS))

        def step(name: str) -> None:
            nxt = STEPS[min(STEPS.index(name) + 1, len(STEPS) - 1)] if name in STEPS else name
            bar.update(task, advance=1, description=f"{name} done; {nxt}")

        result = derive(source, out, backend=backend, vocabulary=vocabulary, progress=step)
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
    con.print(f"wrote {out / 'responses.parquet'}, {out / 'features.parquet'}, {out / 'unmapped.json'}")
