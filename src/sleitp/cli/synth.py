"""``sleitp synth``: write a synthetic SLE-ITP cohort (spec/cli.md)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sleitp.cli import app


@app.command("synth")
def synth_command(
    patients: int = typer.Option(..., "--patients", help="Number of patients to generate."),
    seed: int = typer.Option(..., "--seed", help="Random seed: the same seed gives byte-identical files."),
    out: Path = typer.Option(..., "--out", help="Output directory (new or empty)."),  # noqa: B008
    chunk_size: int = typer.Option(
        50_000, "--chunk-size", help="Patients generated (and held in memory) at once."
    ),
    fhir: bool = typer.Option(
        False, "--fhir", help="Also write DIR/fhir/: the same patients as a FHIR R4 bulk export (NDJSON)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    site: int | None = typer.Option(
        None,
        "--site",
        help="Site number: seeds the site's TRUE effects (two cohorts of one site share them).",
    ),
    heterogeneity: float = typer.Option(
        0.0,
        "--heterogeneity",
        help="SD (log-odds) of the site's true effects around the published ones; 0 = the published "
        "model (docs/model-prior.md).",
    ),
) -> None:
    """A synthetic SLE-ITP cohort: DIR/records.jsonl, DIR/tables/*.parquet, DIR/truth.parquet.

    Distributions and the TRUE model of first-line response come from published figures
    (docs/synthetic-cohort.md). Synthetic data: never a substitute for real patients.
    """
    from sleitp.cohort.synth.generate import synthesize  # lazy: not loaded at CLI start

    console = Console(stderr=True)
    with Progress(
        TextColumn("synth"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("patients"),
        TimeElapsedColumn(),
        console=console,
        disable=as_json or not console.is_terminal,
    ) as bar:
        task = bar.add_task("synth", total=patients)
        summary = synthesize(
            patients,
            seed,
            out,
            chunk_size=chunk_size,
            on_chunk=lambda n: bar.advance(task, n),
            site=site,
            heterogeneity=heterogeneity,
        )
    exported = None
    if fhir:  # docs/synthetic-fhir.md
        from sleitp.cohort.synth.fhir import write_fhir_with_progress  # lazy: not loaded at CLI start

        exported = write_fhir_with_progress(
            Path(summary.out) / "tables", Path(summary.out) / "fhir", console=console,
            request=f"sleitp synth --patients {patients} --seed {seed} --fhir",
            disable=as_json or not console.is_terminal,
        )
    if as_json:
        fhir_json = {"fhir": exported.to_json()} if exported else {}
        typer.echo(json.dumps(summary.to_json() | fhir_json, indent=2))
        return
    table = Table(title=f"Synthetic SLE-ITP cohort in {summary.out}")
    table.add_column("")
    table.add_column("value", justify="right")
    table.add_row("patients", f"{summary.patients:,}")
    table.add_row("seed", str(summary.seed))
    if summary.site is not None:
        table.add_row("site (heterogeneity)", f"{summary.site} ({summary.heterogeneity:g})")
    for name, n in summary.rows.items():
        table.add_row(f"rows in {name}", f"{n:,}")
    table.add_row("mean true P(first-line response)", f"{summary.first_line_response_rate:.3f}")
    for cat, n in summary.first_line_categories.items():
        table.add_row(f"line 1 {cat}", f"{n:,} ({n / summary.patients:.1%})")
    table.add_row("seconds", f"{summary.seconds:.1f}")
    if exported is not None:
        for rtype, n in exported.resources.items():
            table.add_row(f"FHIR {rtype} in fhir/", f"{n:,}")
        table.add_row("FHIR export seconds", f"{exported.seconds:.1f}")
    Console().print(table)
