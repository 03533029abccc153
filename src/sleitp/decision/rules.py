"""The recommendation rules, in one place, for a clinician to review line by line.

Input: a :class:`~sleitp.decision.state.PatientState` (facts read from the record and the instruments).
Output: a :class:`Plan` — the setting, alerts, advice, and the ranked options, each option with its
rationale, cautions, contraindications and references.

The order of work, and where each step is in this file:

1. ``bleeding_emergency``  — is there life-threatening / critical-site bleeding, or a very low count with
   bleeding?  (ICR 2019)
2. ``decide_setting``      — emergency bleeding / first line / second line / refractory-relapsed /
   maintenance, from bleeding, treatment lines and their IWG categories, and corticosteroid dependence.
3. ``candidates_for``      — the options of that setting, in the guideline order (ASH 2019, ICR 2019,
   GLADEL-PANLAR 2018, Bonfá 2020, Galanopoulos 2017, Poston & Gernsheimer, BSR 2023).
4. ``apply_modifiers``     — contraindications, cautions (pregnancy, antiphospholipid antibodies or
   thrombosis, hepatitis B, infection, liver disease, lupus nephritis), agents that already failed.
5. ``advice_for``          — steroid-sparing prompts (ASH: course > 6 weeks; EULAR 2019: maintenance
   < 7.5 mg/day), observation, delivery goals in pregnancy, maintenance.

Every threshold cites its source key at the line that applies it; keys resolve in
``sleitp/evidence/references.yaml``; statement ids (``ASH2019-1a``) in ``guidelines.yaml``. Choices where
sources are silent or disagree are named ``CHOICE`` and documented in docs/decision-support.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

from sleitp.decision.conditions import patient_conditions
from sleitp.decision.notes import Note
from sleitp.decision.setting import Setting, SettingName
from sleitp.decision.state import CRITICAL_BLEED_DAYS, Line, PatientState, is_critical_site
from sleitp.decision.workup import workup
from sleitp.evidence import Evidence, Therapy, load_evidence
from sleitp.instruments.iwg import EXPECTED_RESPONSE_DAYS
from sleitp.record import GLUCOCORTICOIDS

# --- thresholds -------------------------------------------------------------------------------------------
TREATMENT_THRESHOLD = 30.0  # [ASH2019] 1a: < 30 -> corticosteroids; 1b: >= 30 -> observation (x10^9/L)
HOSPITALISATION_THRESHOLD = 20.0  # [ASH2019] 2a: < 20, newly diagnosed -> hospitalisation
VERY_LOW_WITH_BLEEDING = 20.0  # CHOICE: "very low count" for an emergency = the ASH 2a threshold [ASH2019]
CLINICALLY_SIGNIFICANT_BLEEDING = 2  # [WHO-BLEED] grade 2 = clinically significant blood loss (1 = petechial)
SEVERE_BLEEDING = 3  # [WHO-BLEED] grade 3 = gross blood loss, requires transfusion
LIFE_THREATENING_GRADE = 4  # [WHO-BLEED] grade 4 = debilitating, retinal or cerebral, fatality
SHORT_COURSE_DAYS = 42  # [ASH2019] against prednisone > 6 weeks (6 x 7 days)
MAINTENANCE_GC_TARGET = 5.0  # [EULAR2023] maintenance <= 5 mg/day prednisone-eq, withdrawn when possible

SETTINGS = tuple(SettingName)
TPO_RA = "TPO-RA"  # the evidence's therapy class of the thrombopoietin-receptor agonists (therapies.yaml)


@dataclass(frozen=True)
class Option:
    therapy: str
    rationale: str
    references: tuple[str, ...]
    cautions: tuple[Note, ...] = ()
    contraindications: tuple[Note, ...] = ()
    previously_failed: str = ""  # "line 2: NR" when the agent already failed
    demoted: str = ""  # why the option was moved down, if it was
    rank: int = 0

    @property
    def contraindicated(self) -> bool:
        return bool(self.contraindications)

    @property
    def all_references(self) -> tuple[str, ...]:
        keys = list(self.references)
        for n in (*self.cautions, *self.contraindications):
            keys += n.references
        return tuple(dict.fromkeys(keys))


@dataclass(frozen=True)
class Plan:
    setting: Setting
    options: tuple[Option, ...]
    alerts: tuple[Note, ...] = ()
    advice: tuple[Note, ...] = field(default_factory=tuple)

    @property
    def setting_reason(self) -> Note:
        """The setting as the old ``Note("name: why", references)`` (for readers not yet on ``setting``)."""
        return Note(str(self.setting), self.setting.references)


# === 1. bleeding emergency ================================================================================
def bleeding_emergency(s: PatientState) -> tuple[str | None, tuple[Note, ...]]:
    """("life_threatening" | "urgent" | None, alerts).

    - life-threatening: a critical-site bleed (intracranial bleeding of WHO grade >= 1, WHO grade 4 at any
      site, GI bleeding of WHO grade >= 3) in the last ``CRITICAL_BLEED_DAYS`` (30) days [ICR2019] ("life-
      threatening bleeding, especially intracranial haemorrhage") [WHO-BLEED]: the emergency does not end
      with the 7-day bleeding window (CHOICE, docs/clinical-choices.md);
    - urgent: WHO grade 3 at another site in the 7-day window (gross blood loss requiring transfusion)
      [WHO-BLEED], or a count < 20 x10^9/L with clinically significant bleeding (WHO >= 2) (CHOICE,
      docs/decision-support.md) [ASH2019].
    A record of WHO grade 0 is "assessed, no bleeding", whatever its site (the state never holds one).
    """
    alerts: list[Note] = []
    level = None
    for b in s.critical_bleeds:
        where = f"{b.site or 'unspecified site'}, WHO grade {b.who_grade} on {b.date.isoformat()}"
        days = (s.at - b.date).days
        since = f" ({days} days ago; kept as an emergency for {CRITICAL_BLEED_DAYS} days)" if days else ""
        kind = ("Critical-site bleeding" if b.site == "intracranial" else
                "Severe gastrointestinal bleeding" if b.site == "gi" and b.who_grade < LIFE_THREATENING_GRADE
                else "Life-threatening bleeding")
        alerts.append(Note(
            f"{kind} ({where}){since}: emergency; platelet transfusion must not be postponed; IV "
            "corticosteroids with IVIG",
            ("ICR2019",) if b.site == "intracranial" else ("ICR2019", "WHO-BLEED")))
        level = "life_threatening"
    for b in s.bleeding:
        if b.who_grade >= SEVERE_BLEEDING and b not in s.critical_bleeds:  # [WHO-BLEED] requires transfusion
            where = f"{b.site or 'unspecified site'}, WHO grade {b.who_grade} on {b.date.isoformat()}"
            alerts.append(Note(
                f"Severe bleeding ({where}): urgent rise of the platelet count needed; IV corticosteroids "
                "with IVIG", ("ICR2019", "WHO-BLEED")))
            level = level or "urgent"
    worst = s.worst_bleeding
    if (
        level is None
        and s.platelets is not None
        and s.platelets < VERY_LOW_WITH_BLEEDING  # [ASH2019] CHOICE
        and worst is not None
        and worst >= CLINICALLY_SIGNIFICANT_BLEEDING
    ):  # [WHO-BLEED]
        alerts.append(
            Note(
                f"Platelets {s.platelets:g} x10^9/L with clinically significant bleeding (WHO grade "
                f"{worst}): urgent treatment; IV corticosteroids with IVIG",
                ("ICR2019", "ASH2019"),
            )
        )
        level = "urgent"
    return level, tuple(alerts)


# === 2. setting ===========================================================================================
def decide_setting(s: PatientState, emergency: str | None) -> Setting:
    """The setting, with why and its sources.

    Lines are ITP-directed lines only (background lupus therapy is not a line: sleitp.instruments.iwg). A line
    without response is a failure only once its agents' time to respond has passed (``under_evaluation``
    before that); a relapse after a durable response is not a failure of the agent [WEI2016] [RTX-RENJI].
    """
    if emergency:
        return Setting(SettingName.EMERGENCY_BLEEDING, f"{emergency.replace('_', '-')} bleeding",
                       ("ICR2019",))
    if not s.lines:
        return Setting(SettingName.FIRST_LINE, "no ITP-directed treatment line yet", ("ASH2019",))
    failed = s.failed_lines
    n_failed = len(failed)
    if s.steroid_dependent and not any(set(x.agents) & set(GLUCOCORTICOIDS) for x in failed):
        n_failed += 1  # [IWG2009] "patients with corticosteroid dependence are considered nonresponders"
    last = s.lines[-1]
    if last.responding and not s.steroid_dependent:
        return Setting(
            SettingName.MAINTENANCE,
            f"line {last.line} ({', '.join(last.agents)}) reached {last.category} "
            "without loss of response",
            ("IWG2009",),
        )
    level = (SettingName.REFRACTORY_RELAPSED if n_failed >= 2 or (s.splenectomised and n_failed >= 1)
             else SettingName.SECOND_LINE if n_failed == 1 else SettingName.FIRST_LINE)
    if last.under_evaluation:
        # the setting does not move on while the current line's agents still have time to work
        return Setting(
            level,
            f"line {last.line} ({', '.join(last.agents)}) under evaluation, {last.clock}: not yet a failure",
            ("IWG2009", *_window_sources(last)),
        )
    if last.durable_relapse:
        return Setting(
            level,
            f"relapse after a durable response to line {last.line} ({', '.join(last.agents)}): "
            "retreatment with the agent that gave it comes first",
            ("WEI2016", "RTX-RENJI"),
        )
    if level == SettingName.REFRACTORY_RELAPSED:
        # [IWG2009] refractory: failure after splenectomy; relapsed / multiply failed: >= 2 failed lines
        # (CHOICE, docs/decision-support.md)
        return Setting(
            SettingName.REFRACTORY_RELAPSED,
            f"{n_failed} failed line(s)"
            f"{' after splenectomy' if s.splenectomised else ''}",
            ("IWG2009",),
        )
    if level == SettingName.SECOND_LINE:
        why = (
            "corticosteroid dependence"
            if s.steroid_dependent and not failed
            else f"line {failed[0].line} ({', '.join(failed[0].agents)}) {_failure(failed[0])}"
        )
        return Setting(SettingName.SECOND_LINE, why, ("IWG2009", "GLADEL2018"))
    return Setting(
        SettingName.FIRST_LINE,
        f"line {last.line} ({', '.join(last.agents)}) under way, response {last.category} "
        "(not yet evaluable)",
        ("IWG2009",),
    )


def _continue_clock(last: Line) -> str:
    """Where the current line stands, for its "continue" option: its day, or no count since its time."""
    if last.days_evaluated >= last.expected_response_days:
        return f"under evaluation, {last.clock}"
    return f"on day {last.days_evaluated} of about {last.expected_response_days} days to respond"


def _window_sources(line) -> tuple[str, ...]:
    keys = (EXPECTED_RESPONSE_DAYS[a][1] for a in line.agents if a in EXPECTED_RESPONSE_DAYS)
    return tuple(dict.fromkeys(keys))


FAILURE_WORDS = {
    "no_response": "no response (NR) once its time to respond had passed",
    "response_lost_on_treatment": "lost its response on treatment",
    "relapse_after_stopping": "relapsed after it was stopped",
    "relapse_after_durable_response": "relapsed after a durable response",
}


def _failure(line) -> str:
    words = FAILURE_WORDS.get(line.status, line.status.replace("_", " "))
    lost = line.response_lost_date
    return f"{words} on {lost.isoformat()}" if lost and line.status != "no_response" else words


# === 3. candidate options per setting =====================================================================
# (agent, rationale, references) in the order the sources give; ties ordered by SLE-specific evidence first.
EMERGENCY_LIFE_THREATENING = (
    (
        "platelet_transfusion",
        "life-threatening bleeding: platelet transfusion must not be postponed",
        ("ICR2019",),
    ),
    ("ivig", "emergency: IV corticosteroids with IVIG to raise the count within 24 hours", ("ICR2019",)),
    ("methylprednisolone", "emergency: IV corticosteroids (with IVIG)", ("ICR2019", "ARNAL2002")),
    (
        "romiplostim",
        "if no significant response to IVIG and transfusion on corticosteroids: consider a TPO-RA",
        ("ICR2019",),
    ),
    (
        "eltrombopag",
        "if no significant response to IVIG and transfusion on corticosteroids: consider a TPO-RA",
        ("ICR2019",),
    ),
)
EMERGENCY_URGENT = (
    ("methylprednisolone", "urgent: IV corticosteroids with IVIG", ("ICR2019", "ARNAL2002")),
    ("ivig", "urgent: IVIG with IV corticosteroids (rapid response within days)", ("ICR2019", "KADO2019")),
)  # no platelet transfusion: [ICR2019] frames it by life-threatening bleeding (review M17)
FIRST_LINE = (
    (
        "prednisone",
        "first line: glucocorticoids, short course <= 6 weeks (0.5-2 mg/kg/day); SLE-ITP series: "
        "80% response, 22% sustained",
        ("ASH2019", "GLADEL2018", "ARNAL2002"),
    ),
    (
        "dexamethasone",
        "first line: dexamethasone 40 mg/day x 4 days, preferred when a rapid response matters; "
        "the haematologists' first choice in SLE-ITP",
        ("ASH2019", "BONFA2020", "WEI2016"),
    ),
    (
        "ivig",
        "added when a rapid response is needed; an option with current infection "
        "(with or without glucocorticoids)",
        ("KADO2019", "GLADEL2018"),
    ),
    (
        "methylprednisolone",
        "pulse IV methylprednisolone, with or without IVIG in the acute phase",
        ("GALANOPOULOS2017", "ARNAL2002"),
    ),
    (
        "hydroxychloroquine",
        "adjunct: response in ANA-positive and SLE-ITP; antimalarial prolongs relapse-free survival",
        ("KHELLAF2014", "CIME2024"),
    ),
)
SECOND_LINE = (
    (
        "rituximab",
        "after first-line failure; GLADEL-PANLAR (strong, for several situations together): 'use IVIG "
        "with/without GCs or RTX plus GCs'; SLE-ITP series",
        ("GLADEL2018", "BONFA2020", "RTX-LOWDOSE2011"),
    ),
    (
        "ivig",
        "a bridge when a rapid rise is needed (platelets < 30, bleeding, pregnancy or a procedure): "
        "IVIG with or without glucocorticoids",
        ("GLADEL2018", "KADO2019"),
    ),
    (
        "mycophenolate",
        "immunosuppressant (cost and availability may favour immunosuppressants over rituximab)",
        ("GLADEL2018", "GALANOPOULOS2017", "MMF-CASES"),
    ),
    (
        "azathioprine",
        "immunosuppressant; longer relapse-free survival than cyclophosphamide in SLE-ITP",
        ("GLADEL2018", "GALANOPOULOS2017", "CIME2024"),
    ),
    ("cyclosporine", "immunosuppressant listed among second-line agents", ("GALANOPOULOS2017",)),
    (
        "danazol",
        "second line; SLE series of glucocorticoid-refractory thrombocytopenia",
        ("CERVERA1995", "GALANOPOULOS2017"),
    ),
    ("hydroxychloroquine", "second line in ANA-positive ITP (SLE 83% response)", ("KHELLAF2014",)),
    (
        "eltrombopag",
        "TPO-RA: SLE-ITP series (response in about 8 days; all patients on concurrent immunosuppression)",
        ("ELTROMBOPAG-SLE2020", "ELTROMBOPAG-CTD2024"),
    ),
    ("romiplostim", "TPO-RA: primary ITP trials only", ("KUTER2008",)),
    ("avatrombopag", "TPO-RA labelled for chronic ITP; no hepatotoxicity boxed warning",
     ("AVATROMBOPAG-LABEL-FDA",)),
)
REFRACTORY_RELAPSED = (
    (
        "rituximab",
        "refractory disease: rituximab or immunosuppressants",
        ("BONFA2020", "GLADEL2018", "RTX-LOWDOSE2011"),
    ),
    ("mycophenolate", "refractory disease: immunosuppressants", ("BONFA2020", "GALANOPOULOS2017")),
    (
        "ivig",
        "a bridge when a rapid rise is needed (platelets < 30, bleeding, pregnancy or a procedure)",
        ("KADO2019", "GLADEL2018"),
    ),
    (
        "cyclophosphamide",
        "immunosuppressant listed among second-line agents (shorter relapse-free survival than "
        "azathioprine or rituximab)",
        ("GALANOPOULOS2017", "CIME2024"),
    ),
    ("danazol", "SLE series of glucocorticoid-refractory thrombocytopenia", ("CERVERA1995",)),
    ("eltrombopag", "TPO-RA: SLE-ITP series", ("ELTROMBOPAG-SLE2020", "ELTROMBOPAG-CTD2024")),
    ("romiplostim", "TPO-RA: primary ITP trials", ("KUTER2008",)),
    ("avatrombopag", "TPO-RA labelled for chronic ITP; no hepatotoxicity boxed warning",
     ("AVATROMBOPAG-LABEL-FDA",)),
    ("hetrombopag", "TPO-RA: primary ITP trial (China)", ("HETROMBOPAG2021",)),
    (
        "splenectomy",
        "recurrent or resistant cases; SLE series 64-65% sustained, but 'does not cure' in another",
        ("GALANOPOULOS2017", "SPLENECTOMY2004", "ARNAL2002", "HALL1985"),
    ),
    ("fostamatinib", "platelet-targeted (SYK inhibitor): primary ITP trials", ("FIT2018",)),
    ("rilzabrutinib", "emerging (BTK inhibitor): primary ITP trial", ("LUNA3",)),
    ("efgartigimod", "emerging (FcRn blocker): primary ITP trial", ("ADVANCE-IV",)),
    (
        "daratumumab",
        "emerging (plasma-cell, anti-CD38): refractory autoimmune cytopenia series",
        ("DARA-ITP",),
    ),
    ("telitacicept", "emerging (BLyS/APRIL): SLE with APS case reports", ("TELITACICEPT-CASES",)),
)
MAINTENANCE = (
    (
        "hydroxychloroquine",
        "maintenance: antimalarial prolongs relapse-free survival",
        ("CIME2024", "KHELLAF2014"),
    ),
    (
        "azathioprine",
        "maintenance immunosuppressant: longer relapse-free survival after azathioprine induction; "
        "stopping maintenance is associated with relapse",
        ("CIME2024", "LI2023"),
    ),
    (
        "mycophenolate",
        "maintenance immunosuppressant; stopping maintenance is associated with relapse",
        ("LI2023", "GALANOPOULOS2017"),
    ),
)


# Active major-organ lupus: treat the lupus [EULAR2023] ("for active lupus nephritis, GC, mycophenolate or
# low-dose intravenous CYC are recommended as anchor drugs"; organ-threatening disease: prompt
# immunosuppressive therapy with glucocorticoid pulses)
LUPUS_NEPHRITIS_ANCHORS = (
    ("methylprednisolone", "active lupus nephritis: glucocorticoid pulses, an anchor drug (EULAR 2023)",
     ("EULAR2023",)),
    ("mycophenolate", "active lupus nephritis: mycophenolate, an anchor drug (EULAR 2023)", ("EULAR2023",)),
    ("cyclophosphamide", "active lupus nephritis: low-dose intravenous cyclophosphamide, an anchor drug "
     "(EULAR 2023)", ("EULAR2023",)),
)
ORGAN_THREATENING_LUPUS = (
    ("methylprednisolone", "organ-threatening lupus: glucocorticoid pulses (EULAR 2023)", ("EULAR2023",)),
    ("mycophenolate", "organ-threatening lupus: prompt immunosuppressive therapy (EULAR 2023)",
     ("EULAR2023",)),
    ("cyclophosphamide", "organ-threatening lupus: prompt immunosuppressive therapy (EULAR 2023)",
     ("EULAR2023",)),
)
# Pregnancy, any setting after first line [ICR2019-PREG]: "High-dose methylprednisolone, in combination with
# IVIg and/or azathioprine, is suggested for patients refractory to oral corticosteroids or IVIg alone";
# third line ciclosporin [PREG-ITP-TABLE]; hydroxychloroquine is compatible [BSR2023]
PREGNANCY_AFTER_FIRST_LINE = (
    ("ivig", "pregnancy, refractory to oral corticosteroids or IVIG alone: high-dose methylprednisolone with "
     "IVIG and/or azathioprine (ICR, grade C)", ("ICR2019-PREG", "PREG-ITP-TABLE")),
    ("methylprednisolone", "pregnancy: high-dose IV methylprednisolone (1000 mg) with IVIG and/or "
     "azathioprine (ICR, grade C)", ("ICR2019-PREG", "PREG-ITP-TABLE")),
    ("azathioprine", "pregnancy: azathioprine with high-dose methylprednisolone (ICR, grade C); "
     "compatible with pregnancy", ("ICR2019-PREG", "BSR2023")),
    ("cyclosporine", "pregnancy: ciclosporin (third line in the consensus tables); compatible with pregnancy",
     ("PREG-ITP-TABLE", "BSR2023")),
    ("hydroxychloroquine", "pregnancy: compatible (<= 400 mg/day)", ("BSR2023",)),
)
# The order in pregnancy, every setting (ICR2019-PREG, POSTON2016): these first, in this order
PREGNANCY_ORDER = ("ivig", "prednisone", "prednisolone", "methylprednisolone", "azathioprine", "cyclosporine",
                   "hydroxychloroquine", "dexamethasone")
PREGNANCY_LATE_ONLY = ("rituximab",)  # [ICR2019-PREG] very severe cases / late pregnancy only (and TPO-RAs)
# Deferred while an infection is active (review H5): B-cell / plasma-cell agents and immunosuppressants
DEFER_IN_INFECTION = frozenset({
    "rituximab", "obinutuzumab", "daratumumab", "bortezomib", "belimumab", "telitacicept", "anifrolumab",
    "cd19_car_t", "mycophenolate", "azathioprine", "cyclophosphamide", "cyclosporine", "tacrolimus",
    "voclosporin", "sirolimus", "efgartigimod",
})
B_CELL_DEPLETING = ("rituximab", "obinutuzumab")  # [AGA-HBV2015] high-risk group for HBV reactivation
IVIG_BRIDGE_BELOW = 30.0  # [ASH2019] 1a threshold: below it a rapid rise may be needed [KADO2019]


def _emergency_table(s: PatientState, emergency: str | None) -> tuple:
    return EMERGENCY_LIFE_THREATENING if emergency == "life_threatening" else EMERGENCY_URGENT


def _first_line_table(s: PatientState, emergency: str | None) -> tuple:
    if s.lines or needs_treatment(s):
        return FIRST_LINE
    # [ASH2019] 1b: observation rather than corticosteroids — only when the lupus is otherwise quiet;
    # active major-organ lupus is treated as lupus [EULAR2023]
    if not s.major_organ_activity:
        return ()
    return LUPUS_NEPHRITIS_ANCHORS if _nephritis_active(s) else ORGAN_THREATENING_LUPUS


# the table of options of each setting: (patient, emergency level) -> rows (agent, rationale, references)
TABLES = {
    SettingName.EMERGENCY_BLEEDING: _emergency_table,
    SettingName.FIRST_LINE: _first_line_table,
    SettingName.SECOND_LINE: lambda s, emergency: SECOND_LINE,
    SettingName.REFRACTORY_RELAPSED: lambda s, emergency: REFRACTORY_RELAPSED,
    SettingName.MAINTENANCE: lambda s, emergency: MAINTENANCE,
}
_AFTER_FIRST_LINE = (SettingName.SECOND_LINE, SettingName.REFRACTORY_RELAPSED)


def candidates_for(setting: SettingName, s: PatientState, emergency: str | None,
                   ev: Evidence) -> list[Option]:
    table = TABLES[setting](s, emergency)
    if not table:  # observation (ASH 2019 1b): no options
        return []
    options = [Option(a, why, refs) for a, why, refs in table]
    if setting in _AFTER_FIRST_LINE and _nephritis_active(s):
        # [EULAR2023] the anchor drugs of active nephritis treat both (cyclophosphamide into second line too)
        options = _add_first(options, LUPUS_NEPHRITIS_ANCHORS[1:])
    if s.pregnant and setting not in (SettingName.EMERGENCY_BLEEDING, SettingName.FIRST_LINE):
        options = _add_first(options, PREGNANCY_AFTER_FIRST_LINE)
    if setting in _AFTER_FIRST_LINE and not _bridge_needed(s):
        options = [o for o in options if o.therapy != "ivig"]  # IVIG only as a bridge (review M3) [KADO2019]
    if setting == SettingName.MAINTENANCE:  # continue what achieved the response (non-glucocorticoid agents)
        last = s.lines[-1]
        keep = [
            a
            for a in last.agents
            if a not in GLUCOCORTICOIDS
            and a in s.running_agents
            and a in ev.therapies
            and a not in {o.therapy for o in options}
        ]
        options = [
            Option(a, f"continue: line {last.line} reached {last.category} (IWG)", ("IWG2009",)) for a in keep
        ] + options
    if s.lines and setting != SettingName.EMERGENCY_BLEEDING:
        last = s.lines[-1]
        durable = _retreatable(s, ev)
        if durable:  # retreat with what gave a durable response [RTX-RENJI] [WEI2016]
            options = _add_first(options, durable)
        if last.under_evaluation:  # give the current line its time [IWG2009]
            options = _add_first(options, tuple(
                (a, f"continue: line {last.line} is " + _continue_clock(last),
                 ("IWG2009", *_window_sources(last)))
                for a in last.agents if a in s.running_agents and a in ev.therapies))
    if s.active_infection and not (setting == SettingName.EMERGENCY_BLEEDING
                                   and emergency == "life_threatening"):
        # [GLADEL2018] "patients with current and ongoing infections: use IVIG with/without GCs", any setting
        if "ivig" not in {o.therapy for o in options}:
            options.insert(0, Option("ivig", "current infection: IVIG with or without glucocorticoids",
                                     ("GLADEL2018",)))
        options.sort(key=lambda o: o.therapy != "ivig")
    if s.pregnant and setting != SettingName.EMERGENCY_BLEEDING:
        # [POSTON2016] [ICR2019-PREG] pregnancy: glucocorticoids or IVIG first (IVIG first with infection
        # [GLADEL2018] or after first line); prednisolone before dexamethasone [PREG-ITP-TABLE]
        order = list(PREGNANCY_ORDER)
        if setting == SettingName.FIRST_LINE and not s.active_infection:
            order.remove("ivig")
            order.insert(1, "ivig")
        options.sort(key=lambda o: order.index(o.therapy) if o.therapy in order else len(order))
    return options


def _retreatable(s: PatientState, ev: Evidence) -> tuple:
    """(agent, rationale, references) of the agents of lines that ended in a relapse after a durable response
    and have not failed since, most recent line first [RTX-RENJI] (retreated with rituximab) [WEI2016]."""
    rows, seen = [], set()
    for ln in reversed(s.lines):
        later_failed = {a for x in s.lines if x.line > ln.line and x.failed for a in x.agents}
        if not ln.durable_relapse:
            continue
        for a in ln.agents:
            if a in seen or a in later_failed or a not in ev.therapies:
                continue
            seen.add(a)
            refs = ("RTX-RENJI", "WEI2016") if a not in GLUCOCORTICOIDS else ("WEI2016",)
            rows.append((a, f"retreatment: line {ln.line} gave a durable response ({ln.category}, held >= 6 "
                            "months) before it relapsed off treatment", refs))
            if ev.therapy(a).therapy_class == TPO_RA:  # [TPORA-SWITCH2014] switching TPO-RA helped 50-80%
                rows += [(b, f"another TPO-RA: line {ln.line}'s {a} gave a durable response; switching "
                             "between TPO-RAs helped 50-80% in a primary-ITP series", ("TPORA-SWITCH2014",))
                         # the agents the switching series studied, not the whole TPO-RA class of the
                         # evidence (hetrombopag, rhTPO: no switching data read) [TPORA-SWITCH2014]
                         for b in ("romiplostim", "avatrombopag", "eltrombopag")
                         if b != a and b not in later_failed and b not in seen and b in ev.therapies]
                seen.update(b for b, _, _ in rows)
    return tuple(rows)


def _add_first(options: list[Option], rows) -> list[Option]:
    """Put ``rows`` (agent, rationale, references) first; an agent already listed moves up with the new
    rationale (and keeps its earlier references)."""
    have = {o.therapy: o for o in options}
    first = [Option(a, why, tuple(dict.fromkeys((*refs, *(have[a].references if a in have else ())))))
             for a, why, refs in rows]
    seen = {o.therapy for o in first}
    first = [o for i, o in enumerate(first) if o.therapy not in {x.therapy for x in first[:i]}]
    return first + [o for o in options if o.therapy not in seen]


def _nephritis_active(s: PatientState) -> bool:
    renal = {"urinary_casts", "hematuria", "proteinuria", "pyuria"}
    return any(x in renal or x.startswith("lupus nephritis") for x in s.major_organ_activity)


def _bridge_needed(s: PatientState) -> bool:
    """IVIG as a bridge [KADO2019]: a count < 30 [ASH2019], bleeding, or pregnancy (delivery) [POSTON2016]."""
    return (s.platelets is not None and s.platelets < IVIG_BRIDGE_BELOW) or bool(s.bleeding) or s.pregnant \
        or s.active_infection or s.platelets is None


def needs_treatment(s: PatientState) -> bool:
    """First line: treat when platelets < 30 [ASH2019 1a] (GLADEL: <= 30, see docs) or bleeding beyond minor
    mucocutaneous (WHO >= 2) [PUMCH-REVIEW] [WHO-BLEED]; otherwise observe [ASH2019 1b]."""
    if s.platelets is not None and s.platelets < TREATMENT_THRESHOLD:  # [ASH2019] 1a
        return True
    worst = s.worst_bleeding
    return worst is not None and worst >= CLINICALLY_SIGNIFICANT_BLEEDING  # [PUMCH-REVIEW] bleeding -> treat


# === 4. modifiers =========================================================================================
def apply_modifiers(options: list[Option], s: PatientState, setting: SettingName,
                    ev: Evidence) -> list[Option]:
    conditions = patient_conditions(s)
    out: list[Option] = []
    for o in options:
        t: Therapy = ev.therapy(o.therapy)
        contra = tuple(
            Note(c.text, tuple(c.source)) for c in t.contraindications if c.condition in conditions
        )
        cautions = [Note(c.text, tuple(c.source)) for c in t.cautions if c.condition in conditions]
        failed, demoted = "", []
        line = s.failed_line_of(o.therapy)
        running = o.therapy in s.running_agents
        if line is not None:  # [IWG2009] the agent already failed: say so, and rank it after the others
            failed = f"line {line.line}: {_failure(line)}"
            cautions.insert(0, Note(
                f"{'given now and ' if running else ''}already failed in line {line.line} "
                f"({_failure(line)}): "
                f"{'stop or review' if running else 're-use only with a reason'}", ("IWG2009",)))
        elif running and o.therapy in s.background_agents:
            cautions.insert(0, Note("given now as background lupus therapy: an ITP line needs a new agent "
                                    "or a higher dose", ("IWG2009",)))
        elif running:
            cautions.insert(0, Note("currently given: continue or adjust rather than start", ("IWG2009",)))
        if (
            setting != SettingName.EMERGENCY_BLEEDING
            and "antiphospholipid_or_thrombosis" in conditions
            and (t.therapy_class == TPO_RA or o.therapy == "splenectomy")
        ):
            # [BONFA2020] avoid TPO-RA and splenectomy (thrombosis); [APL-ITP2016] aPL raises thrombosis risk
            demoted.append("thrombotic risk (antiphospholipid antibodies or prior thrombosis)")
        if o.therapy == "eltrombopag" and "liver_disease" in conditions:
            # [ELTROMBOPAG-LABEL] boxed hepatotoxicity; avatrombopag has none [AVATROMBOPAG-LABEL-FDA]
            demoted.append("raised ALT / liver disease: hepatotoxicity boxed warning (another TPO-RA first)")
        if s.hepatitis_b is True and o.therapy in B_CELL_DEPLETING:
            # [AGA-HBV2015] B-cell depletion is the highest reactivation risk: after the other options, only
            # with antiviral prophylaxis and hepatology input
            demoted.append("hepatitis B: highest reactivation risk (B-cell depletion); only with antiviral "
                           "prophylaxis")
        if s.active_infection and o.therapy in DEFER_IN_INFECTION:
            # review H5: B-cell / plasma-cell agents, immunosuppressants wait for the infection [GLADEL2018]
            demoted.append("deferred until the infection is controlled")
            cautions.insert(0, Note("active infection: defer until the infection is controlled; IVIG with or "
                                    "without glucocorticoids meanwhile", ("GLADEL2018",)))
        late_only = o.therapy in PREGNANCY_LATE_ONLY or t.therapy_class == TPO_RA
        if s.pregnant and not late_only and o.therapy not in (*PREGNANCY_ORDER, "splenectomy",
                                            "platelet_transfusion") and not contra:
            # [ICR2019-PREG] "immunosuppressive drugs not listed in these recommendations should be avoided"
            demoted.append("pregnancy: not among the agents the consensus report lists for pregnancy (avoid)")
            cautions.insert(0, Note("pregnancy: not among the agents the international consensus report "
                                    "lists for pregnancy; such agents should be avoided", ("ICR2019-PREG",)))
        if s.pregnant and o.therapy == "splenectomy":
            cautions.insert(0, Note("pregnancy: if splenectomy is required, in the second trimester",
                                    ("ICR2019-PREG",)))
        if s.pregnant and late_only:
            # [ICR2019-PREG] rituximab "for very severe cases"; TPO-RAs "in late pregnancy when other
            # treatments have failed"
            demoted.append("pregnancy: very severe cases / late pregnancy only, when other treatments have "
                           "failed")
            cautions.insert(0, Note(
                "pregnancy: " + ("rituximab only for very severe cases (perinatal and neonatal "
                                 "immunosuppression, infection)" if o.therapy == "rituximab" else
                                 "TPO-RAs only in late pregnancy when other treatments have failed "
                                 "(limited data)"), ("ICR2019-PREG",)))
        out.append(
            replace(
                o,
                cautions=tuple(cautions),
                contraindications=contra,
                previously_failed=failed,
                demoted="; ".join(demoted),
            )
        )
    # contraindicated last, then already failed, then demoted; otherwise the guideline order is kept
    order = sorted(
        range(len(out)),
        key=lambda i: (out[i].contraindicated, bool(out[i].previously_failed), bool(out[i].demoted), i),
    )
    return [replace(out[i], rank=r) for r, i in enumerate(order, start=1)]


# === 5. advice and prompts ================================================================================
def _observation_advice(s: PatientState) -> list[Note]:
    """[ASH2019] 1b observation, only when the lupus is otherwise quiet [GALANOPOULOS2017]; active
    major-organ lupus is treated as lupus [EULAR2023] (ASH 2019 1b is a statement about primary ITP)."""
    if s.major_organ_activity:
        return [Note(
            f"Active major-organ lupus ({'; '.join(s.major_organ_activity)}): treat the lupus (EULAR "
            "2023 anchors); the ASH advice to observe platelets >= 30 without bleeding is about "
            "primary ITP and does not apply", ("EULAR2023", "ASH2019"))]
    if s.lupus_activity:
        return [Note(
            f"Platelets {s.platelets:g} x10^9/L (>= 30) without clinically significant bleeding, but "
            f"lupus is active ({', '.join(s.lupus_activity)}): observation of the count applies only "
            "when the lupus is otherwise inactive; assess and treat the lupus activity",
            ("GALANOPOULOS2017", "EULAR2023"))]
    quiet = "" if s.sledai_assessable else (
        " (lupus activity not assessable: no urine or serology in the SLEDAI-2K window; observation "
        "applies only if the lupus is otherwise inactive)")
    out = [Note(f"Platelets {s.platelets:g} x10^9/L (>= 30) without clinically significant bleeding: "
                f"observation rather than corticosteroids{quiet}", ("ASH2019",))]
    if s.platelets > 50 and s.sledai_assessable:  # [GALANOPOULOS2017] mild TP without other activity
        out.append(Note("Mild thrombocytopenia (> 50 x10^9/L) without other disease activity needs no "
                        "therapy", ("GALANOPOULOS2017",)))
    return out


def advice_for(setting: SettingName, s: PatientState) -> tuple[list[Note], list[Note]]:
    """(alerts, advice) that are not tied to one option."""
    alerts: list[Note] = []
    advice: list[Note] = []
    if (
        s.phase == "newly_diagnosed"
        and not s.lines
        and s.platelets is not None  # at presentation
        and s.platelets < HOSPITALISATION_THRESHOLD
        and setting != SettingName.EMERGENCY_BLEEDING
    ):  # [ASH2019] 2a
        alerts.append(
            Note(
                f"Newly diagnosed ITP with platelets {s.platelets:g} x10^9/L (< 20): hospital "
                "admission is suggested",
                ("ASH2019",),
            )
        )
    if (setting == SettingName.FIRST_LINE and not s.lines and not needs_treatment(s)
            and s.platelets is not None):
        advice += _observation_advice(s)
    past = [b for b in (s.timeline.bleeding_events(since=date.min) if s.timeline else ())
            if is_critical_site(b) and (s.at - b.date).days > CRITICAL_BLEED_DAYS]
    if past and s.platelets is not None and s.platelets < VERY_LOW_WITH_BLEEDING:  # [ICR2019]
        b = past[-1]
        alerts.append(Note(
            f"Critical-site bleeding on {b.date.isoformat()} ({(s.at - b.date).days} days ago) and "
            f"platelets {s.platelets:g} x10^9/L now: high risk; a low threshold for emergency treatment",
            ("ICR2019",)))
    if s.lines and s.lines[-1].under_evaluation:
        last = s.lines[-1]
        if last.days_evaluated >= last.expected_response_days:  # its time has passed with no count since
            text = (f"Line {last.line} ({', '.join(last.agents)}): {last.clock}; not a failure until a count "
                    f"taken now says so (IWG category so far {last.category}); sooner with bleeding")
        else:
            text = (f"Line {last.line} ({', '.join(last.agents)}) is on day {last.days_evaluated} of about "
                    f"{last.expected_response_days} days its agents need to respond: not a failure yet (IWG "
                    f"category so far {last.category}); re-evaluate then, sooner with bleeding or a fall")
        advice.append(Note(text, ("IWG2009", *_window_sources(last))))
    if setting == SettingName.FIRST_LINE and s.platelets is None and not s.bleeding:
        advice.append(
            Note(
                "No platelet count on or before the assessment date: the first-line decision needs one",
                ("ASH2019",),
            )
        )
    if s.gc_continuous_days > SHORT_COURSE_DAYS:  # [ASH2019] against prednisone > 6 weeks
        advice.append(
            Note(
                f"Steroid-sparing: glucocorticoids given for {s.gc_continuous_days} days without a "
                "break (> 6 weeks); ASH recommends a short course (<= 6 weeks)",
                ("ASH2019",),
            )
        )
    if (
        s.gc_mg_day is not None
        and s.gc_mg_day > MAINTENANCE_GC_TARGET  # [EULAR2023] target <= 5 mg/day
        and (s.gc_continuous_days > SHORT_COURSE_DAYS or setting == SettingName.MAINTENANCE)
    ):
        advice.append(
            Note(
                f"Steroid-sparing: {s.gc_mg_day:g} mg/day prednisone equivalent is above the EULAR 2023 "
                "maintenance target (<= 5 mg/day, and withdrawn when possible)",
                ("EULAR2023",),
            )
        )
    if s.steroid_dependent:  # [IWG2009] corticosteroid-dependent patients are non-responders
        advice.append(
            Note(
                "Corticosteroid dependence: counted as non-response to glucocorticoids; a "
                "steroid-sparing second-line therapy is indicated",
                ("IWG2009", "GLADEL2018"),
            )
        )
    if setting == SettingName.MAINTENANCE:
        advice.append(
            Note(
                "Do not stop maintenance therapy without a reason: discontinuation was associated "
                "with relapse after complete response",
                ("LI2023",),
            )
        )
    if s.pregnant:
        advice.append(
            Note(
                "Pregnancy: platelet goal > 50 x10^9/L for vaginal delivery, > 70 x10^9/L for epidural",
                ("POSTON2016",),
            )
        )
    more_alerts, more_advice = workup(s, setting)  # differential diagnosis, infection, HBV, monitoring
    return alerts + more_alerts, advice + more_advice



# === the whole plan =======================================================================================
def plan(s: PatientState, evidence: Evidence | None = None) -> Plan:
    ev = evidence or load_evidence()
    emergency, emergency_alerts = bleeding_emergency(s)
    setting = decide_setting(s, emergency)
    options = apply_modifiers(candidates_for(setting.name, s, emergency, ev), s, setting.name, ev)
    alerts, advice = advice_for(setting.name, s)
    return Plan(
        setting=setting,
        options=tuple(options),
        alerts=(*emergency_alerts, *alerts),
        advice=tuple(advice),
    )


__all__ = [
    "CLINICALLY_SIGNIFICANT_BLEEDING",
    "EMERGENCY_LIFE_THREATENING",
    "EMERGENCY_URGENT",
    "FIRST_LINE",
    "HOSPITALISATION_THRESHOLD",
    "LIFE_THREATENING_GRADE",
    "MAINTENANCE",
    "MAINTENANCE_GC_TARGET",
    "REFRACTORY_RELAPSED",
    "SECOND_LINE",
    "SETTINGS",
    "TABLES",
    "Setting",
    "SettingName",
    "SEVERE_BLEEDING",
    "SHORT_COURSE_DAYS",
    "TPO_RA",
    "TREATMENT_THRESHOLD",
    "VERY_LOW_WITH_BLEEDING",
    "Note",
    "Option",
    "Plan",
    "advice_for",
    "apply_modifiers",
    "bleeding_emergency",
    "candidates_for",
    "decide_setting",
    "needs_treatment",
    "patient_conditions",
    "plan",
]
