"""Landmark (dynamic) prediction: the engine's trajectory at each landmark worked by hand and held to the
single-patient reference, the at-risk set, the landmark models' storage, and the bedside choice."""

from __future__ import annotations

import json
import sys
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from sleitp.cli import app
from sleitp.cohort.derive.landmarks import parse_days, write_landmarks
from sleitp.cohort.derive.run import derive
from sleitp.cohort.tables import records_to_tables
from sleitp.errors import ModelError, SourceError
from sleitp.instruments import iwg_responses
from sleitp.model.binary.landmark import bedside_trajectory, choose_landmark, landmark_models
from sleitp.record import parse_record
from tests.conftest import ROOT

D0 = date(2024, 3, 4)
BASE = json.loads((ROOT / "examples" / "01_newly_diagnosed_wet_purpura.json").read_text())


def _record(pid: str, counts: dict[int, list[float]], *, second_line_day: int | None = None,
            follow: int = 60):
    r = json.loads(json.dumps(BASE))
    r["id"] = pid
    r["itp_diagnosis_date"] = (D0 - timedelta(days=20)).isoformat()
    r["assessment_date"] = (D0 + timedelta(days=follow)).isoformat()
    r["labs"] = [x for x in r["labs"] if x["test"] != "platelets"] + [
        {"date": (D0 + timedelta(days=k)).isoformat(), "test": "platelets", "value": v, "unit": "10^9/L"}
        for k, vs in counts.items() for v in vs
    ]
    r["treatments"].append({"agent": "prednisone", "start": D0.isoformat(),
                            "end": (D0 + timedelta(days=(second_line_day or follow) - 1)).isoformat(),
                            "dose": 60, "dose_unit": "mg", "frequency": "daily", "route": "oral"})
    if second_line_day is not None:
        day = (D0 + timedelta(days=second_line_day)).isoformat()
        r["treatments"].append({"agent": "rituximab", "start": day, "end": day, "dose": 375,
                                "dose_unit": "mg/m2", "frequency": "once", "route": "iv"})
    return parse_record(r)


# A: two counts on day 0 (the lowest, 8, is the baseline), a rise, a qualifying pair on days 7 and 14 (R at 7,
#    confirmed on 14). B: no count after the start (baseline from day -10). C: a second line on day 10.
RECORDS = {
    "A": dict(counts={-3: [12], 0: [10, 8], 2: [15], 3: [22], 5: [35], 6: [28], 7: [40], 14: [45], 21: [50]}),
    "B": dict(counts={-10: [20]}),
    "C": dict(counts={0: [9], 4: [12], 8: [14]}, second_line_day=10),
}


@pytest.fixture(scope="module")
def hand(tmp_path_factory) -> tuple[Path, Path, dict]:
    root = tmp_path_factory.mktemp("landmark-hand")
    records = {pid: _record(pid, **kw) for pid, kw in RECORDS.items()}
    tables = records_to_tables(records.values())
    src = root / "tables"
    src.mkdir()
    for name, t in tables.items():
        pq.write_table(t, src / f"{name}.parquet")
    derive(src, root / "derived")
    write_landmarks(src, root / "derived", [3, 7, 14])
    return src, root / "derived", records


def _lm(derived: Path) -> pd.DataFrame:
    return pd.read_parquet(derived / "landmarks.parquet").set_index(["patient_id", "landmark_day"])


def test_trajectory_worked_by_hand(hand):
    _, derived, _ = hand
    lm = _lm(derived)
    a3, a7 = lm.loc[("A", 3)], lm.loc[("A", 7)]
    # day 3: daily lowest counts k=0: 8, k=2: 15, k=3: 22 -> latest 22, fold 22/8, none >= 30,
    # slope: k mean 5/3, y mean 15, sum (k-k)(y-y) = 21, sum (k-k)^2 = 14/3 -> 4.5 per day
    assert a3["latest_platelets"] == 22 and a3["fold_change_platelets"] == pytest.approx(22 / 8)
    assert a3["days_platelets_ge_30"] == 0 and a3["platelet_slope"] == pytest.approx(4.5)
    assert a3["counts_by_landmark"] == 3
    # day 7: latest 40 (day 7), fold 5, days >= 30: 5 and 7 (28 on day 6 is not), slope = least squares
    k, y = np.array([0, 2, 3, 5, 6, 7.0]), np.array([8, 15, 22, 35, 28, 40.0])
    assert a7["latest_platelets"] == 40 and a7["fold_change_platelets"] == pytest.approx(5.0)
    assert a7["days_platelets_ge_30"] == 2
    assert a7["platelet_slope"] == pytest.approx(np.polyfit(k, y, 1)[0])
    # B: nothing after the start: the latest count known is the baseline (day -10), fold 1, no slope
    b7 = lm.loc[("B", 7)]
    assert b7["latest_platelets"] == 20 and b7["fold_change_platelets"] == 1.0
    assert np.isnan(b7["platelet_slope"]) and b7["counts_by_landmark"] == 0


