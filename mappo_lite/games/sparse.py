r"""Sparse cooperative Markov games: successor lists instead of the dense ``(S, A_1, …, A_N, S)`` tensor.

When each (state, joint action) leads to at most K states (gridworlds: K = 2^N), a
:class:`SparseCooperativeMarkovGame` stores P as two arrays of the same shape. A game file (``.npz``) in sparse form
has exactly these keys (``P`` is absent; :func:`mappo_lite.games.load_game` tells the forms apart by the keys and
returns a :class:`SparseCooperativeMarkovGame`; :meth:`SparseCooperativeMarkovGame.save` writes them):

================  ===========================  =================================================================
key               shape, dtype                 meaning
================  ===========================  =================================================================
``next_states``   ``(S, A_1, …, A_N, K)``,     successor states s' of (s, a¹, …, aᴺ), each in 0..S-1. Padding
                  integer (int64 on disk)      slots repeat any valid index with probability 0; a state may
                                               appear in several slots (their probabilities add up).
``probs``         ``(S, A_1, …, A_N, K)``,     :math:`P(s'|s,\mathbf a)` of each slot, ≥ 0; every row
                  float64                      ``probs[s, a…, :]`` sums to 1 when ``gamma < 1``, and to strictly
                                               less than 1 (the stopping probability) when ``gamma == 1``.
``r``             ``(S, A_1, …, A_N)``,        the shared reward :math:`r(s,\mathbf a)`, finite.
                  float64
``gamma``         scalar float64               discount in [0, 1]; 1 only for stopping games (as above).
``rho``           ``(S,)`` float64, optional   initial distribution (uniform when absent).
================  ===========================  =================================================================

Joint actions are flattened in C order with agent 1 most significant, as for dense games, so
``next_states.reshape(S, |A|, K)[s, j]`` lists the successors of joint action j. Any other key, a missing key, a
shape mismatch, an index outside 0..S-1, a non-integer index, negative or non-finite probabilities or rows with the
wrong sum raise :class:`~mappo_lite.errors.MappoLiteError`. :func:`sparse_from_dense` converts a dense game
(K = the largest number of successors), :meth:`SparseCooperativeMarkovGame.to_dense` converts back (small games).

Exact evaluation never builds the dense tensor (which would hold S²|A| numbers: 20 GB for the 10⁴-state,
two-agent gridworld): :math:`P_\pi` is assembled directly as a SciPy CSR matrix in one pass over the successor
lists (:func:`sparse_policy_csr`), :math:`Q = r + \gamma PV` is a gather over them (:func:`sparse_q_from_v`), and
:math:`(I-\gamma P_\pi)V = r_\pi` is solved by sparse LU up to ``DIRECT_SOLVE_MAX_STATES`` states (or for
deterministic policies) and by restarted GMRES with a residual-certified accuracy above (see
:meth:`SparseCooperativeMarkovGame.solve_linear`). Dense and sparse forms of one game give the same values to
rounding (tests/games/test_sparse.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .._validate import as_float_array, check_distribution, check_gamma, check_gamma_rows
from ..errors import MappoLiteError
from ..kernels import sparse_policy_csr, sparse_q_from_v
from .base import MarkovGameBase

#: Sparse games with at most this many states use a direct sparse LU solve; larger ones GMRES (see
#: :meth:`SparseCooperativeMarkovGame.solve_linear`).
DIRECT_SOLVE_MAX_STATES = 2000
#: Accuracy τ the iterative solve proves from its residual: :math:`\|x-x^\star\|_\infty\le\tau\max(1,\|b\|_\infty)`.
ITERATIVE_TOL = 1e-11
#: GMRES restart length and the matrix-vector products allowed per refinement round (3 rounds at most).
GMRES_RESTART = 40
GMRES_MAX_MATVECS = 1200


def direct_solve(M, b):
    """Sparse LU solve of ``M x = b`` (SciPy's ``spsolve``), as float64."""
    return np.asarray(spla.spsolve(M.tocsc(), b), dtype=np.float64)


def gmres_refined(M, b, one_minus_g: float, one_norm: bool, rounds: int = 3):
    """Restarted GMRES plus iterative refinement until the residual proves the accuracy ``ITERATIVE_TOL`` (see
    ``solve_linear``); ``None`` when it does not within the budget."""
    S = b.shape[0]
    norm = (lambda v: float(np.abs(v).sum())) if one_norm else (lambda v: float(np.abs(v).max()))
    target = ITERATIVE_TOL * one_minus_g * max(1.0, norm(b))
    x = np.zeros(S)
    r = b.copy()
    for _ in range(rounds):
        nr = norm(r)
        if nr <= target:
            return x
        # GMRES stops on the 2-norm: ask for the 2-norm that brings this residual's own norm below the target
        atol2 = 0.5 * target * float(np.linalg.norm(r)) / nr
        d, _info = spla.gmres(
            M,
            r,
            rtol=0.0,
            atol=atol2,
            restart=min(GMRES_RESTART, S),
            maxiter=max(1, GMRES_MAX_MATVECS // GMRES_RESTART),
        )
        if not np.all(np.isfinite(d)):
            return None
        x += d
        r = b - M @ x
    return x if norm(r) <= target else None


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
            raw = np.asarray(self.next_states)
            if raw.dtype.kind not in "iuf" or (
                raw.dtype.kind == "f" and not (np.all(np.isfinite(raw)) and np.all(raw == np.floor(raw)))
            ):
                raise TypeError(
                    f"got dtype {raw.dtype}" + (" with non-integer values" if raw.dtype.kind == "f" else "")
                )
            nxt = np.array(raw, dtype=np.int64, order="C", copy=True)
        except (TypeError, ValueError, OverflowError) as exc:
            raise MappoLiteError(f"next_states must be an array of integer state indices ({exc})") from None
        probs = as_float_array(self.probs, "probs")
        r = as_float_array(self.r, "r")
        if nxt.ndim < 3 or probs.shape != nxt.shape:
            raise MappoLiteError(
                f"next_states and probs must share a shape (S, A_1, ..., A_N, K), got {nxt.shape} and {probs.shape}"
            )
        if r.shape != nxt.shape[:-1]:
            raise MappoLiteError(f"r must have shape {nxt.shape[:-1]} to match next_states, got {r.shape}")
        S = nxt.shape[0]
        if nxt.size == 0:
            raise MappoLiteError(
                f"a sparse game needs at least one state, action and successor slot, got shape {nxt.shape}"
            )
        if nxt.min() < 0 or nxt.max() >= S:
            raise MappoLiteError(f"next_states must lie in 0..{S - 1}")
        if np.any(probs < 0):
            raise MappoLiteError("probs has negative transition probabilities")
        gamma = check_gamma(self.gamma)
        check_gamma_rows(probs.sum(axis=-1), gamma, S)
        rho = np.full(S, 1.0 / S) if self.rho is None else check_distribution(self.rho, "rho", S)
        for arr in (nxt, probs, r, rho):
            arr.flags.writeable = False
        for name, arr in (("next_states", nxt), ("probs", probs), ("r", r), ("rho", rho)):
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "gamma", gamma)
        object.__setattr__(self, "meta", dict(self.meta))
        object.__setattr__(self, "action_sizes", tuple(int(a) for a in nxt.shape[1:-1]))
        object.__setattr__(self, "_max_continuation", float(gamma * probs.sum(axis=-1).max()))

    action_sizes: tuple = field(init=False, repr=False, default=())

    @property
    def n_successors(self) -> int:
        return self.next_states.shape[-1]

    def with_rewards(self, r, name: str | None = None, meta: dict | None = None) -> SparseCooperativeMarkovGame:
        """The same game with the reward ``r`` (shape ``(S, A_1, …, A_N)``)."""
        return SparseCooperativeMarkovGame(
            self.next_states,
            self.probs,
            r,
            self.gamma,
            self.rho,
            name or self.name,
            dict(self.meta if meta is None else meta),
        )

    def flat_successors(self):
        """``next_states`` and ``probs`` viewed as ``(S, |A|, K)`` (the layout of the sparse kernels)."""
        S, J = self.n_states, self.n_joint_actions
        return self.next_states.reshape(S, J, -1), self.probs.reshape(S, J, -1)

    def row_mass(self) -> np.ndarray:
        return self.probs.reshape(self.n_states, self.n_joint_actions, -1).sum(axis=-1)

    def policy_transition_reward(self, pi_joint: np.ndarray):
        """``(P_pi, r_pi)``: a SciPy CSR matrix (S, S), duplicates summed and indices sorted, and a vector.

        Built directly in CSR form by :func:`sparse_policy_csr` (one pass over the successor lists)."""
        nxt, pr = self.flat_successors()
        pi_joint = np.ascontiguousarray(pi_joint, dtype=np.float64)
        indptr, indices, data, r_pi = sparse_policy_csr(nxt, pr, self.r_flat, pi_joint)
        S = self.n_states
        P_pi = sp.csr_matrix((data, indices, indptr), shape=(S, S))
        P_pi.has_sorted_indices = True
        return P_pi, r_pi

    def q_from_v(self, V: np.ndarray) -> np.ndarray:
        nxt, pr = self.flat_successors()
        return sparse_q_from_v(nxt, pr, self.r_flat, self.gamma, np.ascontiguousarray(V, dtype=np.float64))

    @property
    def max_continuation(self) -> float:
        r""":math:`\gamma_{\mathrm{eff}} = \gamma\max_{s,\mathbf a}\sum_{s'}P(s'|s,\mathbf a) < 1`, the contraction factor of
        :math:`\gamma P_\pi` in the sup norm for every policy (computed once)."""
        return self._max_continuation

    def solve_linear(self, P_pi, rhs: np.ndarray, transpose: bool = False) -> np.ndarray:
        r"""Solve :math:`(I-\gamma P_\pi)x = b` (or its transpose).

        * Up to ``DIRECT_SOLVE_MAX_STATES`` states, or when :math:`P_\pi` has at most K+1 entries per row on
          average (a deterministic policy, K = successors per joint action): SciPy's sparse LU (``spsolve``).
        * Otherwise restarted GMRES with iterative refinement. It stops only when the true residual proves the
          accuracy: :math:`\|\gamma P_\pi\|_\infty\le\gamma_{\mathrm{eff}}<1`, so
          :math:`\|(I-\gamma P_\pi)^{-1}\|_\infty \le 1/(1-\gamma_{\mathrm{eff}})` and a residual
          :math:`\|Mx-b\|_\infty \le \tau(1-\gamma_{\mathrm{eff}})\max(1,\|b\|_\infty)` gives
          :math:`\|x-x^\star\|_\infty \le \tau\max(1,\|b\|_\infty)` with τ = ``ITERATIVE_TOL`` (the transposed
          system, used for the occupancy, is checked the same way in the 1-norm). If GMRES does not reach it within
          its budget (restarted GMRES can stagnate when γ is close to 1 and the policy nearly deterministic), the
          sparse LU solve is the fallback, so the answer is always exact to rounding or to that bound.

        (SciPy's BiCGSTAB, used before, breaks down on the deterministic policies of policy iteration, whose
        :math:`r_\pi` has few nonzero entries; that fallback to LU on stochastic policies cost seconds per solve.)"""
        S = self.n_states
        P = P_pi.tocsr() if sp.issparse(P_pi) else sp.csr_matrix(np.asarray(P_pi, dtype=np.float64))
        M = (sp.identity(S, format="csr") - self.gamma * P).tocsr()
        if transpose:
            M = M.T.tocsr()
        b = np.asarray(rhs, dtype=np.float64)
        if S <= DIRECT_SOLVE_MAX_STATES or M.nnz <= (self.n_successors + 1) * S:
            return direct_solve(M, b)
        x = gmres_refined(M, b, 1.0 - self._max_continuation, one_norm=transpose)
        return direct_solve(M, b) if x is None else x

    @property
    def nbytes(self) -> int:
        return self.next_states.nbytes + self.probs.nbytes + self.r.nbytes + self.rho.nbytes

    def to_dense(self, max_entries: float = 5e7):
        """The same game as a dense :class:`~mappo_lite.games.CooperativeMarkovGame` (refused above ``max_entries``)."""
        from .dense import CooperativeMarkovGame

        S, J = self.n_states, self.n_joint_actions
        if S * J * S > max_entries:
            raise MappoLiteError(f"the dense P would have {S * J * S:.3g} entries (> max_entries={max_entries:g})")
        nxt, pr = self.flat_successors()
        P = np.zeros((S * J, S))
        np.add.at(P, (np.repeat(np.arange(S * J), nxt.shape[-1]), nxt.reshape(-1)), pr.reshape(-1))
        return CooperativeMarkovGame(
            P.reshape(self.r.shape + (S,)), self.r, self.gamma, self.rho, self.name, dict(self.meta)
        )

    def save(self, path) -> None:
        """Write ``.npz`` with keys ``next_states``, ``probs``, ``r``, ``gamma``, ``rho``."""
        np.savez(
            path, next_states=self.next_states, probs=self.probs, r=self.r, gamma=np.float64(self.gamma), rho=self.rho
        )


def sparse_from_dense(game, tol: float = 0.0) -> SparseCooperativeMarkovGame:
    """Successor-list form of a dense game (K = the largest number of successors with probability > tol)."""
    Pf = game.P_flat
    support = Pf > tol
    K = max(1, int(support.sum(axis=-1).max()))
    order = np.argsort(~support, axis=-1, kind="stable")[..., :K]
    probs = np.take_along_axis(Pf, order, axis=-1)
    probs = np.where(np.take_along_axis(support, order, axis=-1), probs, 0.0)
    shape = game.r.shape + (K,)
    return SparseCooperativeMarkovGame(
        order.reshape(shape), probs.reshape(shape), game.r, game.gamma, game.rho, game.name, dict(game.meta)
    )


__all__ = ["SparseCooperativeMarkovGame", "sparse_from_dense"]
