r"""Built-in cooperative games, each with its citation and known optimum :math:`J^\star` in ``game.meta``.

Matrix games are one-state games with :math:`\gamma = 0` (one step: :math:`J = \mathbb E_\pi r`); their payoff
matrices are written with **rows = agent 1's action, columns = agent 2's action** (some public code stores the
transpose; :meth:`~mappo_lite.games.CooperativeMarkovGame.relabel_agents` swaps the roles).

=============  ==========================================================  ==================================
name           game                                                        J*
=============  ==========================================================  ==================================
climbing       Claus & Boutilier (1998), [[11,-30,0],[-30,7,6],[0,0,5]]     11 at (a, a)
penalty        Claus & Boutilier (1998), [[10,0,k],[0,2,0],[k,0,10]], k≤0   10 at (a, a) and (c, c)
ratio          von Neumann's ratio game (the paper's App. E experiment)        1 at (0, 0)
two_step       the two-step game of Rashid et al. (2018, QMIX)               0.99·8 via state 2B
random         Dirichlet transitions, U[0,1] rewards, seeded               computed (policy iteration)
gridworld      two goals, all agents must meet on the same one             computed (policy iteration)
=============  ==========================================================  ==================================
"""

from __future__ import annotations

import inspect
import math
import os

import numpy as np

from .._validate import check_count, check_positive, check_real
from ..errors import MappoLiteError
from .base import MarkovGameBase
from .dense import CooperativeMarkovGame
from .io import load_game

#: Climbing game payoffs (rows = agent 1).
CLIMBING = np.array([[11.0, -30.0, 0.0], [-30.0, 7.0, 6.0], [0.0, 0.0, 5.0]])


#: Two-step game (Rashid et al. 2018): payoffs of state 2A and 2B (rows = agent 1).
TWO_STEP_2A = np.full((2, 2), 7.0)
TWO_STEP_2B = np.array([[0.0, 1.0], [1.0, 8.0]])

#: The ratio game (the paper's Appendix E, Figure 1): per-step reward :math:`R[a^1, a^2]` and per-step stopping
#: probability :math:`S[a^1, a^2]` (rows = agent 1's action), so that :math:`V(x, y) = x^\top R y / x^\top S y`.
RATIO_R = np.array([[1.0, 0.5], [-0.5, 0.0]], dtype=np.float64)
RATIO_S = np.array([[1.0, 1.0], [0.1, 0.1]], dtype=np.float64)

for _arr in (CLIMBING, TWO_STEP_2A, TWO_STEP_2B, RATIO_R, RATIO_S):
    _arr.flags.writeable = False


def matrix_game(payoff, name="matrix", meta=None) -> CooperativeMarkovGame:
    """A one-shot cooperative matrix game: one state, ``gamma = 0``, reward ``payoff[a¹, a², …]``."""
    payoff = np.asarray(payoff, dtype=np.float64)
    if payoff.ndim < 1:
        raise MappoLiteError("payoff must have one axis per agent")
    r = payoff[None, ...]
    P = np.ones(r.shape + (1,))
    return CooperativeMarkovGame(P, r, 0.0, name=name, meta=dict(meta or {}))


def climbing() -> CooperativeMarkovGame:
    """The climbing game of Claus & Boutilier (1998)."""
    return matrix_game(
        CLIMBING,
        "climbing",
        {
            "citation": "Claus & Boutilier (1998), The dynamics of reinforcement learning in cooperative multiagent systems",
            "optimum": 11.0,
            "optimal_actions": [(0, 0)],
            "equilibria": {"(a,a)": 11.0, "(b,b)": 7.0},
            "orientation": "rows = agent 1's action",
        },
    )


def penalty(k: float = -10.0) -> CooperativeMarkovGame:
    """The penalty game of Claus & Boutilier (1998) with penalty ``k <= 0``."""
    k = check_real(k, "penalty k", -math.inf, 0.0)
    payoff = np.array([[10.0, 0.0, k], [0.0, 2.0, 0.0], [k, 0.0, 10.0]])
    return matrix_game(
        payoff,
        "penalty",
        {
            "citation": "Claus & Boutilier (1998)",
            "optimum": 10.0,
            "optimal_actions": [(0, 0), (2, 2)],
            "k": k,
            "orientation": "rows = agent 1's action",
        },
    )


def ratio() -> CooperativeMarkovGame:
    r"""von Neumann's ratio game as a one-state stopping game (the paper's App. E; chapter 7 of the book).

    Each step earns :math:`R[a^1,a^2]` and stops with probability :math:`S[a^1,a^2]`, so with
    :math:`\gamma = 1`, :math:`V(x,y) = x^\top R y / x^\top S y` exactly.
    """
    P = (1.0 - RATIO_S)[None, :, :, None]
    return CooperativeMarkovGame(
        P,
        RATIO_R[None],
        1.0,
        name="ratio",
        meta={
            "citation": "von Neumann (1945); the experiment of Zhao, Yang, Wang, Lee (2023), App. E",
            "optimum": 1.0,
            "optimal_actions": [(0, 0)],
            "pure_values": {"(0,0)": 1.0, "(0,1)": 0.5, "(1,0)": -5.0, "(1,1)": 0.0},
            "uniform_value": 5.0 / 11.0,
        },
    )


