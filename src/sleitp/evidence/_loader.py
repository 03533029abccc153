"""The evidence base: versioned YAML data files, validated once at start-up.

Files (all in this package, all ``version: 1``):

- ``references.yaml`` — every source the project cites (key, authors, year, journal, DOI/PMID/URL and
  ``where`` it was read in ../shared/reference/).
- ``therapies.yaml`` — one entry a therapy (agent name as in spec/record.md): class, mechanism, lines,
  reported response rates with population and level of evidence, time to response, adverse events,
  contraindications and cautions with the condition that triggers them.
- ``predictors.yaml`` — predictors of response: how each is read from the record, direction, effect size
  with CI, outcome, population, source.
- ``guidelines.yaml`` — guideline statements (quoted as read) with strength and source, and the gaps
  (statements the shared reference could not read, listed so nobody encodes them from memory).

Every ``source``/``references`` value must resolve in ``references.yaml``; a bad file raises
:class:`~sleitp.errors.EvidenceError` naming the file, the entry and the field.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sleitp.errors import EvidenceError
from sleitp.features import FEATURE_NAMES
from sleitp.record import AGENTS

HERE = Path(__file__).resolve().parent

Population = Literal["SLE-ITP", "CTD-ITP", "primary ITP", "SLE", "pregnancy ITP", "ITP (all)"]
EvidenceLevel = Literal[
    "guideline",
    "meta-analysis",
    "RCT",
    "prospective",
    "retrospective",
    "case series",
    "case reports",
    "expert opinion",
    "drug label",
    "not stated",
]
SourceType = Literal["drug label", "guideline", "consensus", "review", "study", "reference text"]
TherapyClass = Literal["conventional", "TPO-RA", "B-cell", "plasma-cell", "platelet-targeted", "other"]
Setting = Literal["emergency_bleeding", "first_line", "second_line", "refractory_relapsed", "maintenance"]
# The patient conditions a caution or contraindication can be bound to; decision/conditions.py reads each one
# from the patient's state and timeline (docs/decision-support.md, "Modifiers", says how).
Condition = Literal[
    "always",
    "pregnancy",
    "female",  # recorded sex female (label text addresses "females of reproductive potential")
    "antiphospholipid_or_thrombosis",
    "thrombosis_history",  # a recorded thrombosis (history flag), not antibodies alone
    "hepatitis_b",  # HBsAg positive (or hepatitis B history)
    "hepatitis_b_core_positive",  # anti-HBc positive (resolved or occult infection)
    "hepatitis_b_status_unknown",  # HBsAg or anti-HBc never tested
    "active_infection",
    "liver_disease",
    "lupus_nephritis",
    "renal_impairment",  # creatinine above the lab's upper limit, or eGFR < 60
    "splenectomised",
    "severe_thrombocytopenia",  # platelets < 20 x10^9/L
    "haemolysis",  # Coombs positive, AIHA recorded, or low haptoglobin with raised LDH
    "anticoagulated",  # heparin, LMWH, warfarin or a DOAC given now
    "warfarin",  # warfarin given now
    "calcineurin_inhibitor",  # ciclosporin, tacrolimus or voclosporin given now
    "danazol",  # danazol given now
]
CONDITIONS: tuple[str, ...] = get_args(Condition)
# What a conditional note is, so that rules and displays can tell a label contraindication or boxed warning
# from a monitoring prompt (issue 11): the label's own section where one was read.
NoteKind = Literal[
    "contraindication",  # label / guideline contraindication
    "boxed_warning",
    "warning",  # label warnings and precautions
    "interaction",
    "monitoring",  # what to check before / during treatment
    "dose",
    "caution",  # other (series, expert view)
]
CONTRAINDICATION_LEVEL: tuple[str, ...] = ("contraindication", "boxed_warning")
# Agents of the record vocabulary that are not ITP therapies: the record holds them because the rules must
# see them (anticoagulants / antiplatelets: ASH 2019 1a remark; hydrocortisone: counted in the
# prednisone-equivalent dose). They need no therapies.yaml entry; every other agent does.
NON_ITP_AGENTS: tuple[str, ...] = (
    "heparin", "lmwh", "warfarin", "doac", "aspirin", "clopidogrel", "hydrocortisone",
)
# An agent whose evidence entry is another agent's (same drug class and source statements)
ENTRY_OF: dict[str, str] = {"prednisolone": "prednisone"}
# Readers of predictors that are not a column of sleitp.features (they need the treatment history)
SPECIAL_READERS = (
    "no_response_within_1_month",
    "antiphospholipid_persistent",  # APS, or an aPL positive twice >= 12 weeks apart [SYDNEY2006]
    "anticardiolipin_persistent",
    "anti_b2gp1_persistent",
    "serositis",  # pleurisy / pericarditis / effusion recorded
    "myositis",
    "leukopenia",  # latest WBC < 3 x10^9/L (the SLEDAI-2K descriptor)
    "sledai_2k",  # SLEDAI-2K score at the index date
)


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Reference(_Entry):
    model_config = ConfigDict(extra="allow", frozen=True)  # other layers may add descriptive fields

    key: str
    authors: str
    year: int | None = None
    title: str
    journal: str | None = None
    doi: str | None = None
    pmid: str | None = None
    url: str | None = None
    where: str
    project_added: bool = False
    note: str | None = None
    source_type: SourceType | None = None  # what kind of document (label, guideline...), where stated

    def citation(self) -> str:
        """One line for a reference list: authors. title. journal (year). doi/url."""
        parts = [self.authors.rstrip("."), self.title.rstrip(".")]
        if self.journal:
            parts.append(self.journal)
        elif self.year:
            parts.append(str(self.year))
        link = f"doi:{self.doi}" if self.doi else (f"PMID {self.pmid}" if self.pmid else (self.url or ""))
        return ". ".join(parts) + (f". {link}" if link else "")


class Sourced(_Entry):
    """A statement with its sources."""

    text: str
    source: list[str] = Field(min_length=1)


class ResponseRate(_Entry):
    population: Population
    evidence_level: EvidenceLevel
    n: int | None = None
    result: str
    # the study's own outcome scale (e.g. "CR > 150, PR > 50 x10^9/L"): each study used its own, not IWG
    definition: str
    co_treatment: str | None = None  # what else the patients received (e.g. "all on GC + IS")
    source: list[str] = Field(min_length=1)

    def text(self) -> str:
        """One line: population, level, n, result, the study's own response definition and co-treatment,
        and its sources (each rate with its own definition: review M8)."""
        extra = f"; definition: {self.definition}"
        if self.co_treatment:
            extra += f"; co-treatment: {self.co_treatment}"
        return (f"{self.population}, {self.evidence_level}{f', n={self.n}' if self.n else ''}: {self.result}"
                f"{extra} [{', '.join(self.source)}]")


class Certainty(_Entry):
    """How sure the evidence for an agent is: the guideline's grade where one grades it, else the design."""

    grade: str  # e.g. "conditional recommendation, very low certainty (ASH 2019 1a)"; "case series"
    basis: str  # what the grade rests on (population, design)
    source: list[str] = Field(min_length=1)


