"""FHIR R4 -> sleitp patient records (docs/fhir.md).

Used by ``sleitp score/assess`` on a Bundle (``sleitp.inputs.read_patient`` dispatches here), by the
cohort FHIR sources (bulk NDJSON, folders of Bundles) and by CDS Hooks prefetch.

- :func:`bundle_to_record` — a Bundle of one patient -> a validated :class:`~sleitp.record.PatientRecord`.
- :func:`bundle_to_record_dict` — the same as a record dict, with the :class:`MappingReport`.
- :func:`resources_to_record_dict` — the core: a list of resources (prefetch, NDJSON group) -> record
  dict and report. :func:`prefetch_to_resources` flattens a CDS Hooks prefetch object into such a list.
- :func:`iter_ndjson_patients`, :func:`iter_bundle_files` — many patients, streamed.
- :class:`MappingReport` — what was mapped, what was not and why, notes on choices; nothing is dropped
  silently. :class:`MappingOptions` — the documented choices.

Codes come from ``src/sleitp/evidence/codes.yaml``, each with its source.
"""

from sleitp.fhir._bulk import iter_bundle_files, iter_ndjson_patients
from sleitp.fhir._codes import load_codes
from sleitp.fhir._context import MappingOptions
from sleitp.fhir._record import (
    bundle_to_record,
    bundle_to_record_dict,
    prefetch_to_resources,
    resources_to_record_dict,
)
from sleitp.fhir._report import MappingReport

__all__ = [
    "bundle_to_record",
    "bundle_to_record_dict",
    "iter_bundle_files",
    "iter_ndjson_patients",
    "load_codes",
    "MappingOptions",
    "MappingReport",
    "prefetch_to_resources",
    "resources_to_record_dict",
]
