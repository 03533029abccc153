"""The code lists of the FHIR mapping (``src/sleitp/evidence/codes.yaml``), loaded once and checked.

Each entry of the YAML file names the source that vouches for it (a references.yaml key); the loader
refuses an entry without one, so an unsourced code cannot slip into the mapping.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from sleitp.errors import EvidenceError
from sleitp.record import AGENTS
from sleitp.units import TESTS  # the record vocabulary: a code must map to a test the record knows

CODES_FILE = Path(__file__).resolve().parent.parent / "evidence" / "codes.yaml"


@dataclass(frozen=True)
class MedicationCode:
    agent: str
    kind: str  # ingredient | product | substance
    strength_mg: float | None
    source: str


@dataclass(frozen=True)
class ConditionCode:
    concepts: tuple[str, ...]  # first is the main concept; "also" adds more (M32.14 is SLE too)
    display: str
    source: str


@dataclass(frozen=True)
class Codes:
    """Lookup tables built from codes.yaml. Keys are (system URI, code)."""

    systems: dict[str, str]
    labs: dict[str, str]  # LOINC code -> record test
    lab_annotations: dict[str, str]  # LOINC code -> unit annotation the code implies (48065-7: FEU)
    pregnancy_code: str
    pregnancy_answers: dict[tuple[str, str], bool]
    qualitative: dict[tuple[str, str], str]  # -> positive | negative
    ucum_units: dict[str, str]
    medications: dict[tuple[str, str], MedicationCode]
    non_agents: frozenset[tuple[str, str]]
    medication_names: list[tuple[re.Pattern[str], str]]  # longest synonyms first
    conditions_exact: dict[tuple[str, str], ConditionCode]
    conditions_prefix: list[tuple[str, str, ConditionCode]]  # (system, code prefix, condition)
    procedure_names: list[tuple[re.Pattern[str], str]]
    sources: frozenset[str] = field(default_factory=frozenset)

    @property
    def loinc(self) -> str:
        return self.systems["loinc"]

    def condition(self, system: str | None, code: str | None) -> ConditionCode | None:
        """The condition concept of a coding; ICD-10 codes compared without the dot, exact code first."""
        if not system or not code:
            return None
        key = (system, _icd(system, code, self.systems))
        if key in self.conditions_exact:
            return self.conditions_exact[key]
        for sys_, prefix, cond in self.conditions_prefix:
            if sys_ == key[0] and key[1].startswith(prefix):
                return cond
        return None


def _icd(system: str, code: str, systems: dict[str, str]) -> str:
    if system in (systems["icd10cm"], systems["icd10"]):
        return code.replace(".", "").strip().upper()
    return code.strip()


def _words(phrases: list[str]) -> re.Pattern[str]:
    alternatives = "|".join(
        re.escape(p).replace(r"\ ", r"\s+") for p in sorted(phrases, key=len, reverse=True)
    )
    return re.compile(rf"(?<![a-z0-9])(?:{alternatives})(?![a-z0-9])", re.IGNORECASE)


def _need(entry: dict[str, Any], *keys: str) -> None:
    missing = [k for k in keys if entry.get(k) in (None, "")]
    if missing:
        raise EvidenceError(f"codes.yaml: entry {entry!r} lacks {', '.join(missing)}")


@lru_cache(maxsize=1)
def load_codes(path: str | None = None) -> Codes:
    """Load and check codes.yaml (cached)."""
    p = Path(path) if path else CODES_FILE
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise EvidenceError(f"cannot read the code lists {p}: {e}") from None
    systems: dict[str, str] = data["systems"]
    sources: set[str] = set()

    def sys_uri(name: str) -> str:
        if name not in systems:
            raise EvidenceError(f"codes.yaml: unknown system {name!r} (expected one of {', '.join(systems)})")
        return systems[name]

    labs: dict[str, str] = {}
    annotations: dict[str, str] = {}
    for e in data["labs"]:
        _need(e, "code", "test", "source")
        if e["test"] not in TESTS:
            raise EvidenceError(f"codes.yaml: LOINC {e['code']} maps to unknown test {e['test']!r}")
        if e["code"] in labs and labs[e["code"]] != e["test"]:
            raise EvidenceError(f"codes.yaml: LOINC {e['code']} listed for {labs[e['code']]} and {e['test']}")
        labs[e["code"]] = e["test"]
        if e.get("unit_annotation"):
            annotations[e["code"]] = str(e["unit_annotation"])
        sources.add(e["source"])

    preg = data["pregnancy_status"]
    _need(preg, "code", "source")
    sources.add(preg["source"])
    answers = {}
    for a in preg["answers"]:
        _need(a, "system", "code", "source")
        answers[(sys_uri(a["system"]), a["code"])] = bool(a["pregnant"])

    qualitative = {}
    for q in data["qualitative_answers"]:
        _need(q, "system", "code", "result", "source")
        qualitative[(sys_uri(q["system"]), q["code"])] = q["result"]
        sources.add(q["source"])

    ucum = {}
    for u in data["ucum_units"]:
        _need(u, "ucum", "unit", "source")
        ucum[u["ucum"]] = u["unit"]
        sources.add(u["source"])

    meds: dict[tuple[str, str], MedicationCode] = {}
    for m in data["medications"]:
        _need(m, "system", "code", "agent", "kind", "source")
        if m["agent"] not in AGENTS:
            raise EvidenceError(f"codes.yaml: medication {m['code']} maps to unknown agent {m['agent']!r}")
        meds[(sys_uri(m["system"]), str(m["code"]))] = MedicationCode(
            m["agent"], m["kind"], m.get("strength_mg"), m["source"]
        )
        sources.add(m["source"])
    non_agents = set()
    for m in data.get("non_agents", []):
        _need(m, "system", "code", "source")
        non_agents.add((sys_uri(m["system"]), str(m["code"])))
        sources.add(m["source"])

    names = []
    for agent, phrases in data["medication_names"].items():
        if agent not in AGENTS:
            raise EvidenceError(f"codes.yaml: medication_names has unknown agent {agent!r}")
        names.append((_words(phrases), agent))

    exact: dict[tuple[str, str], ConditionCode] = {}
    prefix: list[tuple[str, str, ConditionCode]] = []
    for c in data["conditions"]:
        _need(c, "system", "code", "concept", "source")
        cond = ConditionCode((c["concept"], *c.get("also", [])), c.get("display", ""), c["source"])
        uri = sys_uri(c["system"])
        code = _icd(uri, str(c["code"]), systems)
        sources.add(c["source"])
        targets = [uri] + ([systems["icd10"]] if uri == systems["icd10cm"] else [])
        for t in targets:  # an ICD-10 coding (WHO URI) of the same code is read as the ICD-10-CM code
            if c.get("prefix"):
                prefix.append((t, code, cond))
            else:
                exact[(t, code)] = cond

    procs = [(_words(phrases), concept) for concept, phrases in data["procedure_names"].items()]

    return Codes(
        systems=systems,
        labs=labs,
        lab_annotations=annotations,
        pregnancy_code=preg["code"],
        pregnancy_answers=answers,
        qualitative=qualitative,
        ucum_units=ucum,
        medications=meds,
        non_agents=frozenset(non_agents),
        medication_names=names,
        conditions_exact=exact,
        conditions_prefix=prefix,
        procedure_names=procs,
        sources=frozenset(sources),
    )


def agents_named_in(text: str | None, codes: Codes) -> set[str]:
    """The sleitp agents a free text names (whole words, case-insensitive)."""
    if not text:
        return set()
    # whole words: the look-behind forbids a letter before a match, so "methylprednisolone" is not
    # also read as "prednisolone"; a match inside a longer match of another agent ("heparin" inside "low
    # molecular weight heparin") does not count
    spans = [(m.start(), m.end(), agent) for pattern, agent in codes.medication_names
             for m in pattern.finditer(text)]
    def inside_another(start: int, end: int, agent: str) -> bool:
        return any(a != agent and s <= start and end <= e and e - s > end - start for s, e, a in spans)

    return {agent for start, end, agent in spans if not inside_another(start, end, agent)}


__all__ = ["CODES_FILE", "Codes", "ConditionCode", "MedicationCode", "agents_named_in", "load_codes"]
