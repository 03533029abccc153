"""`sleitp score`: every instrument for one record at one date, as one self-explaining result.

``ScoreReport.to_json()`` is the public contract of ``sleitp score --json`` (spec/cli.md and record.md):
the spec's fields with the spec's names, plus a ``details`` object with each instrument's findings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table

from sleitp.instruments import (
    CorticosteroidDependence,
    EularAcr2019,
    Glucocorticoids,
    ItpPhase,
    IwgResponse,
    PlateletSummary,
    Sledai2k,
    Slicc2012,
    ThrombocytopeniaGrade,
    WhoBleeding,
    corticosteroid_dependence,
    eular_acr_2019,
    glucocorticoid_exposure,
    itp_phase,
    iwg_responses,
    platelet_summary,
    sledai_2k,
    slicc_2012,
    thrombocytopenia_grade,
    who_bleeding,
)
from sleitp.instruments.bleeding import BLEEDING_WINDOW_DAYS
from sleitp.instruments.iwg import CONTINUATION_GAP_DAYS, CourseRole, course_roles
from sleitp.record import PatientRecord
from sleitp.view import RendersItself, dash, shown, wrapping_table, yes_no


@dataclass(frozen=True)
class ScoreOptions:
    """Choices where sources disagree (docs/clinical-choices.md); defaults are the documented ones."""

    sledai_window_days: int = 10  # [SLEDAI2K] 10 days (medicalcriteria) vs 28/30 days: clinical.md §1.4
    sledai_arthritis_min_joints: int = 2  # ">=2" (2 of 3 sources read) vs ">2": clinical.md §1.4
    proteinuria_upcr: bool = False  # count a UPCR > 0.5 g/g as proteinuria > 0.5 g/24h (docs/instruments.md)
    bleeding_window_days: int = BLEEDING_WINDOW_DAYS
    dexamethasone_mg_per_5mg_prednisone: float = 0.75  # [GC-EQUIV] 0.75 vs 0.6 mg: clinical.md §1.8
    thrombocytopenia_scale: str = "jung2016"
    # a course starting the day after the same agent ended continues it
    continuation_gap_days: int = CONTINUATION_GAP_DAYS


@dataclass(frozen=True)
class ScoreReport(RendersItself):
    """Every instrument for one record at one date. ``to_json()`` is the contract; ``__rich__`` (and so
    ``summary()``, ``to_html()``) the readable form of ``sleitp score``: one table per instrument, with
    what counted and why."""

    record: PatientRecord
    assessment_date: date
    platelets: PlateletSummary
    itp: ItpPhase
    thrombocytopenia: ThrombocytopeniaGrade
    sledai: Sledai2k
    eular_acr: EularAcr2019
    slicc: Slicc2012
    bleeding: WhoBleeding
    glucocorticoids: Glucocorticoids
    responses: list[IwgResponse]
    corticosteroid_dependence: CorticosteroidDependence
    courses: list[CourseRole] = field(default_factory=list)
    options: ScoreOptions = field(default_factory=ScoreOptions)

    def __rich__(self) -> Group:
        return Group(*_score_view(self))

    def to_json(self) -> dict:
        p, gc = self.platelets, self.glucocorticoids
        return {
            "patient_id": self.record.id,
            "assessment_date": self.assessment_date.isoformat(),
            "platelets": {
                "latest": p.latest, "latest_date": _iso(p.latest_date), "nadir": p.nadir,
                "nadir_date": _iso(p.nadir_date), "n_counts": p.n_counts,
                "grade": self.thrombocytopenia.grade, "grade_scale": self.thrombocytopenia.scale,
            },
            "itp": {
                "phase": self.itp.phase, "months_since_diagnosis": self.itp.months_since_diagnosis,
                "diagnosis_date": _iso(self.itp.diagnosis_date), "diagnosis_basis": self.itp.diagnosis_basis,
            },
            "sledai_2k": {"score": self.sledai.score, "items": self.sledai.items,
                          "window_days": self.sledai.window_days, "assessable": self.sledai.assessable,
                          "not_assessable_because": self.sledai.not_assessable_because},
            "eular_acr_2019": {
                "entry_criterion": self.eular_acr.entry_criterion, "points": self.eular_acr.points,
                "classified": self.eular_acr.classified, "domains": self.eular_acr.domains,
            },
            "slicc_2012": {"classified": self.slicc.classified, "clinical": self.slicc.clinical,
                           "immunologic": self.slicc.immunologic},
            "bleeding": {"who_grade": self.bleeding.who_grade, "date": _iso(self.bleeding.date),
                         "site": self.bleeding.site},
            "glucocorticoids": {
                "prednisone_equivalent_mg_day": gc.prednisone_equivalent_mg_day,
                "cumulative_prednisone_equivalent_mg": gc.cumulative_prednisone_equivalent_mg,
                "unknown_amounts": gc.unknown_amounts,
            },
            "responses": [
                {
                    "line": r.line, "agents": r.agents, "start": r.start.isoformat(),
                    "baseline_platelets": r.baseline_platelets, "category": r.category,
                    "time_to_response_days": r.time_to_response_days,
                    "time_to_complete_response_days": r.time_to_complete_response_days,
                    "loss_of_response_date": _iso(r.loss_of_response_date),
                    # beyond the spec (docs/iwg-response.md §11): the line on its agents' clock
                    "status": r.status, "status_text": r.status_text,
                    "expected_response_days": r.expected_response_days,
                    "days_evaluated": r.days_evaluated, "days_counted": r.days_counted,
                    "response_lost_date": _iso(r.response_lost_date),
                    "last_given": _iso(r.last_given),
                }
                for r in self.responses
            ],
            # every course up to the assessment date: an ITP line's, background lupus therapy, or not ITP
            # treatment (docs/iwg-response.md, "Lines")
            "courses": [c.to_json() for c in self.courses],
            "corticosteroid_dependence": {
                "dependent": self.corticosteroid_dependence.dependent,
                "considered_nonresponder": self.corticosteroid_dependence.considered_nonresponder,
                "reduction_date": _iso(self.corticosteroid_dependence.reduction_date),
                "fall_date": _iso(self.corticosteroid_dependence.fall_date),
                "detail": self.corticosteroid_dependence.detail,
            },
            "warnings": self.record.warnings,
            "details": {
                "sledai_2k": self.sledai.to_json(), "eular_acr_2019": self.eular_acr.to_json(),
                "slicc_2012": self.slicc.to_json(), "glucocorticoids": gc.to_json(),
                "responses": [r.to_json() for r in self.responses],
                "thrombocytopenia": self.thrombocytopenia.to_json(), "itp": self.itp.to_json(),
                "bleeding": self.bleeding.to_json(),
                "corticosteroid_dependence": self.corticosteroid_dependence.to_json(),
            },
        }


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def score(record: PatientRecord, at: date | None = None, options: ScoreOptions | None = None) -> ScoreReport:
    """Run every instrument on ``record`` at ``at`` (default: the record's assessment date)."""
    o = options or ScoreOptions()
    day = at or record.effective_assessment_date
    plt = platelet_summary(record, day)
    return ScoreReport(
        record=record,
        assessment_date=day,
        platelets=plt,
        itp=itp_phase(record, day),
        thrombocytopenia=thrombocytopenia_grade(plt.latest, scale=o.thrombocytopenia_scale),
        sledai=sledai_2k(record, day, window_days=o.sledai_window_days,
                         arthritis_min_joints=o.sledai_arthritis_min_joints,
                         proteinuria_upcr=o.proteinuria_upcr),
        eular_acr=eular_acr_2019(record, day, proteinuria_upcr=o.proteinuria_upcr),
        slicc=slicc_2012(record, day),
        bleeding=who_bleeding(record, day, window_days=o.bleeding_window_days),
        glucocorticoids=glucocorticoid_exposure(
            record, day, dexamethasone_mg_per_5mg_prednisone=o.dexamethasone_mg_per_5mg_prednisone),
        responses=iwg_responses(record, day, continuation_gap_days=o.continuation_gap_days),
        corticosteroid_dependence=corticosteroid_dependence(
            record, day, dexamethasone_mg_per_5mg_prednisone=o.dexamethasone_mg_per_5mg_prednisone),
        courses=course_roles(record, day, continuation_gap_days=o.continuation_gap_days),
        options=o,
    )


def _score_view(r: ScoreReport) -> list[RenderableType]:
    age = r.record.age_at(r.assessment_date)
    out: list[RenderableType] = [f"[bold]Patient {r.record.id}[/bold]  assessed at {r.assessment_date}"
                                 f"  ({r.record.sex}, age {shown(age and round(age))})"]
    out += [f"[yellow]warning:[/yellow] {w}" for w in r.record.warnings]

    t = Table(title="Platelets and ITP", show_header=False, title_justify="left")
    t.add_column(overflow="fold")
    t.add_column(overflow="fold")
    p = r.platelets
    t.add_row("latest", f"{shown(p.latest, ' x10^9/L')} on {shown(p.latest_date)}")
    t.add_row("nadir", f"{shown(p.nadir, ' x10^9/L')} on {shown(p.nadir_date)}")
    t.add_row("grade", f"{shown(r.thrombocytopenia.grade)}  [dim]{r.thrombocytopenia.detail} "
                       f"[{r.thrombocytopenia.source}][/dim]")
    t.add_row("ITP phase", f"{shown(r.itp.phase)}  [dim]{shown(r.itp.months_since_diagnosis)} months since "
                           f"diagnosis ({r.itp.diagnosis_basis}) [{r.itp.source}][/dim]")
    t.add_row("WHO bleeding", f"{shown(r.bleeding.who_grade)}  [dim]worst in the last "
                              f"{r.bleeding.window_days} days"
                              f"{' (' + r.bleeding.site + ')' if r.bleeding.site else ''} "
                              f"[{r.bleeding.source}][/dim]")
    gc = r.glucocorticoids
    t.add_row("glucocorticoids", f"{shown(gc.prednisone_equivalent_mg_day, ' mg/day')} "
                                 "prednisone-equivalent now; "
                                 f"{shown(gc.cumulative_prednisone_equivalent_mg, ' mg')} cumulative "
                                 f"[dim][{gc.source}][/dim]")
    for u in gc.unknown_amounts:
        t.add_row("", f"[yellow]{u}[/yellow]")
    cd = r.corticosteroid_dependence
    t.add_row("steroid dependence", f"{yes_no(cd.dependent)}  [dim]{cd.detail}[/dim]")
    out.append(t)

    for title, res, extra in (
        (f"SLEDAI-2K = {r.sledai.score} (window {r.sledai.window_days} days)", r.sledai, ""),
        (f"2019 EULAR/ACR: {r.eular_acr.points} points, "
         f"{'classified' if r.eular_acr.classified else 'not classified'}"
         f"{'' if r.eular_acr.entry_criterion else ' (entry criterion ANA >= 1:80 not met)'}",
         r.eular_acr, ""),
        (f"SLICC 2012: {'classified' if r.slicc.classified else 'not classified'}", r.slicc, r.slicc.rule),
    ):
        t = wrapping_table("item", "points", "date", "from", title=title, caption=extra or None)
        for f in res.findings:
            t.add_row(f.name, "—" if f.points is None else shown(f.points), shown(f.date),
                      f"{f.detail} [dim][{f.source or res.source}][/dim]")
        out.append(t)

    # a narrow layout (no outer edge, times to R and CR in one column): whole at 80 columns
    t = wrapping_table("line", "agents", "start", "baseline", "days to R/CR", "IWG and state",
                       title="Treatment lines and IWG response [IWG2009]", box=box.SIMPLE_HEAD,
                       show_edge=False)
    # agent names stay whole (the longest name is the column's minimum width)
    t.columns[1].min_width = max((len(a) for x in r.responses for a in x.agents), default=6)
    for x in r.responses:
        t.add_row(str(x.line), ", ".join(x.agents), str(x.start), shown(x.baseline_platelets),
                  f"{dash(x.time_to_response_days)}/{dash(x.time_to_complete_response_days)}",
                  x.status_text)
    if not r.responses:
        t.add_row("-", "no ITP-directed treatment recorded", "", "", "", "")
    t.caption = ("days to R/CR: days to response / complete response; '-': not reached or not evaluable; "
                 "state: the IWG category on its agents' clock (docs/iwg-response.md)")
    out.append(t)
    other = [c for c in r.courses if c.role != "itp_line"]
    if other:
        t = wrapping_table("agent", "start", "end", "read as", "why", title="Courses that are not ITP lines",
                           box=box.SIMPLE_HEAD, show_edge=False)
        for c in other:
            t.add_row(c.agent, str(c.start), dash(c.end), c.role.replace("_", " "), c.reason)
        out.append(t)
    return out


__all__ = ["ScoreOptions", "ScoreReport", "score"]
