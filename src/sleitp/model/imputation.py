"""Multiple imputation as a training option (``sleitp train --imputation mice``; docs/imputation.md).

The default (``--imputation indicator``) is the missing-indicator method of :mod:`.design`. With ``mice``:

1. **Chained equations** [VANBUUREN2011]: ``m`` completed copies of the development predictors, each by
   scikit-learn's ``IterativeImputer`` (BayesianRidge per incomplete column, ``sample_posterior=True`` so
   each copy is a draw, its own ``random_state``, ``MICE_ITERATIONS`` rounds). The **outcome is a column of
   the imputation model** at development [MOONS2006] (it is complete, so it is never imputed itself).
   Yes/no predictors: imputed on the continuous scale, bounded to [0, 1], then rounded at 0.5 (a
   linear-probability approximation of a logistic imputation model; chosen over a custom logistic loop to
   keep one well-tested engine: the imputed values are 0/1 like the observed ones).
2. **Rubin's rules** [RUBIN1987]: the logistic model is fitted on each completed copy; pooled coefficients =
   the mean, total variance T = W + (1 + 1/m) B (W the mean within-imputation covariance, B the
   between-imputation covariance), per coefficient the relative increase in variance r, Rubin's degrees
   of freedom and the fraction of missing information (:func:`rubin`).
3. **Bootstrap then impute** [SCHOMAKER2018] [WAHL2016]: every bootstrap replicate of the optimism
   correction re-imputes its own sample (``BOOTSTRAP_IMPUTATIONS`` copies per replicate, fewer than ``m`` to
   bound the runtime), so the optimism includes the imputation step.
4. **At the bedside** [HOOGLAND2020]: one new patient, outcome unknown, so the development imputation model
   (which contains the outcome) cannot be used. The saved model holds a :class:`ConditionalMean`: the mean
   vector and covariance matrix of the predictors (plain JSON arrays, no pickle), and a missing predictor
   is replaced by its conditional mean given the patient's observed predictors under that multivariate
   normal; the outcome is not in it. Its mean and covariance are estimated from the m completed development
   datasets (which used the outcome to complete the development data; the bedside model itself conditions
   on predictors only). The same rule gives the predictions whose performance the card reports (apparent,
   and in every bootstrap replicate), so the validation measures the model as it is applied.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.stats import t as t_dist

__all__ = [
    "BOOTSTRAP_IMPUTATIONS",
    "DEFAULT_IMPUTATIONS",
    "IMPUTATION_METHODS",
    "MICE_ITERATIONS",
    "ConditionalMean",
    "Pooled",
    "mice",
    "rubin",
]

IMPUTATION_METHODS = ("indicator", "mice")
DEFAULT_IMPUTATIONS = 10  # m at development (--imputations)
MICE_ITERATIONS = 10  # rounds of the chained equations per imputation [VANBUUREN2011]
BOOTSTRAP_IMPUTATIONS = 3  # m per bootstrap replicate (bootstrap then impute [SCHOMAKER2018]), runtime bound
_JITTER = 1e-9  # added to the observed block's covariance diagonal so that a singular block can be solved


def mice(
    R: np.ndarray,
    binary: np.ndarray,
    y: np.ndarray | None,
    *,
    m: int,
    seed: int,
    max_iter: int = MICE_ITERATIONS,
) -> list[np.ndarray]:
    """``m`` completed copies of ``R`` (n x p raw predictors, NaN = missing) by chained equations
    [VANBUUREN2011]; ``y`` (the outcome) enters the imputation model as a complete column [MOONS2006].
    ``binary``: a p-vector, True for yes/no predictors (imputed in [0, 1] then rounded at 0.5).
    Observed values are never changed. Raises ValueError if a predictor has no observed value in R."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401  (needed before the import)
    from sklearn.impute import IterativeImputer
    from sklearn.linear_model import BayesianRidge

    R = np.asarray(R, dtype=float)
    n, p = R.shape
    binary = np.asarray(binary, dtype=bool)
    missing = np.isnan(R)
    if np.any(missing.all(axis=0)):
        raise ValueError("a predictor has no observed value in this sample; it cannot be imputed")
    if not missing.any():
        return [R.copy() for _ in range(m)]
    Z = R if y is None else np.column_stack([R, np.asarray(y, dtype=float)])
    extra = Z.shape[1] - p
    lo = np.concatenate([np.where(binary, 0.0, -np.inf), np.full(extra, -np.inf)])
    hi = np.concatenate([np.where(binary, 1.0, np.inf), np.full(extra, np.inf)])
    seeds = np.random.SeedSequence([seed, 16]).generate_state(m)  # one random_state per imputation
    out = []
    for k in range(m):
        imputer = IterativeImputer(
            estimator=BayesianRidge(),
            sample_posterior=True,  # each copy a draw from the predictive distribution, not its mean
            max_iter=max_iter,
            random_state=int(seeds[k]),
            min_value=lo,
            max_value=hi,
            skip_complete=True,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # a fixed number of rounds is intended
            filled = imputer.fit_transform(Z)[:, :p]
        if filled.shape != (n, p) or not np.all(np.isfinite(filled)):
            raise ValueError("the chained-equations imputation did not return a complete array")
        filled[:, binary] = (filled[:, binary] >= 0.5).astype(float)
        filled[~missing] = R[~missing]
        out.append(filled)
    return out


@dataclass(frozen=True)
class Pooled:
    """Rubin's rules for one set of coefficients (intercept first) over m imputations [RUBIN1987]."""

    m: int
    beta: np.ndarray  # pooled estimate: the mean over imputations
    within: np.ndarray  # W: mean of the m covariance matrices
    between: np.ndarray  # B: covariance of the m estimates (ddof 1)
    total: np.ndarray  # T = W + (1 + 1/m) B

    @property
    def riv(self) -> np.ndarray:
        """Relative increase in variance due to missing data, r = (1 + 1/m) B / W, per coefficient."""
        w = np.diag(self.within)
        return np.divide((1 + 1 / self.m) * np.diag(self.between), w, out=np.zeros_like(w), where=w > 0)

    @property
    def df(self) -> np.ndarray:
        """Rubin's degrees of freedom (m - 1)(1 + 1/r)^2 per coefficient (infinite when r = 0)."""
        r = self.riv
        with np.errstate(divide="ignore"):
            return np.where(r > 0, (self.m - 1) * (1 + 1 / np.where(r > 0, r, 1)) ** 2, np.inf)

    @property
    def lambda_(self) -> np.ndarray:
        """Proportion of the total variance due to missing data, (1 + 1/m) B / T."""
        tot = np.diag(self.total)
        return np.divide((1 + 1 / self.m) * np.diag(self.between), tot, out=np.zeros_like(tot), where=tot > 0)

    @property
    def fmi(self) -> np.ndarray:
        """Fraction of missing information (r + 2 / (df + 3)) / (r + 1) per coefficient [RUBIN1987]."""
        r, df = self.riv, self.df
        return (r + np.where(np.isfinite(df), 2 / (df + 3), 0.0)) / (r + 1)

    @property
    def pvalues(self) -> np.ndarray:
        se = np.sqrt(np.maximum(np.diag(self.total), 0))
        z = np.divide(np.abs(self.beta), se, out=np.zeros_like(se), where=se > 0)
        return 2 * t_dist.sf(z, self.df)

    def table(self, columns: list[str]) -> list[dict]:
        """Per coefficient: pooled estimate, within / between / total variance, r, df, lambda, FMI."""
        rows = []
        for i, name in enumerate(("intercept", *columns)):
            df = float(self.df[i])
            rows.append({
                "term": name,
                "coefficient": float(self.beta[i]),
                "within_variance": float(self.within[i, i]),
                "between_variance": float(self.between[i, i]),
                "total_variance": float(self.total[i, i]),
                "relative_increase_in_variance": float(self.riv[i]),
                "df": None if not np.isfinite(df) else df,
                "lambda": float(self.lambda_[i]),
                "fraction_missing_information": float(self.fmi[i]),
            })
        return rows


def rubin(betas: list[np.ndarray], covariances: list[np.ndarray]) -> Pooled:
    """Pool m estimates and their covariance matrices by Rubin's rules [RUBIN1987]."""
    m = len(betas)
    if m < 2 or len(covariances) != m:
        raise ValueError("Rubin's rules need at least 2 imputations, each with a covariance matrix")
    Q = np.array([np.asarray(b, dtype=float) for b in betas])
    W = np.mean([np.asarray(c, dtype=float) for c in covariances], axis=0)
    B = np.atleast_2d(np.cov(Q, rowvar=False, ddof=1))
    return Pooled(m=m, beta=Q.mean(axis=0), within=W, between=B, total=W + (1 + 1 / m) * B)


@dataclass(frozen=True)
class ConditionalMean:
    """Bedside imputation without the outcome [HOOGLAND2020]: a missing predictor becomes its conditional
    mean given the observed ones, E[x_u | x_o] = mu_u + S_uo S_oo^-1 (x_o - mu_o), under the multivariate
    normal (mean, covariance) of the development predictors; yes/no predictors are kept in [0, 1] (the
    linear predictor then takes the expected value of a 0/1 term)."""

    predictors: tuple[str, ...]
    mean: np.ndarray
    covariance: np.ndarray
    binary: tuple[bool, ...]

    @classmethod
    def from_completed(cls, predictors, completed: list[np.ndarray], binary) -> "ConditionalMean":
        """Mean and covariance of the stacked completed datasets."""
        stacked = np.vstack(completed)
        cov = np.atleast_2d(np.cov(stacked, rowvar=False))
        return cls(tuple(predictors), stacked.mean(axis=0), cov, tuple(bool(b) for b in binary))

    def fill(self, R: np.ndarray) -> np.ndarray:
        """R (n x p, NaN = missing) with every missing value replaced by its conditional mean."""
        R = np.array(R, dtype=float)
        miss = np.isnan(R)
        if not miss.any():
            return R
        patterns, inverse = np.unique(miss, axis=0, return_inverse=True)
        inverse = np.asarray(inverse).reshape(-1)
        lo = np.where(self.binary, 0.0, -np.inf)
        hi = np.where(self.binary, 1.0, np.inf)
        for k, pat in enumerate(patterns):
            if not pat.any():
                continue
            rows = np.flatnonzero(inverse == k)
            u, o = np.flatnonzero(pat), np.flatnonzero(~pat)
            fill = np.broadcast_to(self.mean[u], (rows.size, u.size)).copy()
            if o.size:
                S_oo = self.covariance[np.ix_(o, o)] + _JITTER * np.eye(o.size)
                S_uo = self.covariance[np.ix_(u, o)]
                dev = R[np.ix_(rows, o)] - self.mean[o]
                fill += np.linalg.lstsq(S_oo, dev.T, rcond=None)[0].T @ S_uo.T
            R[np.ix_(rows, u)] = np.clip(fill, lo[u], hi[u])
        return R

    def to_json(self) -> dict:
        return {
            "method": "conditional mean given the observed predictors, multivariate normal of the "
            "development predictors (no outcome)",
            "predictors": list(self.predictors),
            "binary": list(self.binary),
            "mean": [float(x) for x in self.mean],
            "covariance": [[float(x) for x in row] for row in self.covariance],
        }

    @classmethod
    def from_json(cls, d: dict) -> "ConditionalMean":
        names = tuple(str(p) for p in d["predictors"])
        mean = np.array(d["mean"], dtype=float)
        cov = np.array(d["covariance"], dtype=float)
        binary = tuple(bool(b) for b in d["binary"])
        p = len(names)
        if mean.shape != (p,) or cov.shape != (p, p) or len(binary) != p:
            raise ValueError(f"conditional-mean imputation: mean, covariance and binary must match {p} "
                             "predictors")
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(cov))):
            raise ValueError("conditional-mean imputation: non-finite mean or covariance")
        return cls(names, mean, cov, binary)


