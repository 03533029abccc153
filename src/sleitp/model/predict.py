"""A trained model in memory, and its prediction for one patient at the bedside.

``TrainedModel.predict_one(record, at)`` reads the predictors with :func:`sleitp.features.patient_features`
(the same definitions as the cohort engine's ``features.parquet``) at the prediction's index date
(:func:`sleitp.features.index_date`: the start of the first ITP line, else ``at`` -- the date the training
data read them, never the assessment date of a patient already treated), applies the model's stored
transformations, and returns a :class:`Prediction`: the probability, an uncertainty interval, each
predictor's contribution for this patient, the model's provenance, and a sentence that says plainly
what the number is — and, for a model trained on synthetic data, that it is a demonstration.

A model of first-line response does not apply to a patient past first line (line 1 failed, per
``IwgResponse.failed``, or line 2 has started): ``predict_one`` raises :class:`NotApplicable` with a
statement to show instead of a probability.

Uncertainty interval (docs/model.md):
- logistic models: a 95% interval for the patient's *expected* probability from the coefficient
  covariance (delta method on the linear predictor, lp +/- 1.96 sqrt(x'Vx), then back to a probability);
  it reflects estimation uncertainty, not the variability of one patient's outcome;
- gradient boosting: the 2.5th-97.5th percentiles of the predictions of models refitted on bootstrap
  samples (stored with the model).
Contributions: logistic -> b_j (x_j - training mean of x_j), in log-odds (they sum, with the mean
linear predictor, to the patient's linear predictor); boosting -> change in log-odds when the predictor
is set to its training median (numeric) or most common value (yes/no), one at a time (not additive).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

from sleitp.features import FEATURE_NAMES, index_date, patient_features
from sleitp.instruments.iwg import IwgResponse, iwg_responses
from sleitp.model import persist
from sleitp.model.base import (
    Z95,
    Contribution,
    Model,
    ModelInfo,
    NotApplicable,
    Prediction,
    bedside_statement,
    corrected_measure,
    estimated,
    linear_contributions,
)
from sleitp.model.binary.boosting import gbm_logit
from sleitp.model.binary.external import ValidationReport, recalibrate_binary, validate_binary
from sleitp.model.binary.landmark import bedside_trajectory, choose_landmark, landmark_models
from sleitp.model.binary.logistic import LogisticFit
from sleitp.model.card import ModelCard
from sleitp.model.design import Design
from sleitp.model.train import train_binary
from sleitp.record import PatientRecord

__all__ = ["OUTCOME_PHRASES", "Contribution", "ModelInfo", "NotApplicable", "Prediction", "TrainedModel",
           "past_first_line"]

# how a prediction names its outcome in a sentence for clinicians (definition: sleitp.model.dataset.OUTCOMES)
OUTCOME_PHRASES = {"first_line_response": "responding (IWG R or CR) to the first treatment line"}
LOGISTIC_INTERVAL = "95% delta-method interval on the linear predictor (coefficient covariance)"


def past_first_line(lines: list[IwgResponse]) -> str | None:
    """Why the patient is past first line (line 1 failed: no response once its agents' time has passed,
    or a response lost; or line 2 has started), else None."""
    if len(lines) >= 2:
        return f"line 2 ({', '.join(lines[1].agents)}) started on {lines[1].start.isoformat()}"
    if lines and lines[0].failed:
        return f"line 1 ({', '.join(lines[0].agents)}) has failed ({lines[0].status.replace('_', ' ')})"
    return None


@persist.register("logistic", "logistic-l2", "logistic-prior", "gbm")  # logistic-prior: model.binary.prior
class TrainedModel(Model):
    """A binary model as saved in MODEL_DIR: metadata (``model.json``), design, coefficients or trees."""

    development_measure = "optimism_corrected_auc"

    def __init__(
        self,
        meta: dict,
        design: Design,
        *,
        logistic: LogisticFit | None = None,
        gbm: list | None = None,
        card: dict | None = None,
    ):
        if (logistic is None) == (gbm is None):
            raise ValueError("a model is either logistic or gradient boosting")
        self.meta = meta
        self.design = design
        self.logistic = logistic
        self.gbm = gbm  # [main model, bootstrap refits...]
        self.card = ModelCard(card or {})
        self.source_dir: Path | None = None  # the MODEL_DIR it was loaded from, if any

    # --- provenance -------------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return self.meta["kind"]

    @property
    def recalibration(self) -> tuple[float, float]:
        r = self.meta.get("recalibration") or {}
        return float(r.get("intercept", 0.0)), float(r.get("slope", 1.0))

    # --- the life of a model --------------------------------------------------------------------------
    @classmethod
    def fit(cls, cohort_dir: str | Path, **options) -> TrainedModel:
        """:func:`sleitp.model.train.train_binary` (method, bootstrap, seed, prior, imputation ...)."""
        return train_binary(cohort_dir, **options)

    def validate(self, cohort_dir: str | Path, *, plots: str | Path | None = None) -> ValidationReport:
        return validate_binary(self, cohort_dir, plots=plots)

    def recalibrate(
        self, cohort_dir: str | Path, *, method: str, out: str | Path | None = None
    ) -> TrainedModel:
        return recalibrate_binary(self, cohort_dir, method=method, out=out)

    def recalibration_line(self, report: ValidationReport, method: str, out: Path | None) -> str:
        r = self.meta["recalibration"]
        return (f"Recalibrated ({method}): intercept {r['intercept']:.3f}, slope {r['slope']:.3f}; "
                f"saved to {out}")

    def save(self, model_dir: str | Path, *, extra_files: dict[str, bytes | str] | None = None) -> str:
        """model.json (design, coefficients or the boosting metadata), gbm.skops for boosting, the extra
        files (card, figures) and the manifest; returns the manifest's SHA-256."""
        model_dir = Path(model_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        meta = dict(self.meta)
        meta["design"] = self.design.to_json()
        if self.logistic is not None:
            meta["logistic"] = self.logistic.to_json()
        else:
            persist.dump_gbm(self.gbm, model_dir / persist.GBM_FILE)
            meta["gbm"] = {"file": persist.GBM_FILE, "bootstrap_models": len(self.gbm) - 1}
        persist.write_model_json(meta, model_dir)
        persist.write_files(model_dir, extra_files)
        return persist.write_manifest(model_dir)

    def save_with_card(self, model_dir: Path) -> str:
        """``save`` with card.json and card.html (figures already in MODEL_DIR embedded); the card records
        the manifest's SHA-256."""
        card_json = json.dumps(self.card, indent=2, default=float) + "\n"
        digest = self.save(model_dir, extra_files={"card.json": card_json,
                                                   "card.html": self.card.to_html(model_dir)})
        self.card["manifest_sha256"] = digest
        return digest

    @classmethod
    def from_saved(cls, meta: dict, model_dir: Path) -> TrainedModel:
        design = Design.from_json(meta["design"])
        for key in ("name", "outcome", "training", "reference"):
            meta[key]  # noqa: B018  presence check
        persist.check_training(meta)
        logistic = gbm = None
        if meta["kind"] == "gbm":
            gbm = persist.load_gbm(model_dir / meta["gbm"]["file"])
        else:
            logistic = LogisticFit.from_json(meta["logistic"])
            if list(logistic.columns) != design.columns:
                raise ValueError("coefficient columns differ from the design columns")
            if any(c not in meta["reference"] for c in design.columns):
                raise ValueError("reference values are missing for some columns")
        return cls(meta, design, logistic=logistic, gbm=gbm, card=persist.read_card(model_dir))

    # --- cohort-level ----------------------------------------------------------------------------
    def _raw_lp(self, X: pd.DataFrame) -> np.ndarray:
        if self.logistic is not None:
            return self.logistic.linear_predictor(self.design.matrix(X))
        return gbm_logit(self.gbm[0], self.design.raw(X))

    def linear_predictor(self, X: pd.DataFrame) -> np.ndarray:
        """Log-odds of the outcome for each row of X (predictor columns), recalibration applied."""
        a, b = self.recalibration
        return a + b * self._raw_lp(X)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return expit(self.linear_predictor(X))

    def score(self, X: pd.DataFrame) -> dict:
        a, b = self.recalibration
        if self.logistic is not None:
            M = self.design.matrix(X)
            lp = a + b * self.logistic.linear_predictor(M)
            se = abs(b) * self.logistic.lp_se(M)
            return {
                "probability": expit(lp),
                "ci_low": expit(lp - Z95 * se),
                "ci_high": expit(lp + Z95 * se),
                "interval_method": LOGISTIC_INTERVAL,
                "interval_missing_reason": None,
            }
        R = self.design.raw(X)
        p = expit(a + b * gbm_logit(self.gbm[0], R))
        refits = self.gbm[1:]
        method = f"2.5th-97.5th percentiles over {len(refits)} bootstrap refits"
        if len(refits) < 2:
            nan = np.full(len(X), np.nan)
            why = f"{len(refits)} bootstrap refit(s) stored; at least 2 are needed"
            return {"probability": p, "ci_low": nan, "ci_high": nan, "interval_method": method,
                    "interval_missing_reason": why}
        boot = expit(np.vstack([a + b * gbm_logit(m, R) for m in refits]))  # refits x rows
        lo, hi = np.percentile(boot, [2.5, 97.5], axis=0)
        return {"probability": p, "ci_low": np.minimum(lo, p), "ci_high": np.maximum(hi, p),
                "interval_method": method, "interval_missing_reason": None}

    # --- one patient -----------------------------------------------------------------------------
    def predict_features(
        self, values: dict[str, float | bool | None], *, at: date | None = None, index: date | None = None
    ) -> Prediction:
        """Prediction from a dict of predictor values (None = not measured), read at ``index`` (default
        ``at``)."""
        a, b = self.recalibration
        frame = pd.DataFrame(
            {
                name: [np.nan if values.get(name) is None else float(values[name])]
                for name in self.design.predictors
            }
        )
        not_measured = [n for n in self.design.predictors if values.get(n) is None]
        if self.logistic is not None:
            M = self.design.matrix(frame)
            lp = a + b * float(self.logistic.linear_predictor(M)[0])
            se = abs(b) * float(self.logistic.lp_se(M)[0])
            interval = (float(expit(lp - Z95 * se)), float(expit(lp + Z95 * se)))
            interval_method = LOGISTIC_INTERVAL
            means = [self.meta["reference"][col] for col in self.design.columns]
            effects = [b * float(beta) for beta in self.logistic.beta[1:]]
            contributions = linear_contributions(self.design.columns, values, M, effects, means)
            contribution_method = "b x (value - training mean), log-odds; sums to the linear predictor"
        else:
            R = self.design.raw(frame)
            lp = a + b * float(gbm_logit(self.gbm[0], R)[0])
            boot = np.array([a + b * float(gbm_logit(m, R)[0]) for m in self.gbm[1:]])
            if boot.size >= 2:
                lo, hi = np.percentile(expit(boot), [2.5, 97.5])
                interval = (float(min(lo, expit(lp))), float(max(hi, expit(lp))))
            else:
                interval = (float(expit(lp)), float(expit(lp)))
            interval_method = f"2.5th-97.5th percentiles over {boot.size} bootstrap refits"
            contributions = []
            for j, t in enumerate(self.design.terms):
                R2 = R.copy()
                R2[0, j] = t.impute
                delta = lp - (a + b * float(gbm_logit(self.gbm[0], R2)[0]))
                v = values.get(t.name)
                contributions.append(
                    Contribution(
                        name=t.name, value=None if v is None else float(v), contribution=round(delta, 5)
                    )
                )
            contributions.sort(key=lambda c: -abs(c.contribution))
            contribution_method = (
                "change in log-odds when this predictor is set to its training median / "
                "most common value, one at a time (not additive)"
            )
        prob = float(expit(lp))
        statement = self.statement(prob, interval, not_measured)
        if index is not None and at is not None and index != at:
            statement += (f" Predictors read at the start of the first treatment line ({index.isoformat()}), "
                          f"as in training, not at the assessment date ({at.isoformat()}).")
        return Prediction(
            outcome=self.outcome,
            at=at,
            index_date=index or at,
            probability=prob,
            interval=interval,
            interval_method=interval_method,
            model=self.info(),
            contributions=contributions,
            contribution_method=contribution_method,
            not_measured=not_measured,
            statement=statement,
            imputed=None if getattr(self.design, "conditional", None) is None else list(not_measured),
        )

    def predict_one(self, record: PatientRecord, at: date | None = None) -> Prediction:
        """The bedside prediction for ``record`` assessed at ``at`` (default: its assessment date), from the
        predictors at the index date (:func:`sleitp.features.index_date`), the date training read them.

        Raises :class:`NotApplicable` for a first-line-response model when the patient is past first line.
        """
        day = at or record.effective_assessment_date
        lines = None
        if self.outcome == "first_line_response":
            lines = iwg_responses(record, day)
            why = past_first_line(lines)
            if why is not None:
                first = index_date(record, day)
                raise NotApplicable(self.outcome, "past_first_line", (
                    f"Not applicable: the patient is past first line ({why}). This model predicts response "
                    f"to the first treatment line, from the predictors at its start; it gives no "
                    f"probability for a later setting."), first)
        index = index_date(record, day)
        values = patient_features(record, index)
        if lines is not None:
            if landmark_models(self):  # a landmark model when line 1 has reached a landmark day
                return self._predict_landmark(record, day, index, values, lines)
        p = self.predict_features({k: values.get(k) for k in FEATURE_NAMES}, at=day, index=index)
        note = getattr(self, "_landmark_note", None)  # landmark models left from another baseline model
        return p if note is None else p.model_copy(update={"landmark": note})

    def _predict_landmark(self, record: PatientRecord, day: date, index: date, values: dict,
                          lines: list[IwgResponse]) -> Prediction:
        """The prediction of the landmark model chosen by :func:`sleitp.model.binary.landmark.choose_landmark`
        (the largest landmark day <= line 1's current day, no response yet), else the baseline model's;
        either way ``landmark_day`` and ``landmark`` say which and why."""
        models = landmark_models(self)
        chosen, why = choose_landmark(sorted(models), lines, day)
        base = {k: values.get(k) for k in FEATURE_NAMES}
        if chosen is None:
            p = self.predict_features(base, at=day, index=index)
            return p.model_copy(
                update={"landmark": why, "statement": f"Baseline model ({why}). {p.statement}"}
            )
        first = lines[0]
        traj = bedside_trajectory(record, first.start, first.baseline_platelets, chosen)
        p = models[chosen].predict_features({**base, **traj}, at=day, index=index)
        return p.model_copy(update={
            "landmark_day": chosen, "landmark": f"landmark day {chosen} model ({why})",
            "statement": (f"Landmark day {chosen} model ({why}; baseline predictors plus the counts of the "
                          f"first {chosen} days). {p.statement}"),
        })

    def statement(self, prob: float, interval: tuple[float, float], not_measured: list[str]) -> str:
        t = self.training
        what = OUTCOME_PHRASES.get(self.outcome, self.outcome)
        auc_txt = corrected_measure("AUC", t.optimism_corrected_auc)
        text = (
            f"{estimated(prob, interval)} of {what}; {self.kind} model developed on {t.n} patients "
            f"({t.events} responders) from {t.trained_on}{auc_txt}."
        )
        if not_measured and getattr(self.design, "conditional", None) is not None:  # --imputation mice
            text += (f" Missing predictors imputed: {', '.join(not_measured)} (conditional mean given this "
                     "patient's measured predictors, from the development data; no outcome involved).")
        elif not_measured:
            how = ("the trees' missing-value branches" if self.gbm is not None
                   else "median/most common value plus a not-measured indicator")
            missing = ", ".join(not_measured)
            text += f" Not measured for this patient: {missing} (handled as in training: {how})."
        return bedside_statement(text, self.synthetic)
