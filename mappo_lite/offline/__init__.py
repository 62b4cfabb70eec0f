r"""Offline MA-PPO (the paper's Section 5): datasets, critics, the plain and the pessimistic evaluators, and
:func:`offline_ma_ppo`."""

from .core import (
    DATASET_KEYS,
    POOR_COVERAGE,
    BellmanSystem,
    OfflineDataset,
    OfflineEvaluator,
    behaviour_policy,
    bellman_error,
    bellman_system,
    collect_dataset,
    critic_features,
    load_dataset,
    offline_ma_ppo,
    pessimism_offset,
    pessimistic_objective,
    pessimistic_weights,
    plain_weights,
    poor_coverage_example,
    tabular_L,
)

__all__ = [
    "DATASET_KEYS",
    "POOR_COVERAGE",
    "BellmanSystem",
    "OfflineDataset",
    "OfflineEvaluator",
    "behaviour_policy",
    "bellman_error",
    "bellman_system",
    "collect_dataset",
    "critic_features",
    "load_dataset",
    "offline_ma_ppo",
    "pessimism_offset",
    "pessimistic_objective",
    "pessimistic_weights",
    "plain_weights",
    "poor_coverage_example",
    "tabular_L",
]
