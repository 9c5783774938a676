"""LaTeX, Markdown and Unicode notation rewritten into one plain grammar that the readers of
quantities, formulas, intervals and verdicts share.

Models write the same answer many ways (``\\frac{1}{2}``, ``½``, ``1/2``; ``3 \\times 10^{8}``, ``3×10⁸``,
``3e8``; ``\\text{N m}^2/\\text{C}^2``); everything downstream reads the output of `normalize` only.
Braces are matched by counting, not by regexes, so nested ``\\frac{\\sqrt{3}}{2}`` and
``\\text{kg}\\,\\text{m}^{2}`` come out right. Every function here is total: odd input (unbalanced braces,
stray backslashes) degrades to plain text, never to an exception.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = ["boxed_contents", "greek_names", "latex_to_plain", "normalize", "strip_markdown"]

_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")
_SUBSCRIPTS = str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789")
_VULGAR = {"½": "(1/2)", "⅓": "(1/3)", "⅔": "(2/3)", "¼": "(1/4)", "¾": "(3/4)", "⅕": "(1/5)", "⅛": "(1/8)"}
_NOT_LETTER = r"(?![A-Za-z])"
_MAX_CHARS = 20_000  # answers longer than this are cut (from the front: the end holds the final answer)

# LaTeX commands that only style their argument: \text{m/s} -> m/s
_STYLE_COMMANDS = ("text", "textrm", "textit", "textbf", "mathrm", "mathit", "mathbf", "mathsf", "mathtt",
                   "mbox", "rm", "operatorname", "mathnormal", "boldsymbol", "bm", "vec", "hat", "bar",
                   "overline", "underline", "displaystyle", "textstyle", "mathcal")  # fmt: skip
# symbols with a plain spelling the readers understand
_SYMBOLS = {
    "cdot": "*", "ast": "*", "times": "×", "div": "/", "approx": "≈", "simeq": "≈", "sim": "≈", "cong": "≈",
    "pm": "±", "mp": "∓", "leq": "≤", "le": "≤", "geq": "≥", "ge": "≥", "lt": "<", "gt": ">", "neq": "≠",
    "ne": "≠", "infty": "∞", "in": "∈", "cup": "∪", "to": "→", "rightarrow": "→", "Rightarrow": "⇒",
    "implies": "⇒", "Omega": "Ω", "mu": "μ", "hbar": "ħ", "AA": "Å", "angstrom": "Å", "circ": "°",
    "degree": "°", "%": "%", "ldots": "...", "dots": "...", "cdots": "...", "quad": " ", "qquad": " ",
    "lbrace": "{", "rbrace": "}", "langle": "<", "rangle": ">", "vert": "|", "mid": "|", "prime": "'",
}  # fmt: skip


def _match_brace(s: str, open_at: int) -> int:
    """Index of the brace closing the one at `open_at` (or len(s) when it is never closed)."""
    depth = 0
    for i in range(open_at, len(s)):
        c = s[i]
        if c == "\\":  # \{ and \} are literal braces
            continue
        if c == "{" and (i == 0 or s[i - 1] != "\\"):
            depth += 1
        elif c == "}" and (i == 0 or s[i - 1] != "\\"):
            depth -= 1
            if depth == 0:
                return i
    return len(s)


def _argument(s: str, i: int) -> tuple[str, int]:
    """The argument of a LaTeX command starting at `i` (a braced group or one character) and where it ends."""
    while i < len(s) and s[i] == " ":
        i += 1
    if i >= len(s):
        return "", i
    if s[i] == "{":
        end = _match_brace(s, i)
        return s[i + 1 : end], min(end + 1, len(s))
    if s[i] == "\\":
        m = re.match(r"\\[A-Za-z]+", s[i:])
        if m:
            return m.group(), i + m.end()
    return s[i], i + 1


def boxed_contents(text: str) -> list[str]:
    """The contents of every \\boxed{...} / \\fbox{...} (braces counted), in order of appearance."""
    out = []
    for m in re.finditer(r"\\(?:boxed|fbox)\s*(?=\{)", text):
        start = m.end()
        end = _match_brace(text, start)
        out.append(text[start + 1 : end])
    return out


_COMMAND = re.compile(r"\\([A-Za-z]+)")
_SPACING_COMMANDS = frozenset(("left", "right", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr", "limits"))


def _rewrite_commands(s: str) -> str:
    """\\frac, \\sqrt and the style commands, their arguments rewritten recursively; other commands
    lose their backslash (\\pi -> pi, \\omega -> omega, \\sin -> sin)."""
    if "\\" not in s:
        return s
    out: list[str] = []
    i = 0
    while (m := _COMMAND.search(s, i)) is not None:
        out.append(s[i : m.start()])
        name, j = m.group(1), m.end()
        if name in ("frac", "dfrac", "tfrac", "cfrac"):
            num, j = _argument(s, j)
            den, j = _argument(s, j)
            out.append(f"(({_rewrite_commands(num)})/({_rewrite_commands(den)}))")
        elif name == "sqrt":
            index = ""
            if j < len(s) and s[j] == "[":
                close = s.find("]", j)
                index, j = (s[j + 1 : close], close + 1) if close > 0 else ("", j)
            arg, j = _argument(s, j)
            inner = _rewrite_commands(arg)
            out.append(f"(({inner})^(1/({index})))" if index.strip() else f"sqrt({inner})")
        elif name in _STYLE_COMMANDS:
            arg, j = _argument(s, j)
            text_like = name.startswith("text") or name == "mbox"
            out.append(f" {_rewrite_commands(arg)} " if text_like else _rewrite_commands(arg))
        elif name in _SPACING_COMMANDS:
            pass
        elif name in _SYMBOLS:
            out.append(_SYMBOLS[name])
        else:
            # a space keeps '\\pi\\sqrt{2}' two names ('pi sqrt(2)'), not one ('pisqrt')
            out.append(name + (" " if j < len(s) and s[j] not in "^_({[)}]" else ""))
        i = j
    out.append(s[i:])
    return "".join(out)


def latex_to_plain(s: str) -> str:
    """LaTeX maths rewritten to plain text: '\\frac{G M}{r^{2}}' -> '((G M)/(r^(2)))'."""
    s = s.replace("$", " ")
    s = re.sub(r"\\[()\[\]]", " ", s)  # \( \) \[ \] math delimiters
    s = re.sub(r"\\begin\{[a-z*]+\}|\\end\{[a-z*]+\}", " ", s)
    s = re.sub(r"(?<=\d)\{,\}(?=\d{3}(?!\d))", "", s)  # 1{,}000 (thousands)
    s = re.sub(r"(?<=\d)\{,\}(?=\d)", ".", s)  # 3{,}5 (decimal comma)
    s = re.sub(r"(?<=\d)\\[,;: ](?=\d{3}(?!\d))", "", s)  # 10\,000
    s = re.sub(r"\\[,;:! ]|\\quad|~", " ", s)
    s = s.replace("\\%", "%").replace("\\{", "{").replace("\\}", "}").replace("\\\\", "\n")
    s = re.sub(r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ", "°", s)
    s = _rewrite_commands(s)
    s = re.sub(r"_\{(\w+)\}", r"_\1", s)  # m_{1} -> m_1
    s = re.sub(r"[ \t]+\^", "^", s)  # '\\text{m}^2' -> 'm ^2' -> 'm^2'
    return s.replace("{", "(").replace("}", ")")


def strip_markdown(s: str) -> str:
    """Bold/italic markers and code ticks, which models put around answers ('**B**', '`12 m/s`')."""
    s = re.sub(r"\*\*|__|`+", " ", s)
    return re.sub(r"(?m)^\s*#+\s*", "", s)


def greek_names(s: str) -> str:
    """'λ' -> 'lamda', 'ΔT' -> 'Delta T', 'ħ' -> 'hbar' so Unicode and spelled-out names compare equal."""

    def repl(m: re.Match[str]) -> str:
        ch = m.group()
        if ch in "ħℏ":
            name = "hbar"
        else:
            parts = unicodedata.name(ch, "").split()
            if len(parts) != 4 or parts[:2] not in (["GREEK", "SMALL"], ["GREEK", "CAPITAL"]):
                return ch
            name = parts[3].lower() if parts[1] == "SMALL" else parts[3].capitalize()
        nxt = s[m.end() : m.end() + 1]
        return f" {name}" + (" " if nxt.isalnum() else "")

    return re.sub(r"[^\x00-\x7f]", repl, s.replace("µ", "μ"))


@lru_cache(maxsize=4096)
def normalize(text: str) -> str:
    """LaTeX, Markdown and Unicode notation rewritten to plain ASCII-like maths (idempotent).

    '3 \\times 10^{8}\\,\\text{m/s}' -> '3 × 10^(8)  m/s '; '½ mv²' -> '(1/2) mv^2'; '−9.8' -> '-9.8';
    '27 °C' -> '27 degC'; '25%' -> '25 percent'. Cached: references are normalised once per run.
    """
    s = text[-_MAX_CHARS:] if len(text) > _MAX_CHARS else text
    s = re.sub(r"(?<=\d)[\u2009\u202f](?=\d{3}(?!\d))", "", s)  # 10 000 with a thin space: one number
    s = re.sub(r"(?<=\.\d{3}) (?=\d{1,3}(?!\d))", "", s)  # 0.000 12 (SI digit groups after the point)
    s = re.sub(r"(?<=[\w)])\*\*(?=[\w(])", "^", s)  # x**2 is a power; other ** are Markdown bold
    s = strip_markdown(latex_to_plain(s))
    for ch, plain in _VULGAR.items():
        s = s.replace(ch, plain)
    s = re.sub(r"[⁻⁺]?[⁰¹²³⁴⁵⁶⁷⁸⁹]+", lambda m: "^" + m.group().translate(_SUPERSCRIPTS), s)
    s = re.sub(r"[₀₁₂₃₄₅₆₇₈₉]+", lambda m: "_" + m.group().translate(_SUBSCRIPTS), s)
    s = s.replace("−", "-").replace("–", "-").replace("·", "*").replace("⋅", "*").replace("∙", "*")
    s = re.sub(r"[\u2009\u202f\u00a0\u2002\u2003]", " ", s)
    s = re.sub(r"√\s*([\w.]+)", r"sqrt(\1)", s).replace("√", "sqrt")
    # Temperature spellings pint cannot read ('°C' is fine, 'degrees C' is not); bare '°' is an angle.
    s = re.sub(r"(?:°|º|\bdeg(?:ree)?s?)\s*(?:C\b|[Cc]elsius\b|[Cc]entigrade\b)", "degC", s)
    s = re.sub(r"(?:°|º|\bdeg(?:ree)?s?)\s*(?:F\b|[Ff]ahrenheit\b)", "degF", s)
    s = re.sub(r"(?:°|º)\s*K\b", "K", s)
    s = re.sub(r"[°º]", " degree", s)
    s = s.replace("Å", " angstrom")
    s = re.sub(r"(?<=\d)(\s*)[μµ]\s+(?=[A-Za-zΩ]{1,3}\b)", r"\1μ", s)  # '5 \\mu \\text{m}' -> '5 μm'
    return re.sub(r"(\d|\))\s*%", r"\1 percent", s)
