"""The one convention for agent indices: every public function and method takes the book's m = 1..N, and an index
out of range (m = 0 included, which 0-based code would have read as "agent 1" and negative indexing as "the last
agent") raises MappoLiteError."""

from __future__ import annotations

import numpy as np
import pytest

from mappo_lite import (
    ConditionalLogLinearPolicy,
    MappoLiteError,
    ProductPolicy,
    evaluate,
    make_game,
    marginal_q,
    multi_agent_q,
)
from mappo_lite._validate import check_agent, check_agent_order
from mappo_lite.algorithms.baselines import marginal_q_table
from mappo_lite.policies.features import CallableFeatures, decode_contexts
from mappo_lite.sampling import contexts_of, mc_localized_q_table, n_contexts
from tests.fixtures import GAME_CASES, make_random_game, random_loglinear

BAD = [0, -1, 4, 1.0, True, "1", None]  # N = 3 below: 4 is past the last agent


@pytest.fixture(scope="module")
def setting():
    game = make_random_game(GAME_CASES[2])
    assert game.n_agents == 3
    pol = random_loglinear(game, np.random.default_rng(7))
    rng = np.random.default_rng(8)
    prod = ProductPolicy.for_game(game, [rng.standard_normal((game.n_states, A)) for A in game.action_sizes])
    return game, pol, prod, pol.tables()


def test_methods_take_agent_m_from_1(setting):
    game, pol, prod, tabs = setting
    S, sizes = game.n_states, game.action_sizes
    for m in range(1, game.n_agents + 1):
        n_ctx = S * int(np.prod(sizes[: m - 1], dtype=np.int64))
        # agent m's objects have agent m's shapes, and they are the per-agent lists' entries at position m - 1
        assert pol.probs(m).shape == pol.logits(m).shape == pol.log_probs(m).shape == (n_ctx, sizes[m - 1])
        np.testing.assert_allclose(pol.logits(m).ravel(), pol.thetas[m - 1], atol=0)  # exact: tabular: θ reshaped
        np.testing.assert_array_equal(tabs.table(m).reshape(n_ctx, -1), tabs.tables[m - 1])  # exact: a reshape
        assert tabs.table(m).shape == (S,) + sizes[:m]
        assert tabs.marginal(m).shape == (S, sizes[m - 1])
        np.testing.assert_allclose(pol.probs_row(m, n_ctx - 1), pol.probs(m)[n_ctx - 1], rtol=1e-13)
        assert prod.probs(m).shape == (S, sizes[m - 1])
        assert n_contexts(game, m) == n_ctx
    # agent 1's marginal is its own table (it conditions on the state only)
    np.testing.assert_allclose(tabs.marginal(1), tabs.table(1), rtol=1e-12)


@pytest.mark.parametrize("bad", BAD)
def test_out_of_range_agent_fails_loudly(setting, bad):
    game, pol, prod, tabs = setting
    ev = evaluate(game, pol)
    calls = [
        lambda: pol.probs(bad),
        lambda: pol.logits(bad),
        lambda: pol.log_probs(bad),
        lambda: pol.score(bad),
        lambda: pol.probs_row(bad, 0),
        lambda: prod.probs(bad),
        lambda: tabs.table(bad),
        lambda: tabs.marginal(bad),
        lambda: ev.advantage(bad),
        lambda: n_contexts(game, bad),
        lambda: contexts_of(np.zeros(2, np.int64), np.zeros((2, 3), np.int64), game.action_sizes, bad),
        lambda: decode_contexts(np.zeros(2, np.int64), game.n_states, game.action_sizes, bad),
        lambda: marginal_q(ev.Q, [prod.probs(m) for m in (1, 2, 3)], bad),
        lambda: marginal_q_table(ev.Q, prod.tables(), bad),
        lambda: multi_agent_q(game, pol, {bad}),
    ]
    for call in calls:
        with pytest.raises(MappoLiteError, match="agent|agents"):
            call()


@pytest.mark.parametrize("bad", [-1, 4, 1.0])
def test_prefix_length_zero_is_allowed_where_q_1_0_is_v(setting, bad):
    game, pol, _, tabs = setting
    ev = evaluate(game, pol)
    np.testing.assert_allclose(ev.sigma_agent(0), ev.nu, rtol=1e-12)  # m = 0: the law of s alone, ν
    assert mc_localized_q_table(game, tabs, 0, n_rollouts=1, seed=0).shape == (game.n_states,)
    for call in (lambda: ev.sigma_agent(bad), lambda: mc_localized_q_table(game, tabs, bad, n_rollouts=1)):
        with pytest.raises(MappoLiteError, match="agent"):
            call()


def test_probs_row_context_is_checked(setting):
    _, pol, _, _ = setting
    n_ctx = pol.probs(2).shape[0]
    for c in (-1, n_ctx):
        with pytest.raises(MappoLiteError, match="context"):
            pol.probs_row(2, c)


def test_feature_maps_number_agents_from_1():
    fn = lambda s, prefix, a: np.full((s.shape[0], 1), 0.5)
    f = CallableFeatures(fn, 2, (3, 4), 2, 1)
    assert (f.n_contexts, f.n_actions) == (6, 4)  # agent 2: contexts (s, a^1), its own 4 actions
    for bad in (0, 3, -1):
        with pytest.raises(MappoLiteError, match="agent"):
            CallableFeatures(fn, 2, (3, 4), bad, 1)
        with pytest.raises(MappoLiteError, match="agent"):
            CallableFeatures.from_function(fn, 2, (3, 4), bad)


def test_relabel_agents_takes_a_permutation_of_1_to_n():
    game = make_game("climbing")
    swapped = game.relabel_agents([2, 1])
    np.testing.assert_array_equal(swapped.r[0], game.r[0].T)  # exact: a transpose
    np.testing.assert_array_equal(game.relabel_agents([1, 2]).r, game.r)  # exact: the identity permutation
    for bad in ([1, 0], [0, 1], [1, 1], [2], [1, 2, 3], [1.0, 2.0]):
        with pytest.raises(MappoLiteError, match="permutation"):
            game.relabel_agents(bad)


def test_validators():
    assert check_agent(np.int64(2), 3) == 2 and check_agent(0, 3, allow_zero=True) == 0
    assert check_agent_order((np.int64(2), 1), 2) == [2, 1]
    for bad in BAD:
        with pytest.raises(MappoLiteError):
            check_agent(bad, 3)
    with pytest.raises(MappoLiteError):
        check_agent(-1, 3, allow_zero=True)
    with pytest.raises(MappoLiteError):
        check_agent_order(5, 2)


def test_loglinear_for_one_agent():
    pol = ConditionalLogLinearPolicy(2, (3,), thetas=[np.arange(6.0)])
    np.testing.assert_allclose(pol.probs(1).sum(axis=1), 1.0, rtol=1e-14)
    with pytest.raises(MappoLiteError):
        pol.probs(2)
