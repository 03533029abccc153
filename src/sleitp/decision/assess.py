"""`sleitp assess`: the score of one patient plus the predictor profile, the prediction (when a model is
given), the ranked, cited treatment options and the alerts.

``Assessment.to_json()`` is the public contract of ``sleitp assess --json`` (spec/cli.md, record.md): the
``score`` JSON plus ``predictors``, ``prediction``, ``recommendations`` and ``alerts``, and more fields
(``setting``, ``advice``, ``references``, ``statement``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from ..evidence import Evidence, load_evidence
from ..record import PatientRecord
from ..score import ScoreReport, score
from .profile import PredictorStatus, predictor_profile
from .rules import Note, Option, Plan, plan
from .state import PatientState, state_from

WHAT_THIS_IS = (
    "Decision support, not a prescription: sleitp summarises published evidence and guideline "
    "statements for a clinician, who decides. It is not a medical device. Guidelines for ITP are "
    "written mostly for primary ITP; SLE-specific evidence is retrospective or small."
)
NO_MODEL = (
    "No prediction: no model was given (use --model MODEL_DIR); the predictor profile lists the "
    "published predictors instead."
)


class Model(Protocol):
    def predict_one(self, record: PatientRecord, at: date) -> Any: ...


@dataclass(frozen=True)
class Assessment:
    report: ScoreReport
    state: PatientState
    predictors: list[PredictorStatus]
    plan: Plan
    prediction: Any | None  # a Prediction of sleitp.model (has .to_json()), or None
    evidence: Evidence

    @property
    def recommendations(self) -> tuple[Option, ...]:
        return self.plan.options

    @property
    def alerts(self) -> tuple[Note, ...]:
        return self.plan.alerts

    @property
    def prediction_json(self) -> dict | None:
        if self.prediction is None:
            return None
        return self.prediction.to_json() if hasattr(self.prediction, "to_json") else dict(self.prediction)

    @property
    def prediction_statement(self) -> str:
        if self.prediction is None:
            return NO_MODEL
        p = self.prediction_json or {}
        text = p.get("statement") or ""
        model = p.get("model") or {}
        if model.get("synthetic") and "synthetic" not in text.lower():
            text += (
                " WARNING: this model was trained on synthetic data; its probability is a demonstration, "
                "not an estimate for a real patient."
            )
        first = self.report.responses[0] if self.report.responses else None
        if p.get("outcome") == "first_line_response" and first is not None and first.category != "NE":
            # the prediction is made from baseline values; say what was observed since [IWG2009]
            text += f" Observed: line 1 ({', '.join(first.agents)}) was {first.category} (IWG)."
        return text.strip()

    @property
    def cited_keys(self) -> list[str]:
        """Every reference key the assessment cites, in first-seen order."""
        keys: list[str] = []
        for n in (self.plan.setting_reason, *self.plan.alerts, *self.plan.advice):
            keys += n.references
        for o in self.plan.options:
            keys += o.all_references
        for p in self.predictors:
            keys += p.predictor.source
        return [k for k in dict.fromkeys(keys) if k in self.evidence.references]

    def option_json(self, o: Option) -> dict:
        t = self.evidence.therapy(o.therapy)
        return {
            "therapy": o.therapy,
            "rank": o.rank,
            "setting": self.plan.setting,
            "rationale": o.rationale,
            "cautions": [c.render() for c in o.cautions],
            "contraindicated": o.contraindicated,
            "contraindications": [c.render() for c in o.contraindications],
            "references": list(o.all_references),
            "name": t.name,
            "therapy_class": t.therapy_class,
            "previously_failed": o.previously_failed or None,
            "ranked_lower_because": o.demoted or None,
            "evidence": [
                f"{r.population}, {r.evidence_level}{f', n={r.n}' if r.n else ''}: {r.result} "
                f"[{', '.join(r.source)}]"
                for r in t.response_rates
            ],
        }

    def to_json(self) -> dict:
        out = self.report.to_json()
        out["predictors"] = [p.to_json() for p in self.predictors]
        out["prediction"] = self.prediction_json
        out["prediction_statement"] = self.prediction_statement
        out["setting"] = {
            "name": self.plan.setting,
            "reason": self.plan.setting_reason.text.split(": ", 1)[-1],
            "references": list(self.plan.setting_reason.references),
        }
        out["recommendations"] = [self.option_json(o) for o in self.plan.options]
        out["alerts"] = [a.render() for a in self.plan.alerts]
        out["advice"] = [a.render() for a in self.plan.advice]
        out["statement"] = WHAT_THIS_IS
        out["references"] = [
            {"key": k, "citation": self.evidence.reference(k).citation()} for k in self.cited_keys
        ]
        return out


def assess_report(
    report: ScoreReport, model: Model | None = None, evidence: Evidence | None = None
) -> Assessment:
    """Assess from an existing score report (what :func:`assess` does after scoring)."""
    ev = evidence or load_evidence()
    state = state_from(report)
    profile = predictor_profile(report.record, report.assessment_date, report.responses, ev)
    prediction = model.predict_one(report.record, report.assessment_date) if model is not None else None
    return Assessment(
        report=report,
        state=state,
        predictors=profile,
        plan=plan(state, ev),
        prediction=prediction,
        evidence=ev,
    )


def assess(record: PatientRecord, at: date | None = None, model: Model | None = None) -> Assessment:
    """Score ``record`` at ``at`` (default: its assessment date) and add the decision support."""
    return assess_report(score(record, at), model=model)


__all__ = ["NO_MODEL", "WHAT_THIS_IS", "Assessment", "Model", "assess", "assess_report"]
