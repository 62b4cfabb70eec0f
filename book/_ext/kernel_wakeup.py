"""Sphinx extension: every chapter's kernel is polled in slices of a second while the book builds, so a missed zmq
wake-up costs a second instead of the 300 s cell timeout (the why and the how: :mod:`mappo_lite.course.kernel_wakeup`).
Listed under ``local_extensions`` in ``_config.yml``."""

from __future__ import annotations

from mappo_lite.course.kernel_wakeup import install


def setup(app):
    install()
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
