"""`sleitp train` and `sleitp validate`: develop a prediction model on a derived cohort, validate it on
another, optionally recalibrate (spec/cli.md "Models"; docs/model.md)."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sleitp.cli import app
from sleitp.cli.models_survival import SYNTHETIC_MODEL_BANNER, print_survival_card, validate_survival_cmd
from sleitp.cli.outputs import check_output_folder
from sleitp.errors import ModelError

CohortArg = Annotated[
    Path,
    typer.Argument(
        help="A derived cohort folder (features.parquet + responses.parquet, "
        "as written by `sleitp cohort derive`)."
    ),
]
ModelArg = Annotated[Path, typer.Argument(help="A model folder written by `sleitp train`.")]


class Method(str, Enum):
    logistic = "logistic"
    logistic_l2 = "logistic-l2"
    gbm = "gbm"


class Prior(str, Enum):
    literature = "literature"


class Imputation(str, Enum):
    indicator = "indicator"
    mice = "mice"


class Update(str, Enum):
    intercept = "intercept"
    slope = "slope"
    refit = "refit"
    prior = "prior"
    closed_test = "closed-test"


class Recalibration(str, Enum):
    intercept = "intercept"
    slope = "slope"


def _fmt(v: object, digits: int = 3) -> str:
    return "-" if v is None else f"{float(v):.{digits}f}"


def _bar(console: Console, total: int, label: str) -> Progress:
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=total == 0,
    )


@app.command("train")
def train_cmd(
    cohort_dir: CohortArg,
    out: Annotated[Path, typer.Option("--out", help="Folder to write the model, its card and figures to.")],
    outcome: Annotated[
        str,
        typer.Option(
            "--outcome", help="first_line_response (binary), time_to_response or loss_of_response (Cox)."
        ),
    ] = "first_line_response",
    bootstrap: Annotated[
        int,
        typer.Option(
            "--bootstrap", min=0, help="Bootstrap replicates for the optimism correction (Harrell)."
        ),
    ] = 200,
    method: Annotated[
        Method, typer.Option("--method", help="logistic (ML), logistic-l2 (ridge), gbm (gradient boosting).")
    ] = Method.logistic,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (bootstrap, CV folds, trees).")] = 0,
    real_data: Annotated[
        bool,
        typer.Option(
            "--real-data",
            help="Declare the cohort real patient data. Without "
            "it the model is labelled as trained on synthetic data.",
        ),
    ] = False,
    predictors: Annotated[
        str | None,
        typer.Option(
            "--predictors", help="Comma-separated subset of the candidate predictors (default: all)."
        ),
    ] = None,
    anticipated_r2: Annotated[
        float | None,
        typer.Option(
            "--anticipated-r2",
            help="Anticipated Cox-Snell R2 for the Riley sample-size check (default: from the data, shrunk).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the model card as JSON.")] = False,
    horizon: Annotated[
        int | None,
        typer.Option(
            "--horizon",
            help="Time-to-event outcomes: days of the bedside probability (default 30 for time_to_response, "
            "180 for loss_of_response).",
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the files in a non-empty --out folder.")
    ] = False,
    prior: Annotated[
        Prior | None,
        typer.Option(
            "--prior",
            help="literature: logistic regression with priors from the published effects of the evidence "
            "base (docs/model-prior.md).",
        ),
    ] = None,
    prior_heterogeneity: Annotated[
        float | None,
        typer.Option(
            "--prior-heterogeneity",
            help="With --prior: between-site SD added to each published log odds ratio (default 0.5, an "
            "assumption stated on the card).",
        ),
    ] = None,
    prior_weak: Annotated[
        str | None,
        typer.Option(
            "--prior-weak",
            help="With --prior: coefficients without a published effect get 'cv' (cross-validated ridge, "
            "default) or a number s (N(0, s^2) per SD).",
        ),
    ] = None,
    imputation: Annotated[
        Imputation,
        typer.Option(
            "--imputation",
            help="Missing predictors: indicator (median/most common value plus a not-measured indicator, "
            "default) or mice (multiple imputation by chained equations with the outcome, Rubin's rules, "
            "bootstrap then impute; docs/imputation.md).",
        ),
    ] = Imputation.indicator,
    imputations: Annotated[
        int | None,
        typer.Option("--imputations", help="With --imputation mice: number of imputations m (default 10)."),
    ] = None,
    landmark_days: Annotated[
        str | None,
        typer.Option(
            "--landmark-days",
            help="Also fit one landmark model per day of line 1, e.g. 3,7,14 (needs "
            "COHORT_DIR/landmarks.parquet from `sleitp cohort landmarks`; docs/landmark.md).",
        ),
    ] = None,
) -> None:
    """Develop a prediction model with bootstrap internal validation, a Riley sample-size check, calibration
    plot, decision curve, nomogram and a TRIPOD model card. Saved without pickle. Outcomes time_to_response
    and loss_of_response fit a Cox model (docs/model.md "Time-to-event outcomes")."""
    from sleitp.model import train
    from sleitp.model.survival.data import SURVIVAL_OUTCOMES

    check_output_folder(out, sources=[cohort_dir], overwrite=overwrite)
    console = Console(stderr=True)
    preds = [p.strip() for p in predictors.split(",") if p.strip()] if predictors else None
    with _bar(console, bootstrap, "bootstrap") as bar:
        task = bar.add_task("bootstrap", total=bootstrap)
        model = train(
            cohort_dir,
            outcome=outcome,
            method=method.value,
            bootstrap=bootstrap,
            seed=seed,
            synthetic=False if real_data else None,
            predictors=preds,
            anticipated_r2_cs=anticipated_r2,
            horizon_days=horizon,
            out=out,
            progress=lambda k: bar.update(task, completed=k),
            prior=None if prior is None else prior.value,
            prior_heterogeneity=prior_heterogeneity,
            prior_weak=prior_weak,
            imputation=imputation.value,
            imputations=imputations,
        )
    if landmark_days:  # sleitp.model.binary.landmark: one model per landmark day, in OUT/landmark-DAY/
        from sleitp.cli.predict import train_landmark_models

        train_landmark_models(model, cohort_dir, out, landmark_days, outcome=outcome, bootstrap=bootstrap,
                              seed=seed, real_data=real_data, predictors=preds, console=console)
    card = model.card
    if as_json:
        print(json.dumps(card, indent=2, default=float))
        return
    out_console = Console()
    if model.synthetic:
        out_console.print(SYNTHETIC_MODEL_BANNER)
    if outcome in SURVIVAL_OUTCOMES:
        print_survival_card(model, out, out_console)
        return
    t = Table(
        title=f"{model.name}  ({card['n']} patients, {card['events']} responders)", title_justify="left"
    )
    t.add_column("measure")
    t.add_column("apparent", justify="right")
    t.add_column("optimism-corrected", justify="right")
    perf = card["performance"].get("optimism_correction") or {}
    app_, corr = perf.get("apparent", {}), perf.get("corrected", {})
    for key, label, d in (
        ("auc", "AUC", 3),
        ("calibration_slope", "calibration slope", 3),
        ("calibration_intercept", "calibration intercept", 3),
        ("brier", "Brier", 4),
    ):
        t.add_row(
            label,
            _fmt(app_.get(key, card["apparent_auc"] if key == "auc" else None), d),
            _fmt(corr.get(key), d),
        )
    out_console.print(t)
    if card.get("prior"):
        _print_prior(card["prior"], out_console)
    ss = card["sample_size"]
    out_console.print(("[green]" if ss["adequate"] else "[yellow]") + ss["message"] + "[/]")
    mi = card["missing_data"].get("multiple_imputation")
    if mi:  # --imputation mice (docs/imputation.md)
        fmi = max(mi["coefficients"], key=lambda r: r["fraction_missing_information"])
        out_console.print(
            f"Missing predictors: multiple imputation (MICE with the outcome, m = {mi['imputations']}, "
            f"Rubin's rules; bootstrap re-imputes, m = {mi['bootstrap_imputations'] or '-'} per replicate); "
            f"largest fraction of missing information {fmi['fraction_missing_information']:.2f} "
            f"({fmi['term']}); at the bedside: conditional mean without the outcome"
        )
    if card["excluded"]:
        out_console.print(
            "Excluded patients: "
            + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in card["excluded"].items())
        )
    for e in card["excluded_predictors"]:
        out_console.print(f"[dim]predictor {e['name']} not used: {e['reason']}[/dim]")
    out_console.print(
        f"Model, card (card.html) and figures written to {out}; "
        f"manifest SHA-256 {card.get('manifest_sha256', '-')}"
    )


def _print_prior(prior: dict, console: Console) -> None:
    """The published priors of a --prior literature model: prior, data only, posterior (card `prior`)."""
    t = Table(
        title=f"Literature prior (between-site SD {prior['heterogeneity']:g}, an assumption; other "
        f"coefficients: {'cross-validated ridge' if prior['weak_prior'] == 'cv' else prior['weak_prior']})",
        title_justify="left",
    )
    for col in ("term", "prior mean (SD)", "data only (SE)", "posterior (SD)", "conflict", "source"):
        t.add_column(col, justify="left" if col in ("term", "source") else "right")
    for r in prior["coefficients"]:
        if r["prior_kind"] != "published":
            continue
        t.add_row(
            r["term"],
            f"{r['prior_mean']:.3f} ({r['prior_sd']:.3f})",
            f"{r['data_only']:.3f} ({r['data_only_se']:.3f})",
            f"{r['posterior']:.3f} ({r['posterior_sd']:.3f})",
            "yes" if r["prior_data_conflict"] else "",
            r["source"],
        )
    console.print(t)


@app.command("validate")
def validate_cmd(
    model_dir: ModelArg,
    cohort_dir: CohortArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print the validation as JSON.")] = False,
    recalibrate: Annotated[
        Recalibration | None,
        typer.Option(
            "--recalibrate",
            help="Recalibrate on this cohort: intercept, or slope (= intercept and slope). Cox models: "
            "intercept = baseline hazard re-estimated, slope = linear predictor scaled, then baseline.",
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="With --recalibrate: folder for the recalibrated model.")
    ] = None,
    plots: Annotated[
        Path | None,
        typer.Option(
            "--plots",
            help="Folder for the validation calibration plot and decision curve (PNG; Cox models: the "
            "calibration plot at the horizon).",
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the files in a non-empty --out folder.")
    ] = False,
    update: Annotated[
        Update | None,
        typer.Option(
            "--update",
            help="Update a logistic model on this cohort: intercept, slope, refit (all coefficients), prior "
            "(the model as prior for this cohort) or closed-test (Vergouwe 2017 chooses); needs --out.",
        ),
    ] = None,
) -> None:
    """External validation of a saved model on another cohort: AUC with 95% CI, calibration intercept and
    slope, Brier score, net benefit; optionally recalibrate and save the updated model."""
    from sleitp.model import load_model, validate
    from sleitp.model import recalibrate as do_recalibrate

    if recalibrate is not None and update is not None:
        raise ModelError(
            "--recalibrate and --update: give one of them (--update intercept|slope recalibrates)"
        )
    if (recalibrate is not None or update is not None) and out is None:
        raise ModelError("--recalibrate/--update need --out NEW_MODEL_DIR (the original model is never "
                         "overwritten)")
    if out is not None and recalibrate is None and update is None:
        raise ModelError("--out is only used with --recalibrate intercept|slope or --update")
    if out is not None:
        check_output_folder(out, sources=[model_dir, cohort_dir], overwrite=overwrite)
    model = load_model(model_dir)
    if update is not None and model.kind == "cox":
        raise ModelError("--update applies to logistic models; use --recalibrate for a Cox model")
    if model.kind == "cox":
        validate_survival_cmd(
            model,
            cohort_dir,
            as_json=as_json,
            plots=plots,
            recalibrate=None if recalibrate is None else recalibrate.value,
            out=out,
        )
        return
    report = validate(model, cohort_dir, plots=plots)
    result = report.to_json()
    if recalibrate is not None:
        updated = do_recalibrate(model, cohort_dir, method=recalibrate.value, out=out)
        result["recalibrated"] = {**updated.meta["recalibration"], "model_dir": str(out)}
    if update is not None:
        from sleitp.model.binary.updating import update as do_update

        updated, upd = do_update(model, cohort_dir, method=update.value, out=out)
        result["updated"] = {**upd.to_json(), "model_dir": None if upd.method == "original" else str(out)}
    if as_json:
        print(json.dumps(result, indent=2, default=float))
        return
    console = Console()
    if report.synthetic_model:
        console.print(SYNTHETIC_MODEL_BANNER)
    t = Table(
        title=f"{report.model} on {cohort_dir} ({report.n} patients, {report.events} responders)",
        show_header=False,
        title_justify="left",
    )
    t.add_row("AUC (95% CI)", f"{report.auc:.3f} ({report.auc_ci[0]:.3f}-{report.auc_ci[1]:.3f})")
    t.add_row("calibration intercept", f"{report.calibration_intercept:.3f}  [dim]0 is ideal[/dim]")
    t.add_row("calibration slope", f"{report.calibration_slope:.3f}  [dim]1 is ideal[/dim]")
    t.add_row("Brier", f"{report.brier:.4f}")
    t.add_row("observed / mean predicted", f"{report.observed_rate:.3f} / {report.mean_predicted:.3f}")
    console.print(t)
    nb = Table(title="Net benefit", title_justify="left")
    for col in ("threshold", "model", "assume all respond"):
        nb.add_column(col, justify="right")
    for r in report.net_benefit[1::2]:
        nb.add_row(f"{r['threshold']:.2f}", f"{r['model']:.3f}", f"{r['treat_all']:.3f}")
    console.print(nb)
    if update is not None:
        u = result["updated"]
        for step in u["closed_test"] or []:
            console.print(
                f"closed test: {step['candidate']} vs refit, LR {step['lr_statistic']:.2f} on "
                f"{step['df']} df, p {step['p_value']:.4f}: {'rejected' if step['rejected'] else 'kept'}"
            )
        console.print(
            f"Update {u['requested']}: applied {u['method']}"
            + (
                "; the original model is kept (nothing written)"
                if u["method"] == "original"
                else f"; saved to {out}"
            )
        )
    if recalibrate is not None:
        r = result["recalibrated"]
        console.print(
            f"Recalibrated ({recalibrate.value}): intercept {r['intercept']:.3f}, slope {r['slope']:.3f}; "
            f"saved to {out}"
        )
