"""The clinical setting the rules place a patient in, and why: one name from :class:`SettingName`, the
reason in words and its sources (docs/decision-support.md, "Settings").

The setting travels as this value object; ``str(setting)`` is the old ``"name: why"`` text, for readers
that still print it whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SettingName(StrEnum):
    """The settings, in the order the rules consider them (``rules.decide_setting``)."""

    EMERGENCY_BLEEDING = "emergency_bleeding"
    FIRST_LINE = "first_line"
    SECOND_LINE = "second_line"
    REFRACTORY_RELAPSED = "refractory_relapsed"
    MAINTENANCE = "maintenance"


@dataclass(frozen=True)
class Setting:
    name: SettingName
    reason: str  # why, in the clinician's words ("line 1 (prednisone) no response (NR) ...")
    references: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.name}: {self.reason}"

    @property
    def text(self) -> str:
        """``"name: why"``, the form of a :class:`~sleitp.decision.notes.Note` text."""
        return str(self)


__all__ = ["Setting", "SettingName"]
