"""The CDS services sleitp offers [CDSHOOKS2]: their ids, hooks, titles and discovery entries.

Read by the hooks router (discovery and calls) and by the feedback endpoint (which service a card came from),
so neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Path

from sleitp.service.cds.prefetch import prefetch_templates
from sleitp.service.problems import Problem

__all__ = ["SERVICES", "CdsService", "ServiceId", "service_named"]


@dataclass(frozen=True)
class CdsService:
    id: str
    hook: str
    title: str
    description: str

    def discovery(self) -> dict[str, Any]:
        return {"hook": self.hook, "id": self.id, "title": self.title, "description": self.description,
                "prefetch": prefetch_templates(self.hook),
                "usageRequirements": "Needs the prefetch, or fhirServer with fhirAuthorization "
                                     "(patient/*.read for Patient, Observation, Condition, "
                                     "MedicationRequest, Procedure). Decision support, not a prescription."}


_ORDER_DESCRIPTION = ("Reviews a proposed ITP medication order (draftOrders MedicationRequest) against the "
                      "patient: contraindications, cautions and its place among the cited options.")
SERVICES: dict[str, CdsService] = {s.id: s for s in (
    CdsService("sleitp-patient-view", "patient-view", "SLE-ITP status and options",
               "Platelet trajectory, ITP phase, IWG response of each treatment line, alerts and ranked, "
               "cited treatment options for immune thrombocytopenia in SLE."),
    CdsService("sleitp-order-select", "order-select", "SLE-ITP order review", _ORDER_DESCRIPTION),
    CdsService("sleitp-order-sign", "order-sign", "SLE-ITP order review at signing", _ORDER_DESCRIPTION),
)}

# the {service_id} of a call or feedback URL: one of SERVICES (listed as an enum in the OpenAPI document)
ServiceId = Annotated[str, Path(json_schema_extra={"enum": list(SERVICES)})]


def service_named(service_id: str) -> CdsService:
    """The service of a URL, or a 404 problem pointing at the discovery endpoint."""
    service = SERVICES.get(service_id)
    if service is None:
        raise Problem(404, f"no CDS service {service_id!r}; see GET /cds-services")
    return service
