"""OMOP CDM v5.4 source: the public examples in ../shared/data (testdata.md §4, §8.4), checked by hand."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from sleitp.cohort.derive.run import derive
from sleitp.cohort.sources import Unmapped
from sleitp.cohort.sources.omop import omop_to_arrow
from sleitp.errors import SourceError
from sleitp.fhir import load_codes
from sleitp.units import TESTS

DATA = Path(__file__).resolve().parents[4] / "shared" / "data"
SYNTHEA = DATA / "omop-synthea27nj"
SYNPUF = DATA / "omop-synpuf1k-sle"
pytestmark = pytest.mark.skipif(not SYNTHEA.exists(), reason="../shared/data not present")

CONCEPT_HEADER = (
    "concept_id,concept_name,domain_id,vocabulary_id,concept_class_id,standard_concept,concept_code,"
    "valid_start_date,valid_end_date,invalid_reason\n"
)


@pytest.fixture(scope="module")
def synthea():
    u = Unmapped()
    return omop_to_arrow(SYNTHEA, u), u


def _of(labs, test: str) -> list[dict]:
    return [r for r in labs.to_pylist() if r["test"] == test]


def test_synthea27nj_platelets_107_rows_28_persons(synthea):
    tables, _ = synthea
    labs = _of(tables["labs"], "platelets")
    # testdata.md §4.1: 107 rows of LOINC 777-3, in all 28 persons, unit 8848 (10*3/uL), 152.0-448.6
    assert len(labs) == 107
    assert len({r["patient_id"] for r in labs}) == 28
    values = [r["value"] for r in labs]
    assert (min(values), max(values)) == (152.0, 448.6)  # 10*3/uL = 10^9/L: factor 1
    assert {r["unit"] for r in labs} == {"10^9/L"}
    assert tables["patients"].num_rows == 28
    sexes = tables["patients"].column("sex").to_pylist()
    assert (sexes.count("male"), sexes.count("female")) == (15, 13)  # gender_source_value M/F (testdata §4.1)


def test_mpv_pdw_and_hemogram_panel_are_not_platelet_counts(synthea):
    tables, unmapped = synthea
    con = duckdb.connect()
    # read the raw file by concept to know how many rows each code has, then check none became a count
    rows = dict(
        con.execute(f"""SELECT measurement_concept_id, count(*) FROM read_csv('{SYNTHEA / "MEASUREMENT.csv"}')
                                WHERE measurement_concept_id IN (3043111, 3002736, 4015052, 3024929)
                                GROUP BY 1""").fetchall()
    )
    assert rows == {3043111: 95, 3002736: 95, 4015052: 12, 3024929: 107}  # testdata.md §4.1
    total = con.execute(f"SELECT count(*) FROM read_csv('{SYNTHEA / 'MEASUREMENT.csv'}')").fetchone()[0]
    # every measurement that is not one of codes.yaml's LOINC codes is counted as not mapped, none is
    # silently lost: 10040 rows, 660 of them read (test_synthea27nj_every_sourced_lab_code)
    assert unmapped.counts["measurement: concept not one of the LOINC codes sleitp reads"] == total - 660
    assert tables["labs"].num_rows == 660
    assert len(_of(tables["labs"], "platelets")) == 107  # 777-3 only (with MPV and PDW it would be 297)


# Checked by hand, independently of sleitp (DuckDB on the raw files; codes.yaml `labs` by eye):
#   SELECT c.concept_code, u.concept_code AS ucum, m.unit_source_value, count(*), count(DISTINCT m.person_id),
#          min(m.value_as_number), max(m.value_as_number)
#   FROM read_csv('MEASUREMENT.csv') m
#   JOIN read_csv('CONCEPT.csv') c ON c.concept_id = m.measurement_concept_id
#   LEFT JOIN read_csv('CONCEPT.csv') u ON u.concept_id = m.unit_concept_id
#   WHERE c.vocabulary_id = 'LOINC' GROUP BY ALL
# gives, for the codes of codes.yaml (every other one of the 10040 rows is another code):
#   718-7 hemoglobin  g/dL (8713)        108 rows, 28 persons, 7.0-17.5   -> x10 = 70-175 g/L
#   777-3 platelets   10*3/uL (8848)     107 rows, 28 persons, 152.0-448.6 -> 10^9/L as is
#   6690-2 wbc        10*3/uL (8848)     107 rows, 28 persons, 3.5-10.7    -> 10^9/L as is
#   1742-6 alt        unit_concept_id 0, unit_source_value U/L: 52 rows, 3 persons, 1.8-57.2 U/L
#   1975-2 bilirubin  mg/dL (8840)       52 rows, 3 persons, 0.1-1.2       -> x17.1 = 1.71-20.52 umol/L
#   2160-0 creatinine mg/dL (8840)       12 rows, 1 person, 0.7-0.9        -> x88.42 = 61.894-79.578 umol/L
# and, for the codes added for issue 11 (same query, read by hand):
#   1920-8 ast        unit_concept_id 0, unit_source_value U/L: 52 rows, 3 persons, 2.8-39.1 U/L
#   2276-4 ferritin   ug/L               12 rows, 1 person, 34.8-133.7 ug/L as is
#   2571-8 triglycerides mg/dL          158 rows, 17 persons, 100.5-200.0 -> x0.01129 = 1.134645-2.258 mmol/L
# value_as_concept_id is 0 on all 10040 rows (no qualitative result); range_low/high are empty.
SYNTHEA_LABS = {  # test: (rows, persons, min, max, unit)
    "hemoglobin": (108, 28, 70.0, 175.0, "g/L"),
    "platelets": (107, 28, 152.0, 448.6, "10^9/L"),
    "wbc": (107, 28, 3.5, 10.7, "10^9/L"),
    "alt": (52, 3, 1.8, 57.2, "U/L"),
    "bilirubin": (52, 3, 1.71, 20.52, "umol/L"),
    "creatinine": (12, 1, 61.894, 79.578, "umol/L"),
    "ast": (52, 3, 2.8, 39.1, "U/L"),
    "ferritin": (12, 1, 34.8, 133.7, "ug/L"),
    "triglycerides": (158, 17, 100.5 * 0.01129, 200.0 * 0.01129, "mmol/L"),
}
SYNTHEA_LAB_ROWS = 438 + 52 + 12 + 158  # the six original codes + ast, ferritin, triglycerides = 660


def test_synthea27nj_every_sourced_lab_code(synthea):
    tables, unmapped = synthea
    got = {}
    for test in {r["test"] for r in tables["labs"].to_pylist()}:
        rows = _of(tables["labs"], test)
        values = [r["value"] for r in rows]
        units = {r["unit"] for r in rows}
        assert len(units) == 1 and all(r["result"] is None for r in rows)
        got[test] = (len(rows), len({r["patient_id"] for r in rows}), min(values), max(values), units.pop())
    assert got.keys() == SYNTHEA_LABS.keys()
    for test, (n, persons, lo, hi, unit) in SYNTHEA_LABS.items():
        assert got[test][:2] == (n, persons) and got[test][4] == unit, test
        assert got[test][2:4] == pytest.approx((lo, hi)), test
    # nothing of these codes is left out: the only measurement reason is "not one of the codes"
    assert [k for k in unmapped.counts if k.startswith("measurement")] == [
        "measurement: concept not one of the LOINC codes sleitp reads"
    ]


def test_synthea27nj_drugs_are_counted_not_guessed(synthea):
    tables, unmapped = synthea
    # clinical-drug RxNorm codes (naproxen 849574, cyclosporine 241834 ...) without concept_ancestor are not
    # ingredients sleitp can name: all 883 drug_exposure rows are reported, none mapped by name
    assert tables["treatments"].num_rows == 0
    assert unmapped.counts["drug_exposure: not one of the RxNorm ingredients sleitp reads"] == 883


def test_synthea27nj_derives_without_lines(tmp_path):
    res = derive(SYNTHEA, tmp_path)
    assert (res.patients, res.lines, res.patients_without_line) == (28, 0, 28)
    assert pq.read_table(tmp_path / "features.parquet").num_rows == 28


def _vocabulary(tmp_path: Path) -> Path:
    # The two concept rows testdata.md §4.2 verified in published CONCEPT files: 1551099 = RxNorm 8640
    # prednisone (Eunomia CONCEPT.csv), 257628 = SNOMED 55464009 SLE. This plays the site's vocabulary.
    folder = tmp_path / "vocab"
    folder.mkdir()
    (folder / "CONCEPT.csv").write_text(
        CONCEPT_HEADER + "1551099,prednisone,Drug,RxNorm,Ingredient,S,8640,1970-01-01,2099-12-31,\n"
        "257628,Systemic lupus erythematosus,Condition,SNOMED,Clinical Finding,S,55464009,"
        "1970-01-01,2099-12-31,\n"
    )
    return folder


def test_synpuf_sle_50_persons_9_with_prednisone_none_evaluable(tmp_path):
    res = derive(SYNPUF, tmp_path / "out", vocabulary=_vocabulary(tmp_path))
    feats = pq.read_table(tmp_path / "out" / "features.parquet")
    resp = pq.read_table(tmp_path / "out" / "responses.parquet").to_pylist()
    assert res.patients == 50 and feats.num_rows == 50  # testdata.md §4.3
    assert len({r["patient_id"] for r in resp}) == 9  # 9 persons with a prednisone drug_era
    assert {tuple(r["agents"]) for r in resp} == {("prednisone",)}
    # no platelet values at all: every line is "not evaluable", no crash, no baseline
    assert {r["category"] for r in resp} == {"NE"}
    assert all(r["baseline_platelets"] is None for r in resp)
    assert res.unmapped.counts["person: sex not resolvable (kept as unknown)"] == 50


def test_synpuf_without_a_vocabulary_reports_every_row(tmp_path):
    u = Unmapped()
    tables = omop_to_arrow(SYNPUF, u)
    assert tables["treatments"].num_rows == 0 and tables["patients"].num_rows == 50
    assert u.counts["drug_era: no concept table to resolve drug_concept_id"] == 3572  # all drug_era rows
    assert u.counts["condition_era: no concept table to resolve condition_concept_id"] == 8277


def test_duckdb_file_gives_the_same_as_the_csv_folder(tmp_path):
    db = tmp_path / "cdm.duckdb"
    con = duckdb.connect(str(db))
    for t in ("PERSON", "MEASUREMENT", "CONCEPT"):
        con.execute(f"CREATE TABLE {t.lower()} AS SELECT * FROM read_csv('{SYNTHEA / (t + '.csv')}')")
    con.close()
    u = Unmapped()
    tables = omop_to_arrow(db, u)
    assert tables["labs"].num_rows == SYNTHEA_LAB_ROWS and tables["patients"].num_rows == 28


def test_units_converted_by_code_and_bad_units_counted(tmp_path):
    # a site's own concept ids (arbitrary here): resolution goes through codes, never through ids
    (tmp_path / "person.csv").write_text(
        "person_id,gender_concept_id,year_of_birth,month_of_birth,day_of_birth\n1,11,1980,,\n"
    )
    (tmp_path / "concept.csv").write_text(
        CONCEPT_HEADER + "11,FEMALE,Gender,Gender,Gender,S,F,1970-01-01,2099-12-31,\n"
        "501,Platelets manual,Measurement,LOINC,Lab Test,S,778-1,1970-01-01,2099-12-31,\n"
        "502,Platelets estimate,Measurement,LOINC,Lab Test,S,49497-1,1970-01-01,2099-12-31,\n"
        "503,per microliter,Unit,UCUM,Unit,S,/uL,1970-01-01,2099-12-31,\n"
    )
    (tmp_path / "measurement.csv").write_text(
        "measurement_id,person_id,measurement_concept_id,measurement_date,value_as_number,unit_concept_id,"
        "unit_source_value\n"
        "1,1,501,2024-01-02,45000,503,\n"  # /uL by unit concept: 45000 /uL = 45 x10^9/L
        "2,1,502,2024-01-03,30,,K/uL\n"  # by unit_source_value
        "3,1,501,2024-01-04,12,,mmol/L\n"  # not a count unit
        "4,1,501,2024-01-05,,503,\n"  # no value
        "5,1,501,2024-01-06,5000,,10^9/L\n"
    )  # outside 0-2000
    u = Unmapped()
    tables = omop_to_arrow(tmp_path, u)
    labs = sorted(tables["labs"].to_pylist(), key=lambda r: r["date"])
    assert [(r["test"], r["value"]) for r in labs] == [("platelets", 45.0), ("platelets", 30.0)]
    assert u.counts == {
        "measurement: unit not convertible for platelets (mmol/L)": 1,
        "measurement: no value_as_number": 1,
        "measurement: platelets value outside the plausible range": 1,
    }
    p = tables["patients"].to_pylist()[0]
    assert p["sex"] == "female" and str(p["birth_date"]) == "1980-07-01"  # month unknown: July 1st


def _person(folder: Path) -> None:
    (folder / "person.csv").write_text(
        "person_id,year_of_birth,month_of_birth,day_of_birth,gender_source_value\n1,1980,,,F\n"
    )


def _cdm(folder: Path, concepts: str, measurements: str) -> Path:
    """A tiny CDM: one person, a concept table with the site's (arbitrary) ids, the given measurements."""
    _person(folder)
    (folder / "concept.csv").write_text(CONCEPT_HEADER + concepts)
    (folder / "measurement.csv").write_text(
        "measurement_id,person_id,measurement_concept_id,measurement_date,value_as_number,"
        "value_as_concept_id,unit_concept_id,unit_source_value,range_low,range_high\n" + measurements
    )
    return folder


