"""The KL chain rule and the local-improvement gaps (mappo_lite.evaluation; chapter 3), against brute force."""

from __future__ import annotations

import itertools

import numpy as np

from mappo_lite import make_game
from mappo_lite.evaluation import evaluate, kl_chain, local_improvement_gaps, optimal_value
from mappo_lite.figures.identities import random_trial


def _joint_brute(tables):
    S, sizes = tables.n_states, tables.action_sizes
    out = np.ones((S,) + tuple(sizes))
    for s in range(S):
        for a in itertools.product(*[range(A) for A in sizes]):
            p = 1.0
            for m in range(len(sizes)):
                p *= tables.table(m)[(s,) + a[: m + 1]]
            out[(s,) + a] = p
    return out.reshape(S, -1)


def test_kl_chain_terms_add_up_to_the_joint_kl_computed_by_enumeration():
    for seed in range(4):
        game, old, new = random_trial(seed, n_agents=3)
        out = kl_chain(new, old, game.n_states, game.action_sizes)
        p, q = _joint_brute(evaluate(game, new).tables), _joint_brute(evaluate(game, old).tables)
        brute = (p * np.log(p / q)).sum(axis=1)
        np.testing.assert_allclose(out["joint"], brute, rtol=1e-10)
        np.testing.assert_allclose(out["terms"].sum(axis=1), brute, rtol=1e-10)
        assert np.all(out["terms"] >= -1e-12 * brute.max())


def test_kl_chain_each_term_matters_and_max_is_log_of_joint_actions():
    game, old, new = random_trial(1, n_agents=3)
    out = kl_chain(new, old, game.n_states, game.action_sizes)
    # dropping any agent's term breaks the identity by more than rounding
    for m in range(3):
        assert np.all(np.abs(out["terms"].sum(axis=1) - out["terms"][:, m] - out["joint"]) > 1e-6 * out["joint"])
    np.testing.assert_allclose(out["max_joint_uniform"], np.log(np.prod(game.action_sizes)), rtol=1e-14)


def test_local_gaps_vanish_exactly_at_an_optimal_policy_and_not_at_uniform():
    game = random_trial(0, n_agents=2)[0]
    opt = optimal_value(game)
    # greedy in EVERY context, built backward: agent m maximizes max_{a^{m+1:N}} Q* (independently of the library)
    sizes = game.action_sizes
    level = opt.Q_star
    tables = [None] * len(sizes)
    for m in range(len(sizes) - 1, -1, -1):
        tables[m] = np.eye(sizes[m])[np.argmax(level, axis=-1)].reshape(-1, sizes[m])
        level = level.max(axis=-1)
    tabs = tables
    scale = np.max(np.abs(opt.Q_star))
    assert np.max(local_improvement_gaps(game, tabs)) <= 1e-9 * scale
    np.testing.assert_allclose(evaluate(game, tabs).J, opt.J_star, rtol=1e-10)
    assert np.all(local_improvement_gaps(game, "uniform") > 1e-6 * scale)


def test_climbing_bb_is_stuck_for_products_but_not_for_conditionals():
    game = make_game("climbing")
    b = np.eye(3)[1]
    gaps = local_improvement_gaps(game, [b[None, :], np.tile(b, (3, 1))])
    np.testing.assert_allclose(gaps, [0.0, 41.0], atol=1e-12 * 41)