class ConditionalNote(_Entry):
    """A caution or contraindication that applies when ``condition`` holds for the patient."""

    condition: Condition
    text: str
    kind: NoteKind = "caution"
    source: list[str] = Field(min_length=1)


class Therapy(_Entry):
    agent: str
    name: str
    therapy_class: TherapyClass
    mechanism: str
    lines: list[str]
    immunosuppressive: bool
    certainty: Certainty
    status: Sourced | None = None  # regulatory / use status (e.g. FDA-approved for ITP on a date)
    no_itp_data: bool = False  # "considered; no ITP data": listed so the gap is visible
    response_rates: list[ResponseRate] = []
    time_to_response: Sourced | None = None
    adverse_events: list[Sourced] = []
    benefits: list[ConditionalNote] = []  # what speaks for it in this patient (never under cautions)
    dosing: list[ConditionalNote] = []  # dose guidance a guideline or label gives (kind "dose")
    contraindications: list[ConditionalNote] = []
    cautions: list[ConditionalNote] = []
    gaps: list[str] = []  # what the evidence base does not hold for this agent (stated, not filled in)

    @field_validator("agent")
    @classmethod
    def _agent(cls, v: str) -> str:
        if v not in AGENTS:
            raise ValueError(f"{v!r} is not an agent of spec/record.md (expected one of {', '.join(AGENTS)})")
        return v

    @property
    def references(self) -> list[str]:
        """Every source key this entry cites, in first-seen order."""
        keys: list[str] = []
        groups = (
            self.response_rates, self.adverse_events, self.benefits, self.dosing, self.contraindications,
            self.cautions,
        )
        for group in groups:
            for x in group:
                keys += x.source
        for single in (self.time_to_response, self.status, self.certainty):
            if single is not None:
                keys += single.source
        return list(dict.fromkeys(keys))


class Predictor(_Entry):
    name: str
    label: str
    reads: str  # a column of sleitp.features.FEATURE_NAMES, or one of SPECIAL_READERS
    kind: Literal["binary", "numeric"]
    direction: str
    # what a present finding means for this outcome, as the source reports it (never guessed): a display
    # shows a risk flag only for "higher risk"
    signal: Literal["higher risk", "lower risk", "conflicting", "association unclear"]
    effect: str
    outcome: str
    population: Population
    evidence_level: EvidenceLevel
    source: list[str] = Field(min_length=1)
    note: str = ""

    @field_validator("reads")
    @classmethod
    def _reads(cls, v: str) -> str:
        if v not in FEATURE_NAMES and v not in SPECIAL_READERS:
            raise ValueError(
                f"{v!r} is neither a feature ({', '.join(FEATURE_NAMES)}) nor a reader "
                f"({', '.join(SPECIAL_READERS)})"
            )
        return v


class GuidelineStatement(_Entry):
    id: str
    guideline: str
    statement: str
    strength: str
    population: Population
    read_from: Literal["full text", "abstract", "secondary source"] | None = None  # what was read
    value: float | None = None  # a number the rules read (e.g. the EULAR 2023 GC target), with its unit
    unit: str | None = None
    source: list[str] = Field(min_length=1)


