"""OMOP CDM v5.4 source: the public examples in ../shared/data (testdata.md §4, §8.4), checked by hand."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from sleitp.cohort.derive import derive
from sleitp.cohort.omop import omop_to_arrow
from sleitp.cohort.sources import Unmapped
from sleitp.errors import SourceError

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
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


def test_synthea27nj_platelets_107_rows_28_persons(synthea):
    tables, _ = synthea
    labs = tables["labs"]
    # testdata.md §4.1: 107 rows of LOINC 777-3, in all 28 persons, unit 8848 (10*3/uL), 152.0-448.6
    assert labs.num_rows == 107
    assert set(labs.column("test").to_pylist()) == {"platelets"}
    assert len(set(labs.column("patient_id").to_pylist())) == 28
    values = labs.column("value").to_pylist()
    assert (min(values), max(values)) == (152.0, 448.6)  # 10*3/uL = 10^9/L: factor 1
    assert set(labs.column("unit").to_pylist()) == {"10^9/L"}
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
    # every measurement that is not 777-3 is counted as not mapped, none is silently lost
    assert unmapped.counts["measurement: concept not one of the LOINC codes sleitp reads"] == total - 107
    assert tables["labs"].num_rows == 107


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
        "257628,Systemic lupus erythematosus,Condition,SNOMED,Clinical Finding,S,55464009,1970-01-01,2099-12-31,\n"
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
    assert tables["labs"].num_rows == 107 and tables["patients"].num_rows == 28


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


def test_folder_without_person_is_a_clear_error(tmp_path):
    (tmp_path / "measurement.csv").write_text("measurement_id,person_id\n")
    with pytest.raises(SourceError, match="person"):
        omop_to_arrow(tmp_path, Unmapped())
