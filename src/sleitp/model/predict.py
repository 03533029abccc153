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

from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict
from scipy.special import expit

from sleitp.features import FEATURE_NAMES, index_date, patient_features
from sleitp.instruments.iwg import IwgResponse, iwg_responses
from sleitp.model.binary.boosting import gbm_logit
from sleitp.model.binary.logistic import LogisticFit
from sleitp.model.design import Design
from sleitp.record import PatientRecord

__all__ = ["OUTCOME_PHRASES", "Contribution", "ModelInfo", "NotApplicable", "Prediction", "TrainedModel",
           "past_first_line"]

# how a prediction names its outcome in a sentence for clinicians (definition: sleitp.model.dataset.OUTCOMES)
OUTCOME_PHRASES = {"first_line_response": "responding (IWG R or CR) to the first treatment line"}

Z95 = 1.959963984540054


class NotApplicable(Exception):  # noqa: N818 - the clinician's words: "not applicable"
    """The model was not trained for this patient's setting; no probability is given.

    ``statement`` is the sentence to show in place of the prediction; ``reason`` a short code
    (``past_first_line``); ``index_date`` the first line's start."""

    def __init__(self, outcome: str, reason: str, statement: str, index_date: date | None = None):
        super().__init__(statement)
        self.outcome = outcome
        self.reason = reason
        self.statement = statement
        self.index_date = index_date

    def to_json(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "applicable": False, "reason": self.reason,
                "index_date": None if self.index_date is None else self.index_date.isoformat(),
                "statement": self.statement}


def past_first_line(lines: list[IwgResponse]) -> str | None:
    """Why the patient is past first line (line 1 failed: no response once its agents' time has passed,
    or a response lost; or line 2 has started), else None."""
    if len(lines) >= 2:
        return f"line 2 ({', '.join(lines[1].agents)}) started on {lines[1].start.isoformat()}"
    if lines and lines[0].failed:
        return f"line 1 ({', '.join(lines[0].agents)}) has failed ({lines[0].status.replace('_', ' ')})"
    return None


