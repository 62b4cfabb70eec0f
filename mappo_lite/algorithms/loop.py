r"""The loop every training algorithm shares (:func:`run_iterations`) and its result (:class:`TrainingResult`).

Every run evaluates :math:`\pi_0, …, \pi_K` exactly and returns :math:`J(\pi_0), …, J(\pi_K)`, :math:`J^\star`
(passed by the caller as ``J_star=``, or computed once at the end), the output iterate :math:`\bar\pi = \pi_k` with k
uniform on {0..K−1} (as the paper outputs), and the measured errors ε, ξ where the algorithm has them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..evaluation import evaluate, optimal_value
from ..improvement import improvement_error, policy_improvement_solver
from ..sampling import contexts_of, mc_localized_q, rms_error, sample_sigma


@dataclass
class TrainingResult:
    r"""What a training run returns.

    ``J`` (K+1,): :math:`J(\pi_0), …, J(\pi_K)`; ``J_star``: :math:`J^\star`; ``output_index``: the uniformly drawn k
    of the output iterate; ``policies``: the K+1 iterates as conditional tables (when kept); ``eps``, ``xi``
    (K, N): measured improvement and evaluation errors (zeros for exact steps; ``None`` for baselines).

    How they are measured: ``xi[k, m]`` is the root mean square of :math:`\hat Q^{1:m}-Q^{1:m}` over the samples
    (``solver="sgd"``) or σ_k-weighted over every context (``solver="ideal"``); ``eps[k, m]`` is the root mean square
    fit residual of Algorithm 3 on the same T samples it was fit on. Both are in-sample estimates of the theorem's
    expectations under σ_k; with tabular features, contexts that were never sampled do not enter ε at all.
    """

    algo: str
    J: np.ndarray
    J_star: float
    output_index: int
    policies: list | None
    eps: np.ndarray | None = None
    xi: np.ndarray | None = None
    params: dict = field(default_factory=dict)
    final_thetas: list | None = None
    J_estimated: np.ndarray | None = None
    eps_approx: np.ndarray | None = None

    @property
    def K(self) -> int:
        return len(self.J) - 1

    @property
    def J_output(self) -> float:
        r""":math:`J(\bar\pi)` of the uniformly sampled iterate."""
        return float(self.J[self.output_index])

    @property
    def gap(self) -> np.ndarray:
        r""":math:`J^\star - J(\pi_k)` for k = 0..K (never negative beyond rounding)."""
        return self.J_star - self.J

    @property
    def average_gap(self) -> float:
        r""":math:`\frac1K\sum_{k<K}(J^\star - J(\pi_k))`, the quantity Theorem 1 bounds (the expected gap of :math:`\bar\pi`)."""
        return float(np.mean(self.gap[:-1]))

    @property
    def final_policy(self):
        return None if self.policies is None else self.policies[-1]

    def as_dict(self) -> dict:
        out = {
            "algo": self.algo,
            "J": [float(x) for x in self.J],
            "J_star": float(self.J_star),
            "J_output": self.J_output,
            "output_index": int(self.output_index),
            "J_final": float(self.J[-1]),
            "average_gap": self.average_gap,
            "params": self.params,
        }
        if self.eps is not None:
            out["eps"] = self.eps.tolist()
            out["xi"] = self.xi.tolist()
        return out


def run_iterations(game, policy, K: int, step, keep_policies: bool = True, callback=None):
    r"""Evaluate :math:`\pi_0, …, \pi_K` exactly, where :math:`\pi_{k+1}` = ``step(k, policy, evaluation)``.

    The loop every algorithm shares; returns the list of :math:`J(\pi_k)` and the kept policies (all K+1 as
    :class:`~mappo_lite.policies.ConditionalTables`, or only the last one). ``callback(k)``, if given, is called
    once :math:`\pi_k` is evaluated (k = 0..K: progress reports)."""
    Js, policies = [], []
    for k in range(K + 1):
        ev = evaluate(game, policy)
        Js.append(ev.J)
        if keep_policies or k == K:
            policies.append(ev.tables)
        if callback is not None:
            callback(k)
        if k < K:
            policy = step(k, policy, ev)
    return Js, policies, policy


def finish(algo, game, Js, policies, rng, params, eps=None, xi=None, J_star=None, thetas=None) -> TrainingResult:
    r"""The :class:`TrainingResult` of a finished run. ``J_star``: :math:`J^\star` of ``game`` when the caller
    knows it (a float, or None to compute it here once by policy iteration)."""
    K = len(Js) - 1
    if J_star is None:
        J_star = optimal_value(game).J_star
    return TrainingResult(
        algo=algo,
        J=np.asarray(Js, dtype=np.float64),
        J_star=float(J_star),
        output_index=int(rng.integers(K)),
        policies=policies,
        eps=eps,
        xi=xi,
        params=params,
        final_thetas=thetas,
    )


def sampled_improvement(
    game,
    ev,
    m,
    feats,
    theta,
    q_true,
    level,
    beta_k,
    *,
    T,
    eta,
    radius,
    sgd_init,
    evaluation,
    n_rollouts,
    rng,
    max_steps,
):
    r"""Agent m's step by Algorithm 3 on ``T`` samples :math:`(s, \mathbf a) \sim \sigma_k`: its targets are
    ``q_true`` (indexed by the state and the actions of agents 1..m) at the samples, or, with ``evaluation="mc"``,
    Monte Carlo estimates of :math:`Q^{1:\text{level}}`. Returns :math:`(\theta^m_{k+1}, \epsilon^m_k, \xi^m_k)`
    (:math:`\xi = 0` for exact targets). Shared by MA-PPO and the independent baselines."""
    states, actions = sample_sigma(ev.nu, ev.tables, T, rng)
    ctx = contexts_of(states, actions, game.action_sizes, m)
    act = actions[:, m - 1]
    q_at = q_true[(states,) + tuple(actions[:, i] for i in range(m))]
    xi = 0.0
    if evaluation == "exact":
        q_hat = q_at
    else:
        q_hat = mc_localized_q(game, ev.tables, level, states, actions, n_rollouts, rng, max_steps)
        xi = rms_error(q_hat, q_at)
    new = policy_improvement_solver(feats, theta, ctx, act, q_hat, beta_k, eta, radius, sgd_init)
    return new, improvement_error(feats, new, theta, ctx, act, q_hat, beta_k), xi