class Gap(_Entry):
    what: str
    source: list[str] = Field(min_length=1)


class Evidence(_Entry):
    references: dict[str, Reference]
    therapies: dict[str, Therapy]
    predictors: list[Predictor]
    guidelines: dict[str, GuidelineStatement]
    gaps: list[Gap]

    def reference(self, key: str) -> Reference:
        try:
            return self.references[key]
        except KeyError:
            raise EvidenceError(f"reference {key!r} is not in references.yaml") from None

    def therapy(self, agent: str) -> Therapy:
        try:
            return self.therapies[ENTRY_OF.get(agent, agent) if agent not in self.therapies else agent]
        except KeyError:
            raise EvidenceError(f"therapy {agent!r} is not in therapies.yaml") from None

    def statement(self, sid: str) -> GuidelineStatement:
        try:
            return self.guidelines[sid]
        except KeyError:
            raise EvidenceError(f"guideline statement {sid!r} is not in guidelines.yaml") from None


def _read(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvidenceError(f"{path.name}: file missing from the evidence base ({path})") from None
    except yaml.YAMLError as e:
        raise EvidenceError(f"{path.name}: not valid YAML: {e}") from None
    if not isinstance(data, dict) or data.get("version") != 1:
        raise EvidenceError(f"{path.name}: expected a mapping with 'version: 1' at the top")
    return data


def _entries(path: Path, data: dict, field: str, model: type[_Entry], id_field: str) -> list:
    items = data.get(field)
    if not isinstance(items, list):
        raise EvidenceError(f"{path.name}: expected a list under '{field}'")
    out, seen = [], set()
    for i, raw in enumerate(items):
        ident = raw.get(id_field, f"#{i}") if isinstance(raw, dict) else f"#{i}"
        try:
            entry = model.model_validate(raw)
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
            raise EvidenceError(f"{path.name}: {field}[{i}] ({ident}): {problems}") from None
        if ident in seen:
            raise EvidenceError(f"{path.name}: {field}[{i}]: duplicate {id_field} {ident!r}")
        seen.add(ident)
        out.append(entry)
    return out


def _check_sources(file: str, ident: str, keys: list[str], refs: dict[str, Reference]) -> None:
    for k in keys:
        if k not in refs:
            raise EvidenceError(f"{file}: {ident}: source {k!r} does not resolve in references.yaml")


def _check_coverage(file: str, therapies: dict[str, Therapy]) -> None:
    """Every agent of the record vocabulary has an entry, unless it is listed as not an ITP therapy."""
    missing = [
        a for a in AGENTS
        if a not in therapies and a not in NON_ITP_AGENTS and ENTRY_OF.get(a) not in therapies
    ]
    if missing:
        raise EvidenceError(
            f"{file}: no entry for agent(s) {', '.join(missing)} (add one, or list the agent in "
            "NON_ITP_AGENTS of sleitp/evidence/_loader.py if it is not an ITP therapy)"
        )


def load_evidence(directory: Path | str | None = None) -> Evidence:
    """Load and validate the evidence base (default: the files shipped in this package)."""
    d = Path(directory) if directory is not None else HERE
    if directory is None:
        return _load_default()
    return _load(d)


@lru_cache(maxsize=1)
def _load_default() -> Evidence:
    return _load(HERE)


def _load(d: Path) -> Evidence:
    # references.yaml, plus references-TOPIC.yaml files for a topic's sources (one key space: no duplicates)
    refs: dict[str, Reference] = {}
    for rp in [d / "references.yaml", *sorted(d.glob("references-*.yaml"))]:
        for r in _entries(rp, _read(rp), "references", Reference, "key"):
            if r.key in refs:
                raise EvidenceError(f"{rp.name}: duplicate reference key {r.key!r} (already defined)")
            refs[r.key] = r
    tp = d / "therapies.yaml"
    therapies = {t.agent: t for t in _entries(tp, _read(tp), "therapies", Therapy, "agent")}
    for t in therapies.values():
        _check_sources(tp.name, t.agent, t.references, refs)
        if not t.references:
            raise EvidenceError(f"{tp.name}: {t.agent}: cites no reference at all")
    _check_coverage(tp.name, therapies)
    pp = d / "predictors.yaml"
    predictors = _entries(pp, _read(pp), "predictors", Predictor, "name")
    for p in predictors:
        _check_sources(pp.name, p.name, p.source, refs)
    gp = d / "guidelines.yaml"
    gdata = _read(gp)
    statements = {s.id: s for s in _entries(gp, gdata, "statements", GuidelineStatement, "id")}
    for s in statements.values():
        _check_sources(gp.name, s.id, [s.guideline, *s.source], refs)
    gaps = _entries(gp, gdata, "gaps", Gap, "what")
    for g in gaps:
        _check_sources(gp.name, g.what[:40], g.source, refs)
    return Evidence(
        references=refs, therapies=therapies, predictors=predictors, guidelines=statements, gaps=gaps
    )

