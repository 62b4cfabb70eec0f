r"""Compiled exact solvers: policy iteration on the joint-action MDP, and whole runs of exact MA-PPO.

The book's games are small, and what an exact iteration costs on them is Python, not arithmetic: one exact
evaluation of a one-state game goes through a dozen NumPy calls and validated interfaces, about 60 µs, where the
arithmetic takes well under one. The two kernels here run a whole loop in one compiled call, from the same
building blocks :func:`mappo_lite.evaluation.evaluate` uses (:mod:`.core`'s joint policy, :math:`P_\pi`, Q and the
backward sweep) and a LAPACK solve (numba's ``np.linalg.solve``, LU with partial pivoting):

* :func:`policy_iteration`: Howard's policy iteration for :math:`V^\star`, as :func:`mappo_lite.evaluation.optimal_value`
  describes it;
* :func:`mappo_exact_ideal`: K iterations of Algorithm 1 with exact :math:`Q^{1:m}_{\pi_k}` and the tabular ideal
  step :math:`\theta^m_{k+1} = \Pi_\Theta(\theta^m_k + \beta_k^{-1}Q^{1:m}_{\pi_k})`, as
  :func:`mappo_lite.algorithms.ma_ppo` describes it (its ``fused=True`` path).

Their NumPy twins in :mod:`.reference` are the same loops written with the NumPy twins of the building blocks.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .core import (
    _JIT,
    _backward_sweep_into,
    _joint_policy_into,
    _policy_transition_reward_into,
    _q_from_v_into,
    _softmax_rows_into,
    level_offsets_for,
)

#: Policy iteration switches the action of a state only where the greedy action is better by more than this
#: relative margin (ties keep the current action, so the iteration cannot cycle on rounding).
IMPROVEMENT_MARGIN = 1e-12


@numba.njit(**_JIT)
def _solve_values(P_pi, r_pi, gamma):
    r""":math:`V` solving :math:`(I-\gamma P_\pi)V = r_\pi` (LAPACK ``dgesv``; ``LinAlgError`` if singular)."""
    S = P_pi.shape[0]
    M = np.empty((S, S))
    for i in range(S):
        for j in range(S):
            M[i, j] = -gamma * P_pi[i, j]
        M[i, i] += 1.0
    return np.linalg.solve(M, r_pi)


@numba.njit(**_JIT)
def policy_iteration(P_flat, r_flat, gamma, max_iter):
    r"""Howard's policy iteration on the joint-action MDP :math:`(P, r, \gamma)` with ``P_flat`` (S, |A|, S).

    Starts from the policy greedy for one Bellman backup of :math:`V_0(s)=\max_{\mathbf a}r(s,\mathbf a)`; each
    step solves for :math:`V_\pi` of the deterministic policy (rows of P gathered, no one-hot table), computes
    :math:`Q_\pi = r+\gamma PV_\pi` and switches a state's action to the first greedy one only where that is better
    by more than :data:`IMPROVEMENT_MARGIN` :math:`\cdot(1+|Q|)`. Returns ``(V, actions, Q, iterations,
    converged)``: :math:`V_\pi`, the flat joint action per state, :math:`Q_\pi` (S, |A|) of the last policy
    evaluated, the number of evaluations, and whether no state improved (False after ``max_iter`` evaluations).
    """
    S, J, _ = P_flat.shape
    Q = np.empty((S, J))
    V = np.empty(S)
    for s in range(S):
        V[s] = np.max(r_flat[s])
    _q_from_v_into(P_flat, r_flat, gamma, V, Q)
    act = np.empty(S, dtype=np.int64)
    for s in range(S):
        act[s] = np.argmax(Q[s])
    P_pi = np.empty((S, S))
    r_pi = np.empty(S)
    for it in range(1, max_iter + 1):
        for s in range(S):
            P_pi[s] = P_flat[s, act[s]]
            r_pi[s] = r_flat[s, act[s]]
        V = _solve_values(P_pi, r_pi, gamma)
        _q_from_v_into(P_flat, r_flat, gamma, V, Q)
        changed = False
        for s in range(S):
            g = np.argmax(Q[s])
            best = Q[s, g]
            if Q[s, act[s]] < best - IMPROVEMENT_MARGIN * (1.0 + abs(best)):
                act[s] = g
                changed = True
        if not changed:
            return V, act, Q, it, True
    return V, act, Q, max_iter, False


@numba.njit(**_JIT)
def mappo_exact_ideal(P_flat, r_flat, rho, gamma, theta0, offsets, action_sizes, K, beta_k, radius, keep):
    r"""K iterations of exact MA-PPO with tabular features, in one call.

    ``theta0`` is the concatenation of :math:`\theta^1_0, …, \theta^N_0` (agent m's block, at ``offsets[m-1]``, is its
    logits over (context, action), laid out as its conditional table). For k = 0..K: :math:`\pi^m_k` =
    softmax of agent m's logits row by row; :math:`J(\pi_k) = \rho^\top V_{\pi_k}`; and for k < K, with
    :math:`Q^{1:m}_{\pi_k}` from the backward sweep, every agent's step
    :math:`\theta^m_{k+1} = \Pi_\Theta(\theta^m_k + \beta_k^{-1}Q^{1:m}_{\pi_k})` (projection on the ball of radius
    ``radius`` per agent; inf: none). All agents' targets belong to :math:`\pi_k`.

    Returns ``(J, theta_K, tables, diverged)``: the K+1 values :math:`J(\pi_k)`, the final parameters (concatenated
    as ``theta0``), the conditional tables of :math:`\pi_0, …, \pi_K` (rows, concatenated; with ``keep`` False only
    :math:`\pi_K`, one row), and False. If a step makes a parameter NaN or infinite (a penalty :math:`\beta_k` so
    small that :math:`Q^{1:m}/\beta_k` overflows), the run stops there and returns ``diverged`` True with the
    parameters of that step and the values and tables computed before it.
    """
    S, J, _ = P_flat.shape
    N = action_sizes.shape[0]
    D = theta0.shape[0]
    theta = theta0.copy()
    pi = np.empty(D)
    pj = np.empty((S, J))
    P_pi = np.empty((S, S))
    r_pi = np.empty(S)
    Q = np.empty((S, J))
    loff = level_offsets_for(action_sizes, S)
    levels = np.empty(loff[N + 1])
    Js = np.empty(K + 1)
    tables = np.empty((K + 1 if keep else 1, D))
    for k in range(K + 1):
        for m in range(N):
            lo, hi, A = offsets[m], offsets[m + 1], action_sizes[m]
            _softmax_rows_into(theta[lo:hi].reshape(((hi - lo) // A, A)), pi[lo:hi].reshape(((hi - lo) // A, A)))
        if keep:
            tables[k] = pi
        elif k == K:
            tables[0] = pi
        _joint_policy_into(pi, offsets, action_sizes, S, pj)
        # numba's on-disk cache checks this file's own stamp only: a change to a kernel of core.py called here must
        # come with a change to this file (as this comment came with the new assembly), or the cache keeps the old code
        _policy_transition_reward_into(P_flat, r_flat, pj, P_pi, r_pi)
        V = _solve_values(P_pi, r_pi, gamma)
        Js[k] = np.dot(rho, V)
        if k == K:
            break
        _q_from_v_into(P_flat, r_flat, gamma, V, Q)
        _backward_sweep_into(Q, pi, offsets, action_sizes, loff, levels)
        for m in range(N):
            lo, hi, src = offsets[m], offsets[m + 1], loff[m + 1]
            nrm = 0.0
            for i in range(hi - lo):
                t = theta[lo + i] + levels[src + i] / beta_k
                theta[lo + i] = t
                nrm += t * t
            nrm = math.sqrt(nrm)
            if not math.isfinite(nrm):
                n_kept = k + 1 if keep else 1
                return Js[: k + 1], theta, tables[:n_kept], True
            if nrm > radius:
                scale = radius / nrm
                for i in range(lo, hi):
                    theta[i] *= scale
    return Js, theta, tables, False
