"""Student edition only: the execution-status page shows the execution data of the book's own build.

The student edition is built from the notebooks that the book's build executed (``book/_ext/book_editions.py``),
with execution off, so myst-nb has no execution data of its own and ``{nb-exec-table}`` would be empty. The
staging step copies each notebook's data (when it was executed, how, how long, whether it succeeded) from the
book's build environment into ``_exec_data.json`` next to the staged ``_config.yml``; this extension hands it
back to myst-nb before the pages are written. It is loaded by the student edition's configuration only.
"""

from __future__ import annotations

import json
from pathlib import Path

EXEC_DATA_FILE = "_exec_data.json"


def _restore_exec_data(app, env):
    path = Path(app.srcdir) / EXEC_DATA_FILE
    if not path.is_file():
        return
    from myst_nb.sphinx_ import NbMetadataCollector

    for docname, data in json.loads(path.read_text(encoding="utf8")).items():
        if docname in env.found_docs:
            NbMetadataCollector.set_doc_data(env, docname, "exec_data", data)


def setup(app):
    app.connect("env-updated", _restore_exec_data)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
