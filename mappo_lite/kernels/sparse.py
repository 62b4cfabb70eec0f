r"""numba kernels of the sparse game form (:mod:`mappo_lite.games.sparse`): successor lists ``next_states``,
``probs`` of shape ``(S, |A|, K)``. Twins of the same names in :mod:`.reference`."""

from __future__ import annotations

import numba
import numpy as np


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
