r"""Feature maps :math:`\phi(s, \mathbf a^{1:m-1}, a^m) \in \mathbb R^d` with :math:`\|\phi\|_2 \le 1` (chapter 4 of the book).

Agent m's features are indexed by its *context* :math:`c = (s, \mathbf a^{1:m-1})` (flattened, see
:mod:`mappo_lite.policies`) and its own action :math:`a^m`:

* :class:`TabularFeatures`: one-hot :math:`\phi(c, a) = e_{cA+a}`, dimension :math:`d = n_{ctx} A`. The log-linear
  class then contains every conditional policy (θ are the logits).
* :class:`ArrayFeatures`: any user array of shape ``(n_ctx, A, d)`` whose rows have norm at most 1.
* :func:`random_features`: seeded Gaussian features normalized to unit norm, a compact class with d ≪ n_ctx·A.
* :class:`CallableFeatures`: a vectorized function ``fn(states, prefix, actions) -> (T, d)``, never stored (the
  norm condition is checked once over every row, in chunks, or ``normalize=True`` divides by the largest norm);
  :class:`ActionBlockFeatures`: :math:`\phi(c,a) = e_a\otimes\psi(c)` from ``psi_fn(states, prefix)``, whose logits
  cost one product per context. Both have ``rows(contexts, actions)`` (the rows of T samples), as every feature map
  of :mod:`.families` does.

Every feature map has ``n_contexts``, ``n_actions``, ``dim``, ``tabular``, ``logits(theta)`` (``(n_ctx, A)``) and
``dense()`` (``(n_ctx, A, d)``, small games only); :func:`feature_rows` and :func:`all_rows` give rows of any of them.
"""

from __future__ import annotations

import numpy as np

from .._validate import check_agent, check_count
from ..errors import MappoLiteError

NORM_TOL = 1e-9


class TabularFeatures:
    r"""One-hot features :math:`\phi(c,a) = e_{cA+a}` for ``n_contexts`` contexts and ``n_actions`` actions."""

    tabular = True

    def __init__(self, n_contexts: int, n_actions: int):
        self.n_contexts = int(n_contexts)
        self.n_actions = int(n_actions)
        if self.n_contexts < 1 or self.n_actions < 1:
            raise MappoLiteError("TabularFeatures needs at least one context and one action")

    @property
    def dim(self) -> int:
        return self.n_contexts * self.n_actions

    def logits(self, theta: np.ndarray) -> np.ndarray:
        r"""The logits :math:`\phi(c,a)^\top\theta` for every (c, a), shape ``(n_ctx, A)``."""
        return np.asarray(theta, dtype=np.float64).reshape(self.n_contexts, self.n_actions)

    def dense(self) -> np.ndarray:
        """The explicit feature array ``(n_ctx, A, d)`` (only sensible for small games)."""
        return np.eye(self.dim).reshape(self.n_contexts, self.n_actions, self.dim)

    def __repr__(self):
        return f"TabularFeatures(n_contexts={self.n_contexts}, n_actions={self.n_actions})"


