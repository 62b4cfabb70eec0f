"""Every numba kernel of the library, each with a plain-NumPy twin (:mod:`.reference`).

``mappo_lite.kernels.softmax_rows`` and the other names of :mod:`.core` stay importable from here.
"""

from .core import (
    backward_sweep,
    joint_policy,
    level_offsets_for,
    log_softmax_rows,
    mc_localized_q,
    policy_transition_reward,
    projected_sgd,
    projected_sgd_tabular,
    q_from_v,
    rollout_steps,
    softmax_rows,
    softmax_score,
    stream_read,
    tabular_softmax_score,
)

__all__ = [
    "backward_sweep", "joint_policy", "level_offsets_for", "log_softmax_rows", "mc_localized_q",
    "policy_transition_reward", "projected_sgd", "projected_sgd_tabular", "q_from_v", "rollout_steps", "softmax_rows",
    "softmax_score", "stream_read", "tabular_softmax_score",
]
