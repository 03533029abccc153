"""Landmark (dynamic) prediction of first-line response: one logistic model per landmark day.

docs/landmark.md.

At the bedside the question is asked again on day 3, 7 or 14 of the first line: "is this patient going to
respond?", with the first days' counts known. A landmark model for day L [VANHOUWELINGEN2007,
NICOLAIE2013] is fitted on the lines still at risk at L (still on line 1, followed through day L, no
confirmed response yet: ``sleitp.cohort.derive.landmarks``), with the baseline predictors of the main model
plus the trajectory so far (latest count, fold change from baseline, days with a count >= 30, slope), and
predicts the line's eventual IWG response [IWG2009] (R or CR -> 1, NR -> 0, NE excluded and counted).

Storage (no pickle): each landmark model is a complete model folder ``MODEL_DIR/landmark-L/`` (model.json,
card.json, its own manifest), listed in ``MODEL_DIR/landmarks.json`` with its manifest's SHA-256;
landmarks.json is in the main manifest, so the chain of checksums covers every landmark model.

Bedside (:func:`choose_landmark`): the largest landmark day <= the current day of line 1, when line 1 has
no response yet and no second line has started; before the first landmark the main (baseline) model.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.special import expit

from sleitp.cohort.derive.landmarks import (
    CONFIRM_DAYS,
    LANDMARKS_FILE,
    LOOKBACK_DAYS,
    R_THRESHOLD,
    TRAJECTORY,
)
from sleitp.errors import ModelError, SourceError
from sleitp.features import FEATURE_NAMES
from sleitp.model.binary.logistic import fit_irls, fit_logistic
from sleitp.model.dataset import Dataset, _as_float, _require, index_date_range, read_table
from sleitp.model.design import usable_design
from sleitp.model.performance import auc_with_ci, brier
from sleitp.model.persist import load_model, model_class, save_model, write_manifest
from sleitp.model.provenance import training_provenance
from sleitp.model.validation import optimism_correction
from sleitp.timeline import Timeline

if TYPE_CHECKING:
    from sleitp.model.predict import TrainedModel

__all__ = [
    "LANDMARKS_JSON",
    "TRAJECTORY",
    "bedside_trajectory",
    "choose_landmark",
    "landmark_dataset",
    "landmark_models",
    "landmark_rows",
    "train_landmarks",
]

LANDMARKS_JSON = "landmarks.json"
MIN_PER_CLASS = 10  # as sleitp.model.train: a floor below which no model is meaningful
_RESPONDED = {"CR": 1, "R": 1, "NR": 0}


# ------------------------------------------------------------------------------------------- data
def _landmark_frame(cohort_dir: Path, day: int, predictors: list[str]) -> tuple[pd.DataFrame, Path, Path]:
    """Line-1 rows at risk at ``day`` joined to the features and the line's category."""
    names = ("features.parquet", "responses.parquet", LANDMARKS_FILE)
    f_path, r_path, l_path = (cohort_dir / n for n in names)
    if not l_path.exists():
        raise SourceError(
            f"{l_path}: not found; landmark models need the trajectory data: run `sleitp cohort landmarks "
            f"SOURCE {cohort_dir} --days ...` first (docs/landmark.md)"
        )
    feats, resp, lm = read_table(f_path), read_table(r_path), read_table(l_path)
    _require(feats, ["patient_id", *predictors], f_path)
    _require(resp, ["patient_id", "line", "category"], r_path)
    _require(lm, ["patient_id", "line", "landmark_day", *TRAJECTORY], l_path)
    rows = lm[lm["landmark_day"] == day]
    if rows.empty:
        days = sorted(int(x) for x in lm["landmark_day"].unique())
        raise SourceError(f"{l_path}: no rows for landmark day {day} (it holds days {days}); re-run "
                          f"`sleitp cohort landmarks` with --days including {day}")
    m = rows.merge(resp[["patient_id", "line", "category"]], on=["patient_id", "line"], how="left")
    m = m.merge(feats[["patient_id", *[c for c in ("index_date",) if c in feats.columns], *predictors]],
                on="patient_id", how="inner")
    return m.reset_index(drop=True), f_path, l_path


def _matrix(m: pd.DataFrame, names: list[str], f_path: Path, l_path: Path) -> pd.DataFrame:
    return pd.DataFrame({n: _as_float(m[n], l_path if n in TRAJECTORY else f_path, n) for n in names})


def landmark_dataset(cohort_dir: str | Path, day: int, predictors: list[str] | None = None) -> Dataset:
    """The modelling data of the landmark-``day`` model: baseline predictors + trajectory, eventual
    response of line 1, for the lines at risk at ``day``; NE lines excluded and counted."""
    cohort_dir = Path(cohort_dir)
    base = list(predictors) if predictors else list(FEATURE_NAMES)
    m, f_path, l_path = _landmark_frame(cohort_dir, day, base)
    excluded = {"not_evaluable": int((m["category"] == "NE").sum()),
                "no_category": int(m["category"].isna().sum())}
    m = m[m["category"].isin(list(_RESPONDED))].reset_index(drop=True)
    X = _matrix(m, [*base, *TRAJECTORY], f_path, l_path)
    return Dataset(
        X=X,
        y=m["category"].map(_RESPONDED).to_numpy(dtype=int),
        patient_ids=m["patient_id"].astype(str).tolist(),
        outcome="first_line_response",
        source=str(cohort_dir),
        excluded=excluded,
        index_dates=index_date_range(m),
    )


