"""One rule for text physlora did not write (questions and references from data sets, answers from models,
program output, passages from documents): it is shown as text, never interpreted, in every medium it reaches.

    visible(s)          the first step for every medium: invisible and control characters shown as visible marks
    html_text(s)        visible + HTML entities (element text and attribute values)
    md_text(s, ...)     visible + Markdown escapes (prose, headings, table cells), notation left readable
    md_code(s)          a Markdown code span that shows s verbatim (names, paths)
    terminal_text(s)    ANSI/OSC escape sequences and control characters removed, invisible marks visible
    TerminalStream      the same for text that arrives in pieces (a streamed answer)
    tracking_key(s)     a metric or tag name that MLflow and TensorBoard accept as it is
    json_visible(obj)   visible() on every string (keys too) of a JSON-like value (the local page's API)

Why "visible" rather than deleting: a right-to-left override (U+202E) or a zero-width space changes what a
reader sees without changing what is stored (Trojan Source, CVE-2021-42574); showing it as ⟨U+202E⟩ keeps the
text honest. C0 controls become their Unicode "control pictures" (ESC -> ␛), so an ANSI colour code in an
answer reads as ␛[31m in a report instead of vanishing or colouring anything. Zero-width (non-)joiners are
kept: Persian, Indic scripts and emoji sequences need them to render.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from typing import Any

# ---------------------------------------------------------------- every medium

_NEWLINES = re.compile(r"\r\n|[\r\u2028\u2029\x85]")
_SURROGATES = re.compile(r"[\ud800-\udfff]")  # from bytes decoded with surrogateescape: not printable, not UTF-8


def _marker(ch: str) -> str:
    return f"\u27e8U+{ord(ch):04X}\u27e9"  # ⟨U+202E⟩: mathematical angle brackets need no escaping in any medium


@lru_cache(maxsize=1)
def _invisible():
    """Control (Cc, except tab and newline) and format (Cf) characters, by Unicode property: the `regex`
    package (a transformers dependency) knows the properties, and a newer Unicode than this Python's, so no
    hand-kept list misses characters added later (e.g. new Arabic format marks)."""
    import regex

    return regex.compile(r"[[\p{Cc}\p{Cf}]--[\t\n\u200c\u200d]]", regex.V1)


def _is_control(ch: str) -> bool:
    return ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F  # Unicode category Cc, which never changes


def _show(m: re.Match[str]) -> str:
    ch = m.group(0)
    if ord(ch) < 0x20:
        return chr(0x2400 + ord(ch))  # control pictures: ␀ .. ␟
    if ord(ch) == 0x7F:
        return "\u2421"  # ␡
    return _marker(ch)


def visible(text: Any) -> str:
    """`text` as a string a reader sees exactly: newlines normalised to \\n, lone surrogates (undecodable
    bytes) to U+FFFD, every other control or invisible format character to a visible mark."""
    s = text if isinstance(text, str) else str(text)
    s = _NEWLINES.sub("\n", _SURROGATES.sub("\ufffd", s))
    return _invisible().sub(_show, s)


def json_visible(value: Any) -> Any:
    """visible() on every string of a JSON-like value, dictionary keys included; numbers, None, bools kept."""
    if isinstance(value, str):
        return visible(value)
    if isinstance(value, dict):
        return {visible(k) if isinstance(k, str) else k: json_visible(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_visible(v) for v in value]
    return value


# ---------------------------------------------------------------- HTML


def html_text(text: Any) -> str:
    """For HTML element text and quoted attribute values. (Templates get the same through physlora.report.html,
    whose Jinja environment auto-escapes and applies visible() to every value it prints.)"""
    return html.escape(visible(text), quote=True)


# ---------------------------------------------------------------- Markdown (CommonMark + GitHub tables)

# Escaped everywhere: backslash before punctuation (or at a line end: a hard break), the emphasis and code
# characters, `|` (table cells; a prose line with pipes can also start a table), `~` (strikethrough), `$`
# (GitHub renders $...$ as math; notation must read as written), `#` (headings and their closing #s).
# `_` between two letters/digits is left alone: CommonMark never reads it as emphasis (v_x, k_B, q_proj).
# `<` only where it can open a tag or autolink, `&` only where it can start an entity, `[` / `]` only where a
# link could form: `x < y`, `A & B` and `0.16 [0.15, 0.18]` stay as they are.
_MD_INLINE = re.compile(
    r"\\(?=[!-/:-@\[-`{-~]|$)"  # a backslash that would escape what follows (or break the line)
    r"|[`*|~$#]"
    r"|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])"
    r"|<(?=[A-Za-z/!?])"
    r"|&(?=#?[A-Za-z0-9]+;)"
    r"|\](?=[(\[:])",
    re.MULTILINE,
)
# what makes a block when it starts a line: quote, list item, setext underline, numbered item, link definition
_MD_LINE_START = re.compile(r"^(?:(?P<mark>[>\-+=\[])|(?P<num>\d{1,9})(?=[.)](?:[ \t]|$)))")


def _escape_line_start(line: str) -> str:
    m = _MD_LINE_START.match(line)
    if m is None:
        return line
    if m.group("mark"):
        return "\\" + line
    return m.group("num") + "\\" + line[m.end():]  # 1\. : the number stays, the list marker is escaped


def md_text(text: Any, *, newline: str = "\n", block: bool = True, line_start: bool = True) -> str:
    """`text` as Markdown that renders to exactly that text (after visible()).

    newline: what each line break becomes, e.g. "\\n  " to continue a list item, " " in a heading, "<br>" in
    a table cell. block=False for inline places (table cells, after "## "): no line-start escapes needed.
    line_start=False when the text continues a line already begun (its first line keeps its spaces)."""
    lines = visible(text).split("\n")
    out = []
    for i, line in enumerate(lines):
        line = _MD_INLINE.sub(lambda m: "\\" + m.group(0), line)
        if block and (i > 0 or line_start):
            # leading spaces would make an indented code block; a line's first character may open a block
            line = _escape_line_start(line.lstrip())
        out.append(line)
    return newline.join(out)


def md_code(text: Any) -> str:
    """A code span showing `text` verbatim (newlines as spaces): fenced with more backticks than any run
    inside it, padded when it starts or ends with a backtick or a space (CommonMark strips one space)."""
    s = visible(text).replace("\n", " ")
    if not s:
        return "` `"
    fence = "`" * (max((len(r) for r in re.findall(r"`+", s)), default=0) + 1)
    pad = " " if s[0] in "` " or s[-1] in "` " else ""
    return f"{fence}{pad}{s}{pad}{fence}"


# ---------------------------------------------------------------- terminal

# ECMA-48: CSI (ESC [ ... final), OSC/DCS/SOS/PM/APC strings (ESC ] P X ^ _ ... BEL or ST), their 8-bit
# forms, and two-/three-byte ESC sequences. Unterminated strings run to the end: a terminal would swallow them.
_STRING_END = r"(?:\x07|\x1b\\|\x9c)"
_ESC_FINAL = r"[0-OQ-WYZ\\`-~]"  # a two-byte ESC sequence's final byte; not [ ] P X ^ _, which open longer ones
_ANSI = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*" + _STRING_END + "?"
    r"|\x1b[ -/]*" + _ESC_FINAL
)
_ANSI_COMPLETE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*" + _STRING_END
    + r"|\x1b[ -/]*" + _ESC_FINAL
)
_INTRODUCERS = "\x1b\x9b\x90\x98\x9d\x9e\x9f"
_MAX_HELD = 256  # a sequence longer than this is not waiting for its end: release (sanitised) what is held


def terminal_text(text: Any) -> str:
    """Safe to print to a terminal: escape sequences removed (no colours, cursor moves, titles, hyperlinks,
    clipboard writes), other control characters removed, invisible format characters shown as ⟨U+XXXX⟩."""
    s = text if isinstance(text, str) else str(text)
    s = _ANSI.sub("", _NEWLINES.sub("\n", _SURROGATES.sub("\ufffd", s)))
    return _invisible().sub(lambda m: "" if _is_control(m.group(0)) else _marker(m.group(0)), s)


class TerminalStream:
    """terminal_text() for text printed piece by piece: an escape sequence split across two pieces is held
    back until it is complete (then removed whole), so no piece ever prints half of one."""

    def __init__(self) -> None:
        self._held = ""

    def feed(self, piece: str) -> str:
        s = self._held + piece
        cut = len(s)
        last = max(s.rfind(ch) for ch in _INTRODUCERS)
        if last >= 0 and len(s) - last < _MAX_HELD and not _ANSI_COMPLETE.match(s, last):
            cut = last
        elif s.endswith("\r"):
            cut = len(s) - 1  # maybe the first half of \r\n
        self._held = s[cut:]
        return terminal_text(s[:cut])

    def flush(self) -> str:
        s, self._held = self._held, ""
        return terminal_text(s)


# ---------------------------------------------------------------- tracking UIs

_TRACKING_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. :/]")  # MLflow's rule for metric/param names (TensorBoard: any)


def tracking_key(name: Any, max_len: int = 250) -> str:
    """A metric/tag name MLflow accepts (it rejects other characters) and TensorBoard shows as written."""
    return _TRACKING_UNSAFE.sub("_", visible(name))[:max_len] or "_"


# ---------------------------------------------------------------- plots


def plot_text(text: Any, max_len: int = 80) -> str:
    """A matplotlib label shown as written: `$` would start mathtext (and a stray one fails the whole plot)."""
    s = visible(text).replace("\n", " ")
    s = s if len(s) <= max_len else s[: max_len - 1] + "…"
    return s.replace("$", r"\$")
