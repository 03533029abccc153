"""Gradient boosting alternative: scikit-learn ``HistGradientBoostingClassifier``.

Missing values: the trees learn, at each split, which side a missing value goes to (native NaN
support), so no imputation is needed; the predictor columns are the raw values (NaN = not measured).
Hyper-parameters are fixed (documented in docs/model.md), not tuned, so that the bootstrap can repeat
the whole fitting procedure cheaply and honestly [HARRELL1996]. Early stopping is off for the same
reason: a model's complexity must not depend on a random validation split we cannot repeat at load time.
"""

from __future__ import annotations

import numpy as np

__all__ = ["GBM_PARAMS", "fit_gbm", "gbm_logit"]

GBM_PARAMS = {
    "learning_rate": 0.05,
    "max_iter": 150,
    "max_leaf_nodes": 8,
    "min_samples_leaf": 40,
    "l2_regularization": 1.0,
    "early_stopping": False,
}


def fit_gbm(X: np.ndarray, y: np.ndarray, *, seed: int = 0):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(random_state=seed, **GBM_PARAMS).fit(X, y)


def gbm_logit(model, X: np.ndarray) -> np.ndarray:
    """The boosted model's raw score = its log-odds of response."""
    return np.asarray(model.decision_function(X), dtype=float)
