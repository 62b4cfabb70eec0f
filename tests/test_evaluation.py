"""Exact evaluation against independent brute-force computations (digest §1-§2).

Every expected value here is computed in the test (``conftest.py``) without the library's evaluation code:
joint policies by enumeration, V by iterating the Bellman operator, d_pi by its power series, Q^{1:m} by summing
over the later agents' actions, J* by value iteration with explicit loops.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mappo_lite import (
    ConditionalLogLinearPolicy,
    MappoLiteError,
    ProductPolicy,
    evaluate,
    make_game,
    matrix_game,
    multi_agent_q,
    optimal_value,
    performance_difference_terms,
)
from mappo_lite.games.catalogue import CLIMBING
from tests.fixtures import (
    GAME_CASES,
    brute_joint,
    brute_P_r,
    brute_Q,
    brute_q_local,
    case_id,
    chain_rule_tables,
    cond_tables,
    iterative_V,
    joint_actions,
    make_random_game,
    occupancy_series,
    product_to_conditional,
    random_loglinear,
    random_product_probs,
    value_iteration_J_star,
)

# Values here are O(max|r| / (1 - gamma)) <= 20 (rewards in [0, 1], gamma <= 0.95): 1e-10 is ~2e4 ulps of that
# scale, headroom for a solve or an iteration on any BLAS kernel / SIMD path, far below any real discrepancy.
TOL = 1e-10

cases = pytest.mark.parametrize("case", GAME_CASES, ids=[case_id(c) for c in GAME_CASES])


@pytest.fixture(scope="module", params=GAME_CASES, ids=[case_id(c) for c in GAME_CASES])
def setting(request):
    """A random game, a random conditional log-linear policy on it, its tables and the brute-force values."""
    case = request.param
    game = make_random_game(case)
    rng = np.random.default_rng(1000 + case[0])
    policy = random_loglinear(game, rng)
    tabs = cond_tables([policy.probs(m) for m in range(1, game.n_agents + 1)], game)
    joint = brute_joint(game, tabs)
    V = iterative_V(game, joint)
    Q = brute_Q(game, V)
    return dict(game=game, policy=policy, tabs=tabs, joint=joint, V=V, Q=Q, ev=evaluate(game, policy), rng=rng)


# ------------------------------------------------------------------------------------------------------------
# V, Q, J, P_pi, r_pi
# ------------------------------------------------------------------------------------------------------------


def test_policy_is_not_trivial(setting):
    """Guard: the random policies really are non-uniform and condition on the prefix (N >= 2)."""
    game, tabs = setting["game"], setting["tabs"]
    assert np.max(np.abs(tabs[0] - 1.0 / game.action_sizes[0])) > 0.05
    last = tabs[-1]
    if game.action_sizes[-2] > 1 and game.action_sizes[-1] > 1:
        # the last agent's distribution changes with the previous agent's action
        assert np.max(np.abs(np.diff(last, axis=-2))) > 0.01


def test_joint_policy_matches_enumeration(setting):
    ev, game = setting["ev"], setting["game"]
    # probabilities: ~450 ulps of 1
    np.testing.assert_allclose(ev.pi_joint.reshape(setting["joint"].shape), setting["joint"], atol=1e-13)
    np.testing.assert_allclose(ev.pi_joint.sum(axis=1), 1.0, atol=1e-12)
    P_pi, r_pi = brute_P_r(game, setting["joint"])
    np.testing.assert_allclose(ev.P_pi, P_pi, atol=1e-13)
    np.testing.assert_allclose(ev.r_pi, r_pi, atol=1e-13)


def test_V_solves_bellman_equation(setting):
    """V agrees with iterative policy evaluation, and satisfies V = r_pi + gamma P_pi V."""
    ev, game = setting["ev"], setting["game"]
    np.testing.assert_allclose(ev.V, setting["V"], atol=TOL, rtol=0)
    P_pi, r_pi = brute_P_r(game, setting["joint"])
    np.testing.assert_allclose(ev.V, r_pi + game.gamma * P_pi @ ev.V, atol=TOL, rtol=0)
    assert ev.J == pytest.approx(float(game.rho @ setting["V"]), abs=TOL)


def test_Q_matches_one_step_lookahead(setting):
    ev = setting["ev"]
    assert ev.Q.shape == setting["game"].r.shape
    np.testing.assert_allclose(ev.Q, setting["Q"], atol=TOL, rtol=0)


# ------------------------------------------------------------------------------------------------------------
# localized values, advantages, decomposition
# ------------------------------------------------------------------------------------------------------------


def test_q_local_matches_brute_force(setting):
    ev, game = setting["ev"], setting["game"]
    N = game.n_agents
    assert len(ev.q_local) == N + 1
    for m in range(N + 1):
        expected = brute_q_local(game, setting["tabs"], setting["Q"], m)
        assert ev.q_local[m].shape == (game.n_states,) + game.action_sizes[:m]
        np.testing.assert_allclose(ev.q_local[m], expected, atol=TOL, rtol=0, err_msg=f"Q^(1:{m})")
    np.testing.assert_allclose(ev.q_local[0], setting["V"], atol=TOL, rtol=0)
    np.testing.assert_allclose(ev.q_local[N], setting["Q"], atol=TOL, rtol=0)


def test_q_local_is_policy_average_of_next_level(setting):
    """Q^{1:m-1}(s, a^{1:m-1}) = sum_{a^m} pi^m(a^m|s, a^{1:m-1}) Q^{1:m}(s, a^{1:m}) for every m."""
    ev, tabs = setting["ev"], setting["tabs"]
    for m in range(1, setting["game"].n_agents + 1):
        averaged = (tabs[m - 1] * ev.q_local[m]).sum(axis=-1)
        np.testing.assert_allclose(ev.q_local[m - 1], averaged, atol=TOL, rtol=0)


def test_advantage_decomposition(setting):
    """sum_m A^m(s, a^{1:m-1}, a^m) = Q(s, a) - V(s) for every joint action."""
    ev, game = setting["ev"], setting["game"]
    N = game.n_agents
    total = np.zeros(game.r.shape)
    for m in range(1, N + 1):
        adv = ev.advantage(m)
        assert adv.shape == (game.n_states,) + game.action_sizes[:m]
        # independent definition A^m = Q^{1:m} - Q^{1:m-1}, with the brute-force localized values
        expected = (
            brute_q_local(game, setting["tabs"], setting["Q"], m)
            - brute_q_local(game, setting["tabs"], setting["Q"], m - 1)[..., None]
        )
        np.testing.assert_allclose(adv, expected, atol=TOL, rtol=0)
        total = total + adv.reshape(adv.shape + (1,) * (N - m))
    np.testing.assert_allclose(total, setting["Q"] - setting["V"].reshape((-1,) + (1,) * N), atol=TOL, rtol=0)
    # each agent's advantage has zero mean under its own conditional policy
    for m in range(1, N + 1):
        np.testing.assert_allclose((setting["tabs"][m - 1] * ev.advantage(m)).sum(axis=-1), 0.0, atol=TOL)


def test_advantage_rejects_bad_agent_index(setting):
    ev = setting["ev"]
    for bad in (0, setting["game"].n_agents + 1):
        with pytest.raises(MappoLiteError, match="agent index"):
            ev.advantage(bad)


# ------------------------------------------------------------------------------------------------------------
# nu, sigma, occupancy
# ------------------------------------------------------------------------------------------------------------


def test_occupancy_nu_sigma(setting):
    ev, game = setting["ev"], setting["game"]
    d = occupancy_series(game, setting["joint"])
    np.testing.assert_allclose(ev.occupancy, d, atol=1e-9, rtol=1e-10)
    assert d.sum() == pytest.approx(1.0 / (1.0 - game.gamma), rel=1e-10)
    assert ev.nu.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(ev.nu >= 0)
    np.testing.assert_allclose(ev.nu, (1.0 - game.gamma) * d, atol=1e-10)
    sigma = ev.sigma
    assert sigma.shape == game.r.shape
    # probabilities: ~450 ulps of 1
    np.testing.assert_allclose(sigma, ev.nu.reshape((-1,) + (1,) * game.n_agents) * setting["joint"], atol=1e-13)
    np.testing.assert_allclose(sigma.sum(axis=tuple(range(1, game.n_agents + 1))), ev.nu, atol=1e-13)
    assert sigma.sum() == pytest.approx(1.0, abs=1e-12)
    for m in range(1, game.n_agents + 1):
        sm = ev.sigma_agent(m)
        assert sm.shape == (game.n_states,) + game.action_sizes[:m]
        # law of (s, a^{1:m}): nu(s) times the product of the first m conditionals
        expect = ev.nu.copy()
        for i in range(m):
            expect = expect[..., None] * setting["tabs"][i]
        np.testing.assert_allclose(sm, expect, atol=1e-13)


def test_nu_is_stationary_for_discounted_chain(setting):
    """nu = (1-gamma) rho + gamma nu P_pi (the defining equation of the normalized visitation)."""
    ev, game = setting["ev"], setting["game"]
    P_pi, _ = brute_P_r(game, setting["joint"])
    np.testing.assert_allclose(ev.nu, (1 - game.gamma) * game.rho + game.gamma * ev.nu @ P_pi, atol=1e-12)


# ------------------------------------------------------------------------------------------------------------
# performance difference lemma
# ------------------------------------------------------------------------------------------------------------


def _pdl_by_formula(game, new_tabs, old_tabs):
    """Digest §2: J(pi') - J(pi) = 1/(1-gamma) E_{s~nu_pi'} sum_m E_{a^{1:m-1}~pi'} <Q^{1:m}_pi, pi'^m - pi^m>.

    Returns the N terms, computed with the brute-force helpers only."""
    N = game.n_agents
    old_joint = brute_joint(game, old_tabs)
    new_joint = brute_joint(game, new_tabs)
    Q_old = brute_Q(game, iterative_V(game, old_joint))
    d_new = occupancy_series(game, new_joint)
    nu_new = d_new / d_new.sum()
    terms = np.zeros(N)
    for m in range(N):
        q = brute_q_local(game, old_tabs, Q_old, m + 1)
        for s in range(game.n_states):
            for prefix in joint_actions(game.action_sizes[:m]):
                w = nu_new[s]
                for i in range(m):
                    w *= new_tabs[i][(s,) + prefix[: i + 1]]
                diff = new_tabs[m][(s,) + prefix] - old_tabs[m][(s,) + prefix]
                terms[m] += w * float(np.dot(diff, q[(s,) + prefix]))
    return terms / (1.0 - game.gamma), float(
        game.rho @ iterative_V(game, new_joint) - game.rho @ iterative_V(game, old_joint)
    )


@cases
def test_performance_difference_lemma(case):
    game = make_random_game(case)
    rng = np.random.default_rng(7 + case[0])
    old = random_loglinear(game, rng)
    new = random_loglinear(game, rng, scale=2.5)
    terms = performance_difference_terms(game, new, old)
    assert terms.shape == (game.n_agents,)
    diff = evaluate(game, new).J - evaluate(game, old).J
    assert abs(diff) > 1e-3  # the two policies really differ
    assert terms.sum() == pytest.approx(diff, abs=TOL)
    old_tabs = cond_tables([old.probs(m) for m in range(1, game.n_agents + 1)], game)
    new_tabs = cond_tables([new.probs(m) for m in range(1, game.n_agents + 1)], game)
    expected_terms, expected_diff = _pdl_by_formula(game, new_tabs, old_tabs)
    assert expected_terms.sum() == pytest.approx(expected_diff, abs=TOL)  # the lemma itself, no library code
    np.testing.assert_allclose(terms, expected_terms, atol=TOL, rtol=0)
    assert diff == pytest.approx(expected_diff, abs=TOL)


def test_performance_difference_lemma_single_agent_change():
    """Changing only agent 2's conditional policy leaves term 1 at exactly zero."""
    game = make_random_game(GAME_CASES[2])
    rng = np.random.default_rng(3)
    old = random_loglinear(game, rng)
    thetas = [t.copy() for t in old.thetas]
    thetas[1] = thetas[1] + rng.standard_normal(thetas[1].shape)
    new = old.with_thetas(thetas)
    terms = performance_difference_terms(game, new, old)
    assert abs(terms[0]) < 1e-13 and abs(terms[2]) < 1e-13
    assert terms[1] == pytest.approx(evaluate(game, new).J - evaluate(game, old).J, abs=TOL)


# ------------------------------------------------------------------------------------------------------------
# Definition 3.1 for arbitrary subsets
# ------------------------------------------------------------------------------------------------------------


def one_hot_product_probs(game, rng):
    """A deterministic product policy: per state, each agent plays one random action with probability 1."""
    return [np.eye(A)[rng.integers(A, size=game.n_states)] for A in game.action_sizes]


@pytest.mark.parametrize("kind", ["stochastic", "deterministic", "deterministic-tables"])
@pytest.mark.parametrize("subset", [{2}, {3}, {1, 3}, {2, 3}, {1, 2}, {1, 2, 3}, set()])
def test_multi_agent_q_non_prefix_subset_product_policy(subset, kind):
    """Q^P(s, a^P) = E_{a~ ~ pi~}[Q(s, a^P, a~)] by enumeration, for a product policy on a 3-agent game: the other
    agents' law is the product of their policies, defined for every a^P, also where a^P has probability 0 (a
    deterministic policy, as a ProductPolicy or as conditional tables with exact zeros: Bayes' rule there is 0/0)."""
    game = make_random_game(GAME_CASES[2])  # N = 3, sizes (2, 3, 2)
    rng = np.random.default_rng(11)
    probs = random_product_probs(game, rng) if kind == "stochastic" else one_hot_product_probs(game, rng)
    if kind == "deterministic-tables":
        policy = cond_tables(product_to_conditional(game, probs), game)
    else:
        policy = ProductPolicy.from_probs(game.n_states, game.action_sizes, probs)
    joint = brute_joint(game, product_to_conditional(game, probs))
    Q = brute_Q(game, iterative_V(game, joint))
    sub = sorted(subset)
    others = [i for i in range(1, 4) if i not in subset]
    expected = np.zeros((game.n_states,) + tuple(game.action_sizes[i - 1] for i in sub))
    for s in range(game.n_states):
        for a in joint_actions(game.action_sizes):
            w = 1.0
            for i in others:
                w *= probs[i - 1][s, a[i - 1]]
            expected[(s,) + tuple(a[i - 1] for i in sub)] += w * Q[(s,) + a]
    got = multi_agent_q(game, policy, subset)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=TOL, rtol=0)  # NaN anywhere fails this


