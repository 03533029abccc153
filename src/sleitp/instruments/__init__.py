"""Clinical instruments: pure functions over a record at an assessment date."""

from sleitp.instruments.bleeding import WhoBleeding, who_bleeding
from sleitp.instruments.eular_acr import EularAcr2019, eular_acr_2019
from sleitp.instruments.glucocorticoids import Glucocorticoids, glucocorticoid_exposure
from sleitp.instruments.iwg import (
    CorticosteroidDependence,
    IwgResponse,
    TreatmentLine,
    corticosteroid_dependence,
    iwg_responses,
    treatment_lines,
)
from sleitp.instruments.platelets import (
    ItpPhase,
    PlateletSummary,
    ThrombocytopeniaGrade,
    itp_phase,
    platelet_summary,
    thrombocytopenia_grade,
)
from sleitp.instruments.sledai import Sledai2k, sledai_2k
from sleitp.instruments.slicc import Slicc2012, slicc_2012

__all__ = [
    "CorticosteroidDependence", "EularAcr2019", "Glucocorticoids", "ItpPhase", "IwgResponse",
    "PlateletSummary", "Sledai2k", "Slicc2012", "ThrombocytopeniaGrade", "TreatmentLine", "WhoBleeding",
    "corticosteroid_dependence", "eular_acr_2019", "glucocorticoid_exposure", "itp_phase", "iwg_responses",
    "platelet_summary", "sledai_2k", "slicc_2012", "thrombocytopenia_grade", "treatment_lines",
    "who_bleeding",
]
