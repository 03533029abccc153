"""The clinical setting the rules place a patient in, and why: one name from :class:`SettingName`, the
reason in words and its sources (docs/decision-support.md, "Settings").

The setting travels as this value object; ``str(setting)`` is the old ``"name: why"`` text, for readers
that still print it whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import get_args

from sleitp.evidence._loader import Setting as SettingNames

# The settings, in the order the rules consider them (``rules.decide_setting``): the names are the evidence's
# (``sleitp.evidence._loader.Setting``, which therapies.yaml is validated against), written once there.
SettingName = StrEnum("SettingName", [(name.upper(), name) for name in get_args(SettingNames)])


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
