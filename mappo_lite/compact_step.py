r"""The exact ideal step with compact features: the σ_k-weighted least-squares projection of the mirror step onto
the feature span, constrained to the ball Θ (digest §5–§6).

Algorithm 3 runs projected SGD on

.. math:: L(\theta) = \mathbb E_{(c,a)\sim\sigma_k}\big[\big((\theta-\theta^m_k)^\top\phi(c,a) - \beta_k^{-1}Q^{1:m}(c,a)\big)^2\big],
          \qquad \theta\in\Theta=\{\|\theta\|_2\le R\},

and converges to its minimizer over Θ. :func:`compact_ideal_step` computes that minimizer **exactly** from the
exact :math:`\sigma_k` and :math:`Q^{1:m}`, so that a run can separate the *approximation* error (the residual of
this step, :math:`\varepsilon^{\rm approx}`, which no number of samples removes) from the *statistical* and *SGD*
errors (what Algorithm 3 adds on top). [ours] The paper states the objective; the solution method and the
tie-breaking below are our choices:

* With :math:`\Phi_w = W^{1/2}\Phi` (rows of positive weight only, :math:`W=\mathrm{diag}(\sigma_k)`) and
  :math:`z = \Phi\theta_k + Q^{1:m}/\beta_k`, L is :math:`\|\Phi_w\theta - W^{1/2}z\|^2`. A thin SVD
  :math:`\Phi_w = U\Sigma V^\top` (singular values below ``rcond``·max treated as 0) gives the minimum-norm least-
  squares solution :math:`\theta_r = V\Sigma^{+}U^\top W^{1/2}z`.
* If :math:`\|\theta_r\|\le R`, every :math:`\theta_r + n` with n in the null space of :math:`\Phi_w` is optimal; we
  keep the component of :math:`\theta_k` there (the smallest change of θ, so directions σ_k never sees are left as
  they were), shrunk if needed to stay in Θ. With tabular features and σ_k > 0 everywhere this is exactly
  :math:`\theta_k + Q^{1:m}/\beta_k`, the tabular ideal step. In floating point, directions whose weight is below
  ``RCOND``² of the largest (actions a saturated policy plays with probability ~1e-24) count as unseen and are
  left unchanged, as Algorithm 3, which never samples them, leaves them too; the tabular step still moves them,
  so the two part ways once a policy saturates.
* Otherwise the constraint is active: :math:`\theta(\lambda) = V\,\mathrm{diag}(\sigma_i/(\sigma_i^2+\lambda))\,U^\top
  W^{1/2}z` with the unique λ > 0 at which :math:`\|\theta(\lambda)\| = R` (the KKT conditions of a convex problem),
  found by Newton's method on :math:`1/\|\theta(\lambda)\| - 1/R` (concave and increasing in λ, so the iterates
  increase monotonically to the root), safeguarded by bisection.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import MappoLiteError

#: Relative cut-off for singular values of the weighted feature matrix.
RCOND = 1e-12


def ball_constrained_lstsq(A: np.ndarray, b: np.ndarray, radius: float = math.inf, prior=None,
                           rcond: float = RCOND) -> np.ndarray:
    r""":math:`\arg\min_{\|\theta\|\le R}\|A\theta-b\|_2` (exact, see the module docstring); among minimizers, the
    one closest to ``prior`` (default 0)."""
    A = np.asarray(A, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    d = A.shape[1]
    prior = np.zeros(d) if prior is None else np.asarray(prior, dtype=np.float64)
    if A.shape[0] == 0:
        theta = prior.copy()
        nrm = float(np.linalg.norm(theta))
        return theta * (radius / nrm) if nrm > radius else theta
    U, sv, Vt = np.linalg.svd(A, full_matrices=False)
    keep = sv > rcond * sv[0] if sv.size and sv[0] > 0 else np.zeros(sv.shape, dtype=bool)
    U, sv, Vt = U[:, keep], sv[keep], Vt[keep]
    c = U.T @ b
    theta_r = Vt.T @ (c / sv)
    nr = float(np.linalg.norm(theta_r))
    if nr <= radius:
        null = prior - Vt.T @ (Vt @ prior)
        nn = float(np.linalg.norm(null))
        budget = math.sqrt(max(radius * radius - nr * nr, 0.0)) if math.isfinite(radius) else math.inf
        if nn > budget:
            null *= budget / nn
        return theta_r + null
    # active constraint: find lambda > 0 with ||theta(lambda)|| = R
    s2, sc = sv * sv, sv * c

    def norm_at(lam):
        return float(np.sqrt(np.sum((sc / (s2 + lam)) ** 2)))

    lo, hi = 0.0, float(np.linalg.norm(sc)) / radius  # ||theta(hi)|| <= ||sc|| / hi = R
    lam = 0.0
    for _ in range(200):
        t = sc / (s2 + lam)
        nt = float(np.linalg.norm(t))
        if nt > radius:
            lo = max(lo, lam)
        else:
            hi = min(hi, lam)
        # Newton on f(lam) = 1/||t|| - 1/R: f' = (sum t^2/(s2+lam)) / ||t||^3
        fprime = float(np.sum(t * t / (s2 + lam))) / nt**3
        step = (1.0 / nt - 1.0 / radius) / fprime if fprime > 0 else math.inf
        new = lam - step
        if not (lo <= new <= hi) or not math.isfinite(new):
            new = 0.5 * (lo + hi)
        if abs(new - lam) <= 1e-15 * max(lam, 1e-300) or hi - lo <= 1e-15 * hi:
            lam = new
            break
        lam = new
    theta = Vt.T @ (sc / (s2 + lam))
    nt = float(np.linalg.norm(theta))
    return theta * (radius / nt) if nt > radius else theta  # removes the last ulp of excess


def compact_ideal_step(rows: np.ndarray, theta_k: np.ndarray, q: np.ndarray, beta_k: float, weights: np.ndarray,
                       radius: float = math.inf):
    r"""The exact minimizer of L over Θ (module docstring).

    Parameters
    ----------
    rows : (n, d)
        :math:`\phi(c,a)` for every (context, action), context-major (the order of ``Q^{1:m}.reshape(-1)``).
    theta_k : (d,)
    q : (n,)
        :math:`Q^{1:m}_{\pi_k}` (or an estimate) at the same rows.
    beta_k : float
    weights : (n,)
        :math:`\sigma_k(c,a)` (any positive multiple: only ratios matter).
    radius : float

    Returns ``(theta_new, eps)`` with eps the σ_k-weighted root mean square residual
    :math:`[\mathbb E_{\sigma_k}((\theta_{k+1}-\theta_k)^\top\phi-\beta_k^{-1}Q^{1:m})^2]^{1/2}`, the improvement error
    of the best parameter in Θ (0 when the class realizes the mirror step).
    """
    rows = np.asarray(rows, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    q = np.asarray(q, dtype=np.float64).reshape(-1)
    if not (rows.shape[0] == w.shape[0] == q.shape[0]):
        raise MappoLiteError(f"rows, q and weights must have one entry per (context, action): {rows.shape}, {q.shape}, {w.shape}")
    if np.any(w < 0) or not w.sum() > 0:
        raise MappoLiteError("weights must be non-negative with a positive sum")
    theta_k = np.asarray(theta_k, dtype=np.float64)
    pos = w > 0
    sw = np.sqrt(w[pos] / w.sum())
    y = q[pos] / beta_k
    z = rows[pos] @ theta_k + y
    theta = ball_constrained_lstsq(rows[pos] * sw[:, None], z * sw, radius, prior=theta_k)
    resid = rows[pos] @ (theta - theta_k) - y
    eps = float(np.sqrt(np.sum(sw * sw * resid * resid)))
    return theta, eps
