"""report.md from a report document: every string escaped with physlora.untrusted, so questions, answers,
topics and names read exactly as written on GitHub or in any CommonMark viewer, and cannot add markup."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

from physlora.report.document import (
    Block, BulletList, Code, CodeBlock, Document, Heading, Image, Inline, Paragraph, Strong, Table,
)
from physlora.untrusted import md_code, md_text, visible


def _inline(parts: tuple[Inline, ...], *, newline: str, block: bool) -> str:
    out = []
    for i, part in enumerate(parts):
        if isinstance(part, Code):
            out.append(md_code(part.text))
        elif isinstance(part, Strong):
            out.append(f"**{md_text(part.text, newline=' ', block=False)}**")
        else:
            out.append(md_text(part, newline=newline, block=block, line_start=i == 0))
    return re.sub(r"(?m)^[ \t]+$", "", "".join(out))  # blank lines inside a list item: no trailing spaces


def _table(t: Table) -> list[str]:
    def row(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(md_text(c, newline="<br>", block=False) for c in cells) + " |"

    return [row(t.header), "|" + "---|" * len(t.header)] + [row(r) for r in t.rows]


def code_block(text: str) -> list[str]:
    """A fenced block showing `text` verbatim: the fence is longer than any backtick or tilde run inside it,
    so no line can close it early; invisible characters are made visible like everywhere else."""
    shown = visible(text)
    longest = max((len(m) for m in re.findall(r"`+", shown)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence, *shown.split("\n"), fence]


def render_block(b: Block) -> list[str]:
    if isinstance(b, Heading):
        return ["#" * b.level + " " + _inline(b.parts, newline=" ", block=False)]
    if isinstance(b, Paragraph):
        return [_inline(b.parts, newline="\n", block=True)]
    if isinstance(b, BulletList):
        # continuation lines indented by two spaces stay inside their list item
        return ["- " + _inline(item, newline="\n  ", block=True) for item in b.items]
    if isinstance(b, Table):
        return _table(b)
    if isinstance(b, Image):
        return [f"![{md_text(b.alt, newline=' ', block=False)}]({quote(b.file)})"]
    if isinstance(b, CodeBlock):
        return code_block(b.text)
    raise TypeError(f"not a report block: {b!r}")


def to_markdown(doc: Document) -> str:
    lines: list[str] = []
    for b in doc.blocks:
        lines += render_block(b) + [""]
    return "\n".join(lines)


def build_report(run_dir: Path) -> Path:
    """Write report.md, report.html and the plots of a run folder (see physlora.report.build)."""
    from physlora.report.build import build_report as build

    return build(run_dir)