# --- the model: m fits pooled, bedside imputation, the bootstrap refit ---------------------------------


def _binary(design) -> np.ndarray:
    return np.array([t.kind == "binary" for t in design.terms])


def fit_pooled(design, R: np.ndarray, y: np.ndarray, *, m: int, seed: int):
    """The reported model: MICE with the outcome [MOONS2006], statsmodels ML logistic regression on each
    completed copy, pooled by Rubin's rules [RUBIN1987]. Returns (LogisticFit with the pooled coefficients
    and total covariance, Pooled, the design carrying the bedside :class:`ConditionalMean`)."""
    from dataclasses import replace

    from .logistic import LogisticFit, fit_logistic

    binary = _binary(design)
    completed = mice(R, binary, y, m=m, seed=seed)
    fits = [fit_logistic(design.matrix_from_raw(Rk), y, design.columns) for Rk in completed]
    pooled = rubin([f.beta for f in fits], [f.covariance for f in fits])
    fit = LogisticFit(tuple(design.columns), pooled.beta, pooled.total, 0.0, pooled.pvalues)
    bedside = ConditionalMean.from_completed(design.predictors, completed, binary)
    return fit, pooled, replace(design, conditional=bedside)


def bootstrap_refit(design, R: np.ndarray, y: np.ndarray, *, beta0: np.ndarray, m: int, seed: int):
    """``refit(idx)`` for :func:`sleitp.model.validation.bootstrap_optimism`: bootstrap then impute
    [SCHOMAKER2018] [WAHL2016] -- the replicate's sample is re-imputed (``m`` copies, with its outcome),
    the model fitted on each copy and pooled, the bedside imputation re-estimated; the linear predictor of
    every original row is computed the bedside way (missing predictors by that replicate's conditional
    mean), so apparent and test performance both measure the model as applied."""
    from .logistic import fit_irls

    binary = _binary(design)
    counter = iter(range(1, 1 << 30))

    def refit(idx: np.ndarray) -> np.ndarray:
        Rb, yb = R[idx], y[idx]
        d_b = design.refit_values(Rb)  # clipping limits re-estimated too: the whole procedure
        completed = mice(Rb, binary, yb, m=m, seed=seed * 100_003 + next(counter))
        betas = [fit_irls(d_b.matrix_from_raw(Rk), yb, beta0=beta0)[0] for Rk in completed]
        beta = np.mean(betas, axis=0)
        bedside = ConditionalMean.from_completed(design.predictors, completed, binary)
        return beta[0] + d_b.matrix_from_raw(bedside.fill(R)) @ beta[1:]

    return refit
