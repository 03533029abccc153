"""Numbers a clinician may add to a manifestation's ``details`` (``joints`` for arthritis, ``temperature_c``
for fever), read with a clear error when they are not what the instruments expect.

The bounds are input checks, not clinical thresholds: they catch a temperature entered in Fahrenheit or a
typo, like the plausibility bounds of ``sleitp.units``.
"""

from __future__ import annotations

from sleitp.errors import RecordError
from sleitp.record import Manifestation, PatientRecord

PLAUSIBLE = {
    "joints": (0, 100, "a number of joints (0 to 100)"),
    "temperature_c": (30.0, 45.0, "a body temperature in degrees Celsius (30 to 45)"),
}


def detail_number(record: PatientRecord, index: int, m: Manifestation, key: str) -> float | None:
    """``m.details[key]`` as a number, None when absent; RecordError naming the field when implausible."""
    if not m.details or m.details.get(key) is None:
        return None
    v = m.details[key]
    lo, hi, what = PLAUSIBLE[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v or not lo <= v <= hi:
        raise RecordError(record.id, [f"manifestations[{index}].details.{key}: expected {what}, got {v!r} "
                                      f"({m.name} on {m.date})"])
    return float(v)


__all__ = ["PLAUSIBLE", "detail_number"]
