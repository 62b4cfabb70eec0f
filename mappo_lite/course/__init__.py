r"""Course assignments built from the book: instructor and student editions, autograding, no solution leaks.

``python -m mappo_lite assignments list | build OUTDIR | grade NOTEBOOK [--json]`` (see :mod:`.cli`).

* :mod:`.source`: the instructor sources, MyST notebooks in ``sources/`` (package data) with nbgrader v3 cell metadata and
  ``# BEGIN SOLUTION`` / ``# END SOLUTION``, ``# BEGIN HIDDEN TESTS`` / ``# END HIDDEN TESTS`` markers; parsing and
  validation (:func:`load_assignment`, :func:`find_sources`).
* :mod:`.release`: the student edition by nbgrader's ``generate_assignment`` steps, the instructor edition,
  ``release.json`` (:func:`build`).
* :mod:`.checksum`: nbgrader's cell checksum (:func:`compute_checksum`), so nbgrader can collect and grade our
  student notebooks unchanged.
* :mod:`.grade`: the autograder (:func:`grade_notebook`): tests always come from the instructor source.
* :mod:`.sandbox`: where the student's code runs (bubblewrap namespaces, else a separate unprivileged user, else
  nothing — said in the report), with an allow-listed environment and a private scratch folder.
* :mod:`.agent`: runs inside the grading kernel; restores what student code hijacked and runs the instructor cells
  in a clean room, each with a receipt the grader checks.
* :mod:`.checks`: helpers the test cells use (:func:`~.checks.assert_close`, :func:`~.checks.assert_own_code`).

nbgrader and otter-grader are not dependencies; ``nbgrader_check.py`` in this folder is a script that
cross-checks a build with an installed nbgrader. Heavy modules (jupytext, nbclient) load on first use.
"""

from __future__ import annotations

import importlib

__all__ = [
    "load_assignment",
    "find_sources",
    "load_all",
    "build",
    "grade_notebook",
    "compute_checksum",
    "student_notebook",
    "instructor_notebook",
    "release_info",
    "default_source_dir",
]

_LAZY = {
    "load_assignment": "source",
    "find_sources": "source",
    "load_all": "source",
    "default_source_dir": "source",
    "build": "release",
    "student_notebook": "release",
    "instructor_notebook": "release",
    "release_info": "release",
    "grade_notebook": "grade",
    "compute_checksum": "checksum",
}


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
