"""Bridges from the library's games to outside environment APIs: :mod:`.pettingzoo` (any game as a PettingZoo
``ParallelEnv``; the ``pettingzoo`` extra). Nothing here is imported by the rest of the library, and this package
imports no bridge until asked: ``from mappo_lite.envs.pettingzoo import CooperativeParallelEnv``."""