class ArrayFeatures:
    r"""User-supplied features ``phi`` of shape ``(n_ctx, A, d)`` with :math:`\|\phi(c,a)\|_2 \le 1` for every row."""

    tabular = False

    def __init__(self, phi, name: str = "phi"):
        try:
            arr = np.array(phi, dtype=np.float64, order="C", copy=True)
        except (TypeError, ValueError) as exc:
            raise MappoLiteError(f"{name} must be an array of numbers ({exc})") from None
        if arr.ndim != 3 or min(arr.shape) < 1:
            raise MappoLiteError(f"{name} must have shape (n_contexts, n_actions, d), got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise MappoLiteError(f"{name} contains NaN or infinite values")
        norms = np.linalg.norm(arr, axis=-1)
        if norms.max() > 1.0 + NORM_TOL:
            raise MappoLiteError(f"{name} rows must have norm at most 1 (largest is {norms.max():.6g})")
        arr.flags.writeable = False
        self.phi = arr
        self.n_contexts, self.n_actions, self._dim = arr.shape

    @property
    def dim(self) -> int:
        return self._dim

    def logits(self, theta: np.ndarray) -> np.ndarray:
        return self.phi @ np.asarray(theta, dtype=np.float64)

    def dense(self) -> np.ndarray:
        return self.phi

    def __repr__(self):
        return f"ArrayFeatures(n_contexts={self.n_contexts}, n_actions={self.n_actions}, d={self.dim})"


def random_features(n_contexts: int, n_actions: int, dim: int, seed=0) -> ArrayFeatures:
    """Gaussian features normalized to unit norm; ``seed`` is an int or a ``numpy.random.Generator``."""
    if int(dim) < 1:
        raise MappoLiteError(f"feature dimension must be at least 1, got {dim}")
    rng = np.random.default_rng(seed)
    phi = rng.standard_normal((int(n_contexts), int(n_actions), int(dim)))
    phi /= np.linalg.norm(phi, axis=-1, keepdims=True)
    return ArrayFeatures(phi)


# ----- feature maps that compute their rows ---------------------------------------------------------------------
#: Rows per chunk when a callable feature map is evaluated over every context.
CHUNK_ROWS = 65536


def decode_contexts(contexts, n_states: int, action_sizes, m: int):
    r"""``(states, prefix)`` of flat context indices of agent m (m = 1..N): ``prefix`` has shape (T, m-1)."""
    m = check_agent(m, len(action_sizes))
    c = np.asarray(contexts, dtype=np.int64).copy()
    prefix = np.empty((c.shape[0], m - 1), dtype=np.int64)
    for i in range(m - 2, -1, -1):
        A = int(action_sizes[i])
        prefix[:, i] = c % A
        c //= A
    return c, prefix


class CallableFeatures:
    r"""Features from a vectorized function ``fn(states, prefix, actions) -> (T, d)``, never stored.

    Parameters
    ----------
    fn : callable
        ``states`` (T,) int64, ``prefix`` (T, m-1) int64 (the predecessors' actions), ``actions`` (T,) int64;
        returns float64 rows (T, d).
    n_states, action_sizes, m
        The game's sizes and the (1-based) agent the map belongs to: it covers
        :math:`n_{ctx,m} = S\prod_{i<m}A_i` contexts and :math:`A_m` actions.
    dim : int
        d.
    normalize : bool
        False (default): every row must have norm ≤ 1 (checked once over all rows, here). True: all rows are
        divided by the largest row norm (if it exceeds 1).
    """

    tabular = False

    def __init__(
        self, fn, n_states: int, action_sizes, m: int, dim: int, normalize: bool = False, name: str = "features"
    ):
        if not callable(fn):
            raise MappoLiteError(f"{name}: fn must be callable")
        self.fn = fn
        self.n_states = int(n_states)
        self.action_sizes = tuple(int(a) for a in action_sizes)
        self.m = check_agent(m, len(self.action_sizes), f"{name}: agent index m")
        self.n_contexts = self.n_states * int(np.prod(self.action_sizes[: self.m - 1], dtype=np.int64))
        self.n_actions = self.action_sizes[self.m - 1]
        self._dim = check_count(dim, f"{name}: dimension")
        self.name = name
        self.scale = 1.0
        largest = self._largest_norm()
        if largest > 1.0 + NORM_TOL:
            if not normalize:
                raise MappoLiteError(
                    f"{name}: rows must have norm at most 1 (largest is {largest:.6g}); "
                    "pass normalize=True to divide them by it"
                )
            self.scale = 1.0 / largest
        self.max_norm = largest * self.scale

    @classmethod
    def from_function(cls, fn, n_states: int, action_sizes, m: int, normalize: bool = False):
        """Wrap ``fn`` for agent m (m = 1..N), its dimension read off one evaluated row."""
        m = check_agent(m, len(tuple(action_sizes)))
        one = np.asarray(fn(np.zeros(1, np.int64), np.zeros((1, int(m) - 1), np.int64), np.zeros(1, np.int64)))
        if one.ndim != 2 or one.shape[0] != 1:
            raise MappoLiteError(f"features of agent {m}: fn must return an array (T, d), got shape {one.shape}")
        return cls(fn, n_states, action_sizes, m, one.shape[1], normalize=normalize, name=f"features of agent {m}")

    @property
    def dim(self) -> int:
        return self._dim

    def _raw_rows(self, contexts, actions):
        s, prefix = decode_contexts(contexts, self.n_states, self.action_sizes, self.m)
        out = np.asarray(self.fn(s, prefix, np.asarray(actions, dtype=np.int64)), dtype=np.float64)
        if out.shape != (s.shape[0], self._dim):
            raise MappoLiteError(f"{self.name}: fn returned shape {out.shape}, expected {(s.shape[0], self._dim)}")
        return out

    def _chunks(self):
        A = self.n_actions
        step = max(1, CHUNK_ROWS // A)
        for c0 in range(0, self.n_contexts, step):
            c1 = min(self.n_contexts, c0 + step)
            ctx = np.repeat(np.arange(c0, c1, dtype=np.int64), A)
            act = np.tile(np.arange(A, dtype=np.int64), c1 - c0)
            yield c0, c1, ctx, act

    def _largest_norm(self) -> float:
        largest = 0.0
        for _c0, _c1, ctx, act in self._chunks():
            rows = self._raw_rows(ctx, act)
            if not np.all(np.isfinite(rows)):
                raise MappoLiteError(f"{self.name}: fn returned NaN or infinite values")
            largest = max(largest, float(np.sqrt((rows * rows).sum(axis=1).max())))
        return largest

    def rows(self, contexts, actions) -> np.ndarray:
        """Feature rows (T, d) of the samples ``(contexts[t], actions[t])``."""
        out = self._raw_rows(contexts, actions)
        return out * self.scale if self.scale != 1.0 else out

    def logits(self, theta) -> np.ndarray:
        theta = np.asarray(theta, dtype=np.float64)
        out = np.empty((self.n_contexts, self.n_actions))
        for c0, c1, ctx, act in self._chunks():
            out[c0:c1] = (self.rows(ctx, act) @ theta).reshape(c1 - c0, self.n_actions)
        return out

    def dense(self) -> np.ndarray:
        """The explicit array (n_ctx, A, d): small games only."""
        ctx = np.repeat(np.arange(self.n_contexts, dtype=np.int64), self.n_actions)
        act = np.tile(np.arange(self.n_actions, dtype=np.int64), self.n_contexts)
        return self.rows(ctx, act).reshape(self.n_contexts, self.n_actions, self._dim)

    def __repr__(self):
        return f"CallableFeatures({self.name}, agent {self.m}, n_contexts={self.n_contexts}, d={self.dim})"


class ActionBlockFeatures(CallableFeatures):
    r""":math:`\phi(c,a) = e_a\otimes\psi(c)`: one block of :math:`d_\psi` weights per action (``dim = A d_psi``),
    from a vectorized ``psi_fn(states, prefix) -> (T, d_psi)``. The logits of every context are one product
    :math:`\Psi\,[\theta_1\cdots\theta_A]`, so ψ is computed once per context, not once per (context, action).
    ``‖φ(c,a)‖ = ‖ψ(c)‖`` must be at most 1 (checked at construction, or ``normalize=True``)."""

    def __init__(self, psi_fn, n_states, action_sizes, m, d_psi, normalize=False, name="block features"):
        self.psi_fn = psi_fn
        self.d_psi = int(d_psi)
        A = int(tuple(action_sizes)[check_agent(m, len(tuple(action_sizes))) - 1])

        def fn(s, prefix, a):
            psi = self._psi(s, prefix)
            out = np.zeros((s.shape[0], A, self.d_psi))
            out[np.arange(s.shape[0]), a] = psi
            return out.reshape(s.shape[0], A * self.d_psi)

        super().__init__(fn, n_states, action_sizes, m, A * self.d_psi, normalize=normalize, name=name)

    def _psi(self, s, prefix):
        psi = np.asarray(self.psi_fn(s, prefix), dtype=np.float64)
        if psi.shape != (s.shape[0], self.d_psi):
            raise MappoLiteError(f"{self.name}: psi_fn returned shape {psi.shape}, expected {(s.shape[0], self.d_psi)}")
        return psi

    def _largest_norm(self) -> float:
        largest = 0.0
        step = CHUNK_ROWS
        for c0 in range(0, self.n_contexts, step):
            ctx = np.arange(c0, min(self.n_contexts, c0 + step), dtype=np.int64)
            s, prefix = decode_contexts(ctx, self.n_states, self.action_sizes, self.m)
            psi = self._psi(s, prefix)
            if not np.all(np.isfinite(psi)):
                raise MappoLiteError(f"{self.name}: psi_fn returned NaN or infinite values")
            largest = max(largest, float(np.sqrt((psi * psi).sum(axis=1).max())))
        return largest

    def logits(self, theta) -> np.ndarray:
        Theta = np.asarray(theta, dtype=np.float64).reshape(self.n_actions, self.d_psi).T * self.scale
        out = np.empty((self.n_contexts, self.n_actions))
        for c0 in range(0, self.n_contexts, CHUNK_ROWS):
            ctx = np.arange(c0, min(self.n_contexts, c0 + CHUNK_ROWS), dtype=np.int64)
            s, prefix = decode_contexts(ctx, self.n_states, self.action_sizes, self.m)
            out[c0 : c0 + ctx.shape[0]] = self._psi(s, prefix) @ Theta
        return out


def feature_rows(features, contexts, actions) -> np.ndarray:
    """Rows (T, d) of any feature map at the samples (tabular: one-hot rows; small d only)."""
    ctx = np.asarray(contexts, dtype=np.int64)
    act = np.asarray(actions, dtype=np.int64)
    if isinstance(features, ArrayFeatures):
        return features.phi[ctx, act]
    if isinstance(features, TabularFeatures):
        out = np.zeros((ctx.shape[0], features.dim))
        out[np.arange(ctx.shape[0]), ctx * features.n_actions + act] = 1.0
        return out
    return features.rows(ctx, act)


def all_rows(features) -> np.ndarray:
    """Every row (n_ctx·A, d), in context-major order (the order of ``Q^{1:m}.reshape(-1)``)."""
    if isinstance(features, (ArrayFeatures, TabularFeatures)):
        return features.dense().reshape(-1, features.dim)
    return features.dense().reshape(-1, features.dim)
