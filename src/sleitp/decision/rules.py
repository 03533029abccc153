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

from ..evidence import Evidence, Therapy, load_evidence
from ..record import GLUCOCORTICOIDS
from .state import PatientState

# --- thresholds -------------------------------------------------------------------------------------------
TREATMENT_THRESHOLD = 30.0  # [ASH2019] 1a: < 30 -> corticosteroids; 1b: >= 30 -> observation (x10^9/L)
HOSPITALISATION_THRESHOLD = 20.0  # [ASH2019] 2a: < 20, newly diagnosed -> hospitalisation
VERY_LOW_WITH_BLEEDING = 20.0  # CHOICE: "very low count" for an emergency = the ASH 2a threshold [ASH2019]
CLINICALLY_SIGNIFICANT_BLEEDING = 2  # [WHO-BLEED] grade 2 = clinically significant blood loss (1 = petechial)
SEVERE_BLEEDING = 3  # [WHO-BLEED] grade 3 = gross blood loss, requires transfusion
LIFE_THREATENING_GRADE = 4  # [WHO-BLEED] grade 4 = debilitating, retinal or cerebral, fatality
SHORT_COURSE_DAYS = 42  # [ASH2019] against prednisone > 6 weeks (6 x 7 days)
MAINTENANCE_GC_TARGET = 7.5  # [EULAR2019] maintenance < 7.5 mg/day prednisone equivalent

SETTINGS = ("emergency_bleeding", "first_line", "second_line", "refractory_relapsed", "maintenance")
TPO_RAS = ("eltrombopag", "romiplostim", "avatrombopag", "hetrombopag", "rhtpo")


@dataclass(frozen=True)
class Note:
    """A statement with its sources (an alert, a piece of advice, a caution)."""

    text: str
    references: tuple[str, ...]

    def render(self) -> str:
        return f"{self.text} [{', '.join(self.references)}]"


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
    setting: str
    setting_reason: Note
    options: tuple[Option, ...]
    alerts: tuple[Note, ...] = ()
    advice: tuple[Note, ...] = field(default_factory=tuple)


