"""physlora.untrusted: each medium shows hostile text as text (checked by rendering it the way viewers do)."""

from __future__ import annotations

import itertools
import random
import re

import pytest

from hostile_text import ALL, ANSI, BIDI, NOTATION, RAW_FORBIDDEN, parse_html, table_cells
from physlora.untrusted import (TerminalStream, html_text, json_visible, md_code, md_text, plot_text, terminal_text,
                                tracking_key, visible)

NOTATIONS = ["a*b*c", "2*3*4", "v_x", "x < y", "E = mc^2", r"\frac{1}{2}", r"$\frac{1}{2} m v^2$", "k_B T",
             "F = m a", "|v| = 3", "x_1 + x_2 = _y_", "10 [0.1, 0.2] (ok)", "~10 eV", "<E> = 3/2 k T", "A & B",
             "**bold?**", "`code`", r"a \* b", "trailing \\"]


@pytest.fixture(scope="module")
def commonmark():
    """CommonMark + GFM tables/strikethrough (GitHub's flavour), the way report.md is read."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable(["table", "strikethrough"])


def _squash(s: str) -> str:
    return " ".join(s.split())


# ---------------------------------------------------------------- visible


def test_visible_marks_invisible_and_control_characters():
    assert visible("a\u202eb\u200bc\u2066d\ufeffe\u00adf") == "a⟨U+202E⟩b⟨U+200B⟩c⟨U+2066⟩d⟨U+FEFF⟩e⟨U+00AD⟩f"
    assert visible("\x1b[31m\x00\x07\x7f\x9b") == "␛[31m␀␇␡⟨U+009B⟩"
    assert visible("a\r\nb\rc\u2028d\te") == "a\nb\nc\nd\te"  # newlines normalised, tab kept
    assert visible("bad \udcff byte") == "bad \ufffd byte"  # a surrogate-escaped byte cannot be printed or encoded
    joined = "👩\u200d🔬 \u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # an emoji ZWJ sequence, Persian ZWNJ
    assert visible(joined) == joined
    for s in ALL.values():
        v = visible(s)
        assert not any(ch in v for ch in RAW_FORBIDDEN) and visible(v) == v  # nothing hidden left; idempotent
    assert visible(12.5) == "12.5"


def test_json_visible_reaches_keys_and_nested_values():
    out = json_visible({"a\u202e": ["x\x1b", {"k": "v\u200b", "n": 1.5, "none": None, "t": True}]})
    assert out == {"a⟨U+202E⟩": ["x␛", {"k": "v⟨U+200B⟩", "n": 1.5, "none": None, "t": True}]}


# ---------------------------------------------------------------- HTML


@pytest.mark.parametrize("name", sorted(ALL))
def test_html_text_is_only_text(name):
    root = parse_html(f"<p title=\"{html_text(ALL[name])}\">{html_text(ALL[name])}</p>")
    (p,) = [c for c in root.children if not isinstance(c, str)]
    assert p.children == [visible(ALL[name])] and p.attrs["title"] == visible(ALL[name])


# ---------------------------------------------------------------- Markdown


@pytest.mark.parametrize("text", NOTATIONS + list(ALL.values()), ids=lambda s: s[:20])
def test_md_text_renders_to_the_same_text_and_no_markup(commonmark, text):
    html = commonmark.render(md_text(text))
    root = parse_html(html)
    tags = {n.tag for n in _walk(root)}
    assert tags <= {"p"}, (md_text(text), html)
    assert _squash(root.text()) == _squash(visible(text))


@pytest.mark.parametrize("text, source", [
    ("v_x", "v_x"), ("k_B T", "k_B T"), ("x < y", "x < y"), ("E = mc^2", "E = mc^2"), (r"\frac{1}{2}", r"\frac{1}{2}"),
    ("A & B", "A & B"), ("0.16 [0.15, 0.18]", "0.16 [0.15, 0.18]"), ("F = m a", "F = m a"),
    ("a*b*c", r"a\*b\*c"), ("_y_", r"\_y\_"), ("$x$", r"\$x\$"), ("|v|", r"\|v\|"), ("<E>", r"\<E>"),
    ("&lt;", r"\&lt;"), (r"\{x\}", r"\\{x\\}"), ("see [a](b)", r"see [a\](b)"), ("[a](b)", r"\[a\](b)"), ("1.5 m", "1.5 m"), ("- item", r"\- item"), ("1. one", r"1\. one"),
])
def test_only_what_would_render_differently_is_escaped(text, source):
    """report.md stays readable: v_x, x < y, E = mc^2, \\frac{1}{2} are left as written."""
    assert md_text(text) == source


def test_md_text_in_list_items_and_headings_keeps_structure(commonmark):
    item = "first line\n- not an item\n\n# not a heading\n    not code"
    md = "- " + md_text(item, newline="\n  ") + "\n- second\n\n## " + md_text(ALL["markdown"], newline=" ", block=False)
    root = parse_html(commonmark.render(md))
    items = root.find_all("li")
    assert len(items) == 2 and items[1].text().strip() == "second"
    assert _squash(items[0].text()) == _squash(item)
    (h2,) = root.find_all("h2")
    assert _squash(h2.text()) == _squash(ALL["markdown"])
    assert not root.find_all("h1") and not root.find_all("pre") and not root.find_all("code")


def test_md_table_cells_keep_rows_and_columns(commonmark):
    cells = [ALL["cell"], ALL["markdown"], NOTATION, ALL["script"]]
    row = "| " + " | ".join(md_text(c, newline="<br>", block=False) for c in cells) + " |"
    md = "| a | b | c | d |\n|---|---|---|---|\n" + row + "\n" + row + "\n"
    # <br> in a cell is the one piece of HTML report.md writes itself; allow exactly that tag here
    html = commonmark.options.update({"html": True}) or commonmark.render(md)
    commonmark.options["html"] = False
    (table,) = parse_html(html).find_all("table")
    grid = table_cells(table)
    assert len(grid) == 3 and all(len(r) == 4 for r in grid)
    for got in grid[1:]:
        assert [_squash(c) for c in got] == [_squash(visible(c)) for c in cells]
    assert not parse_html(html).find_all("script") and not parse_html(html).find_all("em")


@pytest.mark.parametrize("text", ["a`b", "`x`", "``", "x | y", " spaced ", "multi\nline", "$x$ *y*"])
def test_md_code_is_verbatim(commonmark, text):
    (code,) = parse_html(commonmark.render(md_code(text))).find_all("code")
    assert code.text() == visible(text).replace("\n", " ")


# ---------------------------------------------------------------- terminal


def test_terminal_text_has_no_escape_sequences():
    out = terminal_text(ANSI + "\x08\x08over\rwrite\x9b31m C1 \x90dcs\x9c " + BIDI)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", out), repr(out)
    assert "red" in out and "end" in out and "pwned title" not in out and "http://evil" not in out
    assert "⟨U+202E⟩" in out and "⟨U+200B⟩" in out and "\u202e" not in out
    assert terminal_text("line1\r\nline2\ttab") == "line1\nline2\ttab"
    assert terminal_text("bad \udcff") == "bad \ufffd"  # printable: print() of a lone surrogate would raise


def test_terminal_stream_equals_whole_text_at_every_split():
    text = "ok \x1b[1;31mbold red\x1b[0m \x1b]0;title\x1b\\ \x1b(B done\r\nnext \x1b]8;;u\x07x"
    whole = terminal_text(text)
    for cut in range(1, len(text)):
        s = TerminalStream()
        assert s.feed(text[:cut]) + s.feed(text[cut:]) + s.flush() == whole, cut
    rng = random.Random(0)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(text)), 4))
        s = TerminalStream()
        pieces = [text[a:b] for a, b in itertools.pairwise([0, *cuts, len(text)])]
        out = "".join(s.feed(p) for p in pieces) + s.flush()
        assert out == whole and "\x1b" not in out


def test_terminal_stream_does_not_hold_ordinary_text():
    s = TerminalStream()
    assert s.feed("Hello, ") == "Hello, " and s.feed("world") == "world" and s.flush() == ""
    assert s.feed("\x1b") == "" and s.feed("x" * 300) != ""  # an ESC that never completes is released, cleaned


# ---------------------------------------------------------------- tracking and plots


def test_tracking_key_is_accepted_by_mlflow_rules():
    assert tracking_key("eval_base/rouge_l") == "eval_base/rouge_l"
    key = tracking_key("eval/<script>\x1b[31m\u202e|x")
    assert re.fullmatch(r"[A-Za-z0-9_\-. :/]+", key) and len(tracking_key("x" * 1000)) == 250


def test_plot_text_makes_dollars_literal():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    try:
        ax.set_xlabel(r"mean $\frac{1}{$ m")  # read as broken mathtext: drawing fails
        with pytest.raises(ValueError):
            fig.canvas.draw()
        ax.set_xlabel(plot_text(r"mean $\frac{1}{$ m"))
        fig.canvas.draw()  # shown as written
    finally:
        plt.close(fig)


def _walk(root):
    for c in root.children:
        if not isinstance(c, str):
            yield c
            yield from _walk(c)
