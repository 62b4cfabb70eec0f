"""The package's layering (pyproject.toml's import-linter contracts) and the core's dependencies.

The contracts say: each layer imports only from the layers below it (so there is no import cycle and no back-edge:
``games`` never imports ``evaluation``, the core never imports ``figures``, ``course`` or ``bench``), and the core
imports neither matplotlib nor ipywidgets. The second test runs the core in a fresh interpreter in which those two
packages cannot be imported at all.
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.fixtures import ROOT


def test_import_linter_contracts_are_kept():
    lint = Path(sys.executable).parent / "lint-imports"
    proc = subprocess.run(
        [str(lint), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "broken" not in proc.stdout.lower().replace("0 broken", ""), proc.stdout


def test_core_runs_without_matplotlib_and_ipywidgets():
    code = textwrap.dedent(
        """
        import importlib.abc, sys

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("matplotlib", "ipywidgets"):
                    raise ImportError(f"blocked: {name}")

        sys.meta_path.insert(0, Block())
        import mappo_lite
        from mappo_lite import make_game, ma_ppo, optimal_value
        from mappo_lite.offline import collect_dataset, offline_ma_ppo
        from mappo_lite.experiments.ratio import run_sequential
        from mappo_lite.theory import theorem1_rate

        game = make_game("climbing")
        res = ma_ppo(game, K=5, beta=0.1)
        assert res.J_star == optimal_value(game).J_star
        offline_ma_ppo(game, collect_dataset(game, 50, seed=0), K=3)
        run_sequential(0.1, 5)
        assert not any(m.split(".")[0] in ("matplotlib", "ipywidgets") for m in sys.modules)
        print("ok")
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stdout + proc.stderr


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a parent that is a module, not a package
        return False


def _private_uses(tree) -> list[str]:
    """``from mappo_lite... import _name`` and ``alias._name`` on an imported mappo_lite module, in one test file
    (a private *module* such as ``mappo_lite._validate`` may be imported: its public functions are its API)."""
    found, modules = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {a.asname or a.name.split(".")[0] for a in node.names if a.name.startswith("mappo_lite")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mappo_lite"):
            for a in node.names:
                is_module = _is_module(f"{node.module}.{a.name}")
                if is_module:
                    modules.add(a.asname or a.name)
                elif a.name.startswith("_") and not a.name.startswith("__"):
                    found.append(f"line {node.lineno}: from {node.module} import {a.name}")
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
            and not _is_module(f"mappo_lite.{node.attr}")
        ):
            found.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
    return found


def test_tests_use_public_names_only_and_leave_sys_path_alone():
    """Tests mirror the package and use its public API: no private function of another module, no ``sys.path``
    edits, no ``from conftest import`` (shared helpers live in tests/fixtures.py)."""
    problems = []
    for path in sorted(ROOT.joinpath("tests").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        rel = path.relative_to(ROOT)
        problems += [f"{rel} {p}" for p in _private_uses(tree)]
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "conftest":
                problems.append(f"{rel} line {node.lineno}: from conftest import")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and ast.unparse(node.func.value) == "sys.path"
            ):
                problems.append(f"{rel} line {node.lineno}: sys.path.{node.func.attr}(...)")
    assert not problems, "\n".join(problems)
