"""`sleitp assess`: the score of one patient plus the predictor profile, the prediction (when a model is
given), the ranked, cited treatment options and the alerts.

``Assessment.to_json()`` is the public contract of ``sleitp assess --json`` (spec/cli.md, record.md): the
``score`` JSON plus ``predictors``, ``prediction``, ``recommendations`` and ``alerts``, and more fields
(``setting``, ``advice``, ``references``, ``statement``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Protocol

from rich.console import Group, RenderableType
from rich.panel import Panel

from sleitp.decision.conditions import patient_conditions
from sleitp.decision.data_age import DataAge, data_age
from sleitp.decision.profile import PredictorStatus, predictor_profile
from sleitp.decision.rules import Note, Option, Plan, plan
from sleitp.decision.scope import Scope, assess_scope
from sleitp.decision.state import PatientState, state_from
from sleitp.evidence import Evidence, load_evidence
from sleitp.evidence._loader import CONTRAINDICATION_LEVEL
from sleitp.model.predict import NotApplicable
from sleitp.record import PatientRecord
from sleitp.score import ScoreReport, score
from sleitp.text import SYNTHETIC_MODEL_NOTICE
from sleitp.view import RendersItself, wrapping_table

WHAT_THIS_IS = (
    "Decision support, not a prescription: sleitp summarises published evidence and guideline "
    "statements for a clinician, who decides. It is not a medical device. Guidelines for ITP are "
    "written mostly for primary ITP; SLE-specific evidence is retrospective or small."
)
NO_MODEL = "No prediction: no model was given; the predictor profile lists the published predictors instead."


class Model(Protocol):
    def predict_one(self, record: PatientRecord, at: date) -> Any: ...


@dataclass(frozen=True)
class Assessment(RendersItself):
    """One patient assessed: scores, predictor profile, prediction, options. ``to_json()`` is the contract
    of ``sleitp assess --json``; ``__rich__`` (and ``summary()``, ``to_html()``) its readable form."""

    report: ScoreReport
    state: PatientState
    predictors: list[PredictorStatus]
    plan: Plan
    prediction: Any | None  # a Prediction of sleitp.model (has .to_json()), or None
    evidence: Evidence
    scope: Scope  # is this an SLE-ITP patient (decision/scope.py)
    data_age: DataAge  # how old the inputs are (decision/data_age.py)
    not_applicable: NotApplicable | None = None  # a model was given but does not apply to this patient

    def __rich__(self) -> Group:
        return Group(*_assessment_view(self))

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
        if self.not_applicable is not None:
            return self.not_applicable.statement
        if not self.scope.in_scope:
            return "No prediction: " + self.scope.message
        if self.prediction is None:
            return NO_MODEL
        p = self.prediction_json or {}
        text = p.get("statement") or ""
        model = p.get("model") or {}
        if model.get("synthetic") and "synthetic" not in text.lower():
            text += f" WARNING: {SYNTHETIC_MODEL_NOTICE}."
        first = self.report.responses[0] if self.report.responses else None
        if p.get("outcome") == "first_line_response" and first is not None and first.under_evaluation:
            # a line still inside its agents' time to respond has no outcome yet [IWG2009]
            text += f" Observed so far: line 1 ({', '.join(first.agents)}) {first.status_text} (IWG)."
        elif p.get("outcome") == "first_line_response" and first is not None and first.category != "NE":
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
        held = patient_conditions(self.state)

        def applicable(notes) -> list[dict]:
            return [
                {"condition": n.condition, "kind": n.kind, "text": n.text, "references": list(n.source)}
                for n in notes
                if n.condition in held
            ]

        safety = applicable(t.contraindications) + applicable(t.cautions)

        return {
            "therapy": o.therapy,
            "rank": o.rank,
            "setting": self.plan.setting.name,
            "rationale": o.rationale,
            "cautions": [c.render() for c in o.cautions],
            "contraindicated": o.contraindicated,
            "contraindications": [c.render() for c in o.contraindications],
            "references": list(o.all_references),
            "name": t.name,
            "therapy_class": t.therapy_class,
            "previously_failed": o.previously_failed or None,
            "ranked_lower_because": o.demoted or None,
            # each rate with its own study's response definition, population and co-treatment (review M8)
            "evidence": [r.text() for r in t.response_rates],
            # --- issue 11 additions (new fields only; spec/cli.md names stay) ---
            "rank_means": (
                "rank is the order in which the guidelines and series place the options for this setting "
                "after this patient's modifiers; it is not the strength of the evidence (see certainty)"
            ),
            "certainty": {
                "grade": t.certainty.grade,
                "basis": t.certainty.basis,
                "references": list(t.certainty.source),
            },
            "populations": sorted({r.population for r in t.response_rates}),
            "evidence_detail": [
                {
                    "population": r.population,
                    "evidence_level": r.evidence_level,
                    "n": r.n,
                    "result": r.result,
                    "definition": r.definition,
                    "co_treatment": r.co_treatment,
                    "references": list(r.source),
                }
                for r in t.response_rates
            ],
            "benefits": applicable(t.benefits),
            "dosing": applicable(t.dosing),
            "safety": safety,
            # a label contraindication or boxed warning bound to THIS patient's condition (not one that
            # applies to everyone: "always", "female"), or a contraindication the rules applied
            "contraindication_level": o.contraindicated
            or any(
                n["kind"] in CONTRAINDICATION_LEVEL and n["condition"] not in ("always", "female")
                for n in safety
            ),
            "status": None
            if t.status is None
            else {"text": t.status.text, "references": list(t.status.source)},
            "no_itp_data": t.no_itp_data,
        }

    def to_json(self) -> dict:
        out = self.report.to_json()
        out["predictors"] = [p.to_json() for p in self.predictors]
        out["prediction"] = self.prediction_json
        out["prediction_statement"] = self.prediction_statement
        if self.not_applicable is not None:  # beyond the spec: why a given model gave no probability
            out["prediction_not_applicable"] = self.not_applicable.to_json()
        out["setting"] = {
            "name": self.plan.setting.name,
            "reason": self.plan.setting_reason.text.split(": ", 1)[-1],
            "references": list(self.plan.setting_reason.references),
        }
        out["recommendations"] = [self.option_json(o) for o in self.plan.options]
        out["alerts"] = [a.render() for a in self.plan.alerts]
        out["advice"] = [a.render() for a in self.plan.advice]
        out["statement"] = WHAT_THIS_IS
        out["scope"] = self.scope.to_json()
        out["data_age"] = self.data_age.to_json()
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
    scope, age = assess_scope(report), data_age(report)
    the_plan = plan(state, ev)
    if not scope.in_scope:  # no SLE-ITP options and no probability for a patient outside the population
        the_plan = replace(
            the_plan,
            options=(),
            setting=replace(the_plan.setting, reason=scope.message),
        )
    elif (
        age.stale
    ):  # docs/clinical-choices.md: the latest count is the patient's present state only when current
        the_plan = replace(
            the_plan,
            setting=replace(the_plan.setting,
                            reason=f"{the_plan.setting.reason}; needs a current count ({age.message})"),
        )
    prediction, not_applicable = None, None
    if model is not None and scope.in_scope:
        try:  # the model reads the predictors at its own index date (sleitp.features.index_date)
            prediction = model.predict_one(report.record, report.assessment_date)
        except NotApplicable as e:  # past the setting the model was trained for: no probability, say why
            not_applicable = e
    return Assessment(
        report=report,
        state=state,
        predictors=profile,
        plan=the_plan,
        prediction=prediction,
        evidence=ev,
        scope=scope,
        data_age=age,
        not_applicable=not_applicable,
    )


def assess(record: PatientRecord, at: date | None = None, model: Model | None = None) -> Assessment:
    """Score ``record`` at ``at`` (default: its assessment date) and add the decision support."""
    return assess_report(score(record, at), model=model)


def _assessment_view(a: Assessment) -> list[RenderableType]:
    out: list[RenderableType] = []
    if not a.scope.in_scope:
        out.append(Panel("\n".join(["This record is OUT OF SCOPE for sleitp (immune thrombocytopenia in "
                                    "SLE): no SLE-ITP options and no prediction are given.",
                                    *(f"- {r}" for r in a.scope.reasons)]),
                         title="OUT OF SCOPE", style="bold yellow", expand=False))
    style = "bold red" if a.data_age.stale else "dim"
    out.append(f"[{style}]data age: {a.data_age.message}[/{style}]")
    out += [Panel(alert.render(), title="ALERT", style="bold red", expand=False) for alert in a.alerts]
    out.append(a.report)
    if not a.scope.in_scope:
        return [*out, f"[dim]{WHAT_THIS_IS}[/dim]"]

    t = wrapping_table("predictor", "status", "direction", "effect", "population", "sources",
                       title="Predictor profile (published predictors; read at the first line's start)")
    for p in a.predictors:
        value = "" if p.value is None or isinstance(p.value, bool) else f" ({p.value:.3g})"
        t.add_row(p.predictor.label, p.status + value, p.predictor.direction, p.predictor.effect,
                  f"{p.predictor.population}, {p.predictor.evidence_level}", ", ".join(p.predictor.source))
    out.append(t)

    out.append(f"[bold]Prediction:[/bold] {a.prediction_statement}")
    if a.prediction is not None:
        p = a.prediction_json or {}
        lo, hi = (p.get("interval") or [None, None])[:2]
        out.append(f"  {p.get('outcome')}: probability {p.get('probability'):.2f} (interval {lo} to {hi}); "
                   f"model {(p.get('model') or {}).get('name')}")

    reason = a.plan.setting_reason
    t = wrapping_table(
        "rank", "therapy", "rationale", "cautions / contraindications", "references",
        title=f"Options - setting: {a.plan.setting.name.replace('_', ' ')} ({a.plan.setting.reason}) "
        f"[{', '.join(reason.references)}]",
        show_lines=True,
    )
    for o in a.recommendations:
        notes = [f"[red]CONTRAINDICATED: {c.render()}[/red]" for c in o.contraindications]
        notes += [c.render() for c in o.cautions]
        if o.demoted:
            notes.append(f"ranked lower: {o.demoted}")
        name = f"[strike]{o.therapy}[/strike]" if o.contraindicated else f"[bold]{o.therapy}[/bold]"
        t.add_row(str(o.rank), name, o.rationale, "\n".join(notes), ", ".join(o.all_references))
    if not a.recommendations:
        t.add_row("-", "none", "no ITP-directed treatment is indicated now (see advice)", "", "")
    out.append(t)
    out += [f"[cyan]advice:[/cyan] {n.render()}" for n in a.plan.advice]
    out.append(f"[dim]{WHAT_THIS_IS}[/dim]")
    return out


__all__ = ["NO_MODEL", "WHAT_THIS_IS", "Assessment", "Model", "assess", "assess_report"]
