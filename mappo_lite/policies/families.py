r"""Feature families :math:`\phi^m(s,\mathbf a^{1:m-1},a^m)` for MA-PPO with compact log-linear policies
(the function-approximation chapter of the book), and :func:`resolve_features` (a family name → one feature map
per agent; ``ma_ppo(features=...)`` and the command line accept the names of :data:`FAMILIES`).

:func:`aggregated_features`
    One-hot of :math:`(g(s),\mathbf a^{1:m-1},a^m)` for a state aggregation :math:`g:S\to\{0..G-1\}`:
    :math:`d_m = G\prod_{i\le m}A_i`. It represents exactly the policies that are constant on the blocks of g, and
    it is *realizable* (every :math:`Q^{1:m}_{\pi_k}` lies in its span) when g is an exact aggregation of the game
    (:func:`mappo_lite.games.lifted.lifted_game`: states of a block have the same rewards and the same transition law onto blocks).
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
    For :func:`mappo_lite.games.gridworld.gridworld_successors` games: :math:`\phi = e_{a^m}\otimes\psi(s,\mathbf
    a^{1:m-1})/\|\psi\|_{\max}` with ψ = [1, the agents' coordinates, every agent's offset to every goal
    (signs, and whether it is zero), the one-hot of each predecessor's action]. ``prefix=False`` drops the last
    block (the features an independent learner can use).
"""

from __future__ import annotations

import numpy as np

from ..errors import MappoLiteError
from .conditional import context_counts
from .features import ActionBlockFeatures, CallableFeatures, random_features


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
    return [
        _one_hot_features(lambda s, prefix, a, A=A: s * A + a, game.n_states, sizes, m, game.n_states * A, "product")
        for m, A in enumerate(sizes, start=1)
    ]


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
        raise MappoLiteError(
            "gridworld_features needs a gridworld game (meta with width, height, n_agents, goals)"
        ) from None
    cells = W * H
    sizes = game.action_sizes
    G = len(goals)
    goal_rc = np.asarray(goals, dtype=np.int64)  # (G, 2)
    out = []
    for m, _A in enumerate(sizes, start=1):
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

        out.append(
            ActionBlockFeatures(
                psi_fn, game.n_states, sizes, m, d_psi, name="gridworld" + ("" if prefix else "-noprefix")
            )
        )
    return out


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
        try:
            D = int(spec.split(":", 1)[1])
        except ValueError:
            raise MappoLiteError(f"random features need a dimension, e.g. 'random:8', got {spec!r}") from None
        rng = np.random.default_rng(seed)
        counts = context_counts(game.n_states, game.action_sizes)
        return [random_features(c, A, D, rng) for c, A in zip(counts, game.action_sizes)]
    raise MappoLiteError(f"unknown features {spec!r}: use one of {', '.join(FAMILIES)} or a list of feature maps")
