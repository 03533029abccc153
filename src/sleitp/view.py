"""How a result draws itself (lifelines style): one ``__rich__`` view per result object, from which
``summary()`` (plain text) and ``to_html()`` follow; the terminal tables every view builds them with.

``to_json()`` stays each result's machine contract; this is the human one. Values are written by
:mod:`sleitp.text`, so a number reads the same in the terminal, the report and the CDS cards.
"""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table

from sleitp.text import value

__all__ = ["DATE_COLUMNS", "RendersItself", "dash", "shown", "wrapping_table", "yes_no"]


class RendersItself:
    """A result that draws itself: ``__rich__`` (the one view), ``summary()`` (that view as plain text) and
    ``to_html()`` (as an HTML page); ``to_json()`` is the machine contract."""

    def __rich__(self):  # pragma: no cover - every result defines its view
        raise NotImplementedError

    def _recorded(self, width: int) -> Console:
        console = Console(file=io.StringIO(), record=True, width=width, color_system=None)
        console.print(self)
        return console

    def summary(self, width: int = 110) -> str:
        return self._recorded(width).export_text()

    def to_html(self) -> str:
        return self._recorded(110).export_html(inline_styles=True)


def shown(x: object, unit: str = "") -> str:
    """A value in a terminal cell: :func:`sleitp.text.value`, a missing one dimmed as "unknown"."""
    return value(x, unit, missing="[dim]unknown[/dim]")


def dash(x: object) -> str:
    """A count of days, or "-" when not reached or not evaluable."""
    return "-" if x is None else str(x)


def yes_no(x: bool | None) -> str:
    """A boolean in words (never Python's True/False)."""
    return "[dim]unknown[/dim]" if x is None else ("yes" if x else "no")


DATE_COLUMNS = frozenset({"date", "start", "end", "lost on"})


def wrapping_table(*columns: str, **kw) -> Table:
    """A table whose cells wrap (never cut with an ellipsis), so agents and counts stay whole at 80 columns
    and when piped; a date column keeps its 10 characters on one line."""
    t = Table(title_justify="left", **kw)
    for col in columns:
        if col in DATE_COLUMNS:
            t.add_column(col, min_width=10, no_wrap=True)
        else:
            t.add_column(col, overflow="fold")
    return t
