r"""Compact feature maps :math:`\phi^m(s,\mathbf a^{1:m-1},a^m)\in\mathbb R^{d_m}`, :math:`\|\phi\|_2\le 1`: the
families the book trains with, and the callable form that never stores a feature array.

Every feature map has ``n_contexts``, ``n_actions``, ``dim``, ``tabular`` (False here), ``logits(theta)`` (the
``(n_ctx, A)`` logits :math:`\phi(c,a)^\top\theta` of every context) and ``rows(contexts, actions)`` (the ``(T, d)``
feature rows of T samples). A context :math:`c = (s,\mathbf a^{1:m-1})` is flattened as in
:mod:`mappo_lite.policies` (state most significant, then agent 1's action, …).

:class:`CallableFeatures`
    A vectorized user function ``fn(states, prefix, actions) -> (T, d)`` (``prefix`` has shape (T, m-1)). The
    norm condition is checked once, at construction, over every (context, action) — in chunks, so a
    :math:`10^4`-state game never holds its feature array — and ``normalize=True`` instead divides every row by
    the largest row norm (one constant, so the class of policies is unchanged; only the radius R is rescaled).
:func:`aggregated_features`
    One-hot of :math:`(g(s),\mathbf a^{1:m-1},a^m)` for a state aggregation :math:`g:S\to\{0..G-1\}`:
    :math:`d_m = G\prod_{i\le m}A_i`. It represents exactly the policies that are constant on the blocks of g, and
    it is *realizable* (every :math:`Q^{1:m}_{\pi_k}` lies in its span) when g is an exact aggregation of the game
    (:func:`lifted_game`: states of a block have the same rewards and the same transition law onto blocks).
:func:`product_features`
    One-hot of :math:`(s,a^m)`, blind to the predecessors: :math:`d_m = S A_m`. It represents every *product*
    policy and nothing else; MA-PPO's step with it is the σ-weighted projection of :math:`Q^{1:m}` onto functions
    of :math:`(s,a^m)`, i.e. agent m's *marginal* Q (the independent learner's target).
:func:`match_features`
    Product features plus, for every predecessor i < m, the indicator :math:`\mathbf 1\{a^m = a^i\}` ("copy agent
    i"): :math:`d_m = S A_m + (m-1)` for equal action sets. A conditional class with one extra parameter per
    predecessor.
:func:`pairwise_features`
    Product features plus the one-hot of (previous agent's action, own action), state-blind:
    :math:`d_m = SA_m + A_{m-1}A_m`. A compact conditional class whose expressiveness depends on the agent order.
:func:`gridworld_features`
    For :func:`mappo_lite.gridworld.gridworld_successors` games: :math:`\phi = e_{a^m}\otimes\psi(s,\mathbf
    a^{1:m-1})/\|\psi\|_{\max}` with ψ = [1, the agents' coordinates, every agent's offset to every goal
    (signs, and whether it is zero), the one-hot of each predecessor's action]. ``prefix=False`` drops the last
    block (the features an independent learner can use).
"""

from __future__ import annotations

import numpy as np

from .errors import MappoLiteError
from .features import NORM_TOL, ArrayFeatures, TabularFeatures
from .policies import context_counts

#: Rows per chunk when a callable feature map is evaluated over every context.
CHUNK_ROWS = 65536


def decode_contexts(contexts, n_states: int, action_sizes, m: int):
    r"""``(states, prefix)`` of flat context indices of agent m (1-based): ``prefix`` has shape (T, m-1)."""
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

    def __init__(self, fn, n_states: int, action_sizes, m: int, dim: int, normalize: bool = False,
                 name: str = "features"):
        if not callable(fn):
            raise MappoLiteError(f"{name}: fn must be callable")
        self.fn = fn
        self.n_states = int(n_states)
        self.action_sizes = tuple(int(a) for a in action_sizes)
        self.m = int(m)
        if not 1 <= self.m <= len(self.action_sizes):
            raise MappoLiteError(f"{name}: agent index m must be in 1..{len(self.action_sizes)}, got {m}")
        self.n_contexts = context_counts(self.n_states, self.action_sizes)[self.m - 1]
        self.n_actions = self.action_sizes[self.m - 1]
        self._dim = int(dim)
        if self._dim < 1:
            raise MappoLiteError(f"{name}: dimension must be at least 1, got {dim}")
        self.name = name
        self.scale = 1.0
        largest = self._largest_norm()
        if largest > 1.0 + NORM_TOL:
            if not normalize:
                raise MappoLiteError(f"{name}: rows must have norm at most 1 (largest is {largest:.6g}); "
                                     "pass normalize=True to divide them by it")
            self.scale = 1.0 / largest
        self.max_norm = largest * self.scale

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
        A = int(tuple(action_sizes)[int(m) - 1])

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


