"""The training algorithms.

:mod:`.loop` (the loop every algorithm shares and :class:`TrainingResult`), :mod:`.mappo` (Algorithm 1,
:func:`ma_ppo`), :mod:`.baselines` (independent NPG, independent PG, the centralized mirror step), :mod:`.happo`
(HAPPO), :mod:`.registry` (:data:`ALGORITHMS` by name, :func:`train`; the command line reads its choices and
defaults there).
"""

from .baselines import centralized_mirror, independent_npg, independent_pg, marginal_q
from .loop import TrainingResult, finish, run_iterations
from .mappo import ma_ppo
from .registry import ALGORITHMS, DESCRIPTIONS, defaults, train

__all__ = [
    "ALGORITHMS",
    "DESCRIPTIONS",
    "TrainingResult",
    "centralized_mirror",
    "defaults",
    "finish",
    "independent_npg",
    "independent_pg",
    "ma_ppo",
    "marginal_q",
    "run_iterations",
    "train",
]
