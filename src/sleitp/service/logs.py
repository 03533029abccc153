"""Logging of the service: one line a request, with no patient data.

The access line (``sleitp.service.access``) carries the request id, method, route template, status and
duration only; errors (``sleitp.service``) carry the request id, the exception type and where it was
raised (file:line), never its message. uvicorn's own access log is switched off by ``sleitp serve``
because it writes the full path and query string.
"""

from __future__ import annotations

import logging
import sys

__all__ = ["LOG_FORMAT", "QUIET_LOGGERS", "configure_logging", "quiet_url_loggers"]

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


# httpx/httpcore log every request URL at INFO/DEBUG; the service's FHIR queries carry the patient id
QUIET_LOGGERS = ("httpx", "httpcore")


def quiet_url_loggers() -> None:
    """Keep the HTTP client's URL logging (patient ids in FHIR queries) out of the log."""
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def configure_logging(level: int = logging.INFO) -> None:
    """Send the service's log lines to standard error (idempotent)."""
    logger = logging.getLogger("sleitp.service")
    logger.setLevel(level)
    if not any(getattr(h, "_sleitp", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler._sleitp = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.propagate = False
    quiet_url_loggers()