def landmark_rows(model: TrainedModel, cohort_dir: str | Path, day: int):
    """(keys patient_id/line, X, observed) of every line 1 at risk at ``day`` in COHORT_DIR, for scoring
    with the landmark-``day`` model (sleitp predict); observed = the line's response (null for NE)."""
    cohort_dir = Path(cohort_dir)
    base = [p for p in model.design.predictors if p not in TRAJECTORY]
    m, f_path, l_path = _landmark_frame(cohort_dir, day, base)
    X = _matrix(m, model.design.predictors, f_path, l_path)
    return m[["patient_id", "line"]], X, m["category"].map(_RESPONDED).astype("Float64")


# ------------------------------------------------------------------------------------------- fitting
def _fit_one(ds: Dataset, day: int, *, bootstrap: int, seed: int, synthetic: bool | None, progress=None):
    events, non = ds.events, ds.n - ds.events
    if min(events, non) < MIN_PER_CLASS:
        raise ModelError(
            f"{ds.source}: landmark day {day}: {ds.n} lines at risk with {events} responders and {non} "
            f"non-responders; at least {MIN_PER_CLASS} of each are needed (excluded: {ds.excluded})"
        )
    y = ds.y.astype(float)
    design = usable_design(ds.X, f"{ds.source}: landmark day {day}")
    R = design.raw(ds.X)
    M = design.matrix_from_raw(R)
    try:
        logistic = fit_logistic(M, y, design.columns, penalised=False, seed=seed)
    except Exception as e:  # noqa: BLE001  statsmodels: singular matrix, perfect separation ...
        raise ModelError(f"{ds.source}: landmark day {day}: the logistic model cannot be fitted "
                         f"({type(e).__name__}: {e})") from None
    lp = logistic.linear_predictor(M)
    if not np.all(np.isfinite(lp)):
        raise ModelError(f"{ds.source}: landmark day {day}: non-finite predictions (perfect separation?)")

    def refit(idx: np.ndarray) -> np.ndarray:  # the whole procedure again, as in train [HARRELL1996]
        d_b = design.refit_values(R[idx])
        M_b = d_b.matrix_from_raw(R)
        beta, _ = fit_irls(M_b[idx], y[idx], penalty=0.0, scale=None, beta0=logistic.beta)
        return beta[0] + M_b @ beta[1:]

    opt = optimism_correction(ds.y, lp, refit, replicates=bootstrap, seed=seed, progress=progress,
                              where=f"{ds.source}: landmark day {day}")
    auc, lo, hi = auc_with_ci(ds.y, lp)
    training = {
        **training_provenance(Path(ds.source), ds, synthetic),
        "seed": seed,
        "bootstrap": bootstrap,
        "apparent_auc": auc,
        "optimism_corrected_auc": None if opt is None else opt.corrected.auc,
    }
    meta = {
        "name": f"first_line_response-landmark-{day}",
        "kind": "logistic",
        "outcome": "first_line_response",
        "landmark_day": day,
        "reference": {c: float(v) for c, v in zip(design.columns, M.mean(axis=0), strict=True)},
        "recalibration": {"intercept": 0.0, "slope": 1.0, "method": None},
        "training": training,
    }
    model = model_class("logistic")(meta, design, logistic=logistic)
    card = {
        "name": meta["name"],
        "landmark_day": day,
        "population": (f"line 1 still at risk on day {day}: evaluated through day {day} (no second line, "
                       f"follow-up), no response confirmed by then (time to response null or + "
                       f"{CONFIRM_DAYS} > {day}) [IWG2009]"),
        "outcome": "first_line_response (IWG R or CR of line 1; NR = 0; NE excluded)",
        "predictors": "baseline predictors (features.parquet, at line 1's start) + trajectory to day "
                      f"{day}: {', '.join(TRAJECTORY)}",
        "n": ds.n,
        "events": ds.events,
        "excluded": ds.excluded,
        "excluded_predictors": list(design.excluded),
        "apparent_auc": auc,
        "apparent_auc_ci": [lo, hi],
        "apparent_brier": brier(ds.y, expit(lp)),
        "optimism": None if opt is None else opt.to_json(),
        "coefficients": [
            {"column": c, "log_odds": float(b), "odds_ratio": float(np.exp(b))}
            for c, b in zip(design.columns, logistic.beta[1:], strict=True)
        ],
        "synthetic": training["synthetic"],
    }
    model.card = card
    return model


