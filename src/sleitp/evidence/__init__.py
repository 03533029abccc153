"""The evidence base as data: references, therapies, predictors and guideline statements (YAML files in
this package), validated by :func:`load_evidence`. Content comes from ../shared/reference/clinical.md; every
entry cites keys that resolve in ``references.yaml``."""

from sleitp.evidence._loader import (
    SPECIAL_READERS,
    ConditionalNote,
    Evidence,
    Gap,
    GuidelineStatement,
    Predictor,
    Reference,
    ResponseRate,
    Setting,
    Sourced,
    Therapy,
    load_evidence,
)

__all__ = [
    "SPECIAL_READERS",
    "ConditionalNote",
    "Evidence",
    "Gap",
    "GuidelineStatement",
    "Predictor",
    "Reference",
    "ResponseRate",
    "Setting",
    "Sourced",
    "Therapy",
    "load_evidence",
]
