"""The printable report of one assessment: HTML and PDF, with the platelet trajectory plot."""

from .plot import trajectory_png
from .render import render_html, render_pdf

__all__ = ["render_html", "render_pdf", "trajectory_png"]
