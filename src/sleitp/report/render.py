"""Render an :class:`~sleitp.decision.Assessment` as the printable report: HTML (Jinja2, autoescaped) and
PDF (WeasyPrint, from the same HTML)."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from sleitp import __version__
from sleitp.decision import WHAT_THIS_IS, Assessment
from sleitp.report.plot import CATEGORY_TEXT, trajectory_data_uri
from sleitp.text import value

_env = Environment(
    loader=PackageLoader("sleitp.report", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _cite(keys) -> Markup:
    """[KEY, KEY] with each key linking to its entry in the reference list."""
    keys = list(dict.fromkeys(keys))
    if not keys:
        return Markup("")
    links = ", ".join(f'<a href="#ref-{escape(k)}">{escape(k)}</a>' for k in keys)
    return Markup(f'<span class="cite">[{links}]</span>')




def _days(x) -> str:
    return "-" if x is None else f"{x} d"


def _findings_table(findings) -> Markup:
    if not findings:
        return Markup('<p class="muted">no contributing item</p>')
    rows = "".join(
        f"<tr><td>{escape(f.name)}</td><td>{escape(value(f.points))}</td><td>{escape(f.date or '-')}</td>"
        f"<td>{escape(f.detail)} {_cite([f.source] if f.source else [])}</td></tr>"
        for f in findings
    )
    return Markup(
        "<table><tr><th>item</th><th>points</th><th>date</th><th>from</th></tr>" + rows + "</table>"
    )


# the patient modifiers the rules read, as the report lists them (state field, words when true)
_MODIFIER_WORDS = (("pregnant", "pregnant"), ("antiphospholipid", "antiphospholipid antibodies / APS"),
                   ("thrombosis", "prior thrombosis"), ("hepatitis_b", None),
                   ("active_infection", "active infection"), ("liver_disease", "liver disease / raised ALT"),
                   ("lupus_nephritis", "lupus nephritis"), ("splenectomised", "splenectomised"))
_HEPATITIS_B_WORDS = {True: "hepatitis B", False: "HBsAg negative", None: "hepatitis B status unknown"}


def _modifiers(a: Assessment) -> list[str]:
    """Each modifier held, in words; the hepatitis B status always (positive, negative or unknown)."""
    s = a.state
    return [_HEPATITIS_B_WORDS[s.hepatitis_b] if words is None else words
            for name, words in _MODIFIER_WORDS if words is None or getattr(s, name)]


def _words(x) -> str:
    """A boolean in words (never Python's True/False)."""
    if x is None:
        return "unknown"
    if isinstance(x, bool):
        return "yes" if x else "no"
    return value(x)


def _predictor_words(name: str, a: Assessment) -> str:
    """A model column in words: the predictor's label, and "missing:x+y" as "x, y not measured"."""
    labels = {p.name: p.label for p in getattr(a.evidence, "predictors", [])}

    def one(n: str) -> str:
        return labels.get(n) or n.replace("_", " ")

    if name.startswith("missing:"):
        return ", ".join(one(n) for n in name.removeprefix("missing:").split("+")) + " not measured"
    return one(name)


def _mapping_rows(mapping) -> dict | None:
    """The FHIR mapping report as JSON (mapped per type, not mapped per reason, notes), or None."""
    if mapping is None:
        return None
    return mapping.to_json() if hasattr(mapping, "to_json") else dict(mapping)


# the report of the web page / REST service: its reader cannot give --model, an operator loads a model
SERVICE_NO_MODEL = (
    "No prediction: this service has no prediction model loaded (its operator can load one); the "
    "predictor profile lists the published predictors instead."
)


def render_html(assessment: Assessment, mapping=None, *, service: bool = False) -> str:
    """The report as one self-contained HTML page (the plot is embedded as a PNG data URI). ``mapping``:
    the FHIR mapping report of a Bundle input, shown so that nothing left out goes unseen. ``service``:
    the report is shown on the web page (no command-line hints)."""
    a, r = assessment, assessment.report
    cited = a.cited_keys
    # the reference list: every key the page cites, including the instruments' and findings' sources
    extra = [
        r.thrombocytopenia.source,
        r.itp.source,
        r.bleeding.source,
        r.glucocorticoids.source,
        r.corticosteroid_dependence.source,
        r.sledai.source,
        r.eular_acr.source,
        r.slicc.source,
        "IWG2009",
    ]
    extra += [f.source for res in (r.sledai, r.eular_acr, r.slicc) for f in res.findings if f.source]
    for o in a.plan.options:
        for e in a.evidence.therapy(o.therapy).response_rates:
            extra += e.source
    gaps = [g for g in a.evidence.gaps]
    for g in gaps:
        extra += g.source
    keys = [k for k in dict.fromkeys([*cited, *extra]) if k in a.evidence.references]
    age = r.record.age_at(r.assessment_date)
    return _env.get_template("report.html.j2").render(
        a=a,
        r=r,
        scope=a.scope,
        data_age=a.data_age,
        mapping=_mapping_rows(mapping),
        warnings=list(r.record.warnings),
        words=_words,
        prediction_statement=(SERVICE_NO_MODEL if service and assessment.prediction is None
                              else assessment.prediction_statement),
        predictor_words=lambda name: _predictor_words(name, a),
        p=a.prediction_json,
        statement=WHAT_THIS_IS,
        age=None if age is None else round(age),
        version=__version__,
        plot_uri=trajectory_data_uri(r.record, r.assessment_date, r.responses),
        references=[(k, a.evidence.reference(k)) for k in keys],
        gaps=gaps,
        modifiers=_modifiers(a),
        category_text=CATEGORY_TEXT,
        cite=_cite,
        fmt=value,
        days=_days,
        findings_table=_findings_table,
    )


def render_pdf(assessment: Assessment, path: str | Path, mapping=None) -> Path:
    """Write the report as PDF (WeasyPrint renders the same HTML)."""
    from weasyprint import HTML  # imported here: WeasyPrint loads Pango, slow to import

    out = Path(path)
    HTML(string=render_html(assessment, mapping=mapping)).write_pdf(str(out))
    return out


__all__ = ["render_html", "render_pdf"]
