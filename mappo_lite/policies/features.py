r"""Feature maps :math:`\phi(s, \mathbf a^{1:m-1}, a^m) \in \mathbb R^d` with :math:`\|\phi\|_2 \le 1` (chapter 4 of the book).

Agent m's features are indexed by its *context* :math:`c = (s, \mathbf a^{1:m-1})` (flattened, see
:mod:`mappo_lite.policies`) and its own action :math:`a^m`:

* :class:`TabularFeatures`: one-hot :math:`\phi(c, a) = e_{cA+a}`, dimension :math:`d = n_{ctx} A`. The log-linear
  class then contains every conditional policy (θ are the logits).
* :class:`ArrayFeatures`: any user array of shape ``(n_ctx, A, d)`` whose rows have norm at most 1.
* :func:`random_features`: seeded Gaussian features normalized to unit norm, a compact class with d ≪ n_ctx·A.
"""

from __future__ import annotations

import numpy as np

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
