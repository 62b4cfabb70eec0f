"""mappo-lite: multi-agent PPO with conditional log-linear policies in cooperative Markov games."""
