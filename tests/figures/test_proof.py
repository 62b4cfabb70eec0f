"""Tests for mappo_lite.figures.proof (chapter "Theorem 1", the proof with errors)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest
from matplotlib.figure import Figure

from mappo_lite.errors import MappoLiteError
from mappo_lite.figures import proof as pf
from mappo_lite.theory import CHAIN_STEPS, chain_check, reward_range_ok, sgd_rate


@pytest.fixture(scope="module")
def chain():
    return pf.proof_chain(K=6, T=100)


def test_proof_game_and_run_are_the_chapters(chain):
    game = pf.proof_game()
    assert reward_range_ok(game) and game.n_agents == pf.PROOF_GAME["n_agents"]
    assert chain["K"] == 6 and chain["beta"] == pf.PROOF_RUN["beta"]  # exact: the overrides and defaults are used
    assert all(ok for ok, _ in chain_check(chain).values())
    assert chain["B"] <= 1 / (1 - game.gamma) * (1 + 1e-12)  # clipped estimates: B at most the scale of Q


def test_step_table_shows_both_sides_of_every_step(chain):
    for name in chain["steps"]:
        table = pf.step_table(chain, name, every=2)
        text = str(table)
        assert "lhs" in text and "rhs" in text and "<table>" in table._repr_html_()
    rows = pf.step_table(chain, "three_point", every=2).rows
    assert [r[0] for r in rows] == ["0", "2", "4", "5"]  # exact: iterations 0, 2, 4 and the last one
    assert len(rows[0]) == 1 + 3 * chain["N"]  # exact: k, then lhs, rhs, slack per agent
    # the printed sides are the chain's own numbers
    assert float(rows[0][1]) == pytest.approx(chain["steps"]["three_point"]["lhs"][0, 0], rel=1e-3)
    with pytest.raises(MappoLiteError):
        pf.step_table(chain, "nope")
    with pytest.raises(MappoLiteError):
        pf.step_table(chain, "pdl", every=0)


def test_chain_table_lists_every_step_and_reports_a_violation(chain):
    table = pf.chain_table(chain)
    assert {r[0] for r in table.rows} == set(CHAIN_STEPS)
    assert all(r[2] == "True" for r in table.rows)
    bad = pf.proof_chain(K=6, T=100, tamper={"phi": 0.01})
    assert any(r[2] == "False" for r in pf.chain_table(bad).rows)


def test_plots_return_figures(chain):
    fig = pf.plot_chain(chain)
    assert isinstance(fig, Figure)
    assert sum(ax.get_visible() for ax in fig.axes) == len(pf.STEP_TITLES)
    with pytest.raises(MappoLiteError):
        pf.plot_chain(chain, names=["nope"])
    r = sgd_rate(pf.proof_game(), Ts=(10, 100), seeds=range(2))
    assert isinstance(pf.plot_sgd_rate(r), Figure)
