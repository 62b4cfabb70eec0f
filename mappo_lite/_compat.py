"""Old module paths of mappo-lite 0.1, kept importable for one release.

The package was reorganised into layers (``games/``, ``policies/``, ``kernels/``, ``algorithms/``, …; see the README's
layout table). ``import mappo_lite.solver`` and the other old paths below still work: they return the module at
its new home (the same module object, so ``isinstance`` checks and monkeypatches agree). New code should import the
new paths; these aliases will be removed in the next release.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

#: old module path -> new module path (a package alias covers its submodules too).
ALIASES = {
    "mappo_lite.checks": "mappo_lite._validate",
    "mappo_lite.sparse_games": "mappo_lite.games.sparse",
    "mappo_lite.builtin_games": "mappo_lite.games.catalogue",
    "mappo_lite.gridworld": "mappo_lite.games.gridworld",
    "mappo_lite.features": "mappo_lite.policies.features",
    "mappo_lite.solver": "mappo_lite.improvement",
    "mappo_lite.reference": "mappo_lite.kernels.reference",
    "mappo_lite.happo": "mappo_lite.algorithms.happo",
    "mappo_lite.ratio_experiment": "mappo_lite.experiments.ratio",
    # the assignments sub-commands, whose module was course/cli.py (more specific paths first: the first match wins)
    "mappo_lite.course.cli": "mappo_lite.course.commands",
    "mappo_lite.assignments.cli": "mappo_lite.course.commands",
    "mappo_lite.assignments": "mappo_lite.course",
}


def new_name(old: str) -> str | None:
    """The new home of the old module path ``old``, or None when ``old`` is not an old path."""
    for prefix, target in ALIASES.items():
        if old == prefix or old.startswith(prefix + "."):
            return target + old[len(prefix) :]
    return None


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec):
        module = importlib.import_module(self.target)
        self.real_spec = module.__spec__
        return module

    def exec_module(self, module):
        module.__spec__ = self.real_spec  # the import system set it to the alias's spec: restore the real one


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        new = new_name(fullname)
        if new is None:
            return None
        real = importlib.util.find_spec(new)
        if real is None:
            return None
        spec = importlib.util.spec_from_loader(
            fullname, _AliasLoader(new), origin=real.origin, is_package=real.submodule_search_locations is not None
        )
        return spec


def install() -> None:
    """Put the alias finder first on :data:`sys.meta_path` (once)."""
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _AliasFinder())