def test_multi_agent_q_conditional_policy_is_undefined_only_where_the_subset_has_probability_zero():
    """A conditional (non-product) deterministic policy: Bayes' rule gives Q^{{2}} where a^2 is played and NaN
    (0/0) elsewhere, as documented; the played entries equal Q at the played joint action."""
    game = make_random_game(GAME_CASES[2])  # N = 3, sizes (2, 3, 2)
    rng = np.random.default_rng(5)
    tabs = product_to_conditional(game, one_hot_product_probs(game, rng))
    tabs[2][:, :, :, :] = 0.0  # agent 3 copies agent 2's action parity: it now depends on its predecessor
    for a2 in range(game.action_sizes[1]):
        tabs[2][:, :, a2, a2 % 2] = 1.0
    joint = brute_joint(game, tabs)
    Q = brute_Q(game, iterative_V(game, joint))
    got = multi_agent_q(game, cond_tables(tabs, game), {2})
    played = joint.sum(axis=(1, 3)) > 0  # (S, A_2)
    assert np.all(np.isnan(got[~played])) and not np.any(np.isnan(got[played]))
    for s, a2 in zip(*np.nonzero(played)):
        a1 = int(np.argmax(tabs[0][s]))
        np.testing.assert_allclose(got[s, a2], Q[s, a1, a2, a2 % 2], atol=TOL, rtol=0)


