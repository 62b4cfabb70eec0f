r"""mappo-lite: multi-agent PPO with conditional log-linear policies in cooperative Markov games.

A small library behind the book on *Local Optimization Achieves Global Optimality in Multi-Agent Reinforcement
Learning* (Zhao, Yang, Wang, Lee, ICML 2023). Layers, bottom up (each imports only from those below it; the
contracts are in ``pyproject.toml``):

- :mod:`~mappo_lite._validate` (every argument check, the one error :class:`MappoLiteError`) and
  :mod:`~mappo_lite.kernels` (every numba kernel with its NumPy twin; ``kernels.numpy_twins()`` runs the twins)
- :mod:`~mappo_lite.games`: the game interface, :class:`CooperativeMarkovGame` (dense) and the sparse form,
  ``.npz`` files, the catalogue (climbing, penalty, ratio, two_step, random, gridworld)
- :mod:`~mappo_lite.policies`: feature maps, conditional log-linear and product policies
- :mod:`~mappo_lite.evaluation`: exact V, Q, J, localized :math:`Q^{1:m}`, advantages, ν, σ, :math:`J^\star`
- :mod:`~mappo_lite.sampling`: sampling from σ, Monte Carlo :math:`\hat Q^{1:m}`
- :mod:`~mappo_lite.improvement`: the ideal mirror step and Algorithm 3 (policy improvement solver)
- :mod:`~mappo_lite.theory`: every bound and constant (Theorem 1's rate, our explicit bound, concentrability)
- :mod:`~mappo_lite.algorithms`: Algorithm 1 (MA-PPO), the baselines, HAPPO, the registry by name
- :mod:`~mappo_lite.offline`: pessimistic offline MA-PPO (Theorem 2)
- above the core: :mod:`~mappo_lite.experiments`, :mod:`~mappo_lite.figures`, :mod:`~mappo_lite.course`,
  :mod:`~mappo_lite.bench`, :mod:`~mappo_lite.cli`

**Agents are numbered m = 1..N, as in the book and the paper, in the whole public API**: every function or method
that takes an agent takes the book's m (``advantage(m)``, ``sigma_agent(m)``, ``ConditionalTables.table(m)`` and
``.marginal(m)``, ``ConditionalLogLinearPolicy.probs(m)``/``.logits(m)``/``.log_probs(m)``/``.score(m)``/
``.probs_row(m, c)``, ``ProductPolicy.probs(m)``, ``marginal_q``, ``multi_agent_q``, ``contexts_of``,
``mc_localized_q``, ``happo_target``, the feature maps' ``m``), and permutations of agents are of 1..N
(``game.relabel_agents([2, 1])``, HAPPO's ``order``). ``q_local[m]`` is :math:`Q^{1:m}` (``q_local[0]`` = V). An
index out of range, ``m = 0`` included, raises :class:`MappoLiteError` (:func:`~mappo_lite._validate.check_agent`):
it never silently means the last agent. Only plain Python lists and tuples of per-agent objects
(``policy.thetas``, ``policy.features``, ``ConditionalTables.tables``, a result's ``eps[k]``) are indexed by
position, agent m at ``[m - 1]``. Version 0.1's module paths (``mappo_lite.solver``,
``mappo_lite.builtin_games``, …) still import for one release (:mod:`mappo_lite._compat`).
"""

from . import _compat

_compat.install()

from .algorithms import (  # noqa: E402
    ALGORITHMS,
    TrainingResult,
    centralized_mirror,
    independent_npg,
    independent_pg,
    ma_ppo,
    marginal_q,
    train,
)
from .errors import MappoLiteError
from .evaluation import (
    Evaluation,
    evaluate,
    joint_to_tables,
    kl_chain_terms,
    local_improvement_gaps,
    multi_agent_q,
    optimal_value,
    performance_difference_terms,
)
from .games.catalogue import GAMES, get_game, make_game, matrix_game
from .games.dense import CooperativeMarkovGame
from .games.io import load_game
from .improvement import centralized_mirror_step, ideal_mirror_step, improvement_error, policy_improvement_solver
from .policies.conditional import (
    ConditionalLogLinearPolicy,
    ConditionalTables,
    ProductPolicy,
    as_tables,
    project_to_ball,
    uniform_tables,
)
from .policies.features import ArrayFeatures, TabularFeatures, random_features
from .sampling import mc_localized_q, mc_localized_q_table, sample_sigma
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
    "centralized_mirror_step",
    "evaluate",
    "get_game",
    "ideal_mirror_step",
    "improvement_error",
    "independent_npg",
    "independent_pg",
    "joint_to_tables",
    "kl_chain_terms",
    "load_game",
    "local_improvement_gaps",
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
