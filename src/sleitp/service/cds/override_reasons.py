"""The override reasons sleitp offers on its CDS Hooks cards [CDSHOOKS2] — the one place they are defined.

A card whose advice a clinician may decline carries ``overrideReasons``: Codings (``system``, ``code``,
``display``) the EHR shows when the clinician dismisses the card; the one chosen comes back in the
feedback (``POST /cds-services/{id}/feedback``, :mod:`sleitp.service.cds.feedback`). CDS Hooks prescribes no
code set, so sleitp has a small one of its own, named with the project's ``urn:sleitp:`` prefix (the
request ids of the problem documents use it too). Codes are never reused for another meaning; a new
reason gets a new code.

Which card kind offers which reasons is :data:`REASONS_BY_KIND`. Cards that only inform (the platelet
status, the model estimate, an order sleitp ranks among the options without a caution, an agent without
an evidence entry) carry none: there is no advice to decline. docs/service.md ("Feedback") lists them.
"""

from __future__ import annotations

from types import MappingProxyType

__all__ = ["CARD_KINDS", "OVERRIDE_REASONS", "OVERRIDE_REASON_SYSTEM", "REASONS_BY_KIND", "override_reasons"]

OVERRIDE_REASON_SYSTEM = "urn:sleitp:cds-hooks:override-reason"

# code -> display (the spec requires a display on every override reason a service offers)
OVERRIDE_REASONS: MappingProxyType[str, str] = MappingProxyType({
    "patient-preference": "Patient preference or refusal",
    "contraindication-not-in-ehr": "Contraindication or intolerance not recorded in the EHR",
    "already-receiving": "Patient is already receiving this therapy",
    "prior-failure-not-in-ehr": "Earlier failure of this therapy not recorded in the EHR",
    "different-phase": "Clinical judgement: different ITP phase or setting",
    "drug-not-available": "Drug not available or not reimbursed here",
    "ehr-data-outdated": "The EHR data behind this advice are outdated or wrong",
    "already-addressed": "Already addressed (treatment started or planned)",
    "benefit-outweighs-risk": "Clinical judgement: benefit outweighs the risk for this patient",
    "risk-managed": "Risk already managed (monitoring or prophylaxis in place)",
    "specialist-decision": "Decided with haematology or rheumatology",
    "clinical-judgement": "Clinical judgement: other reason",
})

# The kinds of card sleitp issues (cards.py), and the reasons each offers, in display order.
REASONS_BY_KIND: MappingProxyType[str, tuple[str, ...]] = MappingProxyType({
    # an alert: a bleeding emergency, a critical count, a safety warning
    "alert": ("already-addressed", "ehr-data-outdated", "patient-preference", "clinical-judgement"),
    "status": (),
    # the ranked options of the patient's setting
    "options": ("patient-preference", "already-receiving", "contraindication-not-in-ehr",
                "prior-failure-not-in-ehr", "different-phase", "drug-not-available", "clinical-judgement"),
    "prediction": (),
    # order-select / order-sign: the drafted agent against this patient
    "order-contraindicated": ("benefit-outweighs-risk", "ehr-data-outdated", "specialist-decision",
                              "clinical-judgement"),
    "order-caution": ("risk-managed", "benefit-outweighs-risk", "ehr-data-outdated", "clinical-judgement"),
    "order-not-listed": ("different-phase", "prior-failure-not-in-ehr", "patient-preference",
                         "drug-not-available", "specialist-decision", "clinical-judgement"),
    "order-option": (),
    "order-no-evidence": (),
    # the latest platelet count is older than the data-age limit (decision/data_age.py)
    "stale-data": ("ehr-data-outdated", "already-addressed", "clinical-judgement"),
    # an out-of-scope patient, only when the EHR asks for it (docs/service.md "Scope"); informs only
    "out-of-scope": (),
})

CARD_KINDS = tuple(REASONS_BY_KIND)


def override_reasons(kind: str) -> list[dict[str, str]]:
    """The ``overrideReasons`` of a card of ``kind`` (empty for cards that only inform)."""
    return [{"system": OVERRIDE_REASON_SYSTEM, "code": code, "display": OVERRIDE_REASONS[code]}
            for code in REASONS_BY_KIND[kind]]
