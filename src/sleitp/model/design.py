"""From predictor values (with gaps) to the numeric design matrix of a model: the model's transformations.

Missing data — the choice, and why (docs/model.md): **missing-indicator + median imputation**.
A value that is not measured is replaced by the training median (numeric) or the most common value
(yes/no), and a 0/1 "not measured" indicator enters the model. Predictors that are missing in exactly
the same patients share one indicator (e.g. ``c3`` and ``low_c3``), otherwise the design would be
singular. Why not multiple imputation: the model must make a prediction for one patient at the bedside
with whatever was measured, where the outcome is unknown and an imputation model cannot be re-run;
for prediction (unlike causal explanation) the missingness pattern may itself carry information and the
method used at development should match the one used at deployment [SPERRIN2020]; missing indicators
improved prediction in many simulated settings when data can be missing at deployment [SISK2023]
(but can harm when missingness depends on the outcome — stated in the card's limitations).
Multiple imputation is available as an option all the same (``--imputation mice``: no indicators, and a
bedside conditional-mean imputation in the ``conditional`` field; :mod:`sleitp.model.binary.imputation`).

Other transformations: numeric values are clipped to the 0.5th-99.5th training percentiles
(winsorising: a few extreme laboratory values cannot dominate a linear term, and a bedside value far
outside the training range is not extrapolated); predictors constant or never measured in the cohort,
and columns collinear with others, are excluded and listed with the reason. All of this is plain data
(``to_json``) so that the saved model holds it without pickle.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy.linalg import qr

from sleitp.errors import ModelError
from sleitp.features import FEATURES
from sleitp.model.binary.imputation import ConditionalMean

__all__ = ["Design", "IndicatorGroup", "Term", "fit_design", "usable_design"]

FEATURE_KIND = {f.name: f.kind for f in FEATURES}
CLIP_QUANTILES = (0.005, 0.995)


@dataclass(frozen=True)
class Term:
    """One predictor's value column: how a raw value becomes a number in the model."""

    name: str
    kind: str  # "numeric" | "binary"
    impute: float  # used when the value is missing
    clip_low: float | None = None
    clip_high: float | None = None

    def transform(self, v: np.ndarray) -> np.ndarray:
        v = np.where(np.isnan(v), self.impute, v)
        if self.clip_low is not None:
            v = np.clip(v, self.clip_low, self.clip_high)
        return v


@dataclass(frozen=True)
class IndicatorGroup:
    """A 0/1 column: 1 when the predictors of the group were not measured (they are missing together)."""

    predictors: tuple[str, ...]

    @property
    def name(self) -> str:
        return "missing:" + "+".join(self.predictors)


@dataclass(frozen=True)
class Design:
    terms: tuple[Term, ...]
    indicators: tuple[IndicatorGroup, ...]
    excluded: tuple[dict, ...] = field(default_factory=tuple)  # {"name", "reason"}
    # --imputation mice: missing values filled by the bedside conditional mean before the transformations
    # (sleitp.model.binary.imputation.ConditionalMean); None = the missing-indicator method above
    conditional: object | None = None

    @property
    def predictors(self) -> list[str]:
        return [t.name for t in self.terms]

    @property
    def columns(self) -> list[str]:
        return self.predictors + [g.name for g in self.indicators]

    def raw(self, X: pd.DataFrame) -> np.ndarray:
        """The predictors of the design from X as an n x len(terms) float array (NaN = not measured)."""
        return (
            np.column_stack([X[t.name].to_numpy(dtype=float) for t in self.terms])
            if self.terms
            else np.empty((len(X), 0))
        )

    def matrix(self, X: pd.DataFrame) -> np.ndarray:
        """n x len(columns) float matrix; X needs a column for every predictor of the design."""
        return self.matrix_from_raw(self.raw(X))

    def matrix_from_raw(self, R: np.ndarray) -> np.ndarray:
        """Design matrix from the raw predictor array of :meth:`raw` (vectorised; used by the bootstrap)."""
        position = {t.name: j for j, t in enumerate(self.terms)}
        if self.conditional is not None:
            R = self.conditional.fill(R)
        cols = [t.transform(R[:, j]) for j, t in enumerate(self.terms)]
        cols += [np.isnan(R[:, position[g.predictors[0]]]).astype(float) for g in self.indicators]
        return np.column_stack(cols) if cols else np.empty((len(R), 0))

    def row(self, values: dict[str, float | bool | None]) -> np.ndarray:
        """One patient's design row from a dict of predictor values (None = not measured)."""
        frame = pd.DataFrame(
            {t.name: [np.nan if values.get(t.name) is None else float(values[t.name])] for t in self.terms}
        )
        return self.matrix(frame)[0]

    def refit_values(self, R: np.ndarray) -> "Design":
        """Same columns; imputation values and clipping limits re-estimated on the raw array R (of
        :meth:`raw`, e.g. one bootstrap sample) — the bootstrap repeats every data-driven step."""
        return replace(
            self, terms=tuple(_term(t.name, t.kind, R[:, j]) or t for j, t in enumerate(self.terms))
        )

    def to_json(self) -> dict:
        return {
            "terms": [
                {
                    "name": t.name,
                    "kind": t.kind,
                    "impute": t.impute,
                    "clip_low": t.clip_low,
                    "clip_high": t.clip_high,
                }
                for t in self.terms
            ],
            "indicators": [{"name": g.name, "predictors": list(g.predictors)} for g in self.indicators],
            "excluded": [dict(e) for e in self.excluded],
            "columns": self.columns,
        } | ({} if self.conditional is None else {"conditional_mean": self.conditional.to_json()})

    @classmethod
    def from_json(cls, d: dict) -> "Design":
        terms = tuple(
            Term(
                name=str(t["name"]),
                kind=str(t["kind"]),
                impute=float(t["impute"]),
                clip_low=None if t.get("clip_low") is None else float(t["clip_low"]),
                clip_high=None if t.get("clip_high") is None else float(t["clip_high"]),
            )
            for t in d["terms"]
        )
        inds = tuple(IndicatorGroup(tuple(str(p) for p in g["predictors"])) for g in d["indicators"])
        conditional = None
        if d.get("conditional_mean") is not None:  # --imputation mice (sleitp.model.binary.imputation)
            conditional = ConditionalMean.from_json(d["conditional_mean"])
            if list(conditional.predictors) != [t.name for t in terms]:
                raise ValueError("the conditional-mean imputation names other predictors than the terms")
        design = cls(terms=terms, indicators=inds, excluded=tuple(d.get("excluded", [])),
                     conditional=conditional)
        if "columns" in d and list(d["columns"]) != design.columns:
            raise ValueError("design columns do not match the terms and indicators")
        known = {t.name for t in terms}
        if any(p not in known for g in inds for p in g.predictors):
            raise ValueError("an indicator names a predictor that is not a term")
        return design