def _concept(cid: int, vocabulary: str, code: str) -> str:
    return f"{cid},{code},Measurement,{vocabulary},Lab Test,S,{code},1970-01-01,2099-12-31,\n"


def test_c3_converted_qualitative_answers_and_bad_units_counted(tmp_path):
    concepts = "".join(
        _concept(*c)
        for c in [
            (601, "LOINC", "4485-9"),  # C3 (codes.yaml labs)
            (602, "LOINC", "3181-5"),  # anticardiolipin IgG
            (603, "LOINC", "5196-1"),  # HBsAg
            (604, "LOINC", "33799-8"),  # anti-dsDNA
            (605, "LOINC", "777-3"),  # platelets
            (701, "SNOMED", "10828004"),  # Positive (codes.yaml qualitative_answers)
            (702, "LOINC", "LA6577-6"),  # Negative
            (703, "SNOMED", "55464009"),  # SLE: a concept, but not an answer
            (801, "UCUM", "mg/dL"),
            (802, "UCUM", "mmol/L"),
            (803, "UCUM", "[IU]/mL"),  # codes.yaml ucum_units: = IU/mL
        ]
    )
    rows = [
        "1,1,601,2024-01-02,90,0,801,,90,180",  # C3 90 mg/dL = 0.9 g/L (x0.01), range 0.9-1.8 g/L
        "2,1,602,2024-01-03,,701,,,,",  # anticardiolipin: positive by value_as_concept_id
        "3,1,602,2024-01-04,20,0,,GPL,,14",  # measured: 20 > range_high 14 -> positive, value kept
        "4,1,602,2024-01-05,10,0,,GPL,,",  # a value with neither range_high nor an answer: counted
        "5,1,603,2024-01-06,,702,,,,",  # HBsAg negative (LOINC answer)
        "6,1,604,2024-01-07,45,0,803,,,",  # anti-dsDNA 45 [IU]/mL
        "7,1,601,2024-01-08,1.1,0,802,,,",  # C3 in mmol/L: not a unit of C3, counted
        "8,1,605,2024-01-09,,701,,,,",  # a count with only "positive": counted
        "9,1,603,2024-01-10,,703,,,,",  # value_as_concept_id that is no answer: counted
    ]
    u = Unmapped()
    labs = omop_to_arrow(_cdm(tmp_path, concepts, "\n".join(rows) + "\n"), u)["labs"].to_pylist()
    got = {str(r["date"]): r for r in labs}
    assert set(got) == {"2024-01-02", "2024-01-03", "2024-01-04", "2024-01-06", "2024-01-07"}
    c3 = got["2024-01-02"]
    assert (c3["test"], c3["unit"], c3["result"]) == ("c3", "g/L", None)
    assert (c3["value"], c3["reference_low"], c3["reference_high"]) == pytest.approx((0.9, 0.9, 1.8))
    acl = got["2024-01-03"]
    assert (acl["test"], acl["value"], acl["unit"], acl["result"]) == (
        "anticardiolipin",
        None,
        None,
        "positive",
    )
    measured = got["2024-01-04"]
    assert (measured["value"], measured["unit"], measured["reference_high"], measured["result"]) == (
        20.0,
        None,
        14.0,
        "positive",
    )
    assert (got["2024-01-06"]["test"], got["2024-01-06"]["result"]) == ("hbsag", "negative")
    dsdna = got["2024-01-07"]
    assert (dsdna["test"], dsdna["value"], dsdna["unit"]) == ("anti_dsdna", 45.0, "IU/mL")
    assert u.counts == {
        "measurement: anticardiolipin value without range_high (the laboratory's upper limit) "
        "or a positive/negative value_as_concept_id": 1,
        "measurement: unit not convertible for c3 (mmol/L)": 1,
        "measurement: platelets is a measured test but only a positive/negative answer is given": 1,
        "measurement: value_as_concept_id not a positive/negative answer (codes.yaml qualitative_answers)": 1,
    }