# === 1. bleeding emergency ================================================================================
def bleeding_emergency(s: PatientState) -> tuple[str | None, tuple[Note, ...]]:
    """("life_threatening" | "urgent" | None, alerts).

    - life-threatening: intracranial bleeding of any grade, WHO grade 4 at any site, or GI bleeding of WHO
      grade >= 3 [ICR2019] ("life-threatening bleeding, especially intracranial haemorrhage") [WHO-BLEED];
    - urgent: WHO grade 3 at another site (gross blood loss requiring transfusion) [WHO-BLEED], or a count
      < 20 x10^9/L with clinically significant bleeding (WHO >= 2) (CHOICE, docs/decision-support.md)
      [ASH2019].
    """
    alerts: list[Note] = []
    level = None
    for b in s.bleeding:
        where = f"{b.site or 'unspecified site'}, WHO grade {b.who_grade} on {b.date.isoformat()}"
        if b.site == "intracranial":  # [ICR2019] "especially intracranial haemorrhage"
            alerts.append(
                Note(
                    f"Critical-site bleeding ({where}): emergency; platelet transfusion must not be "
                    "postponed; IV corticosteroids with IVIG",
                    ("ICR2019",),
                )
            )
            level = "life_threatening"
        elif b.who_grade >= LIFE_THREATENING_GRADE:  # [WHO-BLEED] grade 4: debilitating / fatal
            alerts.append(
                Note(
                    f"Life-threatening bleeding ({where}): emergency; platelet transfusion must not "
                    "be postponed; IV corticosteroids with IVIG",
                    ("ICR2019", "WHO-BLEED"),
                )
            )
            level = "life_threatening"
        elif b.site == "gi" and b.who_grade >= SEVERE_BLEEDING:  # [WHO-BLEED] gross GI blood loss
            alerts.append(
                Note(
                    f"Severe gastrointestinal bleeding ({where}): emergency; platelet transfusion "
                    "must not be postponed; IV corticosteroids with IVIG",
                    ("ICR2019", "WHO-BLEED"),
                )
            )
            level = "life_threatening"
        elif b.who_grade >= SEVERE_BLEEDING:  # [WHO-BLEED] grade 3: requires transfusion
            alerts.append(
                Note(
                    f"Severe bleeding ({where}): urgent rise of the platelet count needed; "
                    "IV corticosteroids with IVIG",
                    ("ICR2019", "WHO-BLEED"),
                )
            )
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
def decide_setting(s: PatientState, emergency: str | None) -> Note:
    """The setting (``Note.text`` is "setting: why")."""
    if emergency:
        return Note(f"emergency_bleeding: {emergency.replace('_', '-')} bleeding", ("ICR2019",))
    if not s.lines:
        return Note("first_line: no ITP-directed treatment line yet", ("ASH2019",))
    failed = s.failed_lines
    n_failed = len(failed)
    if s.steroid_dependent and not any(set(x.agents) & set(GLUCOCORTICOIDS) for x in failed):
        n_failed += 1  # [IWG2009] "patients with corticosteroid dependence are considered nonresponders"
    last = s.lines[-1]
    if last.responding and not s.steroid_dependent:
        return Note(
            f"maintenance: line {last.line} ({', '.join(last.agents)}) reached {last.category} "
            "without loss of response",
            ("IWG2009",),
        )
    if n_failed >= 2 or (s.splenectomised and n_failed >= 1):
        # [IWG2009] refractory: failure after splenectomy; relapsed / multiply failed: >= 2 failed lines
        # (CHOICE, docs/decision-support.md)
        return Note(
            f"refractory_relapsed: {n_failed} failed line(s)"
            f"{' after splenectomy' if s.splenectomised else ''}",
            ("IWG2009",),
        )
    if n_failed == 1:
        why = (
            "corticosteroid dependence"
            if s.steroid_dependent and not failed
            else f"line {failed[0].line} ({', '.join(failed[0].agents)}) {_failure(failed[0])}"
        )
        return Note(f"second_line: {why}", ("IWG2009", "GLADEL2018"))
    return Note(
        f"first_line: line {last.line} ({', '.join(last.agents)}) under way, response {last.category} "
        "(not yet evaluable)",
        ("IWG2009",),
    )


