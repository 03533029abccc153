"""Logistic regression: maximum likelihood (statsmodels, with odds ratios and Wald CIs) or ridge-penalised.

The fitting engine is a plain Newton-Raphson (IRLS) in numpy: the bootstrap refits the model hundreds of
times, and a vectorised Newton step with a warm start from the full-sample coefficients converges in a
few iterations (tests check it against statsmodels). The reported model (coefficients, odds ratios,
confidence intervals, p-values) of the unpenalised fit comes from statsmodels ``Logit``.

Penalised option (``logistic-l2``): ridge on standardised coefficients, the penalty chosen by
cross-validated deviance; penalisation reduces overfitting further in data that meet the minimum sample
size [MARTIN2021]. Its "confidence" intervals come from the inverse of the penalised information matrix
(an approximation, said so in the card).

Prior option (``--prior literature``, :mod:`sleitp.model.binary.prior`): a Gaussian prior N(m_j, s_j^2) on
each
coefficient is the quadratic penalty sum((b_j - m_j)^2 / (2 s_j^2)) added to the negative log-likelihood,
so ``fit_irls`` takes per-coefficient prior means and precisions (1/s^2) on top of the ridge term; the
solution is the posterior mode and the inverse penalised information its Laplace (normal) approximation
[DEBRAY2012].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit
from scipy.stats import norm

__all__ = ["LogisticFit", "choose_penalty", "fit_irls", "fit_logistic"]

_STABILISER = (
    1e-9  # added to the information matrix diagonal so that a constant bootstrap column cannot crash
)


def fit_irls(
    M: np.ndarray,
    y: np.ndarray,
    *,
    penalty: float = 0.0,
    scale: np.ndarray | None = None,
    beta0: np.ndarray | None = None,
    max_iter: int = 50,
    tol: float = 1e-8,
    prior_mean: np.ndarray | None = None,
    prior_precision: np.ndarray | None = None,
    offset: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Newton-Raphson for logit P(y=1) = offset + b0 + M b, with ridge ``penalty/2 * sum((scale*b)^2)`` and
    a Gaussian prior ``sum(prior_precision/2 * (b - prior_mean)^2)`` on the non-intercept coefficients
    (the two quadratic terms add up to one, centred at their precision-weighted mean).

    Returns (beta with the intercept first, information matrix at the solution).
    """
    n, p = M.shape
    X = np.column_stack([np.ones(n), M])
    off = np.zeros(n) if offset is None else np.asarray(offset, dtype=float)
    pen = np.zeros(p + 1)
    centre = np.zeros(p + 1)
    if penalty > 0:
        s = np.ones(p) if scale is None else scale
        pen[1:] = penalty * s**2  # the intercept is not penalised
    if prior_precision is not None:
        prec = np.asarray(prior_precision, dtype=float)
        mean = np.zeros(p) if prior_mean is None else np.asarray(prior_mean, dtype=float)
        total = pen[1:] + prec
        centre[1:] = np.divide(prec * mean, total, out=np.zeros(p), where=total > 0)
        pen[1:] = total
    beta = np.zeros(p + 1) if beta0 is None else np.array(beta0, dtype=float)
    if beta0 is None:
        ybar = np.clip(y.mean(), 1e-6, 1 - 1e-6)
        beta[0] = np.log(ybar / (1 - ybar))

    def objective(b: np.ndarray) -> float:
        eta = off + X @ b
        return float(np.sum(y * eta - np.logaddexp(0, eta)) - 0.5 * np.sum(pen * (b - centre) ** 2))

    current = objective(beta)
    info = np.eye(p + 1)
    for _ in range(max_iter):
        mu = expit(off + X @ beta)
        w = mu * (1 - mu)
        info = X.T @ (X * w[:, None]) + np.diag(pen + _STABILISER)
        grad = X.T @ (y - mu) - pen * (beta - centre)
        try:
            step = np.linalg.solve(info, grad)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(info, grad, rcond=None)[0]
        t = 1.0
        for _ in range(20):  # step halving keeps every iteration an improvement (separation, bad starts)
            candidate = beta + t * step
            value = objective(candidate)
            if value >= current - 1e-12:
                break
            t /= 2
        beta, current = candidate, value
        if np.max(np.abs(t * step)) < tol:
            break
    mu = expit(off + X @ beta)
    info = X.T @ (X * (mu * (1 - mu))[:, None]) + np.diag(pen + _STABILISER)
    return beta, info


