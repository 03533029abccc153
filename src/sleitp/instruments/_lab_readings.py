"""How one laboratory result is read against a criterion's threshold (shared by SLEDAI-2K, EULAR/ACR 2019
and SLICC 2012).

A laboratory's own reference limit (``reference_low`` / ``reference_high`` on the result) always wins over a
default limit, because every criterion here is written as "below/above the limit of the testing laboratory".
The default limits apply only when the result carries none, and each one cites its source.

Every reading returns a :class:`Reading`: whether the criterion is met and a one-line explanation with the
value, the limit used and where that limit came from, which becomes a result's finding.
"""

from __future__ import annotations

from dataclasses import dataclass

from sleitp.record import Lab

# Default lower limits of normal when the laboratory gives none [RCPA-C3C4]: C3 0.9 g/L, C4 0.16 g/L
DEFAULT_COMPLEMENT_LOW = {"c3": 0.9, "c4": 0.16}
# Default anti-dsDNA cut-off when the laboratory gives none [MAYO-ADNAR]: < 30 IU/mL is negative
DEFAULT_DSDNA_POSITIVE_IU_ML = 30.0
# ANA at a titre of >= 1:80 on HEp-2 cells [EULARACR2019] (entry criterion; also the SLICC default below)
ANA_MIN_TITRE = 80.0


@dataclass(frozen=True)
class Reading:
    """One result read against one criterion."""

    met: bool
    detail: str
    source: str


def with_limit_source(reading: Reading, instrument: str = "") -> str:
    """The reading's explanation, naming the source of a default limit when one was used."""
    if reading.source and reading.source != instrument:
        return f"{reading.detail} [{reading.source}]"
    return reading.detail


def _value(lab: Lab) -> str:
    return f"{lab.value:g} {lab.unit}" if lab.value is not None else str(lab.result)


def complement_low(lab: Lab) -> Reading:
    """C3 or C4 below the laboratory's lower limit (``reference_low``), else below the default limit."""
    if lab.test not in DEFAULT_COMPLEMENT_LOW:
        raise ValueError(f"complement_low reads c3 or c4, not {lab.test}")
    if lab.value is None:  # c3/c4 are measured tests; the record layer guarantees a value
        return Reading(False, f"{lab.test} has no value", "")
    if lab.reference_low is not None:
        limit, source, whose = lab.reference_low, "", "laboratory's lower limit"
    else:
        # [RCPA-C3C4] default lower limits, only when the laboratory gives none
        limit, source, whose = DEFAULT_COMPLEMENT_LOW[lab.test], "RCPA-C3C4", "default lower limit"
    met = lab.value < limit  # "below the lower limit of normal" (strictly below)
    rel = "<" if met else ">="
    return Reading(met, f"{lab.test} {_value(lab)} {rel} {limit:g} g/L ({whose})", source)


def dsdna_increased(lab: Lab) -> Reading:
    """anti-dsDNA "above the normal range for the testing laboratory" [SLEDAI2K] [SLICC2012].

    The laboratory's own reading comes first: a value against its ``reference_high``; else its ``result``
    (positive/negative); only a bare value with neither is read against the default cut-off, >= 30 IU/mL
    [MAYO-ADNAR] (< 30 IU/mL negative).
    """
    if lab.test != "anti_dsdna":
        raise ValueError(f"dsdna_increased reads anti_dsdna, not {lab.test}")
    if lab.value is not None and lab.reference_high is not None:
        met = lab.value > lab.reference_high  # above the laboratory's upper limit; equal is not above
        rel = ">" if met else "<="
        text = f"anti_dsdna {_value(lab)} {rel} {lab.reference_high:g} (laboratory's upper limit)"
        return Reading(met, text, "")
    if lab.result is not None:
        return Reading(lab.result == "positive", f"anti_dsdna {lab.result}", "")
    met = lab.value >= DEFAULT_DSDNA_POSITIVE_IU_ML  # [MAYO-ADNAR] < 30 IU/mL negative
    rel = ">=" if met else "<"
    text = f"anti_dsdna {_value(lab)} {rel} {DEFAULT_DSDNA_POSITIVE_IU_ML:g} IU/mL (default cut-off)"
    return Reading(met, text, "MAYO-ADNAR")


def ana_at_least_1_80(lab: Lab) -> Reading:
    """The EULAR/ACR 2019 entry criterion read on one ANA result [EULARACR2019]: a titre >= 1:80; a result
    given without a titre counts when positive ("or an equivalent positive test"). When the titre is known
    it decides: a 1:40 flagged "positive" by its laboratory is still below 1:80."""
    if lab.test != "ana":
        raise ValueError(f"ana_at_least_1_80 reads ana, not {lab.test}")
    if lab.value is not None:
        met = lab.value >= ANA_MIN_TITRE  # [EULARACR2019] ">= 1:80": 1:80 counts, 1:40 does not
        return Reading(met, f"ANA 1:{lab.value:g} {'>=' if met else '<'} 1:80", "EULARACR2019")
    return Reading(lab.result == "positive", f"ANA {lab.result} (equivalent positive test)", "EULARACR2019")


def ana_above_reference(lab: Lab) -> Reading:
    """SLICC 2012 "ANA level above laboratory reference range" [SLICC2012]: a titre above the laboratory's
    ``reference_high``; else the laboratory's ``result``; only a bare titre with neither is read against
    1:80 (the HEp-2 cut-off of [EULARACR2019])."""
    if lab.test != "ana":
        raise ValueError(f"ana_above_reference reads ana, not {lab.test}")
    if lab.value is not None and lab.reference_high is not None:
        met = lab.value > lab.reference_high  # [SLICC2012] "above laboratory reference range"
        return Reading(met, f"ANA 1:{lab.value:g} {'>' if met else '<='} 1:{lab.reference_high:g} "
                            f"(laboratory's upper limit)", "SLICC2012")
    if lab.result is not None:
        return Reading(lab.result == "positive", f"ANA {lab.result} (laboratory's reading)", "SLICC2012")
    return ana_at_least_1_80(lab)


__all__ = ["ANA_MIN_TITRE", "DEFAULT_COMPLEMENT_LOW", "DEFAULT_DSDNA_POSITIVE_IU_ML", "Reading",
           "ana_above_reference", "ana_at_least_1_80", "complement_low", "dsdna_increased",
           "with_limit_source"]
