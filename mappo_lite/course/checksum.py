r"""nbgrader's cell predicates and cell checksum, byte for byte.

nbgrader (0.9.x, ``nbgrader/utils.py``) stores in every graded, solution or read-only cell of a student notebook
``metadata.nbgrader.checksum``: the MD5 hex digest of, in this order, the UTF-8 bytes of

1. the cell source (exactly, no whitespace normalization),
2. the cell type (``"code"``, ``"markdown"``, ``"raw"``),
3. ``str(is_grade(cell))``, ``str(is_solution(cell))``, ``str(is_locked(cell))`` (``"True"`` / ``"False"``),
4. the ``grade_id``,
5. for grade cells only, ``str(float(points))`` (so 2 points hashes as ``"2.0"``).

``is_locked`` is not the raw ``locked`` flag: a solution cell is never locked, a grade cell always is, any other
nbgrader cell is locked when its ``locked`` flag is set. nbgrader's ``validate`` recomputes the checksum of the
locked cells to detect edits; ``autograde`` uses it to give 0 points to an unchanged (unanswered) written answer.
We reimplement these few lines instead of importing nbgrader, which is not a dependency; the tests check them
against nbgrader itself when it is installed.
"""

from __future__ import annotations

import hashlib

__all__ = ["nbgrader_meta", "is_grade", "is_solution", "is_locked", "is_nbgrader_cell", "compute_checksum"]


def nbgrader_meta(cell) -> dict:
    """The cell's ``metadata.nbgrader`` dict, or ``{}`` (also for malformed metadata)."""
    meta = cell.get("metadata") if hasattr(cell, "get") else None
    if not isinstance(meta, dict):
        return {}
    nbg = meta.get("nbgrader")
    return nbg if isinstance(nbg, dict) else {}


def is_grade(cell) -> bool:
    """True for a grade cell (autograder tests, or a manually graded answer)."""
    return bool(nbgrader_meta(cell).get("grade", False))


def is_solution(cell) -> bool:
    """True for a solution cell (the student's answer goes here)."""
    return bool(nbgrader_meta(cell).get("solution", False))


def is_locked(cell) -> bool:
    """nbgrader's ``is_locked``: solution cells never, grade cells always, other cells by their ``locked`` flag."""
    meta = nbgrader_meta(cell)
    if not meta:
        return False
    if is_solution(cell):
        return False
    if is_grade(cell):
        return True
    return bool(meta.get("locked", False))


def is_nbgrader_cell(cell) -> bool:
    """True for the cells nbgrader tracks (and checksums): grade, solution or locked."""
    return is_grade(cell) or is_solution(cell) or is_locked(cell)


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def compute_checksum(cell) -> str:
    """nbgrader's ``utils.compute_checksum(cell)`` (32 hex characters)."""
    meta = nbgrader_meta(cell)
    m = hashlib.md5()
    m.update(_source(cell).encode("utf-8"))
    m.update(str(cell["cell_type"]).encode("utf-8"))
    m.update(str(is_grade(cell)).encode("utf-8"))
    m.update(str(is_solution(cell)).encode("utf-8"))
    m.update(str(is_locked(cell)).encode("utf-8"))
    m.update(str(meta["grade_id"]).encode("utf-8"))
    if is_grade(cell):
        m.update(str(float(meta["points"])).encode("utf-8"))
    return m.hexdigest()
