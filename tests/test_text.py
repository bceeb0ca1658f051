"""Text users typed stays text: markdown, HTML and spreadsheet formulas are shown, not run."""

import pandas as pd

from dann_demo.views.text import WORD_JOINER, html_literal, markdown_literal, spreadsheet_safe


def test_markdown_is_escaped_to_read_as_typed():
    for typed in ("[x](http://e.x)", "**big**", ":red[alarm]", "$x^2$", "# title", "a_b_c", "<b>hi</b>"):
        escaped = markdown_literal(typed).replace(WORD_JOINER, "")
        assert escaped.replace("\\", "") == typed and all(escaped[i - 1] == "\\" for i, ch in enumerate(escaped)
                                                           if ch in "[]*:$#_<>" and i)  # fmt: skip
    assert markdown_literal("two\nlines") == "two lines"
    # A bare address, escaped or not, would still become a link: a word joiner keeps it text.
    for address in ("http://e.x", "www.e.x", "ada@e.x"):
        assert WORD_JOINER in markdown_literal(address)


def test_html_in_a_hover_is_shown_not_read():
    assert html_literal('<a href="x">y</a>') == "&lt;a href=&quot;x&quot;&gt;y&lt;/a&gt;"


def test_spreadsheet_formulas_are_quoted():
    frame = pd.DataFrame({"nickname": ["=1+1", "+sum", "-2", "@x", "ada", "\tx"], "seed": [1, 2, 3, 4, 5, 6]})
    safe = spreadsheet_safe(frame)
    assert list(safe["nickname"]) == ["'=1+1", "'+sum", "'-2", "'@x", "ada", "'\tx"]
    assert list(safe["seed"]) == [1, 2, 3, 4, 5, 6] and list(frame["nickname"])[0] == "=1+1"