def test_every_codes_yaml_lab_code_is_read(tmp_path):
    """One code list for FHIR and OMOP: each LOINC code of codes.yaml gives its test from an OMOP row."""
    codes = load_codes().labs
    concepts = "".join(_concept(1000 + i, "LOINC", c) for i, c in enumerate(codes)) + _concept(
        999, "SNOMED", "10828004"
    )
    rows = []
    for i, test in enumerate(codes.values()):
        spec = TESTS[test]
        if spec.canonical_unit is None:  # qualitative test: a positive answer
            rows.append(f"{i},1,{1000 + i},2024-01-01,,999,,,,")
        else:  # the lower plausibility bound + 1, in the canonical unit given as source text
            rows.append(f"{i},1,{1000 + i},2024-01-01,{spec.bounds[0] + 1},0,,{spec.canonical_unit},,")
    u = Unmapped()
    labs = omop_to_arrow(_cdm(tmp_path, concepts, "\n".join(rows) + "\n"), u)["labs"].to_pylist()
    assert u.counts == {}
    assert sorted(r["test"] for r in labs) == sorted(codes.values())
    for r in labs:
        assert r["unit"] == TESTS[r["test"]].canonical_unit
        assert (r["result"] == "positive") == (TESTS[r["test"]].canonical_unit is None)


