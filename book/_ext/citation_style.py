"""One citation style for the whole book: author-year with round brackets.

``{cite:t}`key``` gives "Zhao et al. (2023)" (the authors are part of the sentence) and ``{cite:p}`key``` gives
"(Zhao et al., 2023)" (a parenthetical reference); the chapters use only these two roles (no bare ``{cite}``).
sphinxcontrib-bibtex's ``author_year`` style uses square brackets, which mixed "[Zhao et al., 2023]" with
"Liu et al. [2019]" in the text; this registers the same style with round brackets as ``author_year_round``
(selected by ``bibtex_reference_style`` in ``_config.yml``).
"""

from __future__ import annotations

import dataclasses

from sphinxcontrib.bibtex.plugin import register_plugin
from sphinxcontrib.bibtex.style.referencing import BracketStyle
from sphinxcontrib.bibtex.style.referencing.author_year import AuthorYearReferenceStyle

STYLE_NAME = "author_year_round"


def _round() -> BracketStyle:
    return BracketStyle(left="(", right=")")


@dataclasses.dataclass
class RoundAuthorYearReferenceStyle(AuthorYearReferenceStyle):
    """sphinxcontrib-bibtex's author-year style, with (round) brackets."""

    bracket_textual: BracketStyle = dataclasses.field(default_factory=_round)
    bracket_parenthetical: BracketStyle = dataclasses.field(default_factory=_round)
    bracket_author: BracketStyle = dataclasses.field(default_factory=_round)
    bracket_label: BracketStyle = dataclasses.field(default_factory=_round)
    bracket_year: BracketStyle = dataclasses.field(default_factory=_round)


def setup(app):
    register_plugin("sphinxcontrib.bibtex.style.referencing", STYLE_NAME, RoundAuthorYearReferenceStyle, force=True)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