def test_multi_agent_q_prefix_equals_q_local(setting):
    ev, game = setting["ev"], setting["game"]
    for m in range(game.n_agents + 1):
        np.testing.assert_allclose(
            multi_agent_q(game, setting["policy"], set(range(1, m + 1))), ev.q_local[m], atol=TOL
        )


def test_multi_agent_q_bad_agents():
    game = make_random_game(GAME_CASES[0])
    with pytest.raises(MappoLiteError, match="agents"):
        multi_agent_q(game, "uniform", {0})
    with pytest.raises(MappoLiteError, match="agents"):
        multi_agent_q(game, "uniform", {3})


# ------------------------------------------------------------------------------------------------------------
# J*: optimality, methods, greedy policy, relabelling
# ------------------------------------------------------------------------------------------------------------


@cases
def test_optimal_value_matches_own_value_iteration(case):
    game = make_random_game(case)
    J_ref, V_ref = value_iteration_J_star(game)
    for method in ("policy", "value"):
        sol = optimal_value(game, method=method)
        assert sol.J_star == pytest.approx(J_ref, abs=1e-9), method
        np.testing.assert_allclose(sol.V_star, V_ref, atol=1e-9)
        assert sol.greedy.shape == (game.n_states, game.n_agents)
    # the greedy deterministic joint policy achieves J*
    sol = optimal_value(game)
    assert evaluate(game, sol.policy_tables(game)).J == pytest.approx(sol.J_star, abs=TOL)
    # and it is greedy w.r.t. its own Q* (Bellman optimality)
    flat_Q = sol.Q_star.reshape(game.n_states, -1)
    picked = flat_Q[np.arange(game.n_states), np.ravel_multi_index(tuple(sol.greedy.T), game.action_sizes)]
    np.testing.assert_allclose(picked, flat_Q.max(axis=1), atol=1e-10)
    np.testing.assert_allclose(sol.V_star, flat_Q.max(axis=1), atol=1e-10)
    # matches the joint-action MDP view
    assert optimal_value(game.as_single_agent()).J_star == pytest.approx(sol.J_star, abs=1e-10)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    game_seed=st.integers(0, 10_000),
    policy_seed=st.integers(0, 10_000),
    scale=st.floats(0.0, 6.0),
    n_agents=st.sampled_from([2, 3]),
    kind=st.sampled_from(["conditional", "product"]),
)
def test_J_star_dominates_every_policy(game_seed, policy_seed, scale, n_agents, kind):
    sizes = [2, 3] if n_agents == 2 else [2, 2, 3]
    game = make_game("random", n_states=3, n_agents=n_agents, n_actions=sizes, gamma=0.85, seed=game_seed)
    rng = np.random.default_rng(policy_seed)
    if kind == "conditional":
        policy = random_loglinear(game, rng, scale=scale)
    else:
        policy = ProductPolicy.from_probs(game.n_states, game.action_sizes, random_product_probs(game, rng, scale))
    sol = optimal_value(game)
    ev = evaluate(game, policy)
    assert ev.J <= sol.J_star + 1e-10
    assert np.all(ev.V <= sol.V_star + 1e-10)
    assert np.all(ev.Q <= sol.Q_star + 1e-10)


