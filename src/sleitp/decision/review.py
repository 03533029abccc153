"""Which sleitp agents a draft order names, and what the decision layer says about each for this patient.

Both halves delegate: the medication code is read by the FHIR mapping (``sleitp.fhir``, whose code lists
live in evidence/codes.yaml) and the verdict — contraindications, cautions, rank among the options —
comes from ``sleitp.decision`` (its ``apply_modifiers`` rule applied to the proposed agent). This module
only connects them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sleitp.decision.rules import Option, apply_modifiers
from sleitp.fhir import resources_to_record_dict

__all__ = ["OrderReview", "draft_order_agents", "review_orders"]

@dataclass(frozen=True)
class OrderReview:
    """What the decision layer says of one proposed agent: the option as ``assess`` lists it (``listed``),
    else the agent alone with the patient's modifiers applied (not listed, no rank)."""

    option: Option
    listed: bool


def _agent_of(resource: dict[str, Any], patient_id: str, today: date) -> str | None:
    """The sleitp agent a draft MedicationRequest names, read by the FHIR mapping.

    The mapping turns only orders that were placed into treatment courses (a ``draft`` is not a course
    given), so the draft is presented to it as an active order starting today; only its agent is kept.
    """
    as_order = {k: v for k, v in resource.items() if k not in ("dosageInstruction", "dispenseRequest")}
    as_order.update(status="active", intent="order", authoredOn=today.isoformat(),
                    subject={"reference": f"Patient/{patient_id}"})
    data, _ = resources_to_record_dict([as_order], patient_id=patient_id)
    agents = {t.get("agent") for t in data.get("treatments") or []}
    agents.discard(None)
    return agents.pop() if len(agents) == 1 else None


def draft_order_agents(entries: list[Any], selections: list[str] | None, patient_id: str, today: date
                       ) -> list[tuple[str, str]]:
    """(reference, agent) of each draft MedicationRequest naming an ITP/SLE agent sleitp knows.

    ``entries`` are the entries of the draftOrders Bundle (the CDS Hooks face checks its shape). For
    ``order-select`` only the orders in ``selections`` (the ones just chosen) are reviewed [CDSHOOKS2];
    for ``order-sign`` (``selections`` None) all of them.
    """
    out = []
    for i, entry in enumerate(entries):
        res = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(res, dict) or res.get("resourceType") != "MedicationRequest":
            continue
        rid = res.get("id")
        ref = f"MedicationRequest/{rid}" if isinstance(rid, str) else f"draftOrders.entry[{i}]"
        if selections is not None and ref not in selections:
            continue
        agent = _agent_of(res, patient_id, today)
        if agent is not None:
            out.append((ref, agent))
    return out


def review_orders(assessment: Any, orders: list[tuple[str, str]]
                  ) -> list[tuple[str, str, OrderReview | None]]:
    """For each (reference, agent): the option of ``assess`` when the agent is among the patient's options
    (``listed``); else the decision layer's modifiers applied to the agent alone (not listed, no rank);
    None when the evidence base has no entry for the agent."""
    options = {o.therapy: o for o in assessment.plan.options}
    out: list[tuple[str, str, OrderReview | None]] = []
    for ref, agent in orders:
        review: OrderReview | None = None
        if agent in options:
            review = OrderReview(options[agent], listed=True)
        elif agent in assessment.evidence.therapies:
            (alone,) = apply_modifiers([Option(agent, "proposed order", ())], assessment.state,
                                       assessment.plan.setting.name, assessment.evidence)
            review = OrderReview(alone, listed=False)
        out.append((ref, agent, review))
    return out
