"""The printable report of one assessment: HTML and PDF, with the platelet trajectory plot."""

from sleitp.report.plot import trajectory_png
from sleitp.report.render import render_html, render_pdf

__all__ = ["render_html", "render_pdf", "trajectory_png"]
