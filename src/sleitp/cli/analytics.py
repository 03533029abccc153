"""``sleitp cohort table1 / km / associations``: analyses of a ``cohort derive`` output directory."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from sleitp.cli import app, cohort_app  # noqa: F401
from sleitp.errors import SourceError

_DIR = typer.Argument(
    ..., help="Output directory of `sleitp cohort derive` (responses.parquet, features.parquet)."
)


# the options of the two curve commands (km, cif): the same grouping and the same figure files
_CURVES_BY = typer.Option(
    "line", "--by", help="'line', or a predictor (binary: yes/no; numeric: split at the median)."
)
_CURVES_PNG = typer.Option(None, "--png", help="Write the curves as PNG.")
_CURVES_SVG = typer.Option(None, "--svg", help="Write the curves as SVG.")


def _write(path: Path | None, text: str) -> None:
    if path is None:
        return
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as e:
        raise SourceError(f"cannot write {path}: {e}") from None


def _save(path: Path | None, save) -> None:
    if path is None:
        return
    try:
        save(str(path))
    except OSError as e:
        raise SourceError(f"cannot write {path}: {e}") from None


def _write_curves(result, png: Path | None, svg: Path | None, html_file: Path | None) -> None:
    """A km / cif result's figure as PNG and SVG and its page as HTML, each only where a path is given."""
    _save(png, lambda p: result.save(p, "png"))
    _save(svg, lambda p: result.save(p, "svg"))
    _write(html_file, result.to_html() if html_file else "")


def _print_excluded(console: Console, counts: dict[str, int]) -> None:
    """The lines left out of the curves and why (only the reasons that left any out)."""
    excluded = {k: v for k, v in counts.items() if v}
    if excluded:
        console.print("Excluded: " + ", ".join(f"{k}: {v}" for k, v in excluded.items()))


