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

from sleitp.cli import app
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
OverwriteOpt = Annotated[
    bool, typer.Option("--overwrite", help="Replace the files in a non-empty --out folder.")
]


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
    overwrite: OverwriteOpt = False,
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
    # lazy: the model package (pandas, scipy, statsmodels) would add seconds to every `sleitp` command
    from sleitp.cli.predict import train_landmark_models
    from sleitp.model import train

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
        train_landmark_models(model, cohort_dir, out, landmark_days, outcome=outcome, bootstrap=bootstrap,
                              seed=seed, real_data=real_data, predictors=preds, console=console)
    card = model.card
    if as_json:
        print(json.dumps(card, indent=2, default=float))
        return
    out_console = Console()
    out_console.print(card)
    out_console.print(
        f"Model, card (card.html) and {model.training_figures} written to {out}; "
        f"manifest SHA-256 {card.get('manifest_sha256', '-')}"
    )


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
    overwrite: OverwriteOpt = False,
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
    # lazy: the model package (pandas, scipy, statsmodels) would add seconds to every `sleitp` command
    from sleitp.model import load_model
    from sleitp.model import recalibrate as do_recalibrate
    from sleitp.model.binary.updating import update as do_update

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
    if update is not None and model.update_refused:
        raise ModelError(model.update_refused)
    report = model.validate(cohort_dir, plots=plots)
    result = report.to_json()
    recalibrated = None
    if recalibrate is not None:
        recalibrated = do_recalibrate(model, cohort_dir, method=recalibrate.value, out=out)
        result["recalibrated"] = {**recalibrated.meta["recalibration"], "model_dir": str(out),
                                  **recalibrated.recalibration_results()}
    if update is not None:
        updated, upd = do_update(model, cohort_dir, method=update.value, out=out)
        result["updated"] = {**upd.to_json(), "model_dir": None if upd.method == "original" else str(out)}
    if as_json:
        print(json.dumps(result, indent=2, default=float))
        return
    console = Console()
    console.print(report)
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
    if recalibrated is not None:
        console.print(recalibrated.recalibration_line(report, recalibrate.value, out))