# ----- families ----------------------------------------------------------------------------------------------
def _one_hot_features(index_fn, n_states, action_sizes, m, dim, name):
    def fn(s, prefix, a):
        out = np.zeros((s.shape[0], dim))
        out[np.arange(s.shape[0]), index_fn(s, prefix, a)] = 1.0
        return out

    return CallableFeatures(fn, n_states, action_sizes, m, dim, name=name)


def aggregated_features(game, blocks) -> list:
    r"""One feature map per agent: one-hot of :math:`(g(s),\mathbf a^{1:m-1},a^m)` with ``blocks[s]`` = g(s) in
    0..G-1 (see the module docstring); :math:`d_m = G\prod_{i\le m}A_i`."""
    g = np.asarray(blocks, dtype=np.int64)
    if g.shape != (game.n_states,) or g.min() < 0:
        raise MappoLiteError(f"blocks must give a non-negative block index for each of the {game.n_states} states")
    G = int(g.max()) + 1
    sizes = game.action_sizes
    out = []
    for m in range(1, game.n_agents + 1):
        A = sizes[m - 1]
        n_pre = int(np.prod(sizes[: m - 1], dtype=np.int64))

        def index(s, prefix, a, A=A, m=m):
            c = g[s]
            for i in range(m - 1):
                c = c * sizes[i] + prefix[:, i]
            return c * A + a

        out.append(_one_hot_features(index, game.n_states, sizes, m, G * n_pre * A, f"aggregated(G={G})"))
    return out


def product_features(game) -> list:
    r"""One-hot of :math:`(s, a^m)` for every agent (blind to predecessors), :math:`d_m = S A_m`."""
    sizes = game.action_sizes
    return [_one_hot_features(lambda s, prefix, a, A=A: s * A + a, game.n_states, sizes, m, game.n_states * A,
                              "product") for m, A in enumerate(sizes, start=1)]


def match_features(game) -> list:
    r"""Product features plus :math:`\mathbf 1\{a^m=a^i\}` for each predecessor i (scaled so that ‖φ‖ ≤ 1);
    :math:`d_m = S A_m + m - 1`."""
    sizes = game.action_sizes
    out = []
    for m, A in enumerate(sizes, start=1):
        dim = game.n_states * A + m - 1
        w = 1.0 / np.sqrt(m)  # one-hot (norm 1) plus up to m-1 indicators: norm <= sqrt(m), scaled to 1

        def fn(s, prefix, a, A=A, m=m, dim=dim, w=w):
            out = np.zeros((s.shape[0], dim))
            out[np.arange(s.shape[0]), s * A + a] = w
            for i in range(m - 1):
                out[:, game.n_states * A + i] = w * (prefix[:, i] == a)
            return out

        out.append(CallableFeatures(fn, game.n_states, sizes, m, dim, name="match"))
    return out


def pairwise_features(game) -> list:
    r"""One-hot of :math:`(s,a^m)` plus one-hot of :math:`(a^{m-1},a^m)` (the previous agent's action and one's own,
    whatever the state), each scaled by :math:`1/\sqrt2`: agent m's logit is :math:`u(s,a^m)+v(a^{m-1},a^m)`,
    :math:`d_m = S A_m + A_{m-1}A_m` (agent 1: product features only)."""
    sizes = game.action_sizes
    S = game.n_states
    out = []
    for m, A in enumerate(sizes, start=1):
        if m == 1:
            out.append(product_features(game)[0])
            continue
        Ap = sizes[m - 2]
        dim = S * A + Ap * A
        w = 1.0 / np.sqrt(2.0)

        def fn(s, prefix, a, A=A, dim=dim, w=w):
            out = np.zeros((s.shape[0], dim))
            out[np.arange(s.shape[0]), s * A + a] = w
            out[np.arange(s.shape[0]), S * A + prefix[:, -1] * A + a] = w
            return out

        out.append(CallableFeatures(fn, S, sizes, m, dim, name="pairwise"))
    return out


