"""Chapter 3's figure and experiment functions (mappo_lite.figures.identities).

The key claims of the chapter (every identity holds to 1e-10 on random games, Definition 3.1 for a non-prefix
subset, every term of the PDL is non-negative after a mirror step) are checked here too, together with checks
that the brute-force side is itself right (against conftest's independent helpers) and sensitive (a wrong input
gives a large violation).
"""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from mappo_lite import evaluate, multi_agent_q, performance_difference_terms
from mappo_lite.figures import identities as ids
from tests.fixtures import brute_joint, brute_Q, brute_q_local, cond_tables, iterative_V


def test_random_trial_is_seeded_and_has_unequal_sizes():
    g1, o1, n1 = ids.random_trial(3, 3)
    g2, o2, n2 = ids.random_trial(3, 3)
    assert len(set(g1.action_sizes)) > 1 and g1.n_agents == 3
    assert np.array_equal(g1.P, g2.P) and all(
        np.array_equal(a, b) for a, b in zip(o1.thetas, o2.thetas)
    )  # exact: seeded
    g3, _, _ = ids.random_trial(4, 3)
    assert g3.P.shape != g1.P.shape or not np.array_equal(g3.P, g1.P)
    with pytest.raises(ValueError):
        ids.random_trial(0, 2, features="nonsense")


@pytest.mark.parametrize("features", ["tabular", "random"])
def test_brute_force_q_matches_conftest_brute_force(features):
    game, old, _ = ids.random_trial(1, 3, features)
    tabs = cond_tables(old.tables().tables, game)
    Q = brute_Q(game, iterative_V(game, brute_joint(game, tabs)))
    for m in range(game.n_agents + 1):
        np.testing.assert_allclose(
            ids.brute_force_q(game, old, range(1, m + 1)), brute_q_local(game, tabs, Q, m), atol=1e-10
        )


def test_identity_violations_are_tiny():
    recs = ids.identity_trials(seeds=range(2), n_agents=(2, 3, 4))
    assert len(recs) == 2 * 3 * 2
    worst = ids.identity_violations(records=recs)
    assert set(worst) == set(ids.IDENTITIES)
    for key, val in worst.items():
        assert 0.0 <= val < 1e-10, key
    # the trials are not degenerate: the policies differ in value
    assert min(abs(r["delta_J"]) for r in recs) > 1e-4


def test_violations_detect_a_wrong_policy():
    """The checks can fail: PDL terms of the wrong pair of policies do not add up to J(π')−J(π)."""
    game, old, new = ids.random_trial(0, 3)
    rng = np.random.default_rng(0)
    other = old.with_thetas([th + rng.standard_normal(th.shape) for th in old.thetas])
    wrong = performance_difference_terms(game, new, other).sum()
    assert abs(wrong - (evaluate(game, new).J - evaluate(game, old).J)) > 1e-3
    # brute force for the subset {1} of one policy is not the library's Q^{1:1} of another
    assert np.max(np.abs(ids.brute_force_q(game, other, {1}) - evaluate(game, old).q_local[1])) > 1e-3


def test_non_prefix_subset():
    out = ids.non_prefix_check(seed=0)
    assert out["product_error"] < 1e-12
    assert out["conditional_error"] < 1e-12
    assert out["naive_gap"] > 1e-3  # averaging Q^{1:2} with pi^1 is not Q^{2} for a conditional policy
    assert out["Q2_product"].shape == (2, 3)


def test_brute_force_q_for_every_subset_against_library():
    game, old, _ = ids.random_trial(2, 3)
    for agents in [{1}, {2}, {3}, {1, 3}, {2, 3}, {1, 2, 3}, set()]:
        if not agents:
            np.testing.assert_allclose(ids.brute_force_q(game, old, agents), evaluate(game, old).V, atol=1e-12)
            continue
        np.testing.assert_allclose(ids.brute_force_q(game, old, agents), multi_agent_q(game, old, agents), atol=1e-12)


def test_pdl_curves():
    data = ids.pdl_curves(n_agents=3, seed=0, n_points=9)
    assert data["terms"].shape == (9, 3) and data["t"].shape == (9,)
    np.testing.assert_allclose(data["terms"].sum(axis=1), data["delta_J"], atol=1e-10)
    assert np.all(data["terms"][0] == 0.0)  # exact: at t = 0 the new policy is the old one bit for bit (theta + 0 D)
    again = ids.pdl_curves(n_agents=3, seed=0, n_points=9)
    assert np.array_equal(data["terms"], again["terms"])  # exact: the same computation twice


def test_mirror_step_terms_are_nonnegative_but_random_ones_are_not():
    terms = ids.mirror_step_terms(seeds=range(2), n_agents=(2, 3), betas=(0.5, 5.0))
    assert terms.size == 2 * 2 * (2 + 3) and terms.min() >= 0.0
    rnd = np.concatenate([ids.pdl_curves(3, s, "random", n_points=3)["terms"][-1] for s in range(4)])
    assert rnd.min() < 0.0


def test_plots_return_figures():
    fig = ids.plot_pdl_terms(n_agents=2, seed=1, t=0.5, n_points=9)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    fig = ids.plot_pdl_terms(n_agents=2, seed=1, t=3.0, target="mirror", beta=2.0, t_max=2.0, n_points=9)
    assert len(fig.axes) == 2
    recs = ids.identity_trials(seeds=[0], n_agents=(2,), features=("tabular",))
    assert isinstance(ids.plot_violations(recs), Figure)
    with pytest.raises(ValueError):
        ids.pdl_setup(2, 0, target="nonsense")


def test_climbing_counterexample_numbers():
    from mappo_lite.figures.identities import climbing_counterexample

    out = climbing_counterexample()
    np.testing.assert_allclose([out["J_bb"], out["J_star"]], [7.0, 11.0], rtol=1e-12)
    np.testing.assert_allclose(out["deviations"], [[-30, 7, 0], [-30, 7, 6]], atol=1e-12 * 30)
    assert np.all(out["product_gains"] <= 1e-12 * 30)  # (b, b) is a Nash equilibrium of the product class
    np.testing.assert_allclose(out["conditional_gaps"], [0.0, 41.0], atol=1e-12 * 41)
    assert np.all(np.diff(out["J_path"]) >= -1e-12 * 11)  # conditional policy iteration never goes down
    np.testing.assert_allclose(out["J_path"][-1], 11.0, rtol=1e-12)
    assert np.max(out["gaps_path"][-1]) <= 1e-12 * 41


def test_local_global_check_reaches_the_optimum():
    from mappo_lite.figures.identities import local_global_check

    out = local_global_check(seeds=range(3), n_agents=(2, 3))
    assert out["n_runs"] == 6  # exact: a count
    assert out["worst_value_drop"] <= 1e-12 and out["worst_final_gap"] <= 1e-10 and out["worst_local_gap"] <= 1e-12
    assert max(out["iterations"]) >= 2  # not a trivial one-step case everywhere


def test_kl_chain_check_holds_and_uniform_bound():
    from mappo_lite.figures.identities import kl_chain_check

    out = kl_chain_check(seeds=range(3), n_agents=(2, 3))
    assert out["max_rel_violation"] < 1e-10 and out["min_term"] > 0
    assert 0 < out["uniform_max"] <= 1 + 1e-12