def _failure(line) -> str:
    return (
        "no response (NR)" if line.category == "NR" else f"lost its response on {line.loss_of_response_date}"
    )


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
    ("platelet_transfusion", "platelet transfusions may be helpful", ("ICR2019",)),
)
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
        "after first-line failure: rituximab plus glucocorticoids (GLADEL strong); SLE-ITP series",
        ("GLADEL2018", "BONFA2020", "RTX-LOWDOSE2011"),
    ),
    ("ivig", "after first-line failure: IVIG with or without glucocorticoids (bridge)", ("GLADEL2018",)),
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
        "TPO-RA: SLE-ITP series; expert view in SLE: TPO agonists should be avoided "
        "(risk of infection and thrombosis)",
        ("ELTROMBOPAG-SLE2020", "ELTROMBOPAG-CTD2024", "BONFA2020"),
    ),
    ("romiplostim", "TPO-RA: primary ITP trials only", ("KUTER2008",)),
)
REFRACTORY_RELAPSED = (
    (
        "rituximab",
        "refractory disease: rituximab or immunosuppressants",
        ("BONFA2020", "GLADEL2018", "RTX-LOWDOSE2011"),
    ),
    ("mycophenolate", "refractory disease: immunosuppressants", ("BONFA2020", "GALANOPOULOS2017")),
    (
        "cyclophosphamide",
        "immunosuppressant listed among second-line agents (shorter relapse-free survival than "
        "azathioprine or rituximab)",
        ("GALANOPOULOS2017", "CIME2024"),
    ),
    ("danazol", "SLE series of glucocorticoid-refractory thrombocytopenia", ("CERVERA1995",)),
    ("eltrombopag", "TPO-RA: SLE-ITP series", ("ELTROMBOPAG-SLE2020", "ELTROMBOPAG-CTD2024")),
    ("romiplostim", "TPO-RA: primary ITP trials", ("KUTER2008",)),
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


def candidates_for(setting: str, s: PatientState, emergency: str | None, ev: Evidence) -> list[Option]:
    if setting == "emergency_bleeding":
        table = EMERGENCY_LIFE_THREATENING if emergency == "life_threatening" else EMERGENCY_URGENT
    elif setting == "first_line":
        if not s.lines and not needs_treatment(s):
            return []  # [ASH2019] 1b: observation rather than corticosteroids
        table = FIRST_LINE
    elif setting == "second_line":
        table = SECOND_LINE
    elif setting == "refractory_relapsed":
        table = REFRACTORY_RELAPSED
    else:
        table = MAINTENANCE
    options = [Option(a, why, refs) for a, why, refs in table]
    if setting == "maintenance":  # continue what achieved the response (non-glucocorticoid agents)
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
    if setting == "first_line" and s.active_infection:
        # [GLADEL2018] "patients with current and ongoing infections: use IVIG with/without GCs"
        options.sort(key=lambda o: o.therapy != "ivig")
    if setting == "first_line" and s.pregnant:
        # [POSTON2016] pregnancy: first line glucocorticoids or IVIG (IVIG first with infection [GLADEL2018])
        order = {"ivig": 0, "prednisone": 1} if s.active_infection else {"prednisone": 0, "ivig": 1}
        options.sort(key=lambda o: order.get(o.therapy, 2))
    if setting == "second_line" and s.lupus_nephritis:
        # [MMF-CASES] mycophenolate also treats lupus nephritis: put it right after rituximab
        options.sort(key=lambda o: {"rituximab": 0, "mycophenolate": 1}.get(o.therapy, 2))
    return options


def needs_treatment(s: PatientState) -> bool:
    """First line: treat when platelets < 30 [ASH2019 1a] (GLADEL: <= 30, see docs) or bleeding beyond minor
    mucocutaneous (WHO >= 2) [PUMCH-REVIEW] [WHO-BLEED]; otherwise observe [ASH2019 1b]."""
    if s.platelets is not None and s.platelets < TREATMENT_THRESHOLD:  # [ASH2019] 1a
        return True
    worst = s.worst_bleeding
    return worst is not None and worst >= CLINICALLY_SIGNIFICANT_BLEEDING  # [PUMCH-REVIEW] bleeding -> treat


# === 4. modifiers =========================================================================================
def patient_conditions(s: PatientState) -> set[str]:
    """The conditions of therapies.yaml that hold for this patient."""
    c = {"always"}
    if s.pregnant:
        c.add("pregnancy")
    if s.antiphospholipid or s.thrombosis:
        c.add("antiphospholipid_or_thrombosis")
    if s.hepatitis_b is True:
        c.add("hepatitis_b")
    elif s.hepatitis_b is None:
        c.add("hepatitis_b_status_unknown")
    if s.active_infection:
        c.add("active_infection")
    if s.liver_disease:
        c.add("liver_disease")
    if s.lupus_nephritis:
        c.add("lupus_nephritis")
    if s.splenectomised:
        c.add("splenectomised")
    return c


def apply_modifiers(options: list[Option], s: PatientState, setting: str, ev: Evidence) -> list[Option]:
    conditions = patient_conditions(s)
    out: list[Option] = []
    for o in options:
        t: Therapy = ev.therapy(o.therapy)
        contra = tuple(
            Note(c.text, tuple(c.source)) for c in t.contraindications if c.condition in conditions
        )
        cautions = [Note(c.text, tuple(c.source)) for c in t.cautions if c.condition in conditions]
        failed, demoted = "", ""
        line = s.failed_line_of(o.therapy)
        if line is not None:  # [IWG2009] the agent already failed: say so, and rank it after the others
            failed = f"line {line.line}: {_failure(line)}"
            cautions.insert(
                0,
                Note(
                    f"already given in line {line.line} ({_failure(line)}): re-use only with a reason",
                    ("IWG2009",),
                ),
            )
        if o.therapy in s.running_agents and not failed:
            cautions.insert(0, Note("currently given: continue or adjust rather than start", ("IWG2009",)))
        if (
            setting != "emergency_bleeding"
            and "antiphospholipid_or_thrombosis" in conditions
            and (o.therapy in TPO_RAS or o.therapy == "splenectomy")
        ):
            # [BONFA2020] avoid TPO-RA and splenectomy (thrombosis); [APL-ITP2016] aPL raises thrombosis risk
            demoted = "thrombotic risk (antiphospholipid antibodies or prior thrombosis)"
        out.append(
            replace(
                o,
                cautions=tuple(cautions),
                contraindications=contra,
                previously_failed=failed,
                demoted=demoted,
            )
        )
    # contraindicated last, then already failed, then demoted; otherwise the guideline order is kept
    order = sorted(
        range(len(out)),
        key=lambda i: (out[i].contraindicated, bool(out[i].previously_failed), bool(out[i].demoted), i),
    )
    return [replace(out[i], rank=r) for r, i in enumerate(order, start=1)]


# === 5. advice and prompts ================================================================================
def advice_for(setting: str, s: PatientState) -> tuple[list[Note], list[Note]]:
    """(alerts, advice) that are not tied to one option."""
    alerts: list[Note] = []
    advice: list[Note] = []
    if (
        s.phase == "newly_diagnosed"
        and not s.lines
        and s.platelets is not None  # at presentation
        and s.platelets < HOSPITALISATION_THRESHOLD
        and setting != "emergency_bleeding"
    ):  # [ASH2019] 2a
        alerts.append(
            Note(
                f"Newly diagnosed ITP with platelets {s.platelets:g} x10^9/L (< 20): hospital "
                "admission is suggested",
                ("ASH2019",),
            )
        )
    if setting == "first_line" and not s.lines and not needs_treatment(s) and s.platelets is not None:
        advice.append(
            Note(
                f"Platelets {s.platelets:g} x10^9/L (>= 30) without clinically significant "
                "bleeding: observation rather than corticosteroids",
                ("ASH2019",),
            )
        )
        if s.platelets > 50:  # [GALANOPOULOS2017] mild TP (> 50) without other activity: no therapy
            advice.append(
                Note(
                    "Mild thrombocytopenia (> 50 x10^9/L) without other disease activity needs no therapy",
                    ("GALANOPOULOS2017",),
                )
            )
    if setting == "first_line" and s.platelets is None and not s.bleeding:
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
        and s.gc_mg_day >= MAINTENANCE_GC_TARGET  # [EULAR2019] target < 7.5 mg/day
        and (s.gc_continuous_days > SHORT_COURSE_DAYS or setting == "maintenance")
    ):
        advice.append(
            Note(
                f"Steroid-sparing: {s.gc_mg_day:g} mg/day prednisone equivalent is above the "
                "maintenance target (< 7.5 mg/day)",
                ("EULAR2019",),
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
    if setting == "maintenance":
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
    if "azathioprine" in s.running_agents:  # [GALANOPOULOS2017] drug-induced thrombocytopenia
        advice.append(
            Note(
                "Azathioprine is running: exclude drug-induced cytopenia (the most frequent cause "
                "of drug-induced cytopenia in SLE)",
                ("GALANOPOULOS2017", "TEKE2017"),
            )
        )
    if setting == "first_line" and not s.lines and s.platelets is not None:
        advice.append(
            Note(
                "Exclude other causes of thrombocytopenia in SLE: drugs (azathioprine, "
                "methotrexate), thrombotic microangiopathy, macrophage activation syndrome",
                ("GALANOPOULOS2017",),
            )
        )
    return alerts, advice


# === the whole plan =======================================================================================
def plan(s: PatientState, evidence: Evidence | None = None) -> Plan:
    ev = evidence or load_evidence()
    emergency, emergency_alerts = bleeding_emergency(s)
    reason = decide_setting(s, emergency)
    setting = reason.text.split(":", 1)[0]
    options = apply_modifiers(candidates_for(setting, s, emergency, ev), s, setting, ev)
    alerts, advice = advice_for(setting, s)
    return Plan(
        setting=setting,
        setting_reason=reason,
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
    "SEVERE_BLEEDING",
    "SHORT_COURSE_DAYS",
    "TPO_RAS",
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