class Contribution(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str
    value: float | bool | None
    contribution: float  # log-odds


class ModelInfo(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str
    kind: str
    trained_on: str
    synthetic: bool
    n: int
    events: int
    created: str
    sleitp_version: str
    optimism_corrected_auc: float | None = None  # binary outcomes
    optimism_corrected_c_index: float | None = None  # time-to-event outcomes (Harrell's C)
    recalibrated: str | None = None

    @classmethod
    def from_meta(cls, meta: dict, *, kind: str, **extra) -> "ModelInfo":
        """Provenance from a saved model's metadata (its ``training`` summary and any ``recalibration``),
        plus outcome-specific fields."""
        t, r = meta["training"], meta.get("recalibration") or {}
        keys = ("trained_on", "n", "events", "created", "sleitp_version")
        recalibrated = None
        if r.get("method"):
            recalibrated = f"{r['method']} on {r.get('cohort')} (n={r.get('n')}, {r.get('date')})"
        return cls(
            name=meta["name"],
            kind=kind,
            synthetic=bool(t["synthetic"]),
            recalibrated=recalibrated,
            **{k: t[k] for k in keys},
            **extra,
        )


class Prediction(BaseModel):
    model_config = ConfigDict(frozen=True)
    outcome: str
    at: date | None  # the assessment date
    index_date: date | None = None  # the date the predictors were read (features.index_date)
    probability: float
    interval: tuple[float, float]
    interval_method: str
    model: ModelInfo
    contributions: list[Contribution]
    contribution_method: str
    not_measured: list[str]
    statement: str
    # landmark prediction (sleitp.model.binary.landmark, docs/landmark.md): the landmark day whose model
    # made this
    # prediction (None: the baseline model), and why that model was chosen (None: no landmark models)
    landmark_day: int | None = None
    landmark: str | None = None
    # --imputation mice models (sleitp.model.binary.imputation): the predictors not measured for this
    # patient that
    # were imputed (conditional mean given the observed ones); None = the model does not impute
    imputed: list[str] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "at": None if self.at is None else self.at.isoformat(),
            "index_date": None if self.index_date is None else self.index_date.isoformat(),
            "probability": round(self.probability, 4),
            "interval": [round(self.interval[0], 4), round(self.interval[1], 4)],
            "interval_method": self.interval_method,
            "model": self.model.model_dump(),
            "contributions": [c.model_dump() for c in self.contributions],
            "contribution_method": self.contribution_method,
            "not_measured": list(self.not_measured),
            "statement": self.statement,
            "landmark_day": self.landmark_day,
            "landmark": self.landmark,
        } | ({} if self.imputed is None else {"imputed": list(self.imputed)})


class TrainedModel:
    """A model as saved in MODEL_DIR: metadata (``model.json``), design, coefficients or trees."""

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
        self.card = card or {}
        self.source_dir = None  # the MODEL_DIR it was loaded from, if any

    # --- provenance -------------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return self.meta["kind"]

    @property
    def name(self) -> str:
        return self.meta["name"]

    @property
    def outcome(self) -> str:
        return self.meta["outcome"]

    @property
    def synthetic(self) -> bool:
        return bool(self.meta["training"]["synthetic"])

    @property
    def recalibration(self) -> tuple[float, float]:
        r = self.meta.get("recalibration") or {}
        return float(r.get("intercept", 0.0)), float(r.get("slope", 1.0))

    def info(self) -> ModelInfo:
        t = self.meta["training"]
        return ModelInfo.from_meta(
            self.meta, kind=self.kind, optimism_corrected_auc=t.get("optimism_corrected_auc")
        )

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
            interval_method = "95% delta-method interval on the linear predictor (coefficient covariance)"
            means = self.meta["reference"]
            contributions = []
            for j, col in enumerate(self.design.columns):
                raw: float | bool | None
                if col.startswith("missing:"):
                    raw = bool(M[0, j])
                else:
                    v = values.get(col)
                    raw = None if v is None else (bool(v) if isinstance(v, bool) else float(v))
                contributions.append(
                    Contribution(
                        name=col,
                        value=raw,
                        contribution=round(b * float(self.logistic.beta[j + 1]) * (M[0, j] - means[col]), 5),
                    )
                )
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
            contribution_method = (
                "change in log-odds when this predictor is set to its training median / "
                "most common value, one at a time (not additive)"
            )
        contributions.sort(key=lambda c: -abs(c.contribution))
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
            from sleitp.model.binary.landmark import landmark_models

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
        from sleitp.model.binary.landmark import bedside_trajectory, choose_landmark, landmark_models

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
        t = self.meta["training"]
        what = OUTCOME_PHRASES.get(self.outcome, self.outcome)
        auc = t.get("optimism_corrected_auc")
        auc_txt = f", optimism-corrected AUC {auc:.2f}" if isinstance(auc, (int, float)) else ""
        text = (
            f"Estimated probability {prob:.0%} (95% interval {interval[0]:.0%}-{interval[1]:.0%}) of {what}; "
            f"{self.kind} model developed on {t['n']} patients ({t['events']} responders) from "
            f"{t['trained_on']}{auc_txt}."
        )
        if not_measured and getattr(self.design, "conditional", None) is not None:  # --imputation mice
            text += (f" Missing predictors imputed: {', '.join(not_measured)} (conditional mean given this "
                     "patient's measured predictors, from the development data; no outcome involved).")
        elif not_measured:
            how = ("the trees' missing-value branches" if self.gbm is not None
                   else "median/most common value plus a not-measured indicator")
            missing = ", ".join(not_measured)
            text += f" Not measured for this patient: {missing} (handled as in training: {how})."
        if self.synthetic:
            text = (
                "DEMONSTRATION ONLY - this model was trained on SYNTHETIC data and says nothing about real "
                "patients; do not use it for treatment decisions. " + text
            )
        else:
            text += " Decision support, not a prescription."
        return text
