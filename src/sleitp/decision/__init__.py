"""Decision support: the predictor profile, the recommendation rules (one readable module, ``rules``) and
``assess()``. Decision support, not a prescription."""

from sleitp.decision.assess import NO_MODEL, WHAT_THIS_IS, Assessment, assess, assess_report
from sleitp.decision.profile import PredictorStatus, predictor_profile
from sleitp.decision.rules import Note, Option, Plan, plan
from sleitp.decision.state import BleedingEvent, Line, PatientState, state_from

__all__ = [
    "NO_MODEL",
    "WHAT_THIS_IS",
    "Assessment",
    "BleedingEvent",
    "Line",
    "Note",
    "Option",
    "PatientState",
    "Plan",
    "PredictorStatus",
    "assess",
    "assess_report",
    "plan",
    "predictor_profile",
    "state_from",
]