@pytest.mark.parametrize("order", [(1, 0)])
def test_relabel_two_agents_preserves_values(order):
    _check_relabel(GAME_CASES[0], order)


@pytest.mark.parametrize("order", [(2, 0, 1), (1, 2, 0), (0, 2, 1), (2, 1, 0)])
def test_relabel_three_agents_preserves_values(order):
    _check_relabel(GAME_CASES[2], order)


def _check_relabel(case, order):
    """QuantEcon-style: the same game in two layouts has the same J*, and the same J for the permuted policy."""
    game = make_random_game(case)
    re = game.relabel_agents([o + 1 for o in order])  # relabel_agents numbers agents 1..N; order here is 0-based
    assert re.action_sizes == tuple(game.action_sizes[i] for i in order)
    # layout: new agent i is old agent order[i]
    for s in range(game.n_states):
        for a_new in joint_actions(re.action_sizes):
            a_old = [0] * game.n_agents
            for i, o in enumerate(order):
                a_old[o] = a_new[i]
            assert re.r[(s,) + a_new] == game.r[(s,) + tuple(a_old)]  # exact: relabel_agents transposes (a copy)
            np.testing.assert_array_equal(re.P[(s,) + a_new], game.P[(s,) + tuple(a_old)])  # exact: a copy
    assert optimal_value(re).J_star == pytest.approx(optimal_value(game).J_star, abs=1e-10)
    rng = np.random.default_rng(5)
    policy = random_loglinear(game, rng)
    joint = brute_joint(game, cond_tables([policy.probs(m) for m in range(1, game.n_agents + 1)], game))
    joint_re = np.transpose(joint, (0,) + tuple(1 + o for o in order))
    tabs_re = chain_rule_tables(joint_re, re.action_sizes)
    ev, ev_re = evaluate(game, policy), evaluate(re, tabs_re)
    assert ev_re.J == pytest.approx(ev.J, abs=TOL)
    np.testing.assert_allclose(ev_re.V, ev.V, atol=TOL)
    np.testing.assert_allclose(ev_re.Q, np.transpose(ev.Q, (0,) + tuple(1 + o for o in order)), atol=TOL)
    # product policies: permuting the per-agent tables is enough
    probs = random_product_probs(game, rng)
    J = evaluate(game, ProductPolicy.from_probs(game.n_states, game.action_sizes, probs)).J
    J_re = evaluate(re, ProductPolicy.from_probs(re.n_states, re.action_sizes, [probs[o] for o in order])).J
    assert J_re == pytest.approx(J, abs=TOL)


