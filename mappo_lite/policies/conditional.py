r"""Conditional log-linear policies (the paper's Eq. (2); chapter 4 of the book) and product policies (the independent baseline).

Agent m acts from the *context* :math:`c = (s, \mathbf a^{1:m-1})`: the state and the actions already chosen by
agents 1..m-1. Its conditional policy is a table of shape ``(S, A_1, …, A_{m-1}, A_m)``, flattened to
``(n_ctx_m, A_m)`` with :math:`n_{ctx,m} = S\prod_{i<m}A_i` and context index
:math:`c = s\prod_{i<m}A_i + \mathrm{flat}(\mathbf a^{1:m-1})` (C order, agent 1 most significant). Every
evaluation routine accepts a policy as a list of N such tables (:class:`ConditionalTables`), built by
:func:`as_tables` from either policy class below or from raw arrays.

:class:`ConditionalLogLinearPolicy`
    :math:`\pi_{\theta^m}(a^m|s,\mathbf a^{1:m-1}) = \exp(\phi^\top\theta^m)/\sum_b\exp(\phi(\cdot,b)^\top\theta^m)`,
    :math:`\theta^m\in\Theta=\{\|\theta\|_2\le R\}`. ``θ^m = 0`` is uniform.
:class:`ProductPolicy`
    :math:`\pi(\mathbf a|s) = \prod_m \pi^m(a^m|s)`: each agent ignores the others (softmax of its own logits).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import kernels
from .._validate import PROB_ATOL, check_agent, check_int, check_radius
from ..errors import MappoLiteError
from .features import ArrayFeatures, CallableFeatures, TabularFeatures

# ------------------------------------------------------------------------------------------------------------
# context bookkeeping
# ------------------------------------------------------------------------------------------------------------


def context_counts(n_states: int, action_sizes) -> list[int]:
    r"""Number of contexts of each agent, :math:`n_{ctx,m} = S\prod_{i<m}A_i`."""
    counts, c = [], int(n_states)
    for A in action_sizes:
        counts.append(c)
        c *= int(A)
    return counts


def context_index(state: int, prefix, action_sizes) -> int:
    r"""Flat context index of :math:`(s, \mathbf a^{1:m-1})` for ``prefix`` = (a^1, …, a^{m-1})."""
    c = int(state)
    for a, A in zip(prefix, action_sizes):
        c = c * int(A) + int(a)
    return c


@dataclass(frozen=True)
class ConditionalTables:
    """A joint policy as N conditional probability tables: ``tables`` is the tuple of agent 1..N's flat tables
    (position ``m - 1`` holds agent m's, shape ``(n_ctx_m, A_m)``); the methods take the book's m = 1..N."""

    tables: tuple
    n_states: int
    action_sizes: tuple

    @property
    def n_agents(self) -> int:
        return len(self.action_sizes)

    def table(self, m: int) -> np.ndarray:
        r"""Agent m's table :math:`\pi^m(a^m|s,\mathbf a^{1:m-1})` (m = 1..N) reshaped to ``(S, A_1, …, A_m)``."""
        m = check_agent(m, self.n_agents)
        return self.tables[m - 1].reshape((self.n_states,) + tuple(self.action_sizes[:m]))

    def concat(self):
        """(pi_concat, offsets) for the kernels."""
        offsets = np.zeros(self.n_agents + 1, dtype=np.int64)
        for m, t in enumerate(self.tables):
            offsets[m + 1] = offsets[m] + t.size
        return np.ascontiguousarray(np.concatenate([t.ravel() for t in self.tables])), offsets

    def joint(self) -> np.ndarray:
        r"""The joint policy :math:`\pi(\mathbf a|s)`, shape ``(S, |A|)``."""
        pi_concat, offsets = self.concat()
        return kernels.joint_policy(pi_concat, offsets, np.asarray(self.action_sizes, np.int64), self.n_states)

    def marginal(self, m: int) -> np.ndarray:
        r"""Agent m's (m = 1..N) marginal :math:`\pi^m(a^m|s) = \sum_{\mathbf a^{-m}} \pi(\mathbf a|s)`, shape ``(S, A_m)``."""
        m = check_agent(m, self.n_agents)
        joint = self.joint().reshape((self.n_states,) + tuple(self.action_sizes))
        axes = tuple(1 + i for i in range(self.n_agents) if i != m - 1)
        return joint.sum(axis=axes)

    def product_factors(self) -> list | None:
        r"""Agent 1..N's policies :math:`\pi^m(\cdot|s)`, each ``(S, A_m)``, if these tables are a product policy
        (agent m's table is the same for every :math:`\mathbf a^{1:m-1}`, compared exactly, as
        :meth:`ProductPolicy.tables` repeats it); otherwise None."""
        out = []
        for m in range(1, self.n_agents + 1):
            t = self.table(m)
            first = t[(slice(None),) + (0,) * (m - 1)]  # the context a^{1:m-1} = (0, ..., 0)
            if not np.array_equal(t, np.broadcast_to(first[(slice(None),) + (None,) * (m - 1)], t.shape)):
                return None
            out.append(first)
        return out


def uniform_tables(n_states: int, action_sizes) -> ConditionalTables:
    """The uniform joint policy as conditional tables."""
    tabs = tuple(np.full((c, A), 1.0 / A) for c, A in zip(context_counts(n_states, action_sizes), action_sizes))
    return ConditionalTables(tabs, int(n_states), tuple(int(a) for a in action_sizes))


def as_tables(policy, n_states: int, action_sizes) -> ConditionalTables:
    """Validate ``policy`` against a game's sizes and return its :class:`ConditionalTables`.

    ``policy`` may be a :class:`ConditionalLogLinearPolicy`, a :class:`ProductPolicy`, a
    :class:`ConditionalTables`, ``"uniform"``, or a list of N arrays, the m-th of shape ``(S, A_1, …, A_m)`` or
    ``(n_ctx_m, A_m)``, non-negative with rows summing to 1.
    """
    action_sizes = tuple(int(a) for a in action_sizes)
    if isinstance(policy, str):
        if policy == "uniform":
            return uniform_tables(n_states, action_sizes)
        raise MappoLiteError(f"unknown policy name {policy!r} (the only named policy is 'uniform')")
    if hasattr(policy, "tables") and callable(policy.tables):
        policy = policy.tables()
    if isinstance(policy, ConditionalTables):
        if policy.n_states != n_states or tuple(policy.action_sizes) != action_sizes:
            raise MappoLiteError(
                f"policy is for S={policy.n_states}, A={policy.action_sizes}; the game has S={n_states}, A={action_sizes}"
            )
        return policy
    try:
        items = list(policy)
    except TypeError:
        raise MappoLiteError(f"cannot use {type(policy).__name__} as a policy") from None
    if len(items) != len(action_sizes):
        raise MappoLiteError(f"policy must have one table per agent ({len(action_sizes)}), got {len(items)}")
    counts = context_counts(n_states, action_sizes)
    tabs = []
    for m, (t, c, A) in enumerate(zip(items, counts, action_sizes)):
        try:
            arr = np.array(t, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise MappoLiteError(f"policy table of agent {m + 1} is not numeric ({exc})") from None
        if arr.size != c * A or arr.shape[-1] != A:
            raise MappoLiteError(
                f"policy table of agent {m + 1} must have shape {(n_states,) + action_sizes[: m + 1]} "
                f"or ({c}, {A}), got {arr.shape}"
            )
        arr = np.ascontiguousarray(arr.reshape(c, A))
        if not np.all(np.isfinite(arr)):
            raise MappoLiteError(f"policy table of agent {m + 1} contains NaN or infinite values")
        if np.any(arr < 0):
            raise MappoLiteError(f"policy table of agent {m + 1} has negative probabilities")
        dev = np.max(np.abs(arr.sum(axis=1) - 1.0))
        if dev > PROB_ATOL * A:
            raise MappoLiteError(f"policy table of agent {m + 1}: rows must sum to 1 (largest deviation {dev:.3g})")
        tabs.append(arr)
    return ConditionalTables(tuple(tabs), int(n_states), action_sizes)


def project_to_ball(theta: np.ndarray, radius: float) -> np.ndarray:
    r"""Euclidean projection :math:`\Pi_\Theta(\theta)` onto :math:`\{\|\theta\|_2 \le R\}`."""
    theta = np.asarray(theta, dtype=np.float64)
    nrm = float(np.linalg.norm(theta))
    if nrm <= radius:
        return theta.copy()
    return theta * (radius / nrm)


# ------------------------------------------------------------------------------------------------------------
# conditional log-linear policy
# ------------------------------------------------------------------------------------------------------------


class ConditionalLogLinearPolicy:
    r"""The paper's policy class: agent m plays :math:`\pi_{\theta^m}(a^m \mid s, \mathbf a^{1:m-1})` (Eq. (2)).

    Parameters
    ----------
    n_states, action_sizes
        The game's sizes (``game.n_states``, ``game.action_sizes``); see :meth:`for_game`.
    features : ``"tabular"``, or a list of N feature maps
        Agent m's feature map over its ``n_ctx_m`` contexts (:class:`~mappo_lite.features.TabularFeatures`,
        :class:`~mappo_lite.features.ArrayFeatures`, an array ``(n_ctx_m, A_m, d_m)``, a feature map that computes
        its rows such as :class:`~mappo_lite.policies.features.CallableFeatures`, or a plain vectorized function
        ``phi(states, prefix, actions) -> (T, d)``, wrapped by :meth:`CallableFeatures.from_function`: rows of norm
        at most 1, checked).
    thetas : list of N vectors, optional
        Parameters :math:`\theta^m`; zeros (the uniform policy) when omitted.
    radius : float
        R of the parameter ball :math:`\Theta`; ``inf`` (no constraint) by default, which the tabular class needs
        to approach deterministic policies.
    """

    def __init__(self, n_states, action_sizes, features="tabular", thetas=None, radius=math.inf):
        self.n_states = int(n_states)
        self.action_sizes = tuple(int(a) for a in action_sizes)
        self.radius = check_radius(radius)
        counts = context_counts(self.n_states, self.action_sizes)
        if isinstance(features, str):
            if features != "tabular":
                raise MappoLiteError(f"unknown features {features!r}: use 'tabular' or a list of feature arrays")
            features = [TabularFeatures(c, A) for c, A in zip(counts, self.action_sizes)]
        features = list(features)
        if len(features) != len(self.action_sizes):
            raise MappoLiteError(f"need one feature map per agent ({len(self.action_sizes)}), got {len(features)}")
        fmaps = []
        for m, (f, c, A) in enumerate(zip(features, counts, self.action_sizes)):
            if callable(f) and not hasattr(f, "rows"):  # a plain function phi(states, prefix, actions) -> (T, d)
                f = CallableFeatures.from_function(f, self.n_states, self.action_sizes, m + 1)
            elif not isinstance(f, (TabularFeatures, ArrayFeatures)) and not hasattr(f, "rows"):
                f = ArrayFeatures(f, name=f"features of agent {m + 1}")  # else a feature map that computes its rows
            if (f.n_contexts, f.n_actions) != (c, A):
                raise MappoLiteError(
                    f"features of agent {m + 1} must cover ({c} contexts, {A} actions), got ({f.n_contexts}, {f.n_actions})"
                )
            fmaps.append(f)
        self.features = fmaps
        if thetas is None:
            thetas = [np.zeros(f.dim) for f in fmaps]
        self.thetas = self._check_thetas(thetas)

    @classmethod
    def for_game(cls, game, features="tabular", thetas=None, radius=math.inf):
        """A policy sized for ``game`` (uniform when ``thetas`` is omitted)."""
        return cls(game.n_states, game.action_sizes, features, thetas, radius)

    def _check_thetas(self, thetas):
        thetas = list(thetas)
        if len(thetas) != len(self.features):
            raise MappoLiteError(f"need one theta per agent ({len(self.features)}), got {len(thetas)}")
        out = []
        for m, (t, f) in enumerate(zip(thetas, self.features)):
            t = np.array(t, dtype=np.float64).reshape(-1)
            if t.shape != (f.dim,):
                raise MappoLiteError(f"theta of agent {m + 1} must have {f.dim} entries, got {t.size}")
            if not np.all(np.isfinite(t)):
                raise MappoLiteError(f"theta of agent {m + 1} contains NaN or infinite values")
            if np.linalg.norm(t) > self.radius * (1 + 1e-12):
                raise MappoLiteError(f"theta of agent {m + 1} lies outside the ball of radius R={self.radius}")
            out.append(t)
        return out

    def with_thetas(self, thetas) -> ConditionalLogLinearPolicy:
        """A copy with new parameters (same features and radius)."""
        return ConditionalLogLinearPolicy(self.n_states, self.action_sizes, self.features, thetas, self.radius)

    @property
    def n_agents(self) -> int:
        return len(self.action_sizes)

    def logits(self, m: int) -> np.ndarray:
        r"""Agent m's (m = 1..N) logits :math:`\phi(c,a)^\top\theta^m`, shape ``(n_ctx_m, A_m)``."""
        i = check_agent(m, self.n_agents) - 1
        return np.ascontiguousarray(self.features[i].logits(self.thetas[i]))

    def probs(self, m: int) -> np.ndarray:
        """Agent m's (m = 1..N) conditional probabilities, shape ``(n_ctx_m, A_m)`` (stable softmax)."""
        return kernels.softmax_rows(self.logits(m))

    def log_probs(self, m: int) -> np.ndarray:
        """Agent m's (m = 1..N) conditional log-probabilities, shape ``(n_ctx_m, A_m)``."""
        return kernels.log_softmax_rows(self.logits(m))

    def score(self, m: int) -> np.ndarray:
        r"""Agent m's (m = 1..N) score :math:`\nabla_{\theta^m}\log\pi(a|c) = \phi(c,a) - \sum_b \pi(b|c)\phi(c,b)`
        for every (c, a).

        Shape ``(n_ctx_m, A_m, d_m)``; for tabular features the nonzero block only, ``(n_ctx_m, A_m, A_m)``
        (entry ``[c, a, b]`` is the coordinate (c, b) of the score of action a in context c).
        """
        i = check_agent(m, self.n_agents) - 1
        f = self.features[i]
        if f.tabular:
            return kernels.tabular_softmax_score(self.logits(m))[1]
        return kernels.softmax_score(np.ascontiguousarray(f.dense()), self.thetas[i])[1]

    def tables(self) -> ConditionalTables:
        """The conditional probability tables of all agents."""
        tabs = tuple(self.probs(m) for m in range(1, self.n_agents + 1))
        return ConditionalTables(tabs, self.n_states, self.action_sizes)

    def sample(self, state: int, rng) -> tuple:
        r"""Sample a joint action sequentially: :math:`a^m \sim \pi^m(\cdot|s, \mathbf a^{1:m-1})`, m = 1..N."""
        rng = np.random.default_rng(rng)
        acts = []
        for m in range(1, self.n_agents + 1):
            c = context_index(state, acts, self.action_sizes)
            p = self.probs_row(m, c)
            acts.append(int(rng.choice(len(p), p=p)))
        return tuple(acts)

    def probs_row(self, m: int, c: int) -> np.ndarray:
        """Agent m's (m = 1..N) distribution in context c (computed from that context's logits only)."""
        i = check_agent(m, self.n_agents) - 1
        f = self.features[i]
        c = check_int(c, "context index c", 0, f.n_contexts - 1)
        if f.tabular:
            row = self.thetas[i][c * f.n_actions : (c + 1) * f.n_actions]
        elif isinstance(f, ArrayFeatures):
            row = f.phi[c] @ self.thetas[i]
        else:
            row = f.rows(np.full(f.n_actions, c), np.arange(f.n_actions)) @ self.thetas[i]
        return kernels.softmax_rows(np.ascontiguousarray(row.reshape(1, -1)))[0]

    def __repr__(self):
        kinds = ", ".join(repr(f) for f in self.features)
        return (
            f"ConditionalLogLinearPolicy(S={self.n_states}, A={self.action_sizes}, R={self.radius}, features=[{kinds}])"
        )


# ------------------------------------------------------------------------------------------------------------
# product (independent) policy
# ------------------------------------------------------------------------------------------------------------


class ProductPolicy:
    r"""Independent softmax policies :math:`\pi(\mathbf a|s) = \prod_m \mathrm{softmax}(\theta^m(s,\cdot))(a^m)`.

    ``logits`` lists agent 1..N's tables (position ``m - 1`` holds agent m's, shape ``(S, A_m)``); the methods take
    the book's m = 1..N. This class cannot represent a policy in which an agent's action depends
    on another agent's action in the same step (see the book's chapter on the parametrization).
    """

    def __init__(self, n_states, action_sizes, logits=None):
        self.n_states = int(n_states)
        self.action_sizes = tuple(int(a) for a in action_sizes)
        if logits is None:
            logits = [np.zeros((self.n_states, A)) for A in self.action_sizes]
        logits = list(logits)
        if len(logits) != len(self.action_sizes):
            raise MappoLiteError(f"need one logit table per agent ({len(self.action_sizes)}), got {len(logits)}")
        out = []
        for m, (L, A) in enumerate(zip(logits, self.action_sizes)):
            L = np.array(L, dtype=np.float64)
            if L.shape != (self.n_states, A):
                raise MappoLiteError(f"logits of agent {m + 1} must have shape {(self.n_states, A)}, got {L.shape}")
            if not np.all(np.isfinite(L)):
                raise MappoLiteError(f"logits of agent {m + 1} contain NaN or infinite values")
            out.append(np.ascontiguousarray(L))
        self.logit_tables = out

    @classmethod
    def for_game(cls, game, logits=None):
        return cls(game.n_states, game.action_sizes, logits)

    @classmethod
    def from_probs(cls, n_states, action_sizes, probs, floor=1e-300):
        """The product policy with the given per-agent tables ``probs[m]`` (S, A_m) (logits = log probs)."""
        return cls(n_states, action_sizes, [np.log(np.maximum(np.asarray(p, float), floor)) for p in probs])

    @property
    def n_agents(self) -> int:
        return len(self.action_sizes)

    def probs(self, m: int) -> np.ndarray:
        """Agent m's (m = 1..N) policy :math:`\\pi^m(a|s)`, shape ``(S, A_m)``."""
        return kernels.softmax_rows(self.logit_tables[check_agent(m, self.n_agents) - 1])

    def tables(self) -> ConditionalTables:
        """As conditional tables: agent m's row is repeated for every prefix of earlier agents' actions."""
        tabs = []
        rep = 1
        for m, A in enumerate(self.action_sizes, start=1):
            tabs.append(np.ascontiguousarray(np.repeat(self.probs(m), rep, axis=0)))
            rep *= A
        return ConditionalTables(tuple(tabs), self.n_states, self.action_sizes)

    def sample(self, state: int, rng) -> tuple:
        rng = np.random.default_rng(rng)
        return tuple(int(rng.choice(A, p=self.probs(m)[state])) for m, A in enumerate(self.action_sizes, start=1))

    def __repr__(self):
        return f"ProductPolicy(S={self.n_states}, A={self.action_sizes})"
