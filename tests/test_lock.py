"""constraints.txt pins the whole environment, and agrees with requirements.txt and with what is installed.

``requirements.txt`` pins the project's direct dependencies; ``constraints.txt`` (``make lock``: ``pip freeze`` of a
fresh venv made from the requirements) pins every package they pull in, so ``make venv`` on a fresh machine installs
exactly the tested set. These tests fail when the two files disagree (a pin changed without ``make lock``), and when
the running environment is not the locked one (a package missing, at another version, or not in the lock at all: a
requirement added without ``make lock`` pulls in unpinned transitive dependencies).
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)")


def normalize(name: str) -> str:
    """The PEP 503 normal form of a distribution name (``Jupyter_Book`` -> ``jupyter-book``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    """``{normalized name: version}`` of every ``name==version`` line of a requirements-style file."""
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = PIN.match(line)
        if m:
            out[normalize(m.group(1))] = m.group(2)
    return out


def test_pins_parser_reads_comments_and_markers():
    text = "# header\nFoo_Bar==1.2.3   # why\nbaz==0.1; python_version>'3'\n\nqux>=2\n"
    p = ROOT / "_build" / "lock-parser-case.txt"
    p.parent.mkdir(exist_ok=True)
    p.write_text(text, encoding="utf-8")
    try:
        assert pins(p) == {"foo-bar": "1.2.3", "baz": "0.1"}
    finally:
        p.unlink()


def test_every_requirement_is_pinned_and_locked_at_the_same_version():
    req = ROOT / "requirements.txt"
    lines = [
        ln.split("#", 1)[0].strip()
        for ln in req.read_text(encoding="utf-8").splitlines()
        if ln.split("#", 1)[0].strip()
    ]
    unpinned = [ln for ln in lines if not PIN.match(ln)]
    assert not unpinned, f"requirements.txt lines without an exact pin: {unpinned}"
    locked = pins(ROOT / "constraints.txt")
    wrong = {n: (v, locked.get(n)) for n, v in pins(req).items() if locked.get(n) != v}
    assert not wrong, f"requirements.txt and constraints.txt disagree (run `make lock`): {wrong}"


def installed() -> dict[str, str]:
    return {normalize(d.metadata["Name"]): d.version for d in metadata.distributions() if d.metadata["Name"]}


@pytest.mark.skipif(
    Path(sys.prefix).resolve() != (ROOT / ".venv").resolve(),
    reason="not running in this checkout's .venv (made by `make venv` from constraints.txt)",
)
def test_the_project_venv_is_exactly_the_locked_environment():
    locked = pins(ROOT / "constraints.txt")
    have = installed()
    have.pop("mappo-lite", None)
    missing = sorted(n for n in locked if n not in have)
    other = {n: (locked[n], have[n]) for n in locked if n in have and have[n] != locked[n]}
    extra = sorted(n for n in have if n not in locked)
    assert not (missing or other or extra), (
        f"the venv is not the locked environment (constraints.txt; `make lock` after changing requirements.txt, "
        f"`make distclean venv` for a clean venv): missing {missing}, other versions {other}, not locked {extra}"
    )
