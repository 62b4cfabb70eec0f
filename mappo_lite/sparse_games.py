r"""Sparse cooperative Markov games: successor lists instead of the dense ``(S, A_1, …, A_N, S)`` tensor.

When each (state, joint action) leads to at most K states (gridworlds: K = 2^N), P is stored as

=================  ===========================  ==============================================================
key                shape                        meaning
=================  ===========================  ==============================================================
``next_states``    ``(S, A_1, …, A_N, K)`` int  the successor states s'; padding entries carry probability 0
``probs``          ``(S, A_1, …, A_N, K)``      :math:`P(s'|s,\mathbf a)` of each successor
``r``              ``(S, A_1, …, A_N)``         reward
``gamma``, ``rho``                              as for dense games
=================  ===========================  ==============================================================

and saved in the same ``.npz`` format with ``next_states`` and ``probs`` in place of ``P``
(:func:`mappo_lite.games.load_game` reads both). Exact evaluation assembles :math:`P_\pi` as a SciPy sparse matrix
and solves :math:`(I-\gamma P_\pi)V = r_\pi` with a sparse direct solver, so a game with 10⁴ states never
allocates the dense tensor (which would have S²|A| entries).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .errors import MappoLiteError
from .games import PROB_ATOL, MarkovGameBase, _as_float_array, _check_gamma_rows, check_distribution, check_gamma


#: Sparse games with at most this many states use a direct sparse LU solve; larger ones BiCGSTAB.
DIRECT_SOLVE_MAX_STATES = 2000


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


def sparse_q_from_v_reference(next_states, probs, r_flat, gamma, V):
    """Plain-NumPy twin of :func:`sparse_q_from_v`."""
    return r_flat + gamma * (probs * V[next_states]).sum(axis=-1)


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


@dataclass(frozen=True, eq=False, repr=False)
class SparseCooperativeMarkovGame(MarkovGameBase):
    """A cooperative Markov game with transitions as successor lists (see the module docstring)."""

    next_states: np.ndarray
    probs: np.ndarray
    r: np.ndarray
    gamma: float
    rho: np.ndarray | None = None
    name: str = "game"
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        try:
            nxt = np.array(self.next_states, dtype=np.int64, order="C", copy=True)
        except (TypeError, ValueError) as exc:
            raise MappoLiteError(f"next_states must be an integer array ({exc})") from None
        probs = _as_float_array(self.probs, "probs")
        r = _as_float_array(self.r, "r")
        if nxt.ndim < 3 or probs.shape != nxt.shape:
            raise MappoLiteError(
                f"next_states and probs must share a shape (S, A_1, ..., A_N, K), got {nxt.shape} and {probs.shape}"
            )
        if r.shape != nxt.shape[:-1]:
            raise MappoLiteError(f"r must have shape {nxt.shape[:-1]} to match next_states, got {r.shape}")
        S = nxt.shape[0]
        if nxt.min() < 0 or nxt.max() >= S:
            raise MappoLiteError(f"next_states must lie in 0..{S - 1}")
        if np.any(probs < 0):
            raise MappoLiteError("probs has negative transition probabilities")
        gamma = check_gamma(self.gamma)
        _check_gamma_rows(probs.sum(axis=-1), gamma, S)
        rho = np.full(S, 1.0 / S) if self.rho is None else check_distribution(self.rho, "rho", S)
        for arr in (nxt, probs, r, rho):
            arr.flags.writeable = False
        for name, arr in (("next_states", nxt), ("probs", probs), ("r", r), ("rho", rho)):
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "gamma", gamma)
        object.__setattr__(self, "meta", dict(self.meta))
        object.__setattr__(self, "action_sizes", tuple(int(a) for a in nxt.shape[1:-1]))

    action_sizes: tuple = field(init=False, repr=False, default=())

    @property
    def n_successors(self) -> int:
        return self.next_states.shape[-1]

    def _flat(self):
        S, J = self.n_states, self.n_joint_actions
        return self.next_states.reshape(S, J, -1), self.probs.reshape(S, J, -1)

    def row_mass(self) -> np.ndarray:
        return self.probs.reshape(self.n_states, self.n_joint_actions, -1).sum(axis=-1)

    def policy_transition_reward(self, pi_joint: np.ndarray):
        """``(P_pi, r_pi)``: a SciPy CSR matrix (S, S) and a vector."""
        nxt, pr = self._flat()
        rows, cols, vals, r_pi = sparse_policy_rows(nxt, pr, self.r_flat, np.ascontiguousarray(pi_joint))
        P_pi = sp.csr_matrix((vals, (rows, cols)), shape=(self.n_states, self.n_states))
        P_pi.sum_duplicates()
        return P_pi, r_pi

    def q_from_v(self, V: np.ndarray) -> np.ndarray:
        nxt, pr = self._flat()
        return sparse_q_from_v(nxt, pr, self.r_flat, self.gamma, np.ascontiguousarray(V, dtype=np.float64))

    def solve_linear(self, P_pi, rhs: np.ndarray, transpose: bool = False) -> np.ndarray:
        r"""Solve :math:`(I-\gamma P_\pi)x = b` (or its transpose).

        Up to ``DIRECT_SOLVE_MAX_STATES`` states: SciPy's sparse LU. Above: BiCGSTAB, which converges in a few dozen
        matrix-vector products because :math:`I-\gamma P_\pi` has condition number at most
        :math:`(1+\gamma)/(1-\gamma)` in the sup norm; the residual is checked (below 1e-11 relative to b, so the
        error in x is below 1e-11/(1-γ_eff)) and the direct solver is the fallback."""
        M = sp.identity(self.n_states, format="csr") - self.gamma * P_pi.tocsr()
        if transpose:
            M = M.T.tocsr()
        if self.n_states <= DIRECT_SOLVE_MAX_STATES:
            return spla.spsolve(M.tocsc(), rhs)
        x, info = spla.bicgstab(M, rhs, rtol=1e-13, atol=0.0, maxiter=2_000)
        scale = max(1.0, float(np.abs(rhs).max()))
        if info != 0 or not np.all(np.isfinite(x)) or np.abs(M @ x - rhs).max() > 1e-11 * scale:
            return spla.spsolve(M.tocsc(), rhs)
        return x

    @property
    def nbytes(self) -> int:
        return self.next_states.nbytes + self.probs.nbytes + self.r.nbytes + self.rho.nbytes

    def to_dense(self, max_entries: float = 5e7):
        """The same game as a dense :class:`~mappo_lite.games.CooperativeMarkovGame` (refused above ``max_entries``)."""
        from .games import CooperativeMarkovGame

        S, J = self.n_states, self.n_joint_actions
        if S * J * S > max_entries:
            raise MappoLiteError(f"the dense P would have {S * J * S:.3g} entries (> max_entries={max_entries:g})")
        nxt, pr = self._flat()
        P = np.zeros((S * J, S))
        np.add.at(P, (np.repeat(np.arange(S * J), nxt.shape[-1]), nxt.reshape(-1)), pr.reshape(-1))
        return CooperativeMarkovGame(P.reshape(self.r.shape + (S,)), self.r, self.gamma, self.rho, self.name,
                                     dict(self.meta))

    def save(self, path) -> None:
        """Write ``.npz`` with keys ``next_states``, ``probs``, ``r``, ``gamma``, ``rho``."""
        np.savez(path, next_states=self.next_states, probs=self.probs, r=self.r, gamma=np.float64(self.gamma),
                 rho=self.rho)


def sparse_from_dense(game, tol: float = 0.0) -> SparseCooperativeMarkovGame:
    """Successor-list form of a dense game (K = the largest number of successors with probability > tol)."""
    Pf = game.P_flat
    support = Pf > tol
    K = max(1, int(support.sum(axis=-1).max()))
    order = np.argsort(~support, axis=-1, kind="stable")[..., :K]
    probs = np.take_along_axis(Pf, order, axis=-1)
    probs = np.where(np.take_along_axis(support, order, axis=-1), probs, 0.0)
    shape = game.r.shape + (K,)
    return SparseCooperativeMarkovGame(order.reshape(shape), probs.reshape(shape), game.r, game.gamma, game.rho,
                                       game.name, dict(game.meta))


__all__ = ["SparseCooperativeMarkovGame", "sparse_from_dense", "sparse_q_from_v", "sparse_q_from_v_reference",
           "PROB_ATOL"]
