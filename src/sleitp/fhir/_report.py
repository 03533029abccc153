"""What the FHIR mapping did with every resource: mapped, not mapped (and why), and notes.

Nothing is dropped silently: each resource handed to the mapping is counted either as mapped (by type)
or as not mapped under one reason ("Observation: LOINC code not in the sleitp vocabulary"). Notes record
choices made on mapped resources (a duplicate resolved, a text/structure conflict, a time taken from
the DiagnosticReport). Reasons and notes keep up to a few resource references as examples, never
values, so a report can be logged without patient data.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rich.table import Table

_EXAMPLES = 3


@dataclass
class MappingReport:
    """Counts of mapped resources and of unmapped ones per reason, plus notes on choices made."""

    mapped: Counter[str] = field(default_factory=Counter)  # resource type -> count
    unmapped: Counter[str] = field(default_factory=Counter)  # reason -> count
    notes: Counter[str] = field(default_factory=Counter)  # note -> count
    examples: dict[str, list[str]] = field(default_factory=dict)  # reason/note -> resource references
    # where (entry location) each Medication a mapped order used stands: a Bundle of several patients is
    # mapped once per patient, and a Medication is unused only when no patient's orders used it
    medications_used: set[str] = field(default_factory=set)

    # -- recording ---------------------------------------------------------------------------------
    def map(self, resource_type: str) -> None:
        self.mapped[resource_type] += 1

    def skip(self, reason: str, ref: str | None = None) -> None:
        """One resource not mapped, for ``reason`` ("Type: why")."""
        self.unmapped[reason] += 1
        self._example(reason, ref)

    def note(self, note: str, ref: str | None = None) -> None:
        self.notes[note] += 1
        self._example(note, ref)

    def _example(self, key: str, ref: str | None) -> None:
        if ref:
            refs = self.examples.setdefault(key, [])
            if len(refs) < _EXAMPLES and ref not in refs:
                refs.append(ref)

    def merge(self, other: "MappingReport") -> "MappingReport":
        self.mapped.update(other.mapped)
        self.unmapped.update(other.unmapped)
        self.notes.update(other.notes)
        self.medications_used |= other.medications_used
        for k, refs in other.examples.items():
            for r in refs:
                self._example(k, r)
        return self

    # -- reading -----------------------------------------------------------------------------------
    @property
    def total(self) -> int:
        """Resources seen (mapped + not mapped)."""
        return sum(self.mapped.values()) + sum(self.unmapped.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "mapped": dict(sorted(self.mapped.items())),
            "unmapped": [
                {"reason": r, "count": n, "examples": self.examples.get(r, [])}
                for r, n in sorted(self.unmapped.items(), key=lambda kv: (-kv[1], kv[0]))
            ],
            "notes": [
                {"note": r, "count": n, "examples": self.examples.get(r, [])}
                for r, n in sorted(self.notes.items(), key=lambda kv: (-kv[1], kv[0]))
            ],
            "total": self.total,
        }

    def rich_table(self, title: str = "FHIR mapping") -> Table:
        t = Table(title=title, title_justify="left")
        t.add_column("what")
        t.add_column("count", justify="right")
        t.add_column("examples", style="dim")
        for rtype, n in sorted(self.mapped.items()):
            t.add_row(f"[green]mapped[/green] {rtype}", str(n), "")
        for reason, n in sorted(self.unmapped.items(), key=lambda kv: (-kv[1], kv[0])):
            t.add_row(
                f"[yellow]not mapped[/yellow] {reason}", str(n), ", ".join(self.examples.get(reason, []))
            )
        for note, n in sorted(self.notes.items(), key=lambda kv: (-kv[1], kv[0])):
            t.add_row(f"[cyan]note[/cyan] {note}", str(n), ", ".join(self.examples.get(note, [])))
        return t

    def __rich__(self) -> Table:
        return self.rich_table()


__all__ = ["MappingReport"]