def test_rxnorm_ingredients_are_those_of_codes_yaml(tmp_path):
    # software.md §3.3, the list omop.py had of its own before it read codes.yaml
    ingredients = {
        "8640": "prednisone",
        "6902": "methylprednisolone",
        "3264": "dexamethasone",
        "5521": "hydroxychloroquine",
        "7145": "mycophenolate",
        "1256": "azathioprine",
        "3008": "cyclosporine",
        "42316": "tacrolimus",
        "3002": "cyclophosphamide",
        "121191": "rituximab",
        "711942": "eltrombopag",
    }
    # codes.yaml's RxNorm *product* codes (312615 prednisone 20 MG Oral Tablet ...) are not ingredients:
    # without concept_ancestor such a clinical drug is counted, not read (as in Synthea27Nj)
    drugs = {**ingredients, "312615": "prednisone 20 MG Oral Tablet"}
    _person(tmp_path)
    (tmp_path / "concept.csv").write_text(
        CONCEPT_HEADER
        + "".join(
            f"{2000 + i},{name},Drug,RxNorm,{'Ingredient' if code in ingredients else 'Clinical Drug'},S,"
            f"{code},1970-01-01,2099-12-31,\n"
            for i, (code, name) in enumerate(drugs.items())
        )
    )
    (tmp_path / "drug_exposure.csv").write_text(
        "drug_exposure_id,person_id,drug_concept_id,drug_exposure_start_date,drug_exposure_end_date\n"
        + "".join(f"{i},1,{2000 + i},2024-01-01,2024-01-31\n" for i in range(len(drugs)))
    )
    u = Unmapped()
    treatments = omop_to_arrow(tmp_path, u)["treatments"]
    assert sorted(treatments.column("agent").to_pylist()) == sorted(ingredients.values())
    assert u.counts == {"drug_exposure: not one of the RxNorm ingredients sleitp reads": 1}


