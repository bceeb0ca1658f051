"""What users typed (nicknames, room codes, file names, values from a link), shown as the text it is:
never as markdown in a page, HTML in a chart's hover, or a formula in a spreadsheet."""

from __future__ import annotations

import html
import re

import pandas as pd

# CommonMark lets a backslash escape any ASCII punctuation; Streamlit's markdown also reads `:name[...]`
# directives and `$...$` math, so every punctuation character is escaped.
_MARKDOWN_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")
# GitHub-flavoured markdown turns a bare address into a link after escapes are read (`http://`, `www.`, an
# e-mail): an invisible word joiner keeps the pattern from matching, and the reader sees the same text.
_AUTOLINK = re.compile(r"(?i)(https?|ftp|mailto|www)(?=\\[:.])|(?=\\@)")
WORD_JOINER = "\u2060"
# A cell a spreadsheet would read as a formula (OWASP's CSV injection advice): one of these first.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def markdown_literal(text: object) -> str:
    """`text` to put inside a markdown string (st.markdown, a heading, an alert) and be read as typed."""
    flat = " ".join(str(text).splitlines())
    return _AUTOLINK.sub(lambda m: (m.group(1) or "") + WORD_JOINER, _MARKDOWN_SPECIAL.sub(r"\\\1", flat))


def html_literal(text: object) -> str:
    """`text` for a Plotly hover or label, which reads a few HTML tags."""
    return html.escape(str(text), quote=True)


def spreadsheet_cell(value: object) -> object:
    """A text cell a spreadsheet shows as text: one that would start a formula gets a leading quote."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with every text cell made safe for a spreadsheet (numbers are left as they are)."""
    out = frame.copy()
    for column in out.columns:
        if not pd.api.types.is_numeric_dtype(out[column]) and not pd.api.types.is_bool_dtype(out[column]):
            out[column] = out[column].map(spreadsheet_cell)
    return out
