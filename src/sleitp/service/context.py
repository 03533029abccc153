"""What every request handler shares, built once when the app starts (no per-request file reads)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from sleitp.evidence import load_evidence
from sleitp.service.auth import ApiTokenCheck, CdsJwtVerifier
from sleitp.service.cds.cards import CardSource
from sleitp.service.cds.feedback import FeedbackLog
from sleitp.service.cds.prefetch import FhirAccess
from sleitp.service.settings import Settings

__all__ = ["ServiceContext", "reference_urls", "today_utc"]


def today_utc() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def reference_urls() -> dict[str, str]:
    """A link for each reference of the evidence base (DOI, else URL), for card links."""
    try:
        refs = load_evidence().references
    except Exception:  # the evidence base is checked by its own tests; links are optional on cards
        return {}
    out = {}
    for key, ref in refs.items():
        if ref.doi:
            out[key] = f"https://doi.org/{ref.doi}"
        elif ref.url and ref.url.startswith("https://"):
            out[key] = ref.url
    return out


def _memory_feedback_log() -> FeedbackLog:
    return FeedbackLog(None)


@dataclass
class ServiceContext:
    settings: Settings
    api_tokens: ApiTokenCheck
    cds_jwt: CdsJwtVerifier
    fhir: FhirAccess
    cards: CardSource
    http: httpx.AsyncClient
    model: Any = None
    examples: dict[str, dict[str, Any]] = field(default_factory=dict)
    today: Callable[[], dt.date] = today_utc
    feedback: FeedbackLog = field(default_factory=_memory_feedback_log)
