"""A statement with its sources (an alert, a piece of advice, a caution)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Note:
    text: str
    references: tuple[str, ...]

    def render(self) -> str:
        """The text with its sources; a project choice with no source shows none
        (docs/clinical-choices.md)."""
        return f"{self.text} [{', '.join(self.references)}]" if self.references else self.text


__all__ = ["Note"]