def test_relabel_rejects_non_permutation():
    game = make_random_game(GAME_CASES[0])
    assert game.n_agents == 2
    for bad in ([0, 0], [1, 1], [1], [1, 2, 3], [0, 1], [2, 0]):  # [0, 1]: a 0-based permutation is refused
        with pytest.raises(MappoLiteError, match="permutation"):
            game.relabel_agents(bad)


# ------------------------------------------------------------------------------------------------------------
# built-in games: known optima and values
# ------------------------------------------------------------------------------------------------------------


def test_ratio_game_values():
    game = make_game("ratio")
    expected = {(0, 0): 1.0, (0, 1): 0.5, (1, 0): -5.0, (1, 1): 0.0}
    for (a1, a2), value in expected.items():
        tabs = [np.eye(2)[a1][None, :], np.tile(np.eye(2)[a2], (2, 1))]
        assert evaluate(game, tabs).J == pytest.approx(value, abs=1e-12), (a1, a2)
    assert evaluate(game, "uniform").J == pytest.approx(5.0 / 11.0, abs=1e-12)
    sol = optimal_value(game)
    assert sol.J_star == pytest.approx(1.0, abs=1e-12)
    assert tuple(sol.greedy[0]) == (0, 0)
    assert game.meta["optimum"] == 1.0  # exact: a constant in builtin_games


