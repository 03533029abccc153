"""The sleitp service: REST API, CDS Hooks 2.0 and the web page (FastAPI). Thin: the clinical content
comes from ``sleitp.decision`` / ``sleitp.score``; see docs/service.md."""

from sleitp.service.app import create_app
from sleitp.service.settings import Settings, SettingsError, TrustedClient, load_settings

__all__ = ["Settings", "SettingsError", "TrustedClient", "create_app", "load_settings"]