def gridworld_features(game, prefix: bool = True) -> list:
    r"""The gridworld family of the module docstring (``game.meta`` must hold the gridworld's ``width``,
    ``height``, ``n_agents`` and ``goals``). Agent m's dimension is :math:`A_m\,d_\psi` with
    :math:`d_\psi = 1 + 2N + 4NG + 5(m-1)` (``prefix=False``: without the last term)."""
    meta = game.meta
    try:
        W, H, N, goals = int(meta["width"]), int(meta["height"]), int(meta["n_agents"]), tuple(meta["goals"])
    except (KeyError, TypeError):
        raise MappoLiteError("gridworld_features needs a gridworld game (meta with width, height, n_agents, goals)") from None
    cells = W * H
    sizes = game.action_sizes
    G = len(goals)
    goal_rc = np.asarray(goals, dtype=np.int64)  # (G, 2)
    out = []
    for m, A in enumerate(sizes, start=1):
        n_pre = (m - 1) if prefix else 0
        d_psi = 1 + 2 * N + 4 * N * G + 5 * n_pre
        # the largest possible ||psi||^2: 1 + coordinates in [-1, 1] (2N) + 4 entries in [-1, 1] per agent and goal
        # (two signs, two indicators) + one 1 per predecessor block
        bound = np.sqrt(1 + 2 * N + 4 * N * G + n_pre)

        def psi_fn(s, pre, d_psi=d_psi, n_pre=n_pre, bound=bound):
            T = s.shape[0]
            psi = np.zeros((T, d_psi))
            psi[:, 0] = 1.0
            col = 1
            for i in range(N):
                cell = (s // cells ** (N - 1 - i)) % cells
                r, c = cell // W, cell % W
                psi[:, col] = 2.0 * r / max(H - 1, 1) - 1.0
                psi[:, col + 1] = 2.0 * c / max(W - 1, 1) - 1.0
                col += 2
                for gr, gc in goal_rc:
                    dr, dc = gr - r, gc - c
                    psi[:, col] = np.sign(dr)
                    psi[:, col + 1] = np.sign(dc)
                    psi[:, col + 2] = dr == 0
                    psi[:, col + 3] = dc == 0
                    col += 4
            for i in range(n_pre):
                psi[np.arange(T), col + pre[:, i]] = 1.0
                col += 5
            return psi / bound

        out.append(ActionBlockFeatures(psi_fn, game.n_states, sizes, m, d_psi,
                                       name="gridworld" + ("" if prefix else "-noprefix")))
    return out


def lifted_game(game, copies, seed=0):
    r"""An exact lift of a dense game: base state b becomes ``copies[b]`` states (an int: the same for every b)
    with the rewards of b; from any copy of b, :math:`P(s'|s,\mathbf a)` spreads the base probability of reaching
    b' over the copies of b' with seeded random positive weights; ρ likewise. Returns ``(lifted game, blocks)``,
    ``blocks[s]`` = the base state of s. Policies constant on blocks have the same :math:`Q^{1:m}` as in the base
    game on every copy, and :math:`J^\star` is the base game's."""
    from .games import CooperativeMarkovGame

    S = game.n_states
    cp = np.full(S, int(copies)) if np.ndim(copies) == 0 else np.asarray(copies, dtype=np.int64)
    if cp.shape != (S,) or cp.min() < 1:
        raise MappoLiteError(f"copies must be a positive int or one positive int per state ({S})")
    rng = np.random.default_rng(seed)
    blocks = np.repeat(np.arange(S), cp)
    n = blocks.shape[0]
    split = rng.random(n) + 0.5  # weights of the copies within a block
    split /= np.bincount(blocks, weights=split)[blocks]
    P = game.P_flat[blocks][:, :, blocks] * split[None, None, :]  # (n, |A|, n)
    r = game.r_flat[blocks]
    rho = game.rho[blocks] * split
    shape = game.action_sizes
    lifted = CooperativeMarkovGame(P.reshape((n,) + shape + (n,)), r.reshape((n,) + shape), game.gamma, rho,
                                   name=f"{game.name}[lifted x{n}/{S}]", meta={"base": game.name})
    return lifted, blocks


#: Feature family names accepted by :func:`resolve_features` (and so by ``ma_ppo(features=...)``).
FAMILIES = ("tabular", "product", "match", "pairwise", "gridworld", "gridworld-noprefix", "random:D")


def resolve_features(game, spec, seed=0):
    """A feature specification → ``"tabular"`` or a list of per-agent feature maps.

    ``spec`` is a family name of :data:`FAMILIES` (``"random:D"``: D seeded Gaussian features per agent, unit
    norm), or already a list (returned unchanged)."""
    if not isinstance(spec, str):
        return spec
    if spec == "tabular":
        return spec
    if spec == "product":
        return product_features(game)
    if spec == "match":
        return match_features(game)
    if spec == "pairwise":
        return pairwise_features(game)
    if spec in ("gridworld", "gridworld-noprefix"):
        return gridworld_features(game, prefix=spec == "gridworld")
    if spec.startswith("random:"):
        from .features import random_features

        try:
            D = int(spec.split(":", 1)[1])
        except ValueError:
            raise MappoLiteError(f"random features need a dimension, e.g. 'random:8', got {spec!r}") from None
        rng = np.random.default_rng(seed)
        counts = context_counts(game.n_states, game.action_sizes)
        return [random_features(c, A, D, rng) for c, A in zip(counts, game.action_sizes)]
    raise MappoLiteError(f"unknown features {spec!r}: use one of {', '.join(FAMILIES)} or a list of feature maps")