@settings(max_examples=50, deadline=None, derandomize=True)
@given(x=st.floats(0.0, 1.0), y=st.floats(0.0, 1.0))
def test_ratio_game_is_xRy_over_xSy(x, y):
    """For a product policy (x, y) the stopping game's value is x^T R y / x^T S y (von Neumann's ratio)."""
    R = np.array([[1.0, 0.5], [-0.5, 0.0]])
    Sm = np.array([[1.0, 1.0], [0.1, 0.1]])
    xv, yv = np.array([x, 1 - x]), np.array([y, 1 - y])
    game = make_game("ratio")
    J = evaluate(game, [xv[None, :], np.tile(yv, (2, 1))]).J
    assert J == pytest.approx(xv @ R @ yv / (xv @ Sm @ yv), abs=1e-12)


def test_climbing_uniform_and_optimum():
    game = make_game("climbing")
    assert evaluate(game, "uniform").J == pytest.approx(CLIMBING.mean(), abs=1e-12)
    assert optimal_value(game).J_star == pytest.approx(11.0, rel=1e-12)  # J* comes out of a (1x1) solve
    assert game.meta["optimum"] == 11.0 == CLIMBING.max()  # exact: a constant and a max of the payoff table
    # rows are agent 1: agent 1 plays b (row 1) for sure, agent 2 uniform -> mean of row 1
    tabs = [np.array([[0.0, 1.0, 0.0]]), np.full((3, 3), 1 / 3)]
    assert evaluate(game, tabs).J == pytest.approx(CLIMBING[1].mean(), abs=1e-12)