def test_at_risk_set(hand):
    _, derived, _ = hand
    lm = _lm(derived)
    r = pd.read_parquet(derived / "responses.parquet").set_index(["patient_id", "line"])
    assert r.loc[("A", 1), "time_to_response_days"] == 7  # the first count of the pair (7, 14)
    # A's response is known on day 14 (7 + 7): at risk on days 3 and 7, not 14
    assert ("A", 7) in lm.index and ("A", 14) not in lm.index
    # C switched on day 10 (evaluated through day 9): at risk on 3 and 7 only
    assert ("C", 7) in lm.index and ("C", 14) not in lm.index
    assert ("B", 14) in lm.index
    assert set(lm.reset_index()["line"]) == {1}


def test_engine_equals_the_bedside_reference(hand):
    _, derived, records = hand
    lm = _lm(derived).reset_index()
    resp = pd.read_parquet(derived / "responses.parquet")
    first = resp[resp["line"] == 1].set_index("patient_id")
    for _, row in lm.iterrows():
        f = first.loc[row["patient_id"]]
        ref = bedside_trajectory(records[row["patient_id"]], f["start"], f["baseline_platelets"],
                                 int(row["landmark_day"]))
        for name, v in ref.items():
            got = row[name]
            assert (v is None and pd.isna(got)) or got == pytest.approx(v), (row["patient_id"], name)


def test_parse_days():
    assert parse_days("14, 3,7,7") == [3, 7, 14]
    for bad in ("", "0,3", "a,b"):
        with pytest.raises(SourceError, match="--days"):
            parse_days(bad)


def test_choose_landmark():
    line = lambda cat, start=D0: SimpleNamespace(category=cat, start=start)  # noqa: E731
    days = [3, 7, 14]
    assert choose_landmark(days, [line("NR")], D0 + timedelta(days=8)) == (
        7, "day 8 of line 1, no response yet")
    assert choose_landmark(days, [line("NR")], D0 + timedelta(days=14))[0] == 14
    assert choose_landmark(days, [line("NE")], D0 + timedelta(days=3))[0] == 3
    day2 = choose_landmark(days, [line("NR")], D0 + timedelta(days=2))
    assert day2[0] is None and "before the first landmark" in day2[1]
    assert choose_landmark(days, [line("R")], D0 + timedelta(days=30))[0] is None
    assert choose_landmark(days, [line("NR"), line("NR")], D0 + timedelta(days=30))[0] is None
    assert choose_landmark(days, [], D0)[0] is None


# ------------------------------------------------------------------------------ models on a synthetic cohort
@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("landmark-synth")
    runner = CliRunner()
    for args in (["synth", "--patients", "400", "--seed", "11", "--out", str(root / "c")],
                 ["cohort", "derive", str(root / "c" / "tables"), "--out", str(root / "d")],
                 ["cohort", "landmarks", str(root / "c" / "tables"), str(root / "d"), "--days", "3,7,14"]):
        r = runner.invoke(app, args)
        assert r.exit_code == 0, r.output
    return root / "c", root / "d"


@pytest.fixture(scope="module")
def trained(synthetic, tmp_path_factory):
    _, derived = synthetic
    out = tmp_path_factory.mktemp("landmark-model") / "m"
    r = CliRunner().invoke(app, ["train", str(derived), "--out", str(out), "--bootstrap", "5",
                                 "--landmark-days", "3,7,14"])
    assert r.exit_code == 0, r.output
    assert "Landmark models" in r.output
    return out


def test_synthetic_engine_equals_reference(synthetic):
    src, derived = synthetic
    lm = pd.read_parquet(derived / "landmarks.parquet")
    resp = pd.read_parquet(derived / "responses.parquet")
    first = resp[resp["line"] == 1].set_index("patient_id")
    wanted = set(lm.sample(60, random_state=1)["patient_id"])
    records = {}
    for line in open(src / "records.jsonl"):
        rec = json.loads(line)
        if rec["id"] in wanted:
            records[rec["id"]] = parse_record(rec)
    rows = lm[lm["patient_id"].isin(wanted)]
    assert len(rows) >= 60
    for _, row in rows.iterrows():
        f = first.loc[row["patient_id"]]
        ref = bedside_trajectory(records[row["patient_id"]], f["start"], f["baseline_platelets"],
                                 int(row["landmark_day"]))
        for name, v in ref.items():
            got = row[name]
            assert (v is None and pd.isna(got)) or got == pytest.approx(v), (row["patient_id"], name)
        # the reference's at-risk rule agrees: line 1 has no IWG response confirmed by the landmark day
        rec = records[row["patient_id"]]
        at = f["start"] + timedelta(days=int(row["landmark_day"]))
        assert iwg_responses(rec, at)[0].category not in ("R", "CR")


