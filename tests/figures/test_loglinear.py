"""Chapter 4's figure and experiment functions (mappo_lite.figures.loglinear).

Checks the chapter's claims: the score is φ − E_π φ (finite differences) with zero mean; the penalty game's
coordinated policy has value 10 while the product of its marginals has 5 + k/2 and the best product approximation
in KL is at log 2 nats; compact random features represent exactly min(d, n_ctx(A−1)) dimensions of policies; the
tabular conditional class has as many free parameters as the joint policy.
"""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from mappo_lite import ProductPolicy, evaluate, make_game
from mappo_lite.figures import loglinear as ll


@pytest.mark.parametrize("features", ["random", "tabular"])
def test_score_matches_finite_differences(features):
    out = ll.score_check(seed=1, features=features)
    assert out["max_fd_error"] < 1e-6
    assert out["max_mean_score"] < 1e-12


def test_score_check_detects_a_wrong_score(monkeypatch):
    """The finite-difference check can fail: a score without the centering term is caught."""
    from mappo_lite.policies.conditional import ConditionalLogLinearPolicy

    def wrong_score(self, m):
        return np.broadcast_to(self.features[m - 1].phi, self.features[m - 1].phi.shape).copy()  # agent m = 1..N

    monkeypatch.setattr(ConditionalLogLinearPolicy, "score", wrong_score)
    assert ll.score_check(seed=1, features="random")["max_fd_error"] > 1e-2


@pytest.mark.parametrize("k", [0.0, -10.0, -37.5])
def test_penalty_values(k):
    v = ll.penalty_values(k, 0.5)
    assert v["conditional"] == pytest.approx(10.0, abs=1e-12)
    assert v["product_of_marginals"] == pytest.approx(5.0 + k / 2, abs=1e-12)
    assert v["best_product_given_agent1"] == pytest.approx(max(5.0 + k / 2, 0.0), abs=1e-12)
    assert v["best_product"] == 10.0  # exact: the payoff table's max
    np.testing.assert_allclose(v["product_joint"][[0, 0, 2, 2], [0, 2, 0, 2]], 0.25)
    # a product policy achieving the product of marginals has that value under the library's evaluation
    game = make_game("penalty", k=k)
    prod = ProductPolicy.from_probs(1, (3, 3), [[[0.5, 0.0, 0.5]], [[0.5, 0.0, 0.5]]])
    assert evaluate(game, prod).J == pytest.approx(5.0 + k / 2, abs=1e-9)


def test_best_product_kl_is_the_mutual_information():
    joint = ll.coordinated_tables(0.5).joint().reshape(3, 3)
    out = ll.best_product_kl(joint)
    assert out["kl"] == pytest.approx(np.log(2), abs=1e-8)
    assert out["mutual_information"] == pytest.approx(np.log(2), abs=1e-12)
    for q in out["marginals"]:
        np.testing.assert_allclose(q, [0.5, 0.0, 0.5], atol=1e-5)
    # a product distribution is its own best approximation
    prod = np.outer([0.2, 0.3, 0.5], [0.6, 0.4])
    assert ll.best_product_kl(prod)["kl"] == pytest.approx(0.0, abs=1e-10)
    assert ll.mutual_information(prod) == pytest.approx(0.0, abs=1e-13)  # a sum of logs of O(1) ratios: ~450 ulps of 1


def test_scaled_coordination_policy_approaches_the_optimum():
    sv = ll.scaled_coordination_values([0.0, 1.0, 5.0, 20.0], k=-10.0)
    assert sv["J"][0] == pytest.approx(2 / 9)  # uniform
    assert np.all(np.diff(sv["gap"]) < 0) and sv["gap"][-1] < 1e-6 and sv["gap"][-1] > 0
    assert sv["J_product"][-1] == pytest.approx(0.0, abs=1e-6)  # 5 + k/2


def test_compact_fit_threshold():
    target = ll.sum_mod_target((2, 3), prob=0.8)  # n_ctx = 2, A = 3: full dimension 4
    fit = ll.compact_fit(target, [1, 2, 3, 4, 5, 6], seed=0)
    assert fit["full_dim"] == 4
    assert np.array_equal(fit["rank"], np.minimum(fit["dims"], 4))
    assert np.all(fit["kl"][fit["dims"] >= 4] < 1e-8)
    assert np.all(fit["kl"][fit["dims"] < 4] > 1e-6)
    assert np.all(np.diff(fit["kl"]) <= 1e-10)  # nested classes: the fit can only improve with d
    again = ll.compact_fit(target, [1, 2, 3, 4, 5, 6], seed=0)
    assert np.array_equal(fit["kl"], again["kl"])  # exact: the same computation twice


def test_sum_mod_target_rows():
    t = ll.sum_mod_target((3, 3, 3), prob=0.8)
    assert t.shape == (9, 3)
    np.testing.assert_allclose(t.sum(axis=1), 1.0)
    assert t[5, (1 + 2) % 3] == 0.8  # exact: set by construction; context (a^1, a^2) = (1, 2)


def test_parameter_counts():
    c = ll.parameter_counts(range(1, 7), n_actions=4, n_states=3)
    assert np.array_equal(c["conditional_free"], c["joint_free"])
    assert np.array_equal(c["conditional"], 3 * 4 * (4 ** c["N"] - 1) // 3)
    assert np.array_equal(c["product"], 3 * c["N"] * 4)
    assert c["joint"][-1] == 3 * 4**6


def test_plots_return_figures():
    assert len(ll.plot_penalty_coordination(k=-20.0, p=0.3).axes) == 3
    assert len(ll.plot_conditional_heatmap(t=2.0, t_max=5.0).axes) == 3
    fit = ll.compact_fit(ll.sum_mod_target((2, 3)), [1, 4, 6])
    assert isinstance(ll.plot_compact_fit(fit), Figure)
    with pytest.raises(ValueError):
        ll.score_check(features="nonsense")
