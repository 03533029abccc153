"""Commands of this group register themselves on the shared app (see sleitp/cli/__init__.py)."""

from __future__ import annotations

from . import app  # noqa: F401
