"""The training algorithms: Algorithm 1 (MA-PPO) and the baselines (:mod:`.mappo`), HAPPO (:mod:`.happo`), and
:func:`train`, which runs any of them by name (:data:`ALGORITHMS`)."""

from .mappo import (
    ALGORITHMS,
    TrainingResult,
    centralized_mirror,
    independent_npg,
    independent_pg,
    ma_ppo,
    marginal_q,
    run_iterations,
    train,
)

__all__ = [
    "ALGORITHMS", "TrainingResult", "centralized_mirror", "independent_npg", "independent_pg", "ma_ppo", "marginal_q",
    "run_iterations", "train",
]
