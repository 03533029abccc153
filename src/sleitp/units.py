"""Laboratory vocabulary, canonical units and unit conversion (spec/record.md, `labs[]`).

Every measured result is converted to the canonical unit of its test on the way in, so the instruments
only ever see canonical values. Unit strings are matched per test, ignoring case, spaces, the micro sign
and the multiplication sign ("x10^9/L", "×10^9/l" and "10^9/L" are one unit for platelets; per test, so
"G/L" = giga per litre for counts never meets "g/L" = grams per litre for haemoglobin).

Conversion factors are arithmetic (powers of ten, exact SI prefixes) or molar masses, stated at each line
with where the number comes from. A unit whose conversion needs something the record does not hold (a
reticulocyte percentage needs the red-cell count; HBV DNA in copies/mL depends on the assay) is refused
with a message saying what to give instead (``REFUSED_UNITS``), never converted by a guess.
Plausibility bounds are input checks on the canonical value, not clinical thresholds: they catch a unit
mistake or a typo (a platelet count of 15,000 "10^9/L"), nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sleitp.errors import UnitError

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
    unitless: bool = False  # a ratio (INR): a value without a unit is read in the canonical unit

    @property
    def accepted_units(self) -> list[str]:
        return list(self._display_units)

    @property
    def _display_units(self) -> list[str]:
        return _DISPLAY_UNITS.get(self.name, [])


def _norm(unit: str) -> str:
    return (
        unit.strip().lower().replace(" ", "").replace("µ", "u").replace("μ", "u").replace("×", "x")
        .replace("**", "^").replace("²", "2")
    )


def _test(name, unit, factors, bounds, *, display, qualitative=False, measured=False, description="",
          unitless=False):
    _DISPLAY_UNITS[name] = display
    return LabTest(
        name=name, canonical_unit=unit, factors={_norm(k): v for k, v in factors.items()}, bounds=bounds,
        qualitative=qualitative, measured_with_reference=measured, description=description,
        unitless=unitless,
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
        # -- added for the differential diagnosis, HBV and monitoring rules (issue 11; docs/record.md) --
        # HBV DNA in international units only: copies/mL -> IU/mL is assay-specific (e.g. ARUP 0056025:
        # "1 IU/mL is approximately 5.82 copies/mL" for that assay) and log IU/mL is refused (REFUSED_UNITS)
        _test("hbv_dna", "IU/mL", {"iu/ml": 1.0, "[iu]/ml": 1.0}, (0, 1e10), display=["IU/mL"],
              description="hepatitis B virus DNA (viral load)"),
        # absolute reticulocyte count: the cell-count units of platelets (K/uL = 10^3/uL = 10^9/L)
        _test("reticulocytes", "10^9/L", _COUNT_UNITS, (0, 1000), display=_COUNT_DISPLAY,
              description="absolute reticulocyte count"),
        # ferritin: 1 ng/mL = 1 ug/L exactly (10^-9 g / 10^-3 L = 10^-6 g/L); 1 mg/L = 1000 ug/L
        _test("ferritin", "ug/L", {"ug/l": 1.0, "mcg/l": 1.0, "ng/ml": 1.0, "mg/l": 1000.0}, (0, 500000),
              display=["ug/L", "ng/mL", "mg/L"]),
        # fibrinogen: mg/dL -> g/L x0.01 (1 mg/dL = 10 mg/L = 0.01 g/L, exact)
        _test("fibrinogen", "g/L", {"g/l": 1.0, "mg/dl": 0.01}, (0, 20), display=["g/L", "mg/dL"]),
        # D-dimer in fibrinogen-equivalent units only: DDU and an untagged unit are refused (REFUSED_UNITS),
        # FEU ~ 2 x DDU is assay-dependent. 1 ug/mL = 1 mg/L (exact); 1 ng/mL = 1 ug/L = 0.001 mg/L (exact)
        _test("d_dimer", "mg/L FEU", {"mg/lfeu": 1.0, "mg/l{feu}": 1.0, "ugfeu/ml": 1.0, "ug/mlfeu": 1.0,
                                      "ug/ml{feu}": 1.0, "mcg/mlfeu": 1.0, "ng/mlfeu": 1e-3,
                                      "ng/ml{feu}": 1e-3, "ug/lfeu": 1e-3, "ug/l{feu}": 1e-3},
              (0, 200), display=["mg/L FEU", "ug/mL FEU", "ng/mL FEU", "ug/L FEU"],
              description="D-dimer, fibrinogen-equivalent units"),
        # ADAMTS13 activity: % of normal; 1 IU/dL = 1 % and 1 IU/mL = 100 % (Quest Diagnostics FAQ 112:
        # "1.00 IU/mL is equivalent to 100% activity"; 1 IU/mL = 100 IU/dL)
        _test("adamts13", "%", {"%": 1.0, "percent": 1.0, "iu/dl": 1.0, "[iu]/dl": 1.0, "iu/ml": 100.0,
                                "[iu]/ml": 100.0}, (0, 300), display=["%", "IU/dL", "IU/mL"],
              description="ADAMTS13 activity"),
        # eGFR as the laboratory reports it (normalised to 1.73 m2); one unit, several spellings
        _test("egfr", "mL/min/1.73m2", {"ml/min/1.73m2": 1.0, "ml/min/1.73m^2": 1.0, "ml/min/{1.73_m2}": 1.0,
                                        "ml/min/1.73_m2": 1.0, "ml/min/1.73sqm": 1.0}, (0, 250),
              display=["mL/min/1.73m2"], description="estimated glomerular filtration rate"),
        # IgG: mg/dL -> g/L x0.01 (exact); g/dL -> g/L x10 (exact)
        _test("igg", "g/L", {"g/l": 1.0, "mg/dl": 0.01, "g/dl": 10.0}, (0, 200),
              display=["g/L", "mg/dL", "g/dL"],
              description="serum immunoglobulin G"),
        _test("ast", "U/L", {"u/l": 1.0, "iu/l": 1.0}, (0, 50000), display=["U/L"]),
        # triglycerides mg/dL -> mmol/L x0.01129: 10 mg/L / 885.7 g/mol (triolein, the reference molar mass)
        # = 0.01129 mmol/L (https://calcengines.com/medical/triglycerides-unit-converter;
        # the JAMA SI conversion table rounds it to 0.0113)
        _test("triglycerides", "mmol/L", {"mmol/l": 1.0, "mg/dl": 0.01129}, (0, 200),
              display=["mmol/L", "mg/dL"]),
        # INR is a ratio: no unit, or one of its spellings
        _test("inr", "ratio", {"ratio": 1.0, "{ratio}": 1.0, "inr": 1.0, "{inr}": 1.0, "1": 1.0}, (0.3, 25),
              display=["ratio (or no unit)"], unitless=True, description="international normalised ratio"),
    ]
    + [
        _test(n, None, {}, None, display=[], qualitative=True, measured=True)
        for n in ("anticardiolipin", "anti_b2gp1", "lupus_anticoagulant", "anti_sm", "direct_coombs",
                  "antiplatelet_antibody", "hbsag",
                  # serologies also reported as an index (signal/cut-off) with the laboratory's limit
                  "anti_hbc", "anti_hcv", "anti_hiv")
    ]
    + [
        _test(n, None, {}, None, display=[], qualitative=True)
        for n in ("anti_tpo_receptor", "anti_ssa", "anti_ssb", "anti_rnp",
                  # positive = H. pylori detected (stool antigen, breath test); positive = schistocytes on the
                  # blood film; positive = TPMT deficient / low activity (a phenotype, not an activity)
                  "h_pylori", "schistocytes", "tpmt")
    ]
}

# What each qualitative test's "positive" means, where the name alone does not say (docs/record.md).
POSITIVE_MEANS: dict[str, str] = {
    "anti_hbc": "hepatitis B core antibody (total) detected",
    "anti_hcv": "hepatitis C antibody detected",
    "anti_hiv": "HIV antibody (or antigen/antibody screen) reactive",
    "h_pylori": "Helicobacter pylori detected",
    "schistocytes": "schistocytes seen on the blood film",
    "tpmt": "TPMT deficient or low activity",
}

# Units that are recognised but cannot be converted from the record alone: the message says what to give.
REFUSED_UNITS: dict[str, dict[str, str]] = {
    "reticulocytes": {
        u: "a reticulocyte percentage needs the red-cell count to become a count; give the absolute "
           "count in 10^9/L (the laboratory reports it with the percentage)"
        for u in ("%", "percent", "%rbc", "/100rbc", "{rbcs}", "%ofrbc")
    },
    "hbv_dna": {
        **{u: "give HBV DNA in IU/mL (the antilog: 10 to the power of the log value); log units are not "
              "converted" for u in ("logiu/ml", "log10iu/ml", "log[iu]/ml", "{log_iu}/ml", "log_iu/ml")},
        **{u: "copies/mL convert to IU/mL by an assay-specific factor; give the result in IU/mL"
           for u in ("copies/ml", "{copies}/ml", "cp/ml")},
    },
    "d_dimer": {
        **{u: "D-dimer units must say FEU (fibrinogen-equivalent units), e.g. 'mg/L FEU' or 'ng/mL FEU'; "
              "the same number in D-dimer units (DDU) is about half as large, so an untagged unit is "
              "ambiguous" for u in ("mg/l", "ug/ml", "mcg/ml", "ng/ml", "ug/l")},
        **{u: "D-dimer in DDU is not converted (FEU ~ 2 x DDU depends on the assay); give it in FEU"
           for u in ("ng/mlddu", "ug/mlddu", "mg/lddu", "ug/lddu", "ng/ml{ddu}", "ug/l{ddu}")},
    },
}


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
    if unit is None or (spec.unitless and not unit.strip()):
        if spec.unitless:
            return value  # a ratio given without a unit is in the canonical unit
        raise UnitError(f"a unit is needed for {test} (expected {_expected(spec)})")
    refused = REFUSED_UNITS.get(test, {}).get(_norm(unit))
    if refused is not None:
        raise UnitError(f"{unit!r} is not accepted for {test}: {refused}")
    factor = spec.factors.get(_norm(unit))
    if factor is None:
        raise UnitError(f"{unit!r} is not a unit for {test} (expected {_expected(spec)})")
    return value * factor


def _expected(spec: LabTest) -> str:
    units = spec.accepted_units
    return " or ".join([", ".join(units[:-1]), units[-1]]) if len(units) > 1 else units[0]


__all__ = ["POSITIVE_MEANS", "REFUSED_UNITS", "TESTS", "LabTest", "UnitError", "to_canonical"]