def test_landmark_models_saved_and_chained(trained, synthetic):
    from sleitp.model import load_model

    listing = json.loads((trained / "landmarks.json").read_text())
    assert sorted(listing["models"], key=int) == ["3", "7", "14"]
    manifest = json.loads((trained / "manifest.json").read_text())
    assert "landmarks.json" in manifest["files"]
    model = load_model(trained)
    lms = landmark_models(model)
    assert sorted(lms) == [3, 7, 14]
    for day, lm in lms.items():
        assert lm.meta["landmark_day"] == day and lm.name == f"first_line_response-landmark-{day}"
        assert {"latest_platelets", "days_platelets_ge_30"} & set(lm.design.predictors) or day == 3
        assert 0.5 < lm.meta["training"]["apparent_auc"] <= 1
        assert listing["models"][str(day)]["n"] == lm.meta["training"]["n"]
    # the at-risk set shrinks by day 14 (responses confirmed by then leave it)
    assert listing["models"]["14"]["n"] < listing["models"]["7"]["n"]


def test_tampered_landmark_model_is_refused(trained, tmp_path):
    import shutil

    from sleitp.model import load_model

    copy = tmp_path / "m"
    shutil.copytree(trained, copy)
    path = copy / "landmark-7" / "model.json"
    meta = json.loads(path.read_text())
    meta["training"]["n"] += 1
    path.write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="SHA-256"):
        landmark_models(load_model(copy))
    # re-writing the landmark folder's own manifest does not help: landmarks.json records its SHA-256
    from sleitp.model.persist import write_manifest

    write_manifest(copy / "landmark-7")
    with pytest.raises(ModelError, match="SHA-256"):
        landmark_models(load_model(copy))


def test_bedside_uses_the_landmark_reached(trained):
    from sleitp.decision import assess
    from sleitp.model import load_model
    from sleitp.record import load_record

    model = load_model(trained)
    day8 = assess(load_record(ROOT / "examples" / "08_day8_of_prednisone.json"), model=model).to_json()
    p = day8["prediction"]
    assert p["landmark_day"] == 7 and p["model"]["name"] == "first_line_response-landmark-7"
    assert p["landmark"].startswith("landmark day 7 model") and "Landmark day 7 model" in p["statement"]
    new = assess(load_record(ROOT / "examples" / "01_newly_diagnosed_wet_purpura.json"), model=model)
    new = new.to_json()
    assert new["prediction"]["landmark_day"] is None and "baseline model" in new["prediction"]["landmark"]
    runner = CliRunner()
    out = runner.invoke(app, ["assess", str(ROOT / "examples" / "08_day8_of_prednisone.json"), "--model",
                              str(trained)])
    assert out.exit_code == 0 and "Landmark day 7 model" in " ".join(out.output.split())


def test_train_landmarks_needs_the_landmark_file(synthetic, tmp_path, monkeypatch, capsys):
    import shutil

    from sleitp.cli import main

    _, derived = synthetic
    bare = tmp_path / "bare"
    bare.mkdir()
    for n in ("responses.parquet", "features.parquet"):
        shutil.copy(derived / n, bare / n)
    monkeypatch.setattr(sys, "argv", ["sleitp", "train", str(bare), "--out", str(tmp_path / "m"),
                                      "--bootstrap", "0", "--landmark-days", "7"])
    with pytest.raises(SystemExit) as e:
        main()
    err = capsys.readouterr().err
    assert e.value.code == 2 and "sleitp cohort landmarks" in err and "Traceback" not in err


def test_landmarks_of_another_baseline_model_are_not_used(trained, synthetic, tmp_path):
    import shutil

    from sleitp.decision import assess
    from sleitp.model import load_model
    from sleitp.record import load_record

    _, derived = synthetic
    copy = tmp_path / "m"
    shutil.copytree(trained, copy)
    r = CliRunner().invoke(app, ["train", str(derived), "--out", str(copy), "--bootstrap", "0",
                                 "--overwrite"])
    assert r.exit_code == 0, r.output
    assert (copy / "landmarks.json").exists()  # left behind by the earlier run
    model = load_model(copy)
    assert landmark_models(model) == {}
    p = assess(load_record(ROOT / "examples" / "08_day8_of_prednisone.json"), model=model).to_json()
    p = p["prediction"]
    assert p["landmark_day"] is None and "another baseline model" in p["landmark"]


def test_an_existing_landmark_file_is_replaced_only_with_overwrite(hand):
    src, derived, _ = hand
    before = pd.read_parquet(derived / "landmarks.parquet")
    with pytest.raises(SourceError, match="--overwrite"):
        write_landmarks(src, derived, [3, 7, 14])
    assert write_landmarks(src, derived, [3, 7, 14], overwrite=True)["rows"] == len(before)