@pytest.mark.parametrize("k", [0.0, -10.0, -100.0])
def test_penalty_optimum(k):
    game = make_game("penalty", k=k)
    assert (
        optimal_value(game).J_star == pytest.approx(10.0, abs=1e-12) and game.meta["optimum"] == 10.0
    )  # exact: a constant
    assert evaluate(game, "uniform").J == pytest.approx((10 + 10 + 2 + 2 * k) / 9, abs=1e-12)


@pytest.mark.parametrize("gamma", [0.5, 0.9, 0.99])
def test_two_step_optimum(gamma):
    game = make_game("two_step", gamma=gamma)
    J_ref, _ = value_iteration_J_star(game)
    assert optimal_value(game).J_star == pytest.approx(8 * gamma, abs=1e-10)
    assert J_ref == pytest.approx(8 * gamma, abs=1e-10)
    assert game.meta["optimum"] == pytest.approx(8 * gamma, abs=1e-12)
    # uniform: 0.5 * 7 + 0.5 * mean([[0,1],[1,8]]) = 3.5 + 1.25, one step later
    assert evaluate(game, "uniform").J == pytest.approx(gamma * 4.75, abs=1e-12)


def test_matrix_game_three_agents_uniform_is_mean():
    payoff = np.random.default_rng(0).standard_normal((2, 3, 4))
    game = matrix_game(payoff)
    assert evaluate(game, "uniform").J == pytest.approx(payoff.mean(), abs=1e-12)
    assert optimal_value(game).J_star == pytest.approx(payoff.max(), abs=1e-12)


# ------------------------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------------------------


def test_evaluate_rejects_bad_policies():
    game = make_random_game(GAME_CASES[0])  # S=3, sizes (2, 3)
    good = [np.full((3, 2), 0.5), np.full((3, 2, 3), 1 / 3)]
    evaluate(game, good)  # fine
    with pytest.raises(MappoLiteError, match="agent 2 must have shape"):
        evaluate(game, [good[0], np.full((3, 3), 1 / 3)])
    with pytest.raises(MappoLiteError, match="one table per agent"):
        evaluate(game, good[:1])
    bad = [np.array([[0.6, 0.6]] * 3), good[1]]
    with pytest.raises(MappoLiteError, match="sum to 1"):
        evaluate(game, bad)
    bad = [np.array([[1.5, -0.5]] * 3), good[1]]
    with pytest.raises(MappoLiteError, match="negative"):
        evaluate(game, bad)
    bad = [np.array([[np.nan, 0.5]] * 3), good[1]]
    with pytest.raises(MappoLiteError, match="NaN"):
        evaluate(game, bad)
    with pytest.raises(MappoLiteError, match="unknown policy"):
        evaluate(game, "greedy")
    with pytest.raises(MappoLiteError, match="S=2"):
        evaluate(game, ConditionalLogLinearPolicy(2, (2, 3)))
    with pytest.raises(MappoLiteError, match="CooperativeMarkovGame"):
        evaluate("climbing", "uniform")


def test_optimal_value_unknown_method():
    with pytest.raises(MappoLiteError, match="unknown method"):
        optimal_value(make_game("climbing"), method="magic")
