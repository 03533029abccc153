"""Laboratory vocabulary, canonical units and unit conversion (spec/record.md, `labs[]`).

Every measured result is converted to the canonical unit of its test on the way in, so the instruments
only ever see canonical values. Unit strings are matched per test, ignoring case, spaces, the micro sign
and the multiplication sign ("x10^9/L", "×10^9/l" and "10^9/L" are one unit for platelets; per test, so
"G/L" = giga per litre for counts never meets "g/L" = grams per litre for haemoglobin).

Conversion factors are arithmetic (powers of ten) or molar masses, stated at each line.
Plausibility bounds are input checks on the canonical value, not clinical thresholds: they catch a unit
mistake or a typo (a platelet count of 15,000 "10^9/L"), nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass, field

_COUNT_UNITS = {  # cells per volume, canonical 10^9/L
    "10^9/l": 1.0, "x10^9/l": 1.0, "10*9/l": 1.0, "g/l": 1.0, "10^3/ul": 1.0, "10*3/ul": 1.0,
    "x10^3/ul": 1.0, "k/ul": 1.0, "thou/ul": 1.0,
    "/ul": 1e-3, "/mm3": 1e-3, "cells/ul": 1e-3,  # 1 /uL = 10^6/L = 10^-3 x 10^9/L
}


@dataclass(frozen=True)
class LabTest:
    """One test of the record vocabulary."""

    name: str
    canonical_unit: str | None  # None: qualitative only
    factors: dict[str, float] = field(default_factory=dict)  # normalised unit -> factor to canonical
    bounds: tuple[float, float] | None = None  # plausibility of the canonical value
    qualitative: bool = False  # accepts {"result": "positive" | "negative"}
    measured_with_reference: bool = False  # a qualitative test also reported as a value with reference_high
    description: str = ""

    @property
    def accepted_units(self) -> list[str]:
        return list(self._display_units)

    @property
    def _display_units(self) -> list[str]:
        return _DISPLAY_UNITS.get(self.name, [])


def _norm(unit: str) -> str:
    return (
        unit.strip().lower().replace(" ", "").replace("µ", "u").replace("μ", "u").replace("×", "x")
        .replace("**", "^")
    )


def _test(name, unit, factors, bounds, *, display, qualitative=False, measured=False, description=""):
    _DISPLAY_UNITS[name] = display
    return LabTest(
        name=name, canonical_unit=unit, factors={_norm(k): v for k, v in factors.items()}, bounds=bounds,
        qualitative=qualitative, measured_with_reference=measured, description=description,
    )


_DISPLAY_UNITS: dict[str, list[str]] = {}
_COUNT_DISPLAY = ["10^9/L", "x10^9/L", "10*9/L", "G/L", "10^3/uL", "10*3/uL", "K/uL", "/uL", "/mm3"]

TESTS: dict[str, LabTest] = {
    t.name: t
    for t in [
        _test("platelets", "10^9/L", _COUNT_UNITS, (0, 2000), display=_COUNT_DISPLAY,
              description="platelet count"),
        _test("wbc", "10^9/L", _COUNT_UNITS, (0, 500), display=_COUNT_DISPLAY,
              description="white cell count"),
        _test("lymphocytes", "10^9/L", _COUNT_UNITS, (0, 500), display=_COUNT_DISPLAY),
        _test("neutrophils", "10^9/L", _COUNT_UNITS, (0, 500), display=_COUNT_DISPLAY),
        # g/dL -> g/L: x10 (1 dL = 0.1 L)
        _test("hemoglobin", "g/L", {"g/l": 1.0, "g/dl": 10.0}, (10, 260), display=["g/L", "g/dL"]),
        # mg/dL -> g/L: x0.01
        _test("c3", "g/L", {"g/l": 1.0, "mg/dl": 0.01}, (0, 10), display=["g/L", "mg/dL"]),
        _test("c4", "g/L", {"g/l": 1.0, "mg/dl": 0.01}, (0, 5), display=["g/L", "mg/dL"]),
        _test("anti_dsdna", "IU/mL", {"iu/ml": 1.0}, (0, 100000), display=["IU/mL"], qualitative=True),
        # ANA titre: value 160 means 1:160
        _test("ana", "titer", {"titer": 1.0, "titre": 1.0}, (1, 1e7), display=["titer"], qualitative=True),
        _test("urine_protein_24h", "g/24h", {"g/24h": 1.0, "g/d": 1.0, "mg/24h": 1e-3, "mg/d": 1e-3}, (0, 60),
              display=["g/24h", "mg/24h"]),
        _test("urine_rbc", "/hpf", {"/hpf": 1.0}, (0, 10000), display=["/hpf"]),
        _test("urine_wbc", "/hpf", {"/hpf": 1.0}, (0, 10000), display=["/hpf"]),
        # creatinine mg/dL -> umol/L: x88.42 (molar mass 113.12 g/mol: 10 mg/L / 113.12 g/mol = 88.4 umol/L)
        _test("creatinine", "umol/L", {"umol/l": 1.0, "mg/dl": 88.42}, (0, 5000),
              display=["umol/L", "mg/dL"]),
        _test("tpo", "pg/mL", {"pg/ml": 1.0}, (0, 1e6), display=["pg/mL"]),
        _test("megakaryocytes", "/slide", {"/slide": 1.0}, (0, 10000), display=["/slide"],
              description="bone-marrow megakaryocytes per slide"),
        # urine protein/creatinine: mg/g -> g/g x0.001; mg/mmol -> g/g: 1 mmol creatinine = 113.12 mg,
        # so 1 mg/mmol = 1/113.12 g/g = 0.00884 g/g
        _test("upcr", "g/g", {"g/g": 1.0, "mg/mg": 1.0, "mg/g": 1e-3, "mg/mmol": 1 / 113.12}, (0, 60),
              display=["g/g", "mg/mg", "mg/g", "mg/mmol"]),
        _test("ldh", "U/L", {"u/l": 1.0, "iu/l": 1.0}, (0, 50000), display=["U/L"]),
        _test("haptoglobin", "g/L", {"g/l": 1.0, "mg/dl": 0.01}, (0, 20), display=["g/L", "mg/dL"]),
        _test("alt", "U/L", {"u/l": 1.0, "iu/l": 1.0}, (0, 50000), display=["U/L"]),
        # bilirubin mg/dL -> umol/L: x17.1 (molar mass 584.66 g/mol)
        _test("bilirubin", "umol/L", {"umol/l": 1.0, "mg/dl": 17.1}, (0, 1500), display=["umol/L", "mg/dL"]),
    ]
    + [
        _test(n, None, {}, None, display=[], qualitative=True, measured=True)
        for n in ("anticardiolipin", "anti_b2gp1", "lupus_anticoagulant", "anti_sm", "direct_coombs",
                  "antiplatelet_antibody", "hbsag")
    ]
    + [
        _test(n, None, {}, None, display=[], qualitative=True)
        for n in ("anti_tpo_receptor", "anti_ssa", "anti_ssb", "anti_rnp")
    ]
}


class UnitError(ValueError):
    """A unit is not accepted for a test (message says which units are)."""


def to_canonical(test: str, value: float, unit: str | None) -> float:
    """Convert ``value`` in ``unit`` to the canonical unit of ``test``.

    >>> to_canonical("platelets", 45000, "/uL")
    45.0
    >>> to_canonical("hemoglobin", 9.5, "g/dL")
    95.0
    """
    spec = TESTS[test]
    if spec.canonical_unit is None:
        raise UnitError(
            f"{test} is reported as a result (positive/negative), or as a value with reference_high"
        )
    if unit is None:
        raise UnitError(f"a unit is needed for {test} (expected {_expected(spec)})")
    factor = spec.factors.get(_norm(unit))
    if factor is None:
        raise UnitError(f"{unit!r} is not a unit for {test} (expected {_expected(spec)})")
    return value * factor


def _expected(spec: LabTest) -> str:
    units = spec.accepted_units
    return " or ".join([", ".join(units[:-1]), units[-1]]) if len(units) > 1 else units[0]


__all__ = ["TESTS", "LabTest", "UnitError", "to_canonical"]
