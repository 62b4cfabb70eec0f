"""Argument checks shared by the algorithms: each returns the clean value or raises MappoLiteError naming it."""

from __future__ import annotations

import math
import numbers

from .errors import MappoLiteError
from .games.dense import MarkovGameBase


def check_game(game):
    """A game object (dense or sparse), else MappoLiteError."""
    if not isinstance(game, MarkovGameBase):
        raise MappoLiteError(f"expected a CooperativeMarkovGame, got {type(game).__name__}")
    return game


def check_positive(value, name: str) -> float:
    """A positive finite real number (not a bool, not a string), else MappoLiteError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise MappoLiteError(f"{name} must be a positive number, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise MappoLiteError(f"{name} must be a positive finite number, got {value!r}")
    return v


def check_count(value, name: str) -> int:
    """A positive whole number (an int, or a float with no fractional part), else MappoLiteError naming ``name``."""
    try:
        ok = not isinstance(value, bool) and float(value).is_integer() and int(value) >= 1
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise MappoLiteError(f"{name} must be a positive integer, got {value!r}")
    return int(value)
