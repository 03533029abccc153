"""CDS Hooks cards drawn from an :class:`~sleitp.decision.Assessment` object — presentation only.

The clinical content (alerts, ranked options, cautions, contraindications, references) is computed by
``sleitp.decision.assess``; this module only lays it out as cards [CDSHOOKS2]: a one-sentence summary
under 140 characters, an indicator (``critical`` for alerts and contraindicated orders, ``warning`` for
cautions, ``info`` otherwise), a source with label and URL, a Markdown detail, links to the cited
references, and for a contraindicated draft order a suggestion to remove it. Nothing useful to say —
no platelet count, no treatment line, no alert, no option — gives no card.

Every card and suggestion has a random ``uuid`` (the EHR sends it back in feedback); each card has a kind
(:data:`sleitp.service.cds.override_reasons.CARD_KINDS`) that decides its ``overrideReasons``, and the kind
and
option of every card issued are remembered by uuid (:class:`sleitp.service.cds.feedback.IssuedCards`, no
patient data) so that feedback can be counted per kind of advice.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sleitp.service.cds.override_reasons import override_reasons
from sleitp.text import value

if TYPE_CHECKING:
    from sleitp.decision import Assessment, Option
    from sleitp.decision.review import OrderReview
    from sleitp.service.cds.feedback import IssuedCards

__all__ = ["MAX_SUMMARY", "CardSource", "order_review_cards", "out_of_scope_card", "patient_view_cards",
           "stale_data_card", "summary_text"]

# [CDSHOOKS2] "One-sentence, <140-character summary"
MAX_SUMMARY = 139

AGENT_LABELS = {"ivig": "IVIG", "rhtpo": "rhTPO", "platelet_transfusion": "platelet transfusion"}


def agent_label(agent: str) -> str:
    return AGENT_LABELS.get(agent, agent.replace("_", " "))


def summary_text(text: str) -> str:
    """``text`` on one line, cut at a word boundary with an ellipsis to stay under 140 characters."""
    text = " ".join(text.split())
    if len(text) <= MAX_SUMMARY:
        return text
    cut = text[: MAX_SUMMARY - 1].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"


class CardSource:
    """The ``source`` of every card and the reference links (label, URL) cards may carry."""

    def __init__(self, base_url: str, reference_urls: dict[str, str], issued: IssuedCards | None = None
                 ) -> None:
        self.source = {"label": "sleitp — SLE-ITP decision support (not a prescription)",
                       "url": f"{base_url}/about"}
        self.reference_urls = reference_urls
        self.issued = issued

    def links(self, keys: Iterable[str]) -> list[dict[str, str]]:
        out, seen = [], set()
        for key in keys:
            url = self.reference_urls.get(key)
            if url and key not in seen:
                seen.add(key)
                out.append({"label": f"Source: {key}", "url": url, "type": "absolute"})
        return out[:6]

    def card(self, summary: str, indicator: str, detail: str, *, kind: str, option: str | None = None,
             links: list[dict[str, str]] | None = None, suggestions: list[dict[str, Any]] | None = None
             ) -> dict[str, Any]:
        """A card of ``kind`` (its override reasons); ``option`` is the agent it advises on, if one."""
        card: dict[str, Any] = {"uuid": str(uuid.uuid4()), "summary": summary_text(summary),
                                "indicator": indicator, "detail": detail, "source": dict(self.source)}
        if links:
            card["links"] = links
        if suggestions:
            card["suggestions"] = suggestions
            card["selectionBehavior"] = "at-most-one"
        reasons = override_reasons(kind)
        if reasons:
            card["overrideReasons"] = reasons
        if self.issued is not None:
            self.issued.add(card["uuid"], kind, option)
        return card


_REFS = re.compile(r"\s*\[[^\]]*\]\s*$")


def _plain(note: str) -> str:
    """A rendered note without its trailing ``[KEY, ...]`` (the card's detail and links carry them)."""
    return _REFS.sub("", note)




def _md(text: Any) -> str:
    """Text from the assessment made safe inside Markdown (no HTML, no link syntax)."""
    s = str(text)
    for ch in ("\\", "`", "*", "_", "[", "]", "<", ">", "|", "#"):
        s = s.replace(ch, "\\" + ch)
    return s


def _has_anything(a: Assessment) -> bool:
    return bool(a.report.platelets.latest is not None or a.report.responses or a.alerts or a.recommendations)


def _status(a: Assessment, src: CardSource) -> dict[str, Any]:
    r = a.report
    plt, itp, bleeding = r.platelets, r.itp, r.bleeding.who_grade
    parts = [f"Platelets {value(plt.latest)} x10^9/L ({plt.latest_date or 'no date'})"]
    if itp.phase:
        parts.append(f"ITP {itp.phase.replace('_', ' ')}")
    if bleeding is not None:
        parts.append(f"WHO bleeding grade {bleeding}")
    if r.responses:
        last = r.responses[-1]
        parts.append(f"line {last.line} ({', '.join(agent_label(x) for x in last.agents)}): "
                     f"{last.status_text or last.category}")
    lines = [
        f"**Assessed at {_md(r.assessment_date)}**", "",
        "| | |", "|---|---|",
        f"| Latest platelets | {value(plt.latest, ' x10^9/L')} on {_md(plt.latest_date)} |",
        f"| Nadir | {value(plt.nadir, ' x10^9/L')} on {_md(plt.nadir_date)} |",
        f"| ITP phase | {_md(itp.phase or 'unknown')} |",
        f"| SLEDAI-2K | {value(r.sledai.score)} |",
        f"| WHO bleeding grade | {value(bleeding)} |",
        f"| Prednisone-equivalent | {value(r.glucocorticoids.prednisone_equivalent_mg_day, ' mg/day')} |",
    ]
    if r.responses:
        lines += ["", "**Treatment lines and IWG response** (IWG 2009)", "",
                  "| line | agents | start | response |", "|---|---|---|---|"]
        lines += [f"| {x.line} | {_md(', '.join(x.agents))} | {_md(x.start)} "
                  f"| {_md(x.status_text or x.category)} |" for x in r.responses]
    return src.card("; ".join(parts), "info", "\n".join(lines), kind="status", links=src.links(["IWG2009"]))


def _safety_lines(o: Option, indent: str) -> str:
    out = "".join(f"\n{indent}- contraindication: {_md(c.render())}" for c in o.contraindications)
    return out + "".join(f"\n{indent}- caution: {_md(c.render())}" for c in o.cautions)


def _option_line(o: Option, setting: str) -> str:
    flag = " — **contraindicated**" if o.contraindicated else ""
    return (f"{o.rank}. **{_md(agent_label(o.therapy))}**{flag} ({_md(setting.replace('_', ' '))}): "
            f"{_md(o.rationale)} [{_md(', '.join(o.all_references))}]" + _safety_lines(o, "   "))


def _options(a: Assessment, src: CardSource) -> dict[str, Any] | None:
    recs = sorted(a.recommendations, key=lambda o: o.rank)
    usable = [o for o in recs if not o.contraindicated]
    if not recs:
        return None
    head = ", ".join(f"{o.rank}. {agent_label(o.therapy)}" for o in usable[:4])
    setting = a.plan.setting.name.replace("_", " ")
    summary = f"Options ({setting}): {head}" if head else f"No usable option ({setting}); see details"
    detail = "\n".join(["**Ranked options** (decision support, not a prescription)", ""]
                       + [_option_line(o, a.plan.setting.name) for o in recs])
    keys = [k for o in usable[:3] for k in o.all_references]
    return src.card(summary, "info", detail, kind="options", option=usable[0].therapy if usable else None,
                    links=src.links(keys))


def _prediction(a: Assessment, src: CardSource) -> dict[str, Any] | None:
    p = a.prediction_json  # the model's Prediction, through its to_json() (the model layer's contract)
    if not p:
        return None
    lo, hi = (p.get("interval") or [None, None])[:2]
    model = p.get("model") or {}
    summary = (f"Model estimate of {str(p.get('outcome', 'response')).replace('_', ' ')}: "
               f"{p['probability']:.0%}"
               + (f" ({lo:.0%}-{hi:.0%})" if lo is not None and hi is not None else ""))
    detail = [f"Model **{_md(model.get('name', ''))}**, trained on {_md(model.get('trained_on', ''))}."]
    if model.get("synthetic"):
        detail.append("**Trained on synthetic data: a demonstration, not a clinical estimate.**")
    if p.get("statement"):
        detail.append(_md(p["statement"]))
    return src.card(summary, "warning" if model.get("synthetic") else "info", "\n\n".join(detail),
                    kind="prediction")


def out_of_scope_card(a: Assessment, src: CardSource) -> dict[str, Any]:
    """The one ``info`` card for an out-of-scope patient, issued only when the EHR asks for it."""
    detail = ("sleitp's advice is for immune thrombocytopenia in systemic lupus erythematosus. This "
              "patient's record has:\n" + "\n".join(f"- {_md(r)}" for r in a.scope.reasons)
              + "\n\nNo SLE-ITP options and no prediction are given.")
    return src.card("Not an SLE-ITP patient by the record: sleitp gives no advice", "info", detail,
                    kind="out-of-scope")


def stale_data_card(a: Assessment, src: CardSource) -> dict[str, Any] | None:
    """A ``warning`` card when the latest platelet count is older than the data-age limit."""
    age = a.data_age
    if not age.stale:
        return None
    days = age.platelets_days
    summary = ("No platelet count on file: needs a current count" if days is None else
               f"Latest platelet count is {days} days old: needs a current count before acting")
    return src.card(summary, "warning", f"**Data age:** {_md(age.message)}", kind="stale-data")


def patient_view_cards(a: Assessment, src: CardSource, *, notes: list[str] | None = None
                       ) -> list[dict[str, Any]]:
    """Cards for ``patient-view``: alerts (critical), a stale-data warning, status, ranked options, model
    estimate. An out-of-scope patient gets no card (hooks.py decides on the one info card the EHR may ask
    for)."""
    if not a.scope.in_scope or not _has_anything(a):
        return []
    cards = [src.card(text, "critical", f"**Alert:** {_md(text)}", kind="alert")
             for text in (n.render() for n in a.alerts)]
    stale = stale_data_card(a, src)
    if stale:
        cards.append(stale)
    status = _status(a, src)
    if a.data_age.message:
        status["detail"] += f"\n\n**Data age:** {_md(a.data_age.message)}"
    warnings = a.report.record.warnings
    if warnings:
        status["detail"] += "\n\n**Record warnings**\n" + "\n".join(f"- {_md(w)}" for w in warnings)
    if notes:
        status["detail"] += "\n\n" + "\n".join(f"- {_md(n)}" for n in notes)
    cards.append(status)
    for extra in (_options(a, src), _prediction(a, src)):
        if extra:
            cards.append(extra)
    return cards


def order_review_cards(a: Assessment, reviews: list[tuple[str, str, OrderReview | None]], src: CardSource
                       ) -> list[dict[str, Any]]:
    """Cards for ``order-select``/``order-sign``: each proposed ITP agent against this patient.

    ``reviews`` are (draft reference, agent, review) from :func:`sleitp.decision.review.review_orders`.
    Contraindicated -> critical, with a suggestion to remove the draft; cautions -> warning; otherwise
    info with its rank (or, when the agent is not among the options for the patient's setting, info
    saying so with the options that are).
    """
    setting = a.plan.setting.name.replace("_", " ")
    ranked = sorted(a.recommendations, key=lambda o: o.rank)
    listed_names = ", ".join(agent_label(o.therapy) for o in ranked if not o.contraindicated)
    cards = []
    for ref, agent, review in reviews:
        name = agent_label(agent)
        if review is None:
            cards.append(src.card(f"sleitp has no evidence entry for {name}; no review", "info",
                                  f"**{_md(name)}** is not in sleitp's evidence base.",
                                  kind="order-no-evidence", option=agent))
            continue
        o = review.option
        cautions = [c.render() for c in o.cautions]
        contra = [c.render() for c in o.contraindications]
        refs = list(o.all_references)
        detail = ((_option_line(o, a.plan.setting.name) if review.listed else _unlisted_line(o, setting))
                  + _evidence_lines(a, o))
        if not review.listed:
            detail += (f"\n\nOptions listed for {_md(setting)}: {_md(listed_names)}." if listed_names else
                       f"\n\nNo option is listed for {_md(setting)}.")
        if o.contraindicated:
            why = _plain(contra[0] if contra else (cautions[0] if cautions else ""))
            remove = {"label": f"Remove the draft {name} order", "uuid": str(uuid.uuid4()),
                      "actions": [{"type": "delete", "description": f"Remove the draft {name} order",
                                   "resourceId": ref}]}
            cards.append(src.card(f"{name} is contraindicated for this patient: {why}", "critical", detail,
                                  kind="order-contraindicated", option=agent, links=src.links(refs),
                                  suggestions=[remove]))
            continue
        head = (f"{name}: option {o.rank} for {setting}" if review.listed
                else f"{name} is not among sleitp's options for {setting}")
        if cautions:
            head += f"; caution: {_plain(cautions[0])}"
        kind = ("order-not-listed" if not review.listed
                else "order-caution" if cautions else "order-option")
        cards.append(src.card(head, "warning" if cautions else "info", detail, kind=kind, option=agent,
                              links=src.links(refs)))
    return cards


def _unlisted_line(o: Option, setting: str) -> str:
    return (f"**{_md(agent_label(o.therapy))}** is not among sleitp's options for {_md(setting)}."
            + _safety_lines(o, ""))


def _evidence_lines(a: Assessment, o: Option) -> str:
    """The reported response rates of the agent (population, level, result, source) from the evidence."""
    rows = [f"- {_md(rate.text())}" for rate in a.evidence.therapy(o.therapy).response_rates[:4]]
    return ("\n\n**Reported evidence**\n" + "\n".join(rows)) if rows else ""
