"""Our exact results against an outside reference: QuantEcon's ``DiscreteDP`` on the joint-action MDP.

The joint-action MDP of a game (``game.as_single_agent()``) is handed to ``DiscreteDP(R, Q, beta)`` with
``R = r_flat`` (S, |A|), ``Q = P_flat`` (S, |A|, S) and ``beta = gamma``. Its policy iteration gives v* and J* =
rho.v*; its ``evaluate_policy`` the value of a deterministic joint policy sigma (S,). Both must agree with
``optimal_value`` and ``evaluate`` to 1e-8.

Stopping games (gamma = 1, rows of P summing to less than 1): DiscreteDP needs beta < 1 and stochastic rows, so we
use the absorbing-state trick. With c = the largest row sum of P (< 1), beta = c, Q' = P / c on the original
states and the missing mass 1 - rowsum / c sent to an extra absorbing state with reward 0: then beta Q' = P on the
original states and the absorbing state's value is 0, so the Bellman equations are exactly ours.

quantecon is a test-only dependency (requirements.txt); the module is skipped when it is not installed.
"""

from __future__ import annotations

import numpy as np
import pytest

from mappo_lite import evaluate, make_game, optimal_value
from mappo_lite.evaluation import joint_to_tables
from mappo_lite.games.dense import CooperativeMarkovGame
from tests.fixtures import GAME_CASES, make_random_game

quantecon_markov = pytest.importorskip("quantecon.markov", reason="quantecon (a test-only dependency) is not installed")
DiscreteDP = quantecon_markov.DiscreteDP

TOL = 1e-8


def to_discrete_dp(game):
    """``(ddp, n_states)``: the joint-action MDP as a DiscreteDP (with the absorbing state for gamma = 1)."""
    joint = game.as_single_agent()
    R, Q = np.array(joint.r_flat), np.array(joint.P_flat)
    S, J = R.shape
    if game.gamma < 1.0:
        return DiscreteDP(R, Q, game.gamma), S
    mass = Q.sum(axis=-1)
    c = float(mass.max())
    assert c < 1.0
    Q2 = np.zeros((S + 1, J, S + 1))
    Q2[:S, :, :S] = Q / c
    Q2[:S, :, S] = 1.0 - mass / c
    Q2[S, :, S] = 1.0
    R2 = np.vstack([R, np.zeros((1, J))])
    return DiscreteDP(R2, Q2, c), S


def _stopping_game(seed=0, S=5, sizes=(2, 3)):
    rng = np.random.default_rng(seed)
    shape = (S,) + tuple(sizes)
    P = rng.dirichlet(np.ones(S), size=shape) * (1.0 - rng.uniform(0.05, 0.5, size=shape))[..., None]
    return CooperativeMarkovGame(P, rng.standard_normal(shape), 1.0, name=f"stopping{seed}")


GAMES = {
    "climbing": lambda: make_game("climbing"),
    "penalty k=-50": lambda: make_game("penalty", k=-50),
    "two_step": lambda: make_game("two_step"),
    "gridworld 3x3": lambda: make_game("gridworld"),
    "gridworld 3x2, 3 agents, gamma=0.95": lambda: make_game("gridworld", width=3, height=2, n_agents=3, gamma=0.95),
    "ratio (gamma=1)": lambda: make_game("ratio"),
    "stopping game (gamma=1)": _stopping_game,
    **{f"random {i}": (lambda c=c: make_random_game(c)) for i, c in enumerate(GAME_CASES)},
}


@pytest.mark.parametrize("name", list(GAMES))
def test_optimal_value_matches_discrete_dp(name):
    game = GAMES[name]()
    ddp, S = to_discrete_dp(game)
    ours = optimal_value(game)
    for method in ("policy_iteration", "modified_policy_iteration"):
        kw = {"epsilon": 1e-12} if method == "modified_policy_iteration" else {}
        theirs = ddp.solve(method=method, **kw)
        np.testing.assert_allclose(ours.V_star, theirs.v[:S], atol=TOL, rtol=0, err_msg=method)
        assert abs(ours.J_star - float(game.rho @ theirs.v[:S])) < TOL
    # and the greedy policy DiscreteDP found is optimal for us too
    sigma = ddp.solve(method="policy_iteration").sigma[:S]
    pi = np.zeros((S, game.n_joint_actions))
    pi[np.arange(S), sigma] = 1.0
    assert abs(evaluate(game, joint_to_tables(game, pi)).J - ours.J_star) < TOL
    if "optimum" in game.meta:
        assert abs(ours.J_star - game.meta["optimum"]) < TOL


@pytest.mark.parametrize("name", list(GAMES))
def test_deterministic_joint_policies_match_discrete_dp(name):
    """The value of deterministic joint policies: every one for one-state games, 12 random ones otherwise."""
    game = GAMES[name]()
    ddp, S = to_discrete_dp(game)
    J = game.n_joint_actions
    if S == 1:
        sigmas = [np.array([j]) for j in range(J)]
    else:
        rng = np.random.default_rng(S * J)
        sigmas = [rng.integers(0, J, S) for _ in range(12)]
    for sigma in sigmas:
        full = np.concatenate([sigma, np.zeros(ddp.num_states - S, dtype=sigma.dtype)])
        v_theirs = ddp.evaluate_policy(full)[:S]
        pi = np.zeros((S, J))
        pi[np.arange(S), sigma] = 1.0
        ev = evaluate(game, joint_to_tables(game, pi))
        np.testing.assert_allclose(ev.V, v_theirs, atol=TOL, rtol=0)
        assert abs(ev.J - float(game.rho @ v_theirs)) < TOL


def test_absorbing_state_trick_is_exact_on_the_ratio_game():
    """The ratio game's closed form V(x, y) = xRy / xSy for pure strategies, through DiscreteDP."""
    from mappo_lite.games.catalogue import RATIO_R, RATIO_S

    game = make_game("ratio")
    ddp, _ = to_discrete_dp(game)
    for a1 in range(2):
        for a2 in range(2):
            v = ddp.evaluate_policy(np.array([a1 * 2 + a2, 0]))[0]
            assert v == pytest.approx(RATIO_R[a1, a2] / RATIO_S[a1, a2], abs=TOL)


def test_sparse_game_matches_discrete_dp_sparse_form():
    """A sparse game (successor lists) against DiscreteDP's state-action-pair form with a SciPy sparse Q."""
    import scipy.sparse as sp

    from mappo_lite.games.sparse import sparse_from_dense

    dense = make_game("gridworld", width=3, height=3, n_agents=2, slip=0.2, gamma=0.9)
    game = sparse_from_dense(dense)
    S, J = game.n_states, game.n_joint_actions
    nxt, pr = game.flat_successors()
    rows = np.repeat(np.arange(S * J), nxt.shape[-1])
    Q = sp.csr_matrix((pr.reshape(-1), (rows, nxt.reshape(-1))), shape=(S * J, S))
    s_idx, a_idx = np.repeat(np.arange(S), J), np.tile(np.arange(J), S)
    ddp = DiscreteDP(game.r_flat.reshape(-1), Q, game.gamma, s_idx, a_idx)
    theirs = ddp.solve(method="policy_iteration")
    np.testing.assert_allclose(optimal_value(game).V_star, theirs.v, atol=TOL, rtol=0)