def test_condition_codes_are_those_of_codes_yaml(tmp_path):
    """One code list for FHIR and OMOP: each SNOMED SLE/ITP code of codes.yaml gives its diagnosis date from
    an OMOP condition row; another SNOMED condition of codes.yaml (200936003, broader than SLE) does not."""
    codes = load_codes()
    snomed = {
        code: cond.concepts
        for (uri, code), cond in codes.conditions_exact.items()
        if uri == codes.systems["snomed"]
    }
    wanted = {code: c for code, concepts in snomed.items() for c in concepts if c in ("sle", "itp")}
    assert {"sle", "itp"} <= set(wanted.values()) and "200936003" in snomed
    assert "200936003" not in wanted
    # one person a code; the code's row dated 2020-01-01, an earlier row of the same code on person 1 only
    conds = list(snomed)
    (tmp_path / "person.csv").write_text(
        "person_id,year_of_birth,month_of_birth,day_of_birth,gender_source_value\n"
        + "".join(f"{i + 1},1980,,,F\n" for i in range(len(conds)))
    )
    (tmp_path / "concept.csv").write_text(
        CONCEPT_HEADER
        + "".join(
            f"{3000 + i},{code},Condition,SNOMED,Clinical Finding,S,{code},1970-01-01,2099-12-31,\n"
            for i, code in enumerate(conds)
        )
    )
    (tmp_path / "condition_occurrence.csv").write_text(
        "condition_occurrence_id,person_id,condition_concept_id,condition_start_date\n"
        + "".join(f"{i},{i + 1},{3000 + i},2020-01-01\n" for i in range(len(conds)))
        + "99,1,3000,2019-06-30\n"
    )
    u = Unmapped()
    patients = omop_to_arrow(tmp_path, u)["patients"].to_pylist()
    for i, code in enumerate(conds):
        p = patients[i]
        assert p["patient_id"] == str(i + 1)
        first = "2019-06-30" if i == 0 else "2020-01-01"
        got = {k: str(p[f"{k}_diagnosis_date"]) for k in ("sle", "itp") if p[f"{k}_diagnosis_date"]}
        assert got == ({wanted[code]: first} if code in wanted else {}), code
    ((reason, n),) = u.counts.items()
    assert reason.startswith("condition_occurrence: condition not SLE (SNOMED 55464009")
    assert n == len(snomed) - len(wanted)


