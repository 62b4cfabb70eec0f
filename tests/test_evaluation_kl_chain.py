"""The KL chain rule and the local-improvement gaps (mappo_lite.evaluation; chapter 3), against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mappo_lite import ConditionalLogLinearPolicy, MappoLiteError, evaluate, make_game, optimal_value
from mappo_lite.evaluation import kl_chain_terms, local_improvement_gaps


def _random_pair(seed: int, sizes=(2, 3, 2), n_states: int = 3):
    game = make_game("random", n_states=n_states, n_agents=len(sizes), n_actions=list(sizes), gamma=0.8, seed=seed)
    rng = np.random.default_rng(seed)
    base = ConditionalLogLinearPolicy.for_game(game)
    return game, *(base.with_thetas([1.5 * rng.standard_normal(f.dim) for f in base.features]) for _ in range(2))


def _joint_brute(tables):
    """pi(a|s) = prod_m pi^m(a^m|s, a^{1:m-1}) by explicit loops."""
    S, sizes = tables.n_states, tables.action_sizes
    out = np.ones((S,) + tuple(sizes))
    for s in range(S):
        for a in itertools.product(*[range(A) for A in sizes]):
            for m in range(1, len(sizes) + 1):
                out[(s,) + a] *= tables.table(m)[(s,) + a[:m]]
    return out.reshape(S, -1)


@pytest.mark.parametrize("sizes", [(3, 2), (2, 3, 2), (2, 2, 3, 2)])
def test_kl_chain_terms_add_up_to_the_joint_kl_computed_by_enumeration(sizes):
    for seed in range(3):
        game, old, new = _random_pair(seed, sizes)
        out = kl_chain_terms(game, new, old)
        p, q = _joint_brute(new.tables()), _joint_brute(old.tables())
        brute = (p * np.log(p / q)).sum(axis=1)
        np.testing.assert_allclose(out["joint"], brute, rtol=1e-10)
        np.testing.assert_allclose(out["terms"].sum(axis=1), brute, rtol=1e-10)
        assert out["terms"].shape == (game.n_states, len(sizes))
        assert np.all(out["terms"] >= -1e-12 * brute.max())  # each term is a KL: non-negative


def test_each_agent_term_matters_and_the_uniform_bound_is_log_of_joint_actions():
    game, old, new = _random_pair(1)
    out = kl_chain_terms(game, new, old)
    for m in range(game.n_agents):  # dropping any agent's term breaks the identity by more than rounding
        assert np.all(np.abs(out["terms"].sum(axis=1) - out["terms"][:, m] - out["joint"]) > 1e-6 * out["joint"])
    log_A = np.log(np.prod(game.action_sizes))
    np.testing.assert_allclose(out["log_joint_actions"], log_A, rtol=1e-14)
    to_uniform = kl_chain_terms(game, new, "uniform")
    assert np.all(to_uniform["joint"] <= log_A * (1 + 1e-12))
    # a deterministic target attains the bound log|A| against the uniform policy
    det = [np.eye(A)[np.zeros(c, dtype=int)] for c, A in zip((3, 6, 18), game.action_sizes)]
    np.testing.assert_allclose(kl_chain_terms(game, det, "uniform")["joint"], log_A, rtol=1e-12)


def test_kl_chain_zero_for_equal_policies_and_inf_outside_the_support():
    game, old, _ = _random_pair(2)
    out = kl_chain_terms(game, old, old)
    assert np.max(np.abs(out["terms"])) <= 1e-14 * game.n_agents
    det = [np.eye(A)[np.zeros(c, dtype=int)] for c, A in zip((3, 6, 18), game.action_sizes)]
    assert np.all(np.isinf(kl_chain_terms(game, old, det)["joint"]))
    assert np.all(np.isfinite(kl_chain_terms(game, det, old)["joint"]))
    with pytest.raises(MappoLiteError):
        kl_chain_terms(game, old, [np.ones((3, 2)) / 2])


def test_local_gaps_vanish_at_a_policy_greedy_in_every_context_and_it_is_optimal():
    game, _, _ = _random_pair(0)
    opt = optimal_value(game)
    # greedy in EVERY context, built backward: agent m maximizes max_{a^{m+1:N}} Q* (independently of the library)
    level, tables = opt.Q_star, [None] * game.n_agents
    for m in range(game.n_agents, 0, -1):
        tables[m - 1] = np.eye(game.action_sizes[m - 1])[np.argmax(level, axis=-1)].reshape(
            -1, game.action_sizes[m - 1]
        )
        level = level.max(axis=-1)
    scale = max(1.0, float(np.max(np.abs(opt.Q_star))))
    assert np.max(local_improvement_gaps(game, tables)) <= 1e-9 * scale
    np.testing.assert_allclose(evaluate(game, tables).J, opt.J_star, rtol=1e-10)
    assert np.all(local_improvement_gaps(game, "uniform") > 1e-6 * scale)


def test_local_gaps_match_a_loop_over_contexts():
    game, old, _ = _random_pair(3)
    ev = evaluate(game, old)
    for m in range(1, game.n_agents + 1):
        q, pi = ev.q_local[m].reshape(-1, game.action_sizes[m - 1]), old.tables().tables[m - 1]
        brute = max(max(q[c]) - sum(q[c, a] * pi[c, a] for a in range(q.shape[1])) for c in range(q.shape[0]))
        np.testing.assert_allclose(local_improvement_gaps(game, old)[m - 1], brute, rtol=1e-12)


def test_climbing_bb_is_stuck_for_products_but_not_for_conditionals():
    game = make_game("climbing")
    b = np.eye(3)[1]
    gaps = local_improvement_gaps(game, [b[None, :], np.tile(b, (3, 1))])
    np.testing.assert_allclose(gaps, [0.0, 41.0], atol=1e-12 * 41)
