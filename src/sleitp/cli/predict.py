"""`sleitp predict MODEL DERIVED --out FILE.parquet`: score a whole derived cohort with a saved model (any
kind), one row per patient and line the model applies to (docs/landmark.md "sleitp predict"); and the
landmark step of `sleitp train --landmark-days`."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sleitp.cli import app
from sleitp.errors import ModelError, SourceError


def train_landmark_models(model, cohort_dir: Path, out: Path, days_text: str, *, outcome: str, bootstrap: int,
                          seed: int, real_data: bool, predictors, console: Console) -> None:
    """Fit the landmark models into OUT (after the main model), print their AUCs, and record the listing
    and the new manifest SHA-256 on ``model.card`` (what `train` prints)."""
    # lazy: the model package (pandas, scipy, statsmodels) would add seconds to every `sleitp` command
    from sleitp.cohort.derive.landmarks import parse_days
    from sleitp.model.binary.landmark import train_landmarks

    if outcome != "first_line_response":
        raise ModelError(f"--landmark-days applies to first_line_response, not {outcome}")
    days = parse_days(days_text)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as bar:
        tasks = {d: bar.add_task(f"landmark day {d} bootstrap", total=bootstrap) for d in days}
        listing = train_landmarks(
            cohort_dir, days, out, predictors=predictors, bootstrap=bootstrap, seed=seed,
            synthetic=False if real_data else None,
            progress=lambda d, k: bar.update(tasks[d], completed=k),
        )
    model.card["manifest_sha256"] = listing["manifest_sha256"]
    model.card["landmarks"] = listing["models"]
    t = Table(title="Landmark models (logistic; line 1 at risk at the landmark)", title_justify="left")
    for c in ("landmark day", "lines at risk", "responders", "apparent AUC", "optimism-corrected AUC"):
        t.add_column(c, justify="right")
    for d, m in listing["models"].items():
        corr = m["optimism_corrected_auc"]
        t.add_row(d, str(m["n"]), str(m["events"]), f"{m['apparent_auc']:.3f}",
                  "-" if corr is None else f"{corr:.3f}")
    console.print(t)


@app.command("predict")
def predict_cmd(
    model_dir: Annotated[Path, typer.Argument(help="A model folder written by `sleitp train` (any kind).")],
    cohort_dir: Annotated[
        Path, typer.Argument(help="A derived cohort folder (`sleitp cohort derive`; landmarks.parquet for "
                                  "landmark models).")
    ],
    out: Annotated[
        Path, typer.Option("--out", help="The Parquet file to write (one row a patient and line).")
    ],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out file.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Score every patient and line of a derived cohort the model applies to: probability and its interval
    (the model's own method), set-based; landmark models add one row per landmark day at risk."""
    # lazy: pyarrow and the model package would add seconds to every `sleitp` command
    import pyarrow.parquet as pq

    from sleitp.model import load_model
    from sleitp.model.base import SYNTHETIC_BANNER
    from sleitp.model.persist import MANIFEST, sha256_file
    from sleitp.model.predict_cohort import score_cohort

    if out.exists() and not overwrite:
        raise SourceError(f"--out: {out} exists; choose a new file or give --overwrite")
    if out.suffix.lower() != ".parquet":
        raise SourceError(f"--out: {out} should end in .parquet (a Parquet file is written)")
    if out.resolve().parent == cohort_dir.resolve() or out.resolve().is_relative_to(model_dir.resolve()):
        raise SourceError(f"--out: {out} is inside an input folder; write it elsewhere (inputs are never "
                          "written into)")
    err = Console(stderr=True)
    with err.status("scoring the cohort ..."):
        model = load_model(model_dir)
        scored = score_cohort(model, cohort_dir)
    meta = {
        "model_dir": str(model_dir), "model": model.name, "kind": model.kind, "outcome": model.outcome,
        "synthetic": bool(model.synthetic), "manifest_sha256": sha256_file(model_dir / MANIFEST),
        "cohort": str(cohort_dir), "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "excluded": scored.excluded,
    }
    note = getattr(model, "_landmark_note", None)  # landmark models left from another baseline model
    if note:
        meta["landmark_note"] = note
        err.print(f"[yellow]{note}[/]")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(scored.to_arrow(meta), out)
    except OSError as e:
        raise SourceError(f"cannot write {out}: {e}") from None
    summary = scored.summary()
    f = scored.frame
    result = {**meta, "out": str(out), "rows": len(f), "summary": summary}
    if as_json:
        typer.echo(json.dumps(result, indent=2, default=float))
        return
    console = Console()
    if model.synthetic:
        console.print(SYNTHETIC_BANNER)
    t = Table(title=f"{model.name}: {len(f)} rows written to {out}", title_justify="left")
    for c in ("model", "rows", "mean p", "observed (events)", "AUC (95% CI)", "baseline AUC, same lines"):
        t.add_column(c, justify="left" if c == "model" else "right")

    def auc(a: dict | None) -> str:
        return "-" if a is None else f"{a['estimate']:.3f} ({a['ci_low']:.3f}-{a['ci_high']:.3f})"

    for r in summary:
        label = "baseline" if r["landmark_day"] is None else f"landmark day {r['landmark_day']}"
        t.add_row(label, str(r["rows"]), f"{r['mean_probability']:.3f}",
                  f"{r['observed_n']} ({r['observed_events']})", auc(r["auc"]),
                  auc(r.get("baseline_auc_same_lines")) if r["landmark_day"] is not None else "")
    console.print(t)
    excluded = {k: v for k, v in scored.excluded.items() if v}
    if excluded:
        console.print("Not scored: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in excluded.items()))
