"""Log-normal accelerated-failure-time (AFT) likelihood and a linear AFT head.

ln T = mu(x) + sigma * eps, eps ~ N(0, 1). A joint that failed at t contributes the
density of ln t; a joint still alive at c (end of test, pulled for a cross-section)
contributes the survival P(ln T > ln c). Dropping censored joints, or treating c as a
failure, biases predicted lives downwards; this likelihood does not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import minimize
from scipy.special import log_ndtr
from sklearn.model_selection import GroupKFold

HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
OFF = 1e9  # a penalty this large means: leave the column out


def lognormal_nll(mu: torch.Tensor, log_sigma: torch.Tensor, log_t: torch.Tensor, event: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood per joint of observed ln times under the log-normal AFT."""
    z = (log_t - mu) / log_sigma.exp()
    failed = log_sigma + 0.5 * z * z + HALF_LOG_2PI
    survived = -torch.special.log_ndtr(-z)
    return torch.where(event, failed, survived).mean()


def _nll_and_grad(params: np.ndarray, x: np.ndarray, log_t: np.ndarray, event: np.ndarray, alpha: np.ndarray):
    """Penalised mean NLL of the linear log-normal AFT and its gradient (w, b, log sigma)."""
    n, d = x.shape
    w, b, log_s = params[:d], params[d], params[d + 1]
    sigma = math.exp(log_s)
    z = (log_t - (x @ w + b)) / sigma
    log_surv = log_ndtr(-z)
    loss = np.where(event, log_s + 0.5 * z * z + HALF_LOG_2PI, -log_surv)
    hazard = np.exp(norm_logpdf(z) - log_surv)  # d(-log S)/dz for censored joints
    d_mu = np.where(event, -z / sigma, -hazard / sigma)
    d_log_s = np.where(event, 1.0 - z * z, -hazard * z)
    grad = np.empty_like(params)
    grad[:d] = x.T @ d_mu / n + alpha * w / n
    grad[d], grad[d + 1] = d_mu.mean(), d_log_s.mean()
    return float(loss.mean() + 0.5 * float(alpha @ (w * w)) / n), grad


def norm_logpdf(z: np.ndarray) -> np.ndarray:
    return -0.5 * z * z - HALF_LOG_2PI


@dataclass
class LinearAFT:
    """mu = X w + b with one sigma; L2 penalty ``alpha`` on w (X is expected standardised).

    ``alpha`` is one number, or one per column (an embedding block can then be shrunk
    harder than the measured features beside it). Fitted by L-BFGS on the exact gradient.
    """
    alpha: float | np.ndarray = 1.0
    coef: np.ndarray | None = None
    intercept: float = 0.0
    sigma: float = 1.0

    def fit(self, x: np.ndarray, log_t: np.ndarray, event: np.ndarray) -> "LinearAFT":
        x = np.asarray(x, dtype=np.float64)
        log_t, event = np.asarray(log_t, dtype=np.float64), np.asarray(event, dtype=bool)
        alpha = np.broadcast_to(np.asarray(self.alpha, dtype=np.float64), (x.shape[1],))
        used = alpha < OFF  # columns left out are not fitted at all (better conditioned than a huge penalty)
        spread = float(log_t.std()) if len(log_t) > 1 else 1.0
        start = np.r_[np.zeros(used.sum()), log_t.mean(), math.log(max(spread, 0.05))]
        bounds = [(None, None)] * (used.sum() + 1) + [(math.log(0.01), math.log(20.0))]
        result = minimize(_nll_and_grad, start, args=(x[:, used], log_t, event, alpha[used]), jac=True,
                          method="L-BFGS-B", bounds=bounds, options={"maxiter": 500})
        self.coef = np.zeros(x.shape[1])
        self.coef[used] = result.x[:-2]
        self.intercept, self.sigma = float(result.x[-2]), float(math.exp(result.x[-1]))
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float64) @ self.coef + self.intercept

    def nll(self, x: np.ndarray, log_t: np.ndarray, event: np.ndarray) -> float:
        """Mean NLL (no penalty) of held-out joints."""
        params = np.r_[self.coef, self.intercept, math.log(self.sigma)]
        return _nll_and_grad(params, np.asarray(x, np.float64), np.asarray(log_t, np.float64),
                             np.asarray(event, bool), np.zeros(len(self.coef)))[0]


def group_folds(groups: np.ndarray, event: np.ndarray, max_folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Folds that keep a group (board or joint) on one side, each with some failures to score."""
    n_groups = len(np.unique(groups))
    folds = min(max_folds, n_groups, max(int(event.sum()) // 2, 0))
    if folds < 2:
        return []
    return list(GroupKFold(n_splits=folds).split(np.zeros(len(groups)), groups=groups))


def penalty_grid(alphas: tuple[float, ...], embedding_alphas: tuple[float, ...], n_embedding: int,
                 n_columns: int, sizes: tuple[int, ...] = ()) -> list[np.ndarray]:
    """Candidate per-column penalties: one strength for the features and, when an embedding block
    leads the columns, another for it (every pair), for each number of leading embedding columns
    kept (``sizes``; the rest are left out)."""
    if n_embedding == 0:
        return [np.full(n_columns, a) for a in alphas]
    n_features = n_columns - n_embedding
    sizes = sorted({min(k, n_embedding) for k in sizes}) or [n_embedding]
    return [np.r_[np.full(k, e), np.full(n_embedding - k, OFF), np.full(n_features, a)]
            for k in sizes for e in embedding_alphas for a in alphas]


def select_alpha(x: np.ndarray, log_t: np.ndarray, event: np.ndarray, groups: np.ndarray,
                 candidates: list, folds: int) -> tuple[np.ndarray, dict]:
    """The penalty with the lowest held-out censored NLL over grouped folds (training data only)."""
    candidates = [np.broadcast_to(np.asarray(c, dtype=np.float64), (x.shape[1],)) for c in candidates]
    splits = group_folds(groups, event, folds)
    if not splits:  # too few failures to cross-validate: the strongest penalty is the safe choice
        return max(candidates, key=lambda c: float(c.sum())), {}
    scores = {}
    for i, alpha in enumerate(candidates):
        losses = [LinearAFT(alpha).fit(x[tr], log_t[tr], event[tr]).nll(x[te], log_t[te], event[te])
                  for tr, te in splits]
        scores[i] = float(np.mean(losses))
    best = min(scores, key=scores.get)
    return candidates[best], scores  # held-out NLL by candidate index


def penalty_label(alpha: np.ndarray, n_embedding: int = 0) -> str:
    """'features L2' or 'k components, embedding L2 / features L2' for the record."""
    alpha = np.asarray(alpha, dtype=float)
    features = f"{alpha[-1]:g}" if len(alpha) else "-"
    if n_embedding == 0:
        return features
    block = alpha[:n_embedding]
    kept = int((block < OFF).sum())
    return f"{kept} components, {block[0]:g} / {features}"
