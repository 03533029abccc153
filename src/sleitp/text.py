"""How sleitp writes a value for people to read, once: every face (CLI, report, CDS cards, model card) uses
these, so one number reads the same everywhere. Clinical wording lives with its rule; this is only format."""

from __future__ import annotations

from typing import Any

UNKNOWN = "unknown"
# The notice every output of a model trained on synthetic data carries (sleitp synth, `make demo`): the one
# spelling of it (design.md "Small print": it was written 8 ways in 7 files).
SYNTHETIC_MODEL_NOTICE = ("this model was trained on synthetic data; its probability is a demonstration, "
                          "not an estimate for a real patient")


def value(x: Any, unit: str = "", *, missing: str = UNKNOWN) -> str:
    """A measured value as a clinician reads it: floats to one decimal without trailing zeros (``42``,
    ``2.5``), then the unit as given (``value(42.0, " x10^9/L")`` -> ``42 x10^9/L``); ``missing`` if None."""
    if x is None:
        return missing
    if isinstance(x, float):
        x = f"{x:.1f}".rstrip("0").rstrip(".")
    return f"{x}{unit}"


def fixed(x: Any, digits: int = 3, *, missing: str = "-") -> str:
    """A statistic to a fixed number of decimals (``fixed(0.71234)`` -> ``0.712``); ``missing`` if None;
    a value that is not a number as it is."""
    if x is None:
        return missing
    try:
        return f"{float(x):.{digits}f}"
    except (TypeError, ValueError):
        return str(x)


def significant(x: float | None, digits: int = 3, *, missing: str = "") -> str:
    """A number to ``digits`` significant figures (``significant(0.012345)`` -> ``0.0123``)."""
    return missing if x is None else f"{x:.{digits}g}"
