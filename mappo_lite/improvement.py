r"""Policy improvement: the ideal mirror step and Algorithm 3, the projected-SGD solver (the paper's Algorithms 1 and 3; chapter 5 of the book).

Ideal step, per context :math:`c=(s,\mathbf a^{1:m-1})`:

.. math:: \pi^m_{k+1}(\cdot|c) \propto \pi^m_k(\cdot|c)\exp\big(\beta_k^{-1}Q^{1:m}_{\pi_k}(c,\cdot)\big),

the maximizer of :math:`\langle Q^{1:m},\pi^m\rangle - \beta_k\mathrm{KL}(\pi^m\|\pi^m_k)`. With tabular features this is
:math:`\theta^m_{k+1} = \theta^m_k + \beta_k^{-1}Q^{1:m}` exactly.

Algorithm 3 minimizes :math:`L(\theta) = \mathbb E_{\sigma_k}[((\theta-\theta^m_k)^\top\phi - \beta_k^{-1}\hat Q^{1:m})^2]` by
projected SGD with averaging from :math:`\theta(0) = 0` (the paper's choice; ``init="previous"`` starts from
:math:`\theta^m_k` instead, our option), and returns :math:`\bar\theta = \frac1T\sum_{t=1}^T\theta(t)`.
"""

from __future__ import annotations

import math

import numpy as np

from . import kernels
from ._validate import check_positive, check_radius
from .errors import MappoLiteError
from .policies.conditional import project_to_ball
from .policies.features import ArrayFeatures, TabularFeatures

#: Default SGD stepsize η. With ‖φ‖ ≤ 1 every step contracts the residual by a factor in [1−2η, 1], so η = 1/4 is
#: stable for any feature map; the textbook order R/√T of projected SGD needs a finite R (our choice, documented).
DEFAULT_ETA = 0.25


def ideal_mirror_step(
    theta_k: np.ndarray, q_local: np.ndarray, beta_k: float, radius: float = math.inf, *, check: bool = True
) -> np.ndarray:
    r"""Tabular ideal step :math:`\theta^m_{k+1} = \Pi_\Theta(\theta^m_k + \beta_k^{-1} Q^{1:m}_{\pi_k})` (flattened
    contexts × actions), projected on the ball of radius R (``radius``; inf: no projection, the exact mirror step).

    The one implementation of the step: :func:`mappo_lite.algorithms.ma_ppo` (``solver="ideal"``) calls it with
    ``check=False`` (its inputs are checked once at the start of the run)."""
    if check:
        beta_k = check_positive(beta_k, "beta_k")
        radius = check_radius(radius)
        q = np.asarray(q_local, dtype=np.float64).reshape(-1)
        if q.shape != np.shape(theta_k):
            raise MappoLiteError(f"Q^(1:m) has {q.size} entries but theta has {np.size(theta_k)}")
        if not np.all(np.isfinite(q)):
            raise MappoLiteError("Q^(1:m) contains NaN or infinite values")
        theta_k = np.asarray(theta_k, dtype=np.float64)
    else:
        q = q_local.reshape(-1)
    return project_to_ball(theta_k + q / beta_k, radius)


def policy_improvement_solver(
    features, theta_k, contexts, actions, q_hat, beta_k, eta=DEFAULT_ETA, radius=math.inf, init="zero"
) -> np.ndarray:
    r"""Algorithm 3: projected SGD with averaging on :math:`L(\theta)`; returns :math:`\theta^m_{k+1}=\bar\theta`.

    Parameters
    ----------
    features : TabularFeatures or ArrayFeatures
        Agent m's feature map φ.
    theta_k : (d,)
        The current parameter :math:`\theta^m_k`.
    contexts, actions : (T,) int
        The T samples :math:`(c_t, a^m_t)` from :math:`\sigma_k` (one SGD step each, in order).
    q_hat : (T,)
        :math:`\hat Q^{1:m}` at the samples.
    beta_k, eta, radius
        :math:`\beta_k`, the SGD stepsize η, the radius R of Θ.
    init : ``"zero"`` or ``"previous"``
        :math:`\theta(0) = 0` (Algorithm 3) or :math:`\theta(0) = \theta^m_k`.
    """
    beta_k = check_positive(beta_k, "beta_k")
    eta = check_positive(eta, "eta")
    radius = check_radius(radius)
    theta_k = np.ascontiguousarray(theta_k, dtype=np.float64)
    ctx = np.ascontiguousarray(contexts, dtype=np.int64)
    act = np.ascontiguousarray(actions, dtype=np.int64)
    q = np.ascontiguousarray(q_hat, dtype=np.float64)
    if not (ctx.ndim == act.ndim == q.ndim == 1 and ctx.shape == act.shape == q.shape):
        raise MappoLiteError(
            f"contexts, actions and q_hat must be vectors of one length, got {ctx.shape}, {act.shape}, {q.shape}"
        )
    if theta_k.shape != (features.dim,):
        raise MappoLiteError(f"theta_k must have {features.dim} entries, got {theta_k.shape}")
    if ctx.size and (
        ctx.min() < 0 or ctx.max() >= features.n_contexts or act.min() < 0 or act.max() >= features.n_actions
    ):
        raise MappoLiteError("sample contexts or actions out of range for the feature map")
    if not np.all(np.isfinite(q)):
        raise MappoLiteError("q_hat contains NaN or infinite values")
    if init == "zero":
        theta0 = np.zeros_like(theta_k)
    elif init == "previous":
        theta0 = theta_k.copy()
        if np.linalg.norm(theta0) > radius:
            theta0 *= radius / np.linalg.norm(theta0)
    else:
        raise MappoLiteError(f"unknown init {init!r}: use 'zero' (Algorithm 3) or 'previous'")
    targets = q / beta_k
    if isinstance(features, TabularFeatures):
        return kernels.projected_sgd_tabular(ctx, act, features.n_actions, targets, theta_k, theta0, eta, radius)
    if isinstance(features, ArrayFeatures):
        return kernels.projected_sgd(features.phi, ctx, act, targets, theta_k, theta0, eta, radius)
    raise MappoLiteError(f"unsupported feature map {type(features).__name__}")


def improvement_error(features, theta_new, theta_k, contexts, actions, q_hat, beta_k) -> float:
    r"""The fit error ε of Theorem 1: :math:`[\frac1T\sum_t((\theta_{k+1}-\theta_k)^\top\phi_t - \beta_k^{-1}\hat Q_t)^2]^{1/2}`."""
    delta = features.logits(np.asarray(theta_new) - np.asarray(theta_k))
    pred = delta[np.asarray(contexts), np.asarray(actions)]
    return float(np.sqrt(np.mean((pred - np.asarray(q_hat) / beta_k) ** 2)))