def two_step(gamma: float = 0.99) -> CooperativeMarkovGame:
    r"""The two-step game of Rashid et al. (2018): agent 1's first action picks state 2A (payoff 7 whatever happens)
    or 2B (payoffs [[0,1],[1,8]]); the episode then ends in an absorbing zero-reward state.

    States: 0 start, 1 = 2A, 2 = 2B, 3 = end. With discount γ the optimum is γ·8 (via 2B and joint action (1,1)).
    """
    P = np.zeros((4, 2, 2, 4))
    P[0, 0, :, 1] = 1.0
    P[0, 1, :, 2] = 1.0
    P[1:, :, :, 3] = 1.0
    r = np.zeros((4, 2, 2))
    r[1] = TWO_STEP_2A
    r[2] = TWO_STEP_2B
    rho = np.array([1.0, 0.0, 0.0, 0.0])
    g = float(gamma)
    return CooperativeMarkovGame(
        P,
        r,
        g,
        rho,
        name="two_step",
        meta={
            "citation": "Rashid et al. (2018), QMIX, the two-step game",
            "optimum": g * 8.0,
            "state_labels": ["start", "2A", "2B", "end"],
        },
    )


def random_game(
    n_states: int = 5, n_agents: int = 2, n_actions=3, gamma: float = 0.9, seed=0, concentration: float = 1.0
) -> CooperativeMarkovGame:
    r"""A seeded random game: :math:`P(\cdot|s,\mathbf a)\sim\mathrm{Dirichlet}(\alpha\mathbf 1)`, :math:`r\sim U[0,1]`.

    ``n_actions`` is an int (every agent) or a list of per-agent sizes; ``seed`` an int or ``numpy.random.Generator``.
    """
    S, N = check_count(n_states, "n_states"), check_count(n_agents, "n_agents")
    if np.ndim(n_actions) == 0:
        sizes = [check_count(n_actions, "n_actions")] * N
    else:
        sizes = [check_count(a, "n_actions of each agent") for a in n_actions]
        if len(sizes) != N:
            raise MappoLiteError(f"n_actions must be one positive int or one per agent ({N}), got {n_actions}")
    concentration = check_positive(concentration, "concentration")
    rng = np.random.default_rng(seed)
    shape = (S, *sizes)
    P = rng.dirichlet(np.full(S, float(concentration)), size=shape)
    r = rng.random(shape)
    return CooperativeMarkovGame(P, r, gamma, name=f"random(S={S},N={N},A={sizes})", meta={"seed": repr(seed)})


def gridworld(
    width: int = 3,
    height: int = 3,
    n_agents: int = 2,
    slip: float = 0.1,
    gamma: float = 0.9,
    sparse: bool = False,
    **kwargs,
):
    """The coordination gridworld of :mod:`mappo_lite.gridworld`: a dense game, or with ``sparse=True`` a
    :class:`~mappo_lite.sparse_games.SparseCooperativeMarkovGame` that never builds the dense tensor."""
    from . import gridworld as gw

    if sparse:
        from .sparse import SparseCooperativeMarkovGame

        spec = gw.gridworld_successors(width=width, height=height, n_agents=n_agents, slip=slip, gamma=gamma, **kwargs)
        return SparseCooperativeMarkovGame(
            spec["next_states"],
            spec["probs"],
            spec["r"],
            spec["gamma"],
            spec["rho"],
            name="gridworld",
            meta=dict(spec.get("meta", {})),
        )
    spec = gw.gridworld(width=width, height=height, n_agents=n_agents, slip=slip, gamma=gamma, **kwargs)
    meta = dict(spec.get("meta", {}))
    return CooperativeMarkovGame(spec["P"], spec["r"], spec["gamma"], spec["rho"], name="gridworld", meta=meta)


#: name → factory. Each factory's keyword arguments are the game's parameters.
GAMES = {
    "climbing": climbing,
    "penalty": penalty,
    "ratio": ratio,
    "two_step": two_step,
    "random": random_game,
    "gridworld": gridworld,
}


def game_parameters(name: str) -> dict:
    """The parameters of a built-in game with their defaults."""
    factory = _factory(name)
    return {k: v.default for k, v in inspect.signature(factory).parameters.items() if v.default is not inspect._empty}


def _factory(name: str):
    try:
        return GAMES[name]
    except KeyError:
        raise MappoLiteError(f"unknown game {name!r}; built-in games: {', '.join(GAMES)}") from None


def make_game(name: str, **params) -> CooperativeMarkovGame:
    """Build a built-in game by name, e.g. ``make_game("penalty", k=-50)``. Unknown parameters are an error."""
    factory = _factory(name)
    allowed = game_parameters(name)
    extra = set(params) - set(allowed) - ({"goals", "start", "lone_reward"} if name == "gridworld" else set())
    if extra:
        raise MappoLiteError(f"game {name!r} has no parameter(s) {sorted(extra)}; it takes {sorted(allowed)}")
    game = factory(**params)
    if "optimum" not in game.meta:
        from ..evaluation import optimal_value

        game.meta["optimum"] = optimal_value(game).J_star
        game.meta.setdefault("optimum_source", "computed by policy iteration")
    return game


def get_game(spec, **params) -> CooperativeMarkovGame:
    """A game from a built-in name or a path to an ``.npz`` file (the CLI's ``GAME`` argument)."""
    if isinstance(spec, MarkovGameBase):
        return spec
    spec = os.fspath(spec)
    if spec in GAMES:
        return make_game(spec, **params)
    if spec.endswith(".npz") or os.path.sep in spec or os.path.exists(spec):
        if params:
            raise MappoLiteError("game parameters apply to built-in games only, not to .npz files")
        return load_game(spec)
    raise MappoLiteError(f"unknown game {spec!r}: give a built-in name ({', '.join(GAMES)}) or a path to a .npz file")
