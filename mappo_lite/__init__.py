r"""mappo-lite: multi-agent PPO with conditional log-linear policies in cooperative Markov games.

A small library behind the book on *Local Optimization Achieves Global Optimality in Multi-Agent Reinforcement
Learning* (Zhao, Yang, Wang, Lee, ICML 2023). Modules, one job each:

- :mod:`~mappo_lite.games`: :class:`CooperativeMarkovGame` (validation, ``.npz`` files)
- :mod:`~mappo_lite.builtin_games`: climbing, penalty, ratio, two_step, random, gridworld
- :mod:`~mappo_lite.features`, :mod:`~mappo_lite.policies`: feature maps, conditional log-linear and product policies
- :mod:`~mappo_lite.evaluation`: exact V, Q, J, localized :math:`Q^{1:m}`, advantages, ν, σ, :math:`J^\star`
- :mod:`~mappo_lite.sampling`: sampling from σ, Monte Carlo :math:`\hat Q^{1:m}`
- :mod:`~mappo_lite.solver`: the ideal mirror step and Algorithm 3 (policy improvement solver)
- :mod:`~mappo_lite.algorithms`: Algorithm 1 (MA-PPO) and the baselines
- :mod:`~mappo_lite.theory`: Theorem 1's rate and ingredients
- :mod:`~mappo_lite.kernels` / :mod:`~mappo_lite.reference`: numba kernels and their NumPy twins
"""

from .algorithms import (
    ALGORITHMS,
    TrainingResult,
    centralized_mirror,
    independent_npg,
    independent_pg,
    ma_ppo,
    marginal_q,
    train,
)
from .builtin_games import GAMES, get_game, make_game, matrix_game
from .errors import MappoLiteError
from .evaluation import (
    Evaluation,
    evaluate,
    joint_to_tables,
    multi_agent_q,
    optimal_value,
    performance_difference_terms,
)
from .features import ArrayFeatures, TabularFeatures, random_features
from .games import CooperativeMarkovGame, load_game
from .policies import (
    ConditionalLogLinearPolicy,
    ConditionalTables,
    ProductPolicy,
    as_tables,
    project_to_ball,
    uniform_tables,
)
from .sampling import mc_localized_q, mc_localized_q_table, sample_sigma
from .solver import ideal_mirror_step, improvement_error, policy_improvement_solver
from .theory import theorem1_ingredients, theorem1_rate

__version__ = "0.1.0"

__all__ = [
    "ALGORITHMS",
    "ArrayFeatures",
    "ConditionalLogLinearPolicy",
    "ConditionalTables",
    "CooperativeMarkovGame",
    "Evaluation",
    "GAMES",
    "MappoLiteError",
    "ProductPolicy",
    "TabularFeatures",
    "TrainingResult",
    "as_tables",
    "centralized_mirror",
    "evaluate",
    "get_game",
    "ideal_mirror_step",
    "improvement_error",
    "independent_npg",
    "independent_pg",
    "joint_to_tables",
    "load_game",
    "ma_ppo",
    "make_game",
    "marginal_q",
    "matrix_game",
    "mc_localized_q",
    "mc_localized_q_table",
    "multi_agent_q",
    "optimal_value",
    "performance_difference_terms",
    "policy_improvement_solver",
    "project_to_ball",
    "random_features",
    "sample_sigma",
    "theorem1_ingredients",
    "theorem1_rate",
    "train",
    "uniform_tables",
]
