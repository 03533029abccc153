"""What every instrument returns: a frozen result that carries its own explanation.

A result lists the ``findings`` that counted (which item or criterion, its points, the dated finding it
came from, the source key), so a clinician can see why a number is what it is. Source keys (``IWG2009``,
``SLEDAI2K`` ...) resolve in ``sleitp/evidence/references.yaml``.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict


class Finding(BaseModel):
    """One item that contributed to a result."""

    model_config = ConfigDict(frozen=True)

    name: str
    points: float | None = None
    date: dt.date | None = None
    detail: str = ""
    source: str = ""


class Result(BaseModel):
    """Base of instrument results: frozen, JSON-serialisable, self-explaining."""

    model_config = ConfigDict(frozen=True)

    def to_json(self) -> dict:
        return self.model_dump(mode="json")