def train_landmarks(
    cohort_dir: str | Path,
    days: list[int],
    out: str | Path,
    *,
    predictors: list[str] | None = None,
    bootstrap: int = 200,
    seed: int = 0,
    synthetic: bool | None = None,
    progress=None,
) -> dict:
    """Fit and save one landmark model per day into OUT/landmark-DAY/, list them in OUT/landmarks.json and
    re-write OUT's manifest (OUT: the main model's folder). Returns landmarks.json's content plus the new
    ``manifest_sha256`` of OUT."""
    out = Path(out)
    # the baseline model the landmark models go with: a later `train --overwrite` without landmarks leaves
    # this file behind, and the loader then refuses to pair it with the new baseline model
    baseline = json.loads((out / "model.json").read_text())["training"]["created"]
    listing: dict = {"format": "sleitp-landmarks", "outcome": "first_line_response", "models": {},
                     "baseline_created": baseline}
    for day in days:
        ds = landmark_dataset(cohort_dir, day, predictors)
        model = _fit_one(ds, day, bootstrap=bootstrap, seed=seed, synthetic=synthetic,
                         progress=(lambda k, d=day: progress(d, k)) if progress else None)
        folder = f"landmark-{day}"
        sha = save_model(model, out / folder, extra_files={"card.json": json.dumps(model.card, indent=1,
                                                                                      default=float)})
        t = model.meta["training"]
        listing["models"][str(day)] = {
            "folder": folder, "manifest_sha256": sha, "n": ds.n, "events": ds.events,
            "apparent_auc": t["apparent_auc"], "optimism_corrected_auc": t["optimism_corrected_auc"],
        }
    (out / LANDMARKS_JSON).write_text(json.dumps(listing, indent=1, sort_keys=True) + "\n")
    return {**listing, "manifest_sha256": write_manifest(out)}


def landmark_models(model) -> dict[int, TrainedModel]:
    """The landmark models saved with ``model`` (loaded once, each checked against the SHA-256 that
    landmarks.json - itself in the main manifest - records); {} when there are none."""
    cached = getattr(model, "_landmark_models", None)
    if cached is not None:
        return cached
    found: dict[int, TrainedModel] = {}
    src = getattr(model, "source_dir", None)
    path = None if src is None else Path(src) / LANDMARKS_JSON
    if path is not None and path.is_file() and getattr(model, "outcome", None) == "first_line_response":
        try:
            listing = json.loads(path.read_text())
            entries = {int(k): v for k, v in listing["models"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise ModelError(f"{path}: not a valid landmark listing ({type(e).__name__}: {e})") from None
        created = model.meta.get("training", {}).get("created")
        if listing.get("baseline_created") != created:
            note = (f"the landmark models of {path} were trained with another baseline model (created "
                    f"{listing.get('baseline_created')}, this one {created}); not used - retrain with "
                    "--landmark-days")
            entries = {}
            model._landmark_note = note
        for day, entry in sorted(entries.items()):
            folder = str(entry.get("folder", ""))
            if "/" in folder or "\\" in folder or folder.startswith("."):
                raise ModelError(f"{path}: folder {folder!r} is not a plain folder name; refused")
            found[day] = load_model(Path(src) / folder, expected_manifest_sha256=entry.get("manifest_sha256"))
    try:
        model._landmark_models = found
    except AttributeError:  # pragma: no cover - a model type without attributes
        pass
    return found


# ------------------------------------------------------------------------------------------- bedside
def bedside_trajectory(record, start: date, baseline: float | None, day: int) -> dict[str, float | None]:
    """The trajectory predictors of one patient's line starting on ``start`` at landmark ``day`` - the
    single-patient reference of ``sleitp.cohort.derive.landmarks.landmark_table`` (same definitions)."""
    counts = Timeline(record, start + timedelta(days=day)).daily_counts  # lowest count a day, to day L
    k = {(d - start).days: v for d, v in counts.items() if -LOOKBACK_DAYS <= (d - start).days <= day}
    latest = k[max(k)] if k else None
    on = {d: v for d, v in k.items() if d >= 0}
    slope = None
    if len(on) >= 2:
        x, yv = np.array(list(on), dtype=float), np.array(list(on.values()), dtype=float)
        slope = float(np.polyfit(x, yv, 1)[0])
    return {
        "latest_platelets": latest,
        "fold_change_platelets": latest / baseline if latest is not None and baseline else None,
        "days_platelets_ge_30": float(sum(1 for d, v in on.items() if d >= 1 and v >= R_THRESHOLD)),
        "platelet_slope": slope,
    }


def choose_landmark(days: list[int], lines: list, at: date) -> tuple[int | None, str]:
    """(landmark day, why) for a patient whose IWG lines at ``at`` are ``lines``: the largest landmark day
    <= the current day of line 1 when line 1 has no response yet; None (the baseline model) otherwise."""
    if not lines:
        return None, "no treatment line yet: the baseline model"
    first = lines[0]
    current = (at - first.start).days
    if first.category in ("R", "CR"):
        return None, f"line 1 has already responded ({first.category}): no landmark model applies"
    if len(lines) >= 2:
        return None, "a second line has started: no landmark model applies"
    reached = [d for d in days if d <= current]
    if not reached:
        return None, (f"day {current} of line 1, before the first landmark (day {min(days)}): the baseline "
                      "model")
    return max(reached), f"day {current} of line 1, no response yet"
