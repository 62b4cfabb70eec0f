"""Result tables for the book's pages: HTML in Jupyter and in the built book, aligned text elsewhere.

(The book renders code-cell Markdown as CommonMark, which has no tables, so pages show HTML tables instead.)
"""

from __future__ import annotations

import html

from ..errors import MappoLiteError


def _cell(v) -> str:
    if v is None:
        return "never"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


class Table:
    """A small results table that renders as HTML in Jupyter and in the book (``_repr_html_``) and as aligned
    text elsewhere (``str``/``repr``). ``None`` cells are shown as "never", floats with ``:g``."""

    def __init__(self, header, rows):
        self.header = [str(h) for h in header]
        self.rows = [[_cell(v) for v in row] for row in rows]
        if any(len(r) != len(self.header) for r in self.rows):
            raise MappoLiteError("every row must have one cell per header entry")

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in self.rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def __str__(self) -> str:
        widths = [max(len(r[j]) for r in [self.header] + self.rows) for j in range(len(self.header))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in [self.header] + self.rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    __repr__ = __str__


def result_table(header, rows) -> Table:
    """A :class:`Table` of ``rows`` (lists of cells) under ``header``, e.g. from :func:`reach_rows`."""
    return Table(header, rows)
