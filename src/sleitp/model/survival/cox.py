"""Time-to-event models: Cox proportional hazards [COX1972] for ``time_to_response`` and
``loss_of_response`` (docs/model.md "Time-to-event outcomes").

Same candidate predictors and the same missing-data handling as the binary model (``design.fit_design``:
median / most common value + a not-measured indicator, clipping to the 0.5th-99.5th percentiles). Fitted
with lifelines ``CoxPHFitter`` [LIFELINES] (Efron ties, Breslow baseline cumulative hazard). Reported:
hazard ratios with Wald 95% CIs; Harrell's C and the calibration slope at the horizon, apparent and
bootstrap optimism-corrected [HARRELL1996] (the refits in numpy: ``survival_fit``); the
proportional-hazards test [GRAMBSCH1994] and calibration at the horizon in risk groups [ROYSTON2013]
(``survival_checks``); patients / events / exclusions. Saved as plain JSON (coefficients, covariance,
baseline cumulative hazard as a table of times and values, centring means, design) in the
manifest/checksum scheme of ``persist``, with the card and its calibration plot. Validation and
recalibration on another cohort: ``survival_validation``.

At the bedside, ``CoxModel.predict_one(record, at)`` gives P(event by the horizon) =
1 - exp(-H0(horizon) * exp(lp)), lp = b'(x - training mean); interval: delta method on lp (coefficient
covariance; the uncertainty of H0 is not included — said so in the prediction).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from sleitp.errors import ModelError
from sleitp.features import FEATURE_NAMES, patient_features
from sleitp.model import persist
from sleitp.model._threads import single_threaded
from sleitp.model.base import (
    Z95,
    Model,
    Prediction,
    bedside_statement,
    corrected_measure,
    estimated,
    linear_contributions,
)
from sleitp.model.design import Design, usable_design
from sleitp.model.provenance import training_provenance
from sleitp.model.survival.card import SurvivalCard, build_survival_card
from sleitp.model.survival.checks import (
    calibration_at_horizon,
    calibration_figure,
    calibration_slope_at,
    km_by_horizon,
    ph_test,
)
from sleitp.model.survival.data import CENSORING, SURVIVAL_OUTCOMES, SurvivalDataset, load_survival_cohort
from sleitp.model.survival.fit import CoxFit, cox_newton, harrell_c
from sleitp.model.survival.validation import SurvivalValidationReport, recalibrate_survival, validate_survival
from sleitp.record import PatientRecord
from sleitp.text import fixed

__all__ = [
    "DEFAULT_HORIZON_DAYS",
    "CoxFit",
    "CoxModel",
    "SurvivalPrediction",
    "SurvivalValidationReport",
    "concordance",
    "cox_model_from_meta",
    "fit_cox",
    "recalibrate_survival",
    "train_survival",
    "validate_survival",
]

# Reporting horizon of the bedside probability. A presentation choice, not a clinical threshold:
# 30 days for time to response (the brief of issue #5); 180 days for loss of response (durability
# is judged over months). Both can be set with --horizon.
DEFAULT_HORIZON_DAYS = {"time_to_response": 30, "loss_of_response": 180}
INTERVAL_METHOD = ("95% delta-method interval on the Cox linear predictor (coefficient covariance; baseline "
                   "hazard uncertainty not included)")
MIN_EVENTS = 10  # a floor below which no model or bootstrap is meaningful (not a sample-size rule)
PHRASES = {
    "time_to_response": "responding (IWG R or CR) to the first treatment line",
    "loss_of_response": "losing the response to the first treatment line",
}


def concordance(time: np.ndarray, lp: np.ndarray, event: np.ndarray) -> float:
    """Harrell's C [HARRELL1996]: a higher hazard (lp) should go with an earlier event. Equal to
    ``lifelines.utils.concordance_index(time, -lp, event)``, computed without its Python loop."""
    return harrell_c(time, lp, event)


def lifelines_cox(M: np.ndarray, time: np.ndarray, event: np.ndarray):
    """The lifelines ``CoxPHFitter`` [LIFELINES] fitted on M, and its data frame (columns c0, c1, ...)."""
    from lifelines import CoxPHFitter  # lazy: lifelines (and its autograd) takes seconds to import

    safe = [f"c{j}" for j in range(M.shape[1])]  # lifelines column names free of ':' and '+'
    df = pd.DataFrame(M, columns=safe)
    df["_T"], df["_E"] = time, event
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cph = CoxPHFitter(penalizer=0.0)
        cph.fit(df, duration_col="_T", event_col="_E")
    return cph, df


def fit_cox(
    M: np.ndarray, time: np.ndarray, event: np.ndarray, columns: list[str]
) -> tuple[CoxFit, pd.DataFrame]:
    """Maximum partial likelihood Cox fit [COX1972] with lifelines [LIFELINES]; also its summary table."""
    return cox_from_lifelines(lifelines_cox(M, time, event)[0], columns)


def cox_from_lifelines(cph, columns: list[str]) -> tuple[CoxFit, pd.DataFrame]:
    safe = [f"c{j}" for j in range(len(columns))]
    bch = cph.baseline_cumulative_hazard_
    fit = CoxFit(
        tuple(columns),
        cph.params_[safe].to_numpy(float),
        cph.variance_matrix_.loc[safe, safe].to_numpy(float),
        cph._norm_mean[safe].to_numpy(float),  # lifelines' baseline hazard is at these means
        bch.index.to_numpy(float),
        bch.iloc[:, 0].to_numpy(float),
    )
    summary = cph.summary.loc[safe].copy()
    summary.index = list(columns)
    return fit, summary


class SurvivalPrediction(Prediction):
    """A :class:`Prediction` whose probability is P(event by ``horizon_days``)."""

    horizon_days: int

    def to_json(self) -> dict:
        return {**super().to_json(), "horizon_days": self.horizon_days}


@persist.register("cox")
class CoxModel(Model):
    """A Cox model as saved in MODEL_DIR."""

    kind = "cox"
    development_measure = "optimism_corrected_c_index"
    update_refused = "--update applies to logistic models; use --recalibrate for a Cox model"
    training_figures = "calibration plot"

    def __init__(self, meta: dict, design: Design, cox: CoxFit, card: dict | None = None):
        if list(cox.columns) != design.columns:
            raise ValueError("coefficient columns differ from the design columns")
        self.meta, self.design, self.cox = meta, design, cox
        self.card = SurvivalCard(card or {})
        self.source_dir: Path | None = None
        self.logistic = self.gbm = None

    horizon_days = property(lambda self: int(self.meta["horizon_days"]))

    # --- the life of a model --------------------------------------------------------------------------
    @classmethod
    def fit(cls, cohort_dir: str | Path, **options) -> CoxModel:
        """:func:`train_survival` (outcome, bootstrap, seed, horizon_days ...)."""
        return train_survival(cohort_dir, **options)

    def validate(
        self, cohort_dir: str | Path, *, plots: str | Path | None = None
    ) -> SurvivalValidationReport:
        return validate_survival(self, cohort_dir, plots=plots)

    def recalibrate(self, cohort_dir: str | Path, *, method: str, out: str | Path | None = None) -> CoxModel:
        return recalibrate_survival(self, cohort_dir, method=method, out=out)

    def recalibration_results(self) -> dict:
        """Calibration at the horizon after the update (``validate --recalibrate --json``)."""
        after = self.card["recalibration_calibration"]
        return {
            "mean_predicted_by_horizon_after": round(after["mean_predicted_by_horizon"], 4),
            "calibration_after": after["groups"],
        }

    def recalibration_line(self, report: SurvivalValidationReport, method: str, out: Path | None) -> str:
        r = self.meta["recalibration"]
        h = report.horizon_days
        return (
            f"Recalibrated ({method}): slope {r['slope']:.3f}, baseline cumulative hazard at day "
            f"{h} {r['baseline_at_horizon_before']:.4f} -> "
            f"{r['baseline_at_horizon_after']:.4f};"
            f" mean predicted by day {h} {report.mean_predicted_by_horizon:.3f} -> "
            f"{self.card['recalibration_calibration']['mean_predicted_by_horizon']:.3f} (observed "
            f"{fixed(report.observed_by_horizon)}); saved to {out}"
        )

    def save(self, model_dir: str | Path, *, extra_files: dict[str, bytes | str] | None = None) -> str:
        """model.json (plain JSON), card.json, card.html (figures already in MODEL_DIR embedded), any extra
        files and the manifest; returns the manifest's SHA-256 (also recorded on the card)."""
        model_dir = Path(model_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        meta = dict(self.meta)
        meta["design"] = self.design.to_json()
        meta["cox"] = self.cox.to_json()
        persist.write_model_json(meta, model_dir, what="Cox model")
        (model_dir / persist.CARD_FILE).write_text(json.dumps(self.card, indent=2, default=float) + "\n")
        if "hazard_ratios" in self.card:  # a card built by training (a hand-made model may have none)
            (model_dir / "card.html").write_text(self.card.to_html(model_dir))
        persist.write_files(model_dir, extra_files)
        digest = persist.write_manifest(model_dir)
        self.card["manifest_sha256"] = digest
        return digest

    @classmethod
    def from_saved(cls, meta: dict, model_dir: Path) -> CoxModel:
        design = Design.from_json(meta["design"])
        persist.check_training(meta)
        return cox_model_from_meta(meta, design, persist.read_card(model_dir, strict=True))

    # --- cohort-level ----------------------------------------------------------------------------
    def linear_predictor(self, X: pd.DataFrame) -> np.ndarray:
        """Log relative hazard, centred at the training means, for each row of X (predictor columns)."""
        return self.cox.lp(self.design.matrix(X))

    def probability_by(self, lp: np.ndarray | float, horizon: float | None = None) -> np.ndarray:
        h0 = self.cox.baseline_at(self.horizon_days if horizon is None else horizon)
        return 1.0 - np.exp(-h0 * np.exp(lp))

    def score(self, X: pd.DataFrame) -> dict:
        M = self.design.matrix(X)
        lp, se = self.cox.lp(M), self.cox.lp_se(M)
        return {
            "probability": self.probability_by(lp),
            "ci_low": self.probability_by(lp - Z95 * se),
            "ci_high": self.probability_by(lp + Z95 * se),
            "interval_method": INTERVAL_METHOD,
            "interval_missing_reason": None,
        }

    # --- one patient -----------------------------------------------------------------------------
    def predict_features(self, values: dict, *, at: date | None = None) -> SurvivalPrediction:
        frame = pd.DataFrame(
            {n: [np.nan if values.get(n) is None else float(values[n])] for n in self.design.predictors}
        )
        M = self.design.matrix(frame)
        lp, se = float(self.cox.lp(M)[0]), float(self.cox.lp_se(M)[0])
        prob = float(self.probability_by(lp))
        interval = (float(self.probability_by(lp - Z95 * se)), float(self.probability_by(lp + Z95 * se)))
        # b_j (x_j - training mean): log relative hazard; they sum to lp
        contributions = linear_contributions(self.design.columns, values, M, self.cox.beta, self.cox.means)
        not_measured = [n for n in self.design.predictors if values.get(n) is None]
        return SurvivalPrediction(
            outcome=self.outcome,
            at=at,
            probability=prob,
            interval=interval,
            interval_method=INTERVAL_METHOD,
            model=self.info(),
            contributions=contributions,
            contribution_method="b x (value - training mean), log relative hazard; "
            "sums to the linear predictor",
            not_measured=not_measured,
            statement=self.statement(prob, interval, not_measured),
            horizon_days=self.horizon_days,
        )

    def predict_one(self, record: PatientRecord, at: date | None = None) -> SurvivalPrediction:
        day = at or record.effective_assessment_date
        values = patient_features(record, day)
        return self.predict_features({k: values.get(k) for k in FEATURE_NAMES}, at=day)

    def statement(self, prob: float, interval: tuple[float, float], not_measured: list[str]) -> str:
        t = self.training
        c_txt = corrected_measure("C-index", t.optimism_corrected_c_index)
        text = (
            f"{estimated(prob, interval)} of {PHRASES.get(self.outcome, self.outcome)} within "
            f"{self.horizon_days} days; Cox model developed on {t.n} patients ({t.events} events) from "
            f"{t.trained_on}{c_txt}."
        )
        r = self.meta.get("recalibration") or {}
        if r.get("method"):
            text += f" Recalibrated ({r['method']}) on {r.get('cohort')} (n={r.get('n')})."
        if not_measured:
            text += (
                f" Not measured for this patient: {', '.join(not_measured)} (handled as in training: "
                "median/most common value plus a not-measured indicator)."
            )
        return bedside_statement(text, self.synthetic)


def cox_model_from_meta(meta: dict, design: Design, card: dict | None = None) -> CoxModel:
    """Rebuild a saved Cox model from its ``model.json``; KeyError/ValueError/TypeError if incomplete."""
    if meta["outcome"] not in SURVIVAL_OUTCOMES:
        raise ValueError(f"outcome {meta['outcome']!r} is not a time-to-event outcome")
    int(meta["horizon_days"])
    return CoxModel(meta, design, CoxFit.from_json(meta["cox"]), card)


# --- training -------------------------------------------------------------------------------------


def _check_events(ds: SurvivalDataset) -> None:
    if ds.events < MIN_EVENTS or ds.censored < 1:
        raise ModelError(
            f"{ds.source}: {ds.n} patients with {ds.events} events ({ds.outcome}); at least {MIN_EVENTS} "
            f"events and one censored patient are needed to fit and validate a Cox model "
            f"(excluded: {ds.excluded})"
        )


def _bootstrap(
    ds: SurvivalDataset,
    design: Design,
    R: np.ndarray,
    *,
    beta_full: np.ndarray,
    horizon: int,
    replicates: int,
    seed: int,
    progress: Callable[[int], None] | None,
) -> dict:
    """Harrell's bootstrap [HARRELL1996]: repeat every data-driven step (imputation values, clipping, fit)
    on each resample; optimism = mean(measure on the resample - measure of that model on the original data),
    for Harrell's C and for the calibration slope at the horizon. The refit is the numpy Newton-Raphson of
    ``survival_fit`` (Efron ties, as lifelines), warm-started at the full-data coefficients."""
    rng = np.random.default_rng(seed)
    c_diff, c_test, s_diff, s_test, failed = [], [], [], [], 0
    for b in range(replicates):
        idx = rng.integers(0, ds.n, ds.n)
        try:
            if ds.event[idx].sum() < 2:
                raise ValueError("too few events in the resample")
            d_b = design.refit_values(R[idx])
            M_b = d_b.matrix_from_raw(R)
            fit_b = cox_newton(M_b[idx], ds.time[idx], ds.event[idx], beta0=beta_full)
            lp_b = M_b @ fit_b.beta  # centring does not change C or the slope
            cb = concordance(ds.time[idx], lp_b[idx], ds.event[idx])
            co = concordance(ds.time, lp_b, ds.event)
            sb = calibration_slope_at(ds.time[idx], ds.event[idx], lp_b[idx], horizon)
            so = calibration_slope_at(ds.time, ds.event, lp_b, horizon)
        except (ValueError, np.linalg.LinAlgError, FloatingPointError):  # a failed fit is counted, not used
            failed += 1
        else:
            c_diff.append(cb - co)
            c_test.append(co)
            if sb is not None and so is not None:
                s_diff.append(sb["slope"] - so["slope"])
                s_test.append(so["slope"])
        if progress is not None:
            progress(b + 1)
    if len(c_diff) < max(1, replicates // 2):
        raise ModelError(
            f"{ds.source}: {failed} of {replicates} bootstrap Cox fits failed; no optimism estimate"
        )
    return {
        "replicates": replicates,
        "failed": failed,
        "refit": "numpy Newton-Raphson, Efron ties (sleitp.model.survival.fit), every data-driven step "
        "repeated",
        "optimism": float(np.mean(c_diff)),
        "test_c_index_2.5_97.5": [float(np.percentile(c_test, 2.5)), float(np.percentile(c_test, 97.5))],
        "calibration_slope_optimism": float(np.mean(s_diff)) if s_diff else None,
        "test_calibration_slope_2.5_97.5": (
            [float(np.percentile(s_test, 2.5)), float(np.percentile(s_test, 97.5))] if s_test else None
        ),
    }


@single_threaded
def train_survival(
    cohort_dir: str | Path,
    *,
    outcome: str,
    bootstrap: int = 200,
    seed: int = 0,
    synthetic: bool | None = None,
    predictors: list[str] | None = None,
    horizon_days: int | None = None,
    out: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> CoxModel:
    """Develop a Cox model of ``outcome`` on COHORT_DIR; save it (model.json, card) to ``out`` when given.
    ``synthetic`` None = synthetic unless declared real (the binary models' rule)."""
    if bootstrap < 0:
        raise ModelError(f"--bootstrap must be 0 or more, got {bootstrap}")
    horizon = DEFAULT_HORIZON_DAYS.get(outcome, 30) if horizon_days is None else int(horizon_days)
    if horizon <= 0:
        raise ModelError(f"--horizon must be a positive number of days, got {horizon}")
    cohort_dir = Path(cohort_dir)
    ds = load_survival_cohort(cohort_dir, outcome=outcome, predictors=predictors)
    _check_events(ds)
    if horizon > ds.time.max():
        raise ModelError(
            f"{ds.source}: horizon {horizon} days is beyond the longest follow-up ({ds.time.max():.0f} days)"
        )
    design = usable_design(ds.X, ds.source)
    R = design.raw(ds.X)
    M = design.matrix_from_raw(R)
    try:
        cph, cph_df = lifelines_cox(M, ds.time, ds.event)
        cox, summary = cox_from_lifelines(cph, design.columns)
    except Exception as e:  # noqa: BLE001  lifelines ConvergenceError, singular matrix ...
        raise ModelError(f"{ds.source}: the Cox model cannot be fitted ({type(e).__name__}: {e})") from None
    lp = cox.lp(M)
    if not np.all(np.isfinite(lp)) or not np.all(np.isfinite(cox.cov)):
        raise ModelError(f"{ds.source}: the Cox fit gives non-finite values (monotone likelihood?)")
    apparent = concordance(ds.time, lp, ds.event)  # [HARRELL1996]
    opt = (
        _bootstrap(
            ds,
            design,
            R,
            beta_full=cox.beta,
            horizon=horizon,
            replicates=bootstrap,
            seed=seed,
            progress=progress,
        )
        if bootstrap > 0
        else None
    )
    try:
        ph = ph_test(cph, cph_df, design.columns)  # [GRAMBSCH1994]
    except Exception as e:  # noqa: BLE001  a singular residual matrix must not stop the model
        ph = {"error": f"the proportional-hazards test could not be computed ({type(e).__name__}: {e})"}
    p_h = 1.0 - np.exp(-cox.baseline_at(horizon) * np.exp(lp))
    slope = calibration_slope_at(ds.time, ds.event, lp, horizon)
    slope_opt = None if opt is None else opt["calibration_slope_optimism"]
    km = km_by_horizon(ds.time, ds.event, horizon)
    calibration = {
        "horizon_days": horizon,
        "method": "patients grouped by predicted P(event by the horizon); Kaplan-Meier observed by the "
        "horizon with its 95% CI in each group [ROYSTON2013]; groups: deciles, fewer when there are fewer "
        "than 10 events by the horizon a group",
        "groups": calibration_at_horizon(ds.time, ds.event, p_h, horizon),
        "observed_by_horizon": None if km is None else km[0],
        "mean_predicted_by_horizon": float(p_h.mean()),
        "slope_method": "coefficient of the linear predictor in a Cox regression of the outcome on it, "
        "follow-up censored at the horizon [ROYSTON2013]; optimism-corrected by the bootstrap [HARRELL1996]",
        "slope_apparent": slope,
        "slope_optimism": slope_opt,
        "slope_optimism_corrected": None
        if slope is None or slope_opt is None
        else slope["slope"] - slope_opt,
    }
    training = {
        **training_provenance(cohort_dir, ds, synthetic),
        "censored": ds.censored,
        "seed": seed,
        "bootstrap": bootstrap,
        "apparent_c_index": apparent,
        "optimism_corrected_c_index": None if opt is None else apparent - opt["optimism"],
        "calibration_slope_at_horizon": calibration["slope_optimism_corrected"],
    }
    meta = {
        "name": f"{outcome}-cox",
        "kind": "cox",
        "outcome": outcome,
        "outcome_definition": SURVIVAL_OUTCOMES[outcome],
        "censoring": CENSORING[outcome],
        "horizon_days": horizon,
        "recalibration": {"method": None},
        "training": training,
    }
    model = CoxModel(meta, design, cox)
    hazard_ratios = [
        {
            "name": col,
            "coefficient": float(summary.loc[col, "coef"]),
            "hazard_ratio": float(summary.loc[col, "exp(coef)"]),
            "ci95": [
                float(summary.loc[col, "exp(coef) lower 95%"]),
                float(summary.loc[col, "exp(coef) upper 95%"]),
            ],
            "p": float(summary.loc[col, "p"]),
        }
        for col in design.columns
    ]
    model.card = build_survival_card(
        model,
        ds,
        hazard_ratios=hazard_ratios,
        optimism=opt,
        proportional_hazards=ph,
        calibration=calibration,
    )
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        model.card["figures"] = {
            "calibration": calibration_figure(
                model, out / "calibration.png", calibration, "development data, apparent"
            ).name
        }
        save_survival_model(model, out)
    return model


def save_survival_model(model: CoxModel, model_dir: str | Path) -> str:
    """``model.save(model_dir)``: model.json, card.json, card.html and the manifest; its SHA-256."""
    return model.save(model_dir)