def choose_penalty(
    M: np.ndarray,
    y: np.ndarray,
    *,
    folds: int = 5,
    seed: int = 0,
    grid: np.ndarray | None = None,
    scale: np.ndarray | None = None,
    prior_mean: np.ndarray | None = None,
    prior_precision: np.ndarray | None = None,
) -> float:
    """Ridge penalty minimising the cross-validated deviance (folds stratified by outcome). ``scale``
    (default: the columns' SDs; 0 = that column not ridge-penalised) and a fixed Gaussian prior
    (``prior_mean``, ``prior_precision``) as in :func:`fit_irls`."""
    n = len(y)
    if scale is None:
        scale = M.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
    grid = n * np.logspace(-5, -0.5, 10) if grid is None else grid
    rng = np.random.default_rng(seed)
    fold = np.empty(n, dtype=int)
    for cls in (0, 1):
        idx = np.flatnonzero(y == cls)
        fold[idx] = rng.permutation(np.arange(idx.size) % folds)
    dev = np.zeros(len(grid))
    for k in range(folds):
        tr, te = fold != k, fold == k
        beta = None
        for i, lam in enumerate(grid[::-1]):  # strongest penalty first: warm starts along the path
            beta, _ = fit_irls(
                M[tr],
                y[tr],
                penalty=lam * tr.mean(),
                scale=scale,
                beta0=beta,
                prior_mean=prior_mean,
                prior_precision=prior_precision,
            )
            eta = beta[0] + M[te] @ beta[1:]
            dev[len(grid) - 1 - i] += -2 * np.sum(y[te] * eta - np.logaddexp(0, eta))
    return float(grid[int(np.argmin(dev))])


@dataclass(frozen=True)
class LogisticFit:
    """Coefficients on the design columns (raw scale), their covariance and the penalty used."""

    columns: tuple[str, ...]
    beta: np.ndarray  # intercept first
    covariance: np.ndarray  # (p+1) x (p+1)
    penalty: float = 0.0
    pvalues: np.ndarray | None = None

    def linear_predictor(self, M: np.ndarray) -> np.ndarray:
        return self.beta[0] + M @ self.beta[1:]

    def lp_se(self, M: np.ndarray) -> np.ndarray:
        """Standard error of the linear predictor (delta method: sqrt(x' V x))."""
        X = np.column_stack([np.ones(len(M)), M])
        return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", X, self.covariance, X), 0.0))

    def coefficient_table(self, level: float = 0.95) -> list[dict]:
        """Per term: coefficient, odds ratio with Wald CI, p-value (TRIPOD item 15a)."""
        z = norm.ppf(0.5 + level / 2)
        se = np.sqrt(np.maximum(np.diag(self.covariance), 0))
        rows = []
        for i, name in enumerate(("intercept", *self.columns)):
            b = float(self.beta[i])
            row = {
                "term": name,
                "coefficient": b,
                "se": float(se[i]),
                "odds_ratio": None if i == 0 else float(np.exp(b)),
                "or_ci_low": None if i == 0 else float(np.exp(b - z * se[i])),
                "or_ci_high": None if i == 0 else float(np.exp(b + z * se[i])),
                "p_value": None if self.pvalues is None else float(self.pvalues[i]),
            }
            rows.append(row)
        return rows

    def to_json(self) -> dict:
        return {
            "columns": list(self.columns),
            "intercept": float(self.beta[0]),
            "coefficients": {c: float(b) for c, b in zip(self.columns, self.beta[1:], strict=False)},
            "covariance": [[float(x) for x in row] for row in self.covariance],
            "penalty": self.penalty,
            "p_values": None if self.pvalues is None else [float(x) for x in self.pvalues],
        }

    @classmethod
    def from_json(cls, d: dict) -> "LogisticFit":
        cols = tuple(str(c) for c in d["columns"])
        coefs = d["coefficients"]
        if set(coefs) != set(cols):
            raise ValueError("coefficients do not match the columns")
        beta = np.array([float(d["intercept"]), *(float(coefs[c]) for c in cols)])
        cov = np.array(d["covariance"], dtype=float)
        if cov.shape != (len(cols) + 1, len(cols) + 1) or not np.all(np.isfinite(cov)):
            raise ValueError(f"covariance must be a finite {len(cols) + 1} x {len(cols) + 1} matrix")
        pv = None if d.get("p_values") is None else np.array(d["p_values"], dtype=float)
        return cls(cols, beta, cov, float(d.get("penalty", 0.0)), pv)


def fit_logistic(
    M: np.ndarray, y: np.ndarray, columns: list[str], *, penalised: bool = False, seed: int = 0
) -> LogisticFit:
    """The reported fit: statsmodels ML, or ridge with a cross-validated penalty."""
    if not penalised:
        import statsmodels.api as sm

        res = sm.Logit(y, sm.add_constant(M, has_constant="add")).fit(disp=0, maxiter=100, method="newton")
        return LogisticFit(
            tuple(columns), np.asarray(res.params), np.asarray(res.cov_params()), 0.0, np.asarray(res.pvalues)
        )
    scale = M.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    lam = choose_penalty(M, y, seed=seed)
    beta, info = fit_irls(M, y, penalty=lam, scale=scale)
    return LogisticFit(tuple(columns), beta, np.linalg.inv(info), lam, None)
