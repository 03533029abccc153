"""Is this record an SLE-ITP patient? sleitp's advice is written for one population only.

In scope = thrombocytopenia; systemic lupus erythematosus is checked too, both read at the assessment date
(a record with thrombocytopenia but no SLE on record stays in scope with a caveat: the shared contract's ITP
examples carry no SLE data, and withholding ITP advice - bleeding emergencies included - from a patient whose
lupus is simply not coded would be the greater hazard; docs/clinical-choices.md):

- **SLE**: ``sle_diagnosis_date`` is given (a clinician's diagnosis; the FHIR mapping fills it from a coded
  SLE Condition), or the record meets the 2019 EULAR/ACR classification criteria [EULARACR2019] or the
  SLICC 2012 criteria [SLICC2012], as scored by :func:`sleitp.score.score`.
- **thrombocytopenia**: a platelet count < 100 x10^9/L on or before the assessment date (the nadir of all
  counts up to that date; any age, so that a patient in remission after treatment stays in scope), or
  ``itp_diagnosis_date`` is given [IWG2009: ITP = platelets < 100 x10^9/L].

Out of scope, the assessment gives no SLE-ITP options and no probability, and says why (docs/cli.md,
"Scope"). The scope is decided on the record, not guessed: a record without counts and without an ITP
diagnosis date is out of scope, with that reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from sleitp.score import ScoreReport
from sleitp.timeline import ITP_COUNT_THRESHOLD

__all__ = ["NO_SLE", "NO_THROMBOCYTOPENIA", "Scope", "assess_scope"]

NO_SLE = "no SLE diagnosis date and neither EULAR/ACR 2019 nor SLICC 2012 classification met"
NO_THROMBOCYTOPENIA = "no platelet count < 100 x10^9/L and no ITP diagnosis date"


@dataclass(frozen=True)
class Scope:
    in_scope: bool
    reasons: tuple[str, ...]  # why out of scope (empty when in scope)
    caveats: tuple[str, ...] = ()  # in scope, but: SLE is not established in the record

    @property
    def sle_established(self) -> bool:
        return NO_SLE not in self.caveats and NO_SLE not in self.reasons

    def to_json(self) -> dict:
        return {"in_scope": self.in_scope, "reasons": list(self.reasons), "caveats": list(self.caveats),
                "sle_established": self.sle_established}

    @property
    def message(self) -> str:
        if self.in_scope and self.caveats:
            return ("in scope: thrombocytopenia, but " + "; ".join(self.caveats) + ": the options follow the "
                    "ITP guidelines, and the SLE-specific evidence may not apply; confirm the diagnosis")
        if self.in_scope:
            return "in scope: an SLE patient with thrombocytopenia"
        return ("out of scope: sleitp's advice is for immune thrombocytopenia in SLE, and this record has "
                + "; ".join(self.reasons) + ". No SLE-ITP options and no prediction are given.")


def has_sle(report: ScoreReport) -> bool:
    # [EULARACR2019] classified; [SLICC2012] classified; or the clinician's diagnosis date
    return (report.record.sle_diagnosis_date is not None or bool(report.eular_acr.classified)
            or bool(report.slicc.classified))


def has_thrombocytopenia(report: ScoreReport) -> bool:
    nadir = report.platelets.nadir  # the lowest count on or before the assessment date
    # [IWG2009] thrombocytopenia of ITP: platelets < 100 x10^9/L (100 itself is not)
    return report.record.itp_diagnosis_date is not None or (nadir is not None and nadir < ITP_COUNT_THRESHOLD)


def assess_scope(report: ScoreReport) -> Scope:
    """Whether ``report``'s patient is an SLE patient with thrombocytopenia, and if not, why."""
    sle = () if has_sle(report) else (NO_SLE,)
    if not has_thrombocytopenia(report):
        return Scope(in_scope=False, reasons=(NO_THROMBOCYTOPENIA, *sle))
    return Scope(in_scope=True, reasons=(), caveats=sle)
