r"""numba kernel of the offline evaluators (:mod:`mappo_lite.offline`); twin of the same name in :mod:`.reference`."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def accumulate_bellman_system(psi_flat, rows, psi_pi, next_states, rewards):
    r"""One pass over the data: :math:`\Psi^\top\Psi`, :math:`\Psi^\top\Psi'_\pi`, :math:`\Psi^\top r`.

    ``psi_flat`` (S·|A|, d) critic features, ``rows`` (n,) the row :math:`s_i|A| + \mathbf a_i` of each sample,
    ``psi_pi`` (S, d) = :math:`\sum_{\mathbf a}\pi(\mathbf a|s)\psi(s,\mathbf a)`, ``next_states`` (n,) (−1 = stopped).
    Zero feature entries are skipped, so one-hot critics cost O(n·d) instead of O(n·d²)."""
    d = psi_flat.shape[1]
    G = np.zeros((d, d))
    C = np.zeros((d, d))
    c = np.zeros(d)
    nz = np.empty(d, dtype=np.int64)
    for i in range(rows.shape[0]):
        row = rows[i]
        k = 0
        for a in range(d):
            if psi_flat[row, a] != 0.0:
                nz[k] = a
                k += 1
        nxt = next_states[i]
        for p in range(k):
            a = nz[p]
            x = psi_flat[row, a]
            c[a] += x * rewards[i]
            for q in range(k):
                G[a, nz[q]] += x * psi_flat[row, nz[q]]
            if nxt >= 0:
                for b in range(d):
                    C[a, b] += x * psi_pi[nxt, b]
    return G, C, c
