r"""numba kernels of the sparse game form (:mod:`mappo_lite.games.sparse`): successor lists ``next_states``,
``probs`` of shape ``(S, |A|, K)``, and Monte Carlo rollouts over them (:func:`mc_localized_q_sparse`,
:func:`rollout_steps_sparse`: the estimators of :func:`.core.mc_localized_q` and :func:`.core.rollout_steps` with the
successor lists and their cumulative probabilities in place of the dense ``(S, |A|, S)`` tensor; a step costs
:math:`O(\log K)`). Twins of the same names in :mod:`.reference`."""

from __future__ import annotations

import numba
import numpy as np

from .core import _draw, _draw_actions


@numba.njit(cache=True, nogil=True)
def sparse_q_from_v(next_states, probs, r_flat, gamma, V):
    r""":math:`Q(s,\mathbf a) = r + \gamma\sum_k p_k V(s'_k)` on successor lists ``(S, |A|, K)``."""
    S, J, K = next_states.shape
    Q = np.empty((S, J))
    for s in range(S):
        for j in range(J):
            acc = 0.0
            for k in range(K):
                acc += probs[s, j, k] * V[next_states[s, j, k]]
            Q[s, j] = r_flat[s, j] + gamma * acc
    return Q


@numba.njit(cache=True, nogil=True)
def sparse_policy_rows(next_states, probs, r_flat, pi_joint):
    """COO triplets of :math:`P_\\pi` (duplicates not yet summed) and :math:`r_\\pi`."""
    S, J, K = next_states.shape
    n = S * J * K
    rows = np.empty(n, dtype=np.int64)
    cols = np.empty(n, dtype=np.int64)
    vals = np.empty(n)
    r_pi = np.zeros(S)
    t = 0
    for s in range(S):
        for j in range(J):
            w = pi_joint[s, j]
            r_pi[s] += w * r_flat[s, j]
            for k in range(K):
                rows[t] = s
                cols[t] = next_states[s, j, k]
                vals[t] = w * probs[s, j, k]
                t += 1
    return rows, cols, vals, r_pi


@numba.njit(cache=True, nogil=True)
def sparse_policy_csr(next_states, probs, r_flat, pi_joint):
    r"""CSR arrays ``(indptr, indices, data)`` of :math:`P_\pi` with duplicates summed and column indices sorted in
    every row, and :math:`r_\pi`, in one pass over the successor lists.

    Each row is accumulated in a dense scratch vector of length S (touched once per successor, reset after the row),
    so the work is O(S·|A|·K + nnz log(nnz/S)) and the memory O(S + S·|A|·K) for the worst case of distinct
    successors; the arrays are trimmed to the true nnz before they are returned. Entries whose summed probability is
    exactly 0 (padding successors, zero-probability actions) are dropped.
    """
    S, J, K = next_states.shape
    cap = S * J * K
    indptr = np.zeros(S + 1, dtype=np.int64)
    indices = np.empty(cap, dtype=np.int64)
    data = np.empty(cap)
    r_pi = np.zeros(S)
    acc = np.zeros(S)
    seen = np.zeros(S, dtype=np.bool_)
    touched = np.empty(J * K, dtype=np.int64)
    nnz = 0
    for s in range(S):
        n_t = 0
        rr = 0.0
        for j in range(J):
            w = pi_joint[s, j]
            rr += w * r_flat[s, j]
            if w == 0.0:
                continue
            for k in range(K):
                p = probs[s, j, k]
                if p == 0.0:
                    continue
                t = next_states[s, j, k]
                if not seen[t]:
                    seen[t] = True
                    touched[n_t] = t
                    n_t += 1
                acc[t] += w * p
        r_pi[s] = rr
        cols = np.sort(touched[:n_t])
        for i in range(n_t):
            t = cols[i]
            v = acc[t]
            if v != 0.0:
                indices[nnz] = t
                data[nnz] = v
                nnz += 1
            acc[t] = 0.0
            seen[t] = False
        indptr[s + 1] = nnz
    return indptr, indices[:nnz].copy(), data[:nnz].copy(), r_pi


@numba.njit(cache=True, nogil=True)
def mc_localized_q_sparse(
    next_states,
    cum_probs,
    r_flat,
    gamma,
    pi_cum_concat,
    offsets,
    action_sizes,
    states,
    prefix,
    m_fixed,
    n_rollouts,
    max_steps,
    seed,
):
    r"""Monte Carlo :math:`\hat Q^{1:m}(s_t,\mathbf a_t^{1:m})` on successor lists: the estimator of
    :func:`mappo_lite.kernels.mc_localized_q` with ``P_cum`` replaced by ``(next_states, cum_probs)``."""
    np.random.seed(seed)
    T = states.shape[0]
    N = action_sizes.shape[0]
    K = next_states.shape[2]
    out = np.empty(T)
    acts = np.empty(N, dtype=np.int64)
    Nc = next_states.ravel()
    Pc = cum_probs.ravel()
    J = next_states.shape[1]
    for t in range(T):
        total = 0.0
        for _k in range(n_rollouts):
            s = states[t]
            for m in range(N):
                acts[m] = prefix[t, m] if m < m_fixed else 0
            j = _draw_actions(s, pi_cum_concat, offsets, action_sizes, acts, m_fixed)
            for _step in range(max_steps):
                total += r_flat[s, j]
                if np.random.random() >= gamma:
                    break
                base = (s * J + j) * K
                slot = _draw(base, Pc, K, np.random.random())
                if slot >= K:  # past the row mass: the episode stops
                    break
                s = Nc[base + slot]
                j = _draw_actions(s, pi_cum_concat, offsets, action_sizes, acts, 0)
        out[t] = total / n_rollouts
    return out


@numba.njit(cache=True, nogil=True)
def rollout_steps_sparse(
    next_states, cum_probs, r_flat, gamma, pi_cum_concat, offsets, action_sizes, start_states, n_steps, seed
):
    """:func:`mappo_lite.kernels.rollout_steps` on successor lists: ``n_steps`` environment steps of episodes from
    ``start_states`` (cycled); returns the mean undiscounted return per finished episode and their number."""
    np.random.seed(seed)
    N = action_sizes.shape[0]
    K = next_states.shape[2]
    J = next_states.shape[1]
    acts = np.empty(N, dtype=np.int64)
    Nc = next_states.ravel()
    Pc = cum_probs.ravel()
    episodes = 0
    total = 0.0
    s = start_states[0]
    j = _draw_actions(s, pi_cum_concat, offsets, action_sizes, acts, 0)
    for _step in range(n_steps):
        total += r_flat[s, j]
        stop = np.random.random() >= gamma
        nxt = s
        if not stop:
            base = (s * J + j) * K
            slot = _draw(base, Pc, K, np.random.random())
            stop = slot >= K
            if not stop:
                nxt = Nc[base + slot]
        if stop:
            episodes += 1
            s = start_states[episodes % start_states.shape[0]]
        else:
            s = nxt
        j = _draw_actions(s, pi_cum_concat, offsets, action_sizes, acts, 0)
    return total / max(episodes, 1), episodes
