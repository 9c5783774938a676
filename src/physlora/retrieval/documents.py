"""Read a user's document into a flat list of blocks: headings (with their level) and the text blocks between
them (paragraphs, lists, tables, code, display equations), each with its line span (or page, for a PDF).

The chunker (`chunking`) only ever cuts *between* blocks, or inside an over-long prose block at a sentence
boundary, so what counts as one block decides what is never cut: a display equation is one block, however
many blank lines it holds.

Formats: Markdown (markdown-it-py, CommonMark, gives each top-level block its line span), plain text
(paragraphs), LaTeX (sectioning commands and math environments), PDF (pypdf: text per page, headings from
the PDF outline) and JSONL (one passage per row: text + optional title and id). A file that cannot be read
raises `Unreadable` with the reason, so the index names it and skips it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".tex": "latex", ".pdf": "pdf",
            ".jsonl": "jsonl"}
# JSONL passages: the first of these keys that a row has
TEXT_KEYS = ("text", "content", "body", "passage", "chunk", "abstract")
TITLE_KEYS = ("title", "heading", "section", "name")
ID_KEYS = ("passage_id", "id", "doc_id", "_id")


class Unreadable(Exception):
    """The file cannot be indexed; the message says why (and what to do), in a few words."""


@dataclass
class Block:
    kind: str  # heading | text | math | code
    text: str
    line_start: int | None = None  # 1-based, inclusive
    line_end: int | None = None
    page: int | None = None  # 1-based, PDF only
    level: int = 0  # headings: 1 = top
    anchor: str | None = None  # an explicit passage id (JSONL rows); otherwise derived from headings


@dataclass
class Document:
    path: str  # relative to the indexed folder, '/'-separated
    kind: str
    blocks: list[Block] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    pages: int | None = None


def read_document(path: Path, rel: str) -> Document:
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise Unreadable(f"unsupported file type {path.suffix or '(none)'}")
    if kind == "pdf":
        doc = _read_pdf(path, rel)
    else:
        text = _read_text(path)
        doc = Document(rel, kind)
        reader = {"markdown": _markdown_blocks, "text": _text_blocks, "latex": _latex_blocks, "jsonl": _jsonl_blocks}
        doc.blocks = reader[kind](text, doc)
    if not any(b.kind != "heading" and b.text.strip() for b in doc.blocks):
        raise Unreadable("no text in it" if kind != "pdf" else "no extractable text (a scanned PDF? OCR it first)")
    return doc


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise Unreadable("binary file (NUL bytes), not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise Unreadable(f"not UTF-8 (byte {e.start}); re-save it as UTF-8") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


# ---------------------------------------------------------------- display math is never cut

_MATH_OPEN = re.compile(r"\\begin\{(equation|align|gather|multline|eqnarray|displaymath|math|split|array|cases)\*?\}")


def _math_unbalanced(text: str) -> bool:
    """Whether `text` opens display math it does not close ($$, \\[ or a math environment)."""
    if text.count("$$") % 2:
        return True
    if text.count("\\[") > text.count("\\]"):
        return True
    opened = len(_MATH_OPEN.findall(text))
    closed = len(re.findall(r"\\end\{(equation|align|gather|multline|eqnarray|displaymath|math|split|array|cases)\*?\}", text))
    return opened > closed


def _is_display_math(text: str) -> bool:
    s = text.strip()
    return (s.startswith("$$") and s.endswith("$$")) or (s.startswith("\\[") and s.endswith("\\]")) or bool(
        _MATH_OPEN.match(s)
    )


def merge_open_math(blocks: list[Block]) -> list[Block]:
    """Join consecutive text blocks while display math is open (a blank line inside $$ ... $$ would
    otherwise split the equation into two paragraphs)."""
    out: list[Block] = []
    for b in blocks:
        prev = out[-1] if out else None
        if prev and prev.kind in ("text", "math") and b.kind in ("text", "math") and prev.page == b.page \
                and _math_unbalanced(prev.text):
            prev.text = prev.text + "\n\n" + b.text
            prev.line_end = b.line_end
            prev.kind = "math" if _is_display_math(prev.text) else "text"
            continue
        if b.kind == "text" and _is_display_math(b.text):
            b.kind = "math"
        out.append(b)
    return out


# ---------------------------------------------------------------- Markdown


def _front_matter_lines(lines: list[str]) -> int:
    """Lines taken by a YAML front matter block (--- ... ---) at the top, else 0."""
    if lines and lines[0].strip() == "---":
        for i in range(1, min(len(lines), 200)):
            if lines[i].strip() in ("---", "..."):
                return i + 1
    return 0


def _markdown_blocks(text: str, doc: Document) -> list[Block]:
    from markdown_it import MarkdownIt

    lines = text.split("\n")
    skip = _front_matter_lines(lines)
    tokens = MarkdownIt("commonmark").enable("table").parse("\n".join(lines[skip:]))
    blocks = []
    for i, tok in enumerate(tokens):
        if tok.level != 0 or tok.nesting == -1 or tok.map is None or tok.type == "hr":
            continue
        start, end = tok.map  # 0-based, end exclusive, relative to the text after the front matter
        raw = "\n".join(lines[skip + start : skip + end]).strip()
        if not raw:
            continue
        span = dict(line_start=skip + start + 1, line_end=skip + end)
        if tok.type == "heading_open":
            title = tokens[i + 1].content.strip() if i + 1 < len(tokens) else raw.lstrip("#").strip()
            blocks.append(Block("heading", title, level=int(tok.tag[1]), **span))
        else:
            kind = "code" if tok.type in ("fence", "code_block") else "text"
            blocks.append(Block(kind, raw, **span))
    return merge_open_math(blocks)


# ---------------------------------------------------------------- plain text


def _paragraphs(text: str, first_line: int = 1, page: int | None = None) -> list[Block]:
    """Blocks separated by blank lines, with their line spans."""
    blocks, buf, start = [], [], None
    for n, line in enumerate(text.split("\n"), start=first_line):
        if line.strip():
            if start is None:
                start = n
            buf.append(line.rstrip())
        elif buf:
            blocks.append(Block("text", "\n".join(buf), start, n - 1, page))
            buf, start = [], None
    if buf:
        blocks.append(Block("text", "\n".join(buf), start, start + len(buf) - 1, page))
    return blocks


def _text_blocks(text: str, doc: Document) -> list[Block]:
    return merge_open_math(_paragraphs(text))


# ---------------------------------------------------------------- LaTeX
# Hand-written on purpose: only the sectioning commands and the math environments matter here, and the
# source text must stay as written (a LaTeX parser such as pylatexenc builds a full node tree and would
# still leave this mapping to us).

_SECTION = re.compile(r"\\(part|chapter|section|subsection|subsubsection|paragraph)\*?\s*(?:\[[^\]]*\])?\s*\{")
_LEVELS = {"part": 1, "chapter": 1, "section": 2, "subsection": 3, "subsubsection": 4, "paragraph": 5}


def _strip_comments(line: str) -> str:
    return re.sub(r"(?<!\\)%.*", "", line)


def _braced(text: str, start: int) -> tuple[str, int]:
    """The content of the {...} group that opens at text[start - 1], and the index after it."""
    depth, i = 1, start
    while i < len(text) and depth:
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
    return text[start : i - 1], i


def latex_to_plain(title: str) -> str:
    """A heading's text without simple markup: \\emph{x} -> x, ~ -> space; math is kept."""
    title = re.sub(r"\\(?:emph|textbf|textit|texttt|mathrm|text)\{([^{}]*)\}", r"\1", title)
    return " ".join(title.replace("~", " ").split())


def _latex_blocks(text: str, doc: Document) -> list[Block]:
    lines = [_strip_comments(line) for line in text.split("\n")]
    body_from = next((i + 1 for i, line in enumerate(lines) if "\\begin{document}" in line), 0)
    blocks: list[Block] = []
    para: list[str] = []
    para_start = None

    def flush(end_line: int) -> None:
        nonlocal para, para_start
        chunk = "\n".join(para).strip()
        if chunk and chunk != "\\maketitle":
            blocks.append(Block("text", chunk, para_start, end_line))
        para, para_start = [], None

    for n in range(body_from, len(lines)):
        line = lines[n]
        if "\\end{document}" in line:
            break
        m = _SECTION.search(line)
        if m and not line[: m.start()].strip():
            flush(n)
            title, after = _braced(line, m.end())
            blocks.append(Block("heading", latex_to_plain(title), n + 1, n + 1, level=_LEVELS[m.group(1)]))
            rest = line[after:].strip()
            if rest:
                para, para_start = [rest], n + 1
            continue
        if line.strip():
            para_start = para_start or n + 1
            para.append(line.rstrip())
        elif para:
            flush(n)
    flush(len(lines))
    return merge_open_math(blocks)


# ---------------------------------------------------------------- JSONL passages


def _first(row: dict, keys: tuple[str, ...]) -> str | None:
    for k in keys:
        v = row.get(k)
        if isinstance(v, (str, int, float)) and str(v).strip():
            return str(v).strip()
    return None


def _jsonl_blocks(text: str, doc: Document) -> list[Block]:
    """One heading (the row's title, if any) + one text block per row; the row's id becomes its passage id."""
    blocks = []
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            doc.warnings.append(f"line {n}: not JSON ({e.msg}); row skipped")
            continue
        body = _first(row, TEXT_KEYS) if isinstance(row, dict) else None
        if body is None:
            doc.warnings.append(f"line {n}: no text field ({'/'.join(TEXT_KEYS)}); row skipped")
            continue
        anchor = _first(row, ID_KEYS) or f"row{n}"
        blocks.append(Block("heading", _first(row, TITLE_KEYS) or anchor, n, n, level=1, anchor=anchor))
        blocks.append(Block("text", body, n, n, anchor=anchor))
    return merge_open_math(blocks)


# ---------------------------------------------------------------- PDF


def _read_pdf(path: Path, rel: str) -> Document:
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings on damaged files would flood the terminal
    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted and not reader.decrypt(""):
            raise Unreadable("encrypted PDF (needs a password); decrypt it first")
        pages = [page.extract_text() or "" for page in reader.pages]
    except Unreadable:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, RecursionError) as e:
        raise Unreadable(f"unreadable PDF ({type(e).__name__}: {str(e).splitlines()[0][:80] if str(e) else 'damaged'})") from None
    doc = Document(rel, "pdf", pages=len(pages))
    outline = _pdf_outline(reader)
    for number, page_text in enumerate(pages, start=1):
        for level, title in outline.get(number, []):
            doc.blocks.append(Block("heading", title, page=number, level=level))
        doc.blocks += _paragraphs(page_text.replace("\r", ""), 1, number)
    for b in doc.blocks:  # a PDF's line numbers are not the reader's: keep pages only
        b.line_start = b.line_end = None
    doc.blocks = merge_open_math(doc.blocks)
    return doc


def _pdf_outline(reader) -> dict[int, list[tuple[int, str]]]:
    """Page number (1-based) -> the outline entries (level, title) that start on it."""
    found: dict[int, list[tuple[int, str]]] = {}

    def walk(items, level: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, level + 1)
                continue
            try:
                page = reader.get_destination_page_number(item)
            except Exception:  # a broken outline entry must not lose the document's text
                continue
            if page is not None and page >= 0 and getattr(item, "title", None):
                found.setdefault(page + 1, []).append((level, str(item.title).strip()))

    try:
        walk(reader.outline, 1)
    except Exception:  # damaged outlines are common; the text is what matters
        return {}
    return found
