"""Version 0.1's module paths still import, as aliases of the new modules (mappo_lite._compat), for one release."""

import importlib

import pytest

from mappo_lite._compat import new_name

OLD_NAMES = {
    "mappo_lite.solver": "ideal_mirror_step",
    "mappo_lite.builtin_games": "make_game",
    "mappo_lite.sparse_games": "SparseCooperativeMarkovGame",
    "mappo_lite.ratio_experiment": "run_sequential",
    "mappo_lite.happo": "happo",
    "mappo_lite.reference": "q_from_v",
    "mappo_lite.features": "TabularFeatures",
    "mappo_lite.gridworld": "gridworld_successors",
    "mappo_lite.checks": "check_positive",
    "mappo_lite.assignments": "load_assignment",
    "mappo_lite.assignments.checks": "assert_close",
    "mappo_lite.course.cli": "add_parser",
    "mappo_lite.assignments.cli": "add_parser",
    # packages that kept their name and re-export the old module's names
    "mappo_lite.games": "load_game",
    "mappo_lite.policies": "ConditionalLogLinearPolicy",
    "mappo_lite.algorithms": "marginal_q",
    "mappo_lite.offline": "offline_ma_ppo",
    "mappo_lite.kernels": "softmax_score",
    "mappo_lite.bench": "run_benchmarks",
}


@pytest.mark.parametrize("old, name", sorted(OLD_NAMES.items()))
def test_old_path_imports_the_new_module(old, name):
    module = importlib.import_module(old)
    assert hasattr(module, name)
    target = new_name(old)
    if target is not None:
        new = importlib.import_module(target)
        assert module is new  # the same module object: isinstance checks and monkeypatches agree
        assert module.__spec__.name == new.__name__  # its own spec, not the alias's