@cohort_app.command("table1")
def table1_command(
    directory: Path = _DIR,
    by: str | None = typer.Option(
        None,
        "--by",
        help="Group by this column (a binary predictor, first_line_category or first_line_response).",
    ),
    html_file: Path | None = typer.Option(None, "--html", help="Write the table as HTML."),  # noqa: B008
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Table 1: the patients' characteristics at the first line's start (tableone)."""
    from sleitp.cohort.analytics.data import load_derived  # lazy: not loaded at CLI start
    from sleitp.cohort.analytics.table1 import table1  # lazy: not loaded at CLI start

    t = table1(load_derived(directory), by)
    _write(html_file, t.to_html())
    if as_json:
        typer.echo(json.dumps(t.to_json(), indent=2))
        return
    table = Table(title=f"Table 1{f' by {by}' if by else ''} (n = {t.n})")
    table.add_column("variable")
    table.add_column("level")
    for c in t.columns:
        table.add_column(c, justify="right")
    for r in t.rows:
        table.add_row(r["variable"], r["level"], *(r.get(c, "") for c in t.columns))
    Console().print(table)


@cohort_app.command("km")
def km_command(
    directory: Path = _DIR,
    by: str = _CURVES_BY,
    png: Path | None = _CURVES_PNG,
    svg: Path | None = _CURVES_SVG,
    html_file: Path | None = typer.Option(None, "--html", help="Write curves and table as HTML."),  # noqa: B008
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Time to response (Kaplan-Meier, lifelines) by line or by a predictor, with number at risk."""
    from sleitp.cohort.analytics.data import load_derived  # lazy: not loaded at CLI start
    from sleitp.cohort.analytics.km import AT_RISK_DAYS, km  # lazy: not loaded at CLI start

    result = km(load_derived(directory), by)
    _write_curves(result, png, svg, html_file)
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
        return
    table = Table(
        title=f"Time to response by {by} (Kaplan-Meier; cumulative response / at risk)",
        caption=f"{result.note}."
        + (f" Log-rank p = {result.logrank_p:.3g}." if result.logrank_p is not None else ""),
    )
    for col in ("group", "n", "responses", "median days"):
        table.add_column(col, justify="right" if col != "group" else "left")
    for d in AT_RISK_DAYS[1:]:
        table.add_column(f"day {d}", justify="right")
    for g in result.groups:
        table.add_row(
            g.label,
            str(g.n),
            str(g.responses),
            "not reached" if g.median_days is None else f"{g.median_days:g}",
            *(f"{g.cumulative_response[d]:.0%} / {g.at_risk[d]}" for d in AT_RISK_DAYS[1:]),
        )
    Console().print(table)
    _print_excluded(Console(), result.exclusions.counts)


@cohort_app.command("cif")
def cif_command(
    directory: Path = _DIR,
    by: str = _CURVES_BY,
    png: Path | None = _CURVES_PNG,
    svg: Path | None = _CURVES_SVG,
    html_file: Path | None = typer.Option(None, "--html", help="Write curves and tables as HTML."),  # noqa: B008
    cox: bool = typer.Option(True, "--cox/--no-cox", help="Add cause-specific Cox hazard ratios."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Time to response with the next line as a competing event: Aalen-Johansen cumulative incidence
    (days 30, 90, 180 with 95% CIs, beside the naive 1 - KM) and cause-specific Cox (lifelines)."""
    from sleitp.cohort.analytics.cif import CAUSES, REPORT_DAYS, cif  # lazy: not loaded at CLI start
    from sleitp.cohort.analytics.data import load_derived  # lazy: not loaded at CLI start

    err = Console(stderr=True)
    with err.status("Aalen-Johansen cumulative incidence and cause-specific Cox ..."):
        result = cif(load_derived(directory), by, cox=cox)
        _write_curves(result, png, svg, html_file)
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
        return
    console = Console()
    table = Table(
        title=f"Time to response by {by}: cumulative incidence (Aalen-Johansen, 95% CI)",
        caption=f"{result.note}. The naive 1 - KM censors the next line (biased upwards).",
    )
    for col in ("group", "lines", "day", "at risk", "response", "next line started", "naive 1 - KM"):
        table.add_column(col, justify="left" if col == "group" else "right")
    for g in result.groups:
        for i, d in enumerate(REPORT_DAYS):
            table.add_row(
                g.label if i == 0 else "",
                str(g.n) if i == 0 else "",
                str(d),
                str(g.at_risk.get(d, "")),
                g.cumulative_incidence[CAUSES[1]][d].text(),
                g.cumulative_incidence[CAUSES[2]][d].text(),
                f"{g.naive_km[d]:.1%}",
            )
    console.print(table)
    if result.cause_specific_cox:
        cx = Table(title="Cause-specific Cox hazard ratios (other cause censored)")
        for col in ("cause", "comparison", "HR", "95% CI", "p", "note"):
            cx.add_column(col, justify="left" if col in ("cause", "comparison", "note") else "right")
        for h in result.cause_specific_cox:
            est = h.hazard_ratio is not None
            cx.add_row(
                h.cause,
                f"{h.group} vs {h.reference}",
                f"{h.hazard_ratio:.3g}" if est else "",
                f"{h.ci_low:.3g} - {h.ci_high:.3g}" if est else "",
                ("<0.001" if h.p_value < 0.001 else f"{h.p_value:.3f}") if est else "",
                h.note,
            )
        console.print(cx)
    _print_excluded(console, result.exclusions.counts)


@cohort_app.command("landmarks")
def landmarks_command(
    source: Path = typer.Argument(..., help="The source `cohort derive` read (tables, records, FHIR, OMOP)."),  # noqa: B008
    directory: Path = _DIR,
    days: str = typer.Option("3,7,14", "--days", help="Landmark days of line 1, comma-separated."),
    backend: str = typer.Option("duckdb", "--backend", help="duckdb (default) or spark."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing DIR/landmarks.parquet."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Line 1's platelet trajectory at each landmark day, for the lines still at risk then (no confirmed
    response, still on line 1): writes DIR/landmarks.parquet for `train --landmark-days` and `predict`."""
    from sleitp.cohort.derive.landmarks import parse_days, write_landmarks  # lazy: not loaded at CLI start

    err = Console(stderr=True)
    with err.status("landmark trajectories ..."):
        result = write_landmarks(source, directory, parse_days(days), backend=backend, overwrite=overwrite)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    table = Table(title=f"Landmarks written to {result['out']}")
    table.add_column("landmark day", justify="right")
    table.add_column("line 1 at risk", justify="right")
    for d in result["days"]:
        table.add_row(str(d), str(result["at_risk"].get(d, 0)))
    Console().print(table)


@cohort_app.command("associations")
def associations_command(
    directory: Path = _DIR,
    outcome: str = typer.Option("first_line_response", "--outcome", help="Outcome (first_line_response)."),
    predictors: str | None = typer.Option(
        None,
        "--predictors",
        help="Comma-separated predictors of the "
        "multivariable model (default: the published ones with <= 20% "
        "missing).",
    ),
    html_file: Path | None = typer.Option(None, "--html", help="Write tables and forest plot as HTML."),  # noqa: B008
    png: Path | None = typer.Option(None, "--png", help="Write the forest plot as PNG."),  # noqa: B008
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Univariable and multivariable logistic regression: odds ratios, 95% CI, p, N used and excluded."""
    from sleitp.cohort.analytics.associations import associations  # lazy: not loaded at CLI start
    from sleitp.cohort.analytics.data import load_derived  # lazy: not loaded at CLI start

    names = [p.strip() for p in predictors.split(",") if p.strip()] if predictors else None
    result = associations(load_derived(directory), outcome, names)
    _save(png, result.save_png)
    _write(html_file, result.to_html() if html_file else "")
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
        return
    console = Console()
    excl = ", ".join(f"{k}: {v}" for k, v in result.outcome_exclusions.counts.items())
    console.print(
        f"{outcome}: {result.n_evaluable} evaluable patients, {result.events} with the outcome; "
        f"not evaluable: {excl}"
    )
    for title, rows in (
        ("Univariable", result.univariable),
        (
            f"Multivariable (N used {result.multivariable_n_used}, excluded for missing "
            f"values {result.multivariable_n_excluded_missing})",
            result.multivariable,
        ),
    ):
        table = Table(title=title)
        for col in ("predictor", "per", "OR", "95% CI", "p", "N used", "N missing", "note"):
            table.add_column(col, justify="left" if col in ("predictor", "per", "note") else "right")
        for r in rows:
            est = r.odds_ratio is not None
            table.add_row(
                r.predictor,
                r.per,
                f"{r.odds_ratio:.3g}" if est else "",
                f"{r.ci_low:.3g} - {r.ci_high:.3g}" if est else "",
                ("<0.001" if r.p_value < 0.001 else f"{r.p_value:.3f}") if est else "",
                str(r.n_used),
                str(r.n_excluded_missing),
                r.note,
            )
        console.print(table)
    for name, why in result.left_out.items():
        console.print(f"left out of the multivariable model: {name} ({why})")
