"""The package's layering (pyproject.toml's import-linter contracts) and the core's dependencies.

The contracts say: each layer imports only from the layers below it (so there is no import cycle and no back-edge:
``games`` never imports ``evaluation``, the core never imports ``figures``, ``course`` or ``bench``), and the core
imports neither matplotlib nor ipywidgets. The second test runs the core in a fresh interpreter in which those two
packages cannot be imported at all.
"""

from __future__ import annotations

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