def _term(name: str, kind: str, v: np.ndarray) -> Term | None:
    obs = v[~np.isnan(v)]
    if obs.size == 0:
        return None
    if kind == "binary":
        impute = float(obs.mean() >= 0.5)  # the most common value
        return Term(name, kind, impute)
    lo, hi = np.quantile(obs, CLIP_QUANTILES)
    return Term(name, kind, float(np.median(obs)), float(lo), float(hi))


def fit_design(X: pd.DataFrame, *, indicators: bool = True) -> Design:
    """Decide the model's columns from the training predictors X (NaN = not measured); ``indicators=False``
    (``--imputation mice``): no missingness indicators."""
    excluded: list[dict] = []
    terms: list[Term] = []
    for name in X.columns:
        v = X[name].to_numpy(dtype=float)
        obs = v[~np.isnan(v)]
        if obs.size == 0:
            excluded.append({"name": name, "reason": "never measured in this cohort"})
            continue
        if np.all(obs == obs[0]):
            excluded.append(
                {"name": name, "reason": f"the same value ({obs[0]:g}) in every patient measured"}
            )
            continue
        terms.append(_term(name, FEATURE_KIND.get(name, "numeric"), v))

    # one indicator per distinct missingness pattern (identical patterns would make the design singular)
    patterns: dict[bytes, list[str]] = {}
    for t in terms if indicators else ():
        miss = X[t.name].isna().to_numpy()
        if miss.any():
            patterns.setdefault(np.packbits(miss).tobytes(), []).append(t.name)
    indicators = [IndicatorGroup(tuple(names)) for names in patterns.values()]
    design = Design(tuple(terms), tuple(indicators), tuple(excluded))
    return _drop_collinear(design, X)


def usable_design(X: pd.DataFrame, where: str, *, indicators: bool = True) -> Design:
    """:func:`fit_design`, refused (a ModelError of ``where``, the cohort) when no predictor is usable."""
    design = fit_design(X, indicators=indicators)
    if not design.terms:
        raise ModelError(f"{where}: no usable predictor (all excluded: {list(design.excluded)})")
    return design


def _drop_collinear(design: Design, X: pd.DataFrame) -> Design:
    """Remove columns that are (numerically) linear combinations of earlier ones, saying so."""
    M = design.matrix(X)
    if M.shape[1] == 0:
        return design
    sd = M.std(axis=0)
    Z = np.column_stack([np.ones(len(M)), (M - M.mean(axis=0)) / np.where(sd > 0, sd, 1)])
    _, R, piv = qr(Z, mode="economic", pivoting=True)
    diag = np.abs(np.diag(R))
    rank = int(np.sum(diag > 1e-8 * diag[0]))
    dropped = {design.columns[j - 1] for j in piv[rank:] if j > 0}
    if not dropped:
        return design
    excluded = list(design.excluded)
    terms = []
    for t in design.terms:
        if t.name in dropped:
            excluded.append({"name": t.name, "reason": "collinear with other predictors in this cohort"})
        else:
            terms.append(t)
    kept = {t.name for t in terms}
    inds = []
    for g in design.indicators:
        preds = tuple(p for p in g.predictors if p in kept)
        if g.name in dropped or not preds:
            if preds:
                excluded.append(
                    {
                        "name": g.name,
                        "reason": "missingness indicator collinear with other columns; "
                        "missing values take the median only",
                    }
                )
            continue
        inds.append(IndicatorGroup(preds))
    return Design(tuple(terms), tuple(inds), tuple(excluded))
