"""sleitp: decision support and cohort analytics for immune thrombocytopenia in SLE (docs/architecture.md).

The public face, loaded lazily so that ``import sleitp`` (and ``sleitp --help``) stays fast:

- :func:`read_patient` (``sleitp.inputs``): a record or FHIR Bundle (file, document or CDS resources)
  -> one record; ``sleitp.score.score`` then gives the clinical instruments as a ``ScoreReport`` (not
  re-exported here: ``sleitp.score`` is that module's name)
- :func:`assess` (``sleitp.decision``): instruments, evidence, prediction and options -> an ``Assessment``
- :func:`derive_tables` (``sleitp.cohort.derive.run``): a cohort's IWG outcomes and features, in the engine
- :func:`load_model` (``sleitp.model``): a saved prediction model

Every error is a :class:`sleitp.errors.SleitpError`.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

try:  # the version, once: from the package metadata (pyproject.toml), never written twice
    __version__ = version("sleitp")
except PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
    __version__ = "0+unknown"

_FACE = {
    "read_patient": "sleitp.inputs",
    "assess": "sleitp.decision",
    "derive_tables": "sleitp.cohort.derive.run",
    "load_model": "sleitp.model",
    "SleitpError": "sleitp.errors",
}

__all__ = ["__version__", *_FACE]


def __getattr__(name: str):
    # lazy: the decision and model layers load scipy and pandas (seconds); `sleitp score` must start fast
    if name in _FACE:
        return getattr(import_module(_FACE[name]), name)
    raise AttributeError(f"module 'sleitp' has no attribute {name!r}")