def test_folder_without_person_is_a_clear_error(tmp_path):
    (tmp_path / "measurement.csv").write_text("measurement_id,person_id\n")
    with pytest.raises(SourceError, match="person"):
        omop_to_arrow(tmp_path, Unmapped())


# -- issue 15: a person.csv with the wrong columns is an error, not 2 patients -------------------------------
def test_person_csv_with_wrong_columns_names_the_missing_ones(tmp_path):
    (tmp_path / "person.csv").write_text("a,b\n1,2\n")
    with pytest.raises(SourceError) as e:
        omop_to_arrow(tmp_path, Unmapped())
    assert str(e.value) == ("person table: missing columns person_id, year_of_birth (OMOP CDM v5.4 person; "
                            "sleitp reads them); its columns are: a, b")


def test_person_csv_missing_one_column_names_it(tmp_path):
    (tmp_path / "person.csv").write_text("person_id,gender_source_value\n1,F\n")
    with pytest.raises(SourceError, match="person table: missing column year_of_birth "):
        omop_to_arrow(tmp_path, Unmapped())


def test_header_less_person_csv_still_reads_by_the_cdm_layout(tmp_path):
    (tmp_path / "person.csv").write_text("7,8532,1980,5,1,,,,,,,,F,,,,,\n")
    patients = omop_to_arrow(tmp_path, Unmapped())["patients"].to_pylist()
    assert [(p["patient_id"], str(p["birth_date"])) for p in patients] == [("7", "1980-05-01")]


def test_measurement_without_a_needed_column_is_a_clear_error(tmp_path):
    _person(tmp_path)
    (tmp_path / "measurement.csv").write_text("measurement_id,person_id,measurement_date\n1,1,2024-01-01\n")
    with pytest.raises(SourceError, match="measurement table: missing columns measurement_concept_id, "
                                          "value_as_number"):
        omop_to_arrow(tmp_path, Unmapped())


def test_new_lab_codes_convert_in_omop(tmp_path):
    # INR 6301-6 without a unit is a ratio; triglycerides 2571-8 in mg/dL x0.01129 (150 -> 1.6935 mmol/L);
    # D-dimer 48065-7 with an untagged unit is counted, not guessed to be FEU
    concepts = "".join(_concept(i + 1, "LOINC", c) for i, c in enumerate(("6301-6", "2571-8", "48065-7")))
    rows = ("1,1,1,2024-01-01,2.4,0,,,,\n"
            "2,1,2,2024-01-01,150,0,,mg/dL,,\n"
            "3,1,3,2024-01-01,0.5,0,,ug/mL,,\n")
    u = Unmapped()
    labs = omop_to_arrow(_cdm(tmp_path, concepts, rows), u)["labs"].to_pylist()
    got = {r["test"]: (pytest.approx(r["value"]), r["unit"]) for r in labs}
    assert got == {"inr": (2.4, "ratio"), "triglycerides": (1.6935, "mmol/L")}
    assert u.counts == {"measurement: unit not convertible for d_dimer (ug/mL)": 1}
