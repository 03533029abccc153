"""The state of one mapping run: code lists, reference index, report, options and what was collected."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from sleitp.fhir._codes import Codes
from sleitp.fhir._parse import Index, Res
from sleitp.fhir._report import MappingReport


@dataclass(frozen=True)
class MappingOptions:
    """Choices where sources or data leave room (docs/fhir.md); the defaults are the documented ones.

    - ``same_instant``: two results of one test at the identical instant with different values (the
      Synthea bundle, testdata.md §1.2): ``"lowest"`` keeps the lower value (for the counts and
      complement that drive sleitp's rules the lower reading is the conservative one: it never creates
      a response the other reading would not), ``"keep_all"`` keeps both.
    - ``lupus_erythematosus_is_sle``: SNOMED 200936003 "Lupus erythematosus" is the broader parent of
      SLE 55464009 (it also covers cutaneous LE; testdata.md §1.1). Default False: not taken as SLE,
      reported as not mapped.
    - ``on_invalid``: a resource that fails FHIR validation raises (``"raise"``, default) or is
      counted as not mapped (``"report"``, for bulk cohort sources).
    - ``as_of``: the day the data are as of: a bulk export's ``transactionTime`` (``_bulk.export_day``),
      else (None) today, UTC. An Encounter dated after the next day did not take place (``_encounters``).
    """

    same_instant: Literal["lowest", "keep_all"] = "lowest"
    lupus_erythematosus_is_sle: bool = False
    on_invalid: Literal["raise", "report"] = "raise"
    as_of: date | None = None


@dataclass
class LabCandidate:
    """A lab result ready for the record, with the exact instant it was taken (for duplicates)."""

    lab: dict[str, Any]
    instant: Any  # datetime (aware) or date or str: equal instants compare equal
    res: Res


@dataclass
class Context:
    codes: Codes
    index: Index
    report: MappingReport
    options: MappingOptions
    report_of: dict[int, Res] = field(default_factory=dict)  # id(observation Res) -> its DiagnosticReport
    labs: list[LabCandidate] = field(default_factory=list)
    pregnancy: list[tuple[Any, bool]] = field(default_factory=list)  # (instant, pregnant)
    treatments: list[dict[str, Any]] = field(default_factory=list)
    manifestations: list[dict[str, Any]] = field(default_factory=list)
    history: dict[str, bool] = field(default_factory=dict)
    sle_dates: list[date] = field(default_factory=list)
    itp_dates: list[date] = field(default_factory=list)
    secondary_tp_dates: list[date] = field(default_factory=list)  # D69.59: ITP only with an SLE code
    sle_coded: bool = False
    used_medications: set[int] = field(default_factory=set)  # id() of Medication resources referenced
    secondary_tp_refs: list[str] = field(default_factory=list)
    contacts: list[tuple[date, str]] = field(default_factory=list)  # (day, Encounter reference)


__all__ = ["Context", "LabCandidate", "MappingOptions"]
