"""A report as plain data: headings, paragraphs, lists, tables and images holding *text*, never markup.

Section functions (report/sections.py) build these blocks; report/markdown.py and report/html.py render them,
each escaping every string for its medium with physlora.untrusted. Nothing here is trusted markup, so a
section cannot forget to escape: there is no way to put raw Markdown or HTML into a block.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union


@dataclass(frozen=True)
class Code:
    """Inline text shown verbatim in a code font (names, paths, config values)."""

    text: str


@dataclass(frozen=True)
class Strong:
    """Inline text in bold."""

    text: str


Inline = Union[str, Code, Strong]


def _parts(parts: Inline | list[Inline] | tuple[Inline, ...]) -> tuple[Inline, ...]:
    return tuple(parts) if isinstance(parts, (list, tuple)) else (parts,)


@dataclass(frozen=True)
class Heading:
    level: int
    parts: tuple[Inline, ...]
    kind: str = field(default="heading", init=False)


@dataclass(frozen=True)
class Paragraph:
    parts: tuple[Inline, ...]
    kind: str = field(default="paragraph", init=False)


@dataclass(frozen=True)
class BulletList:
    items: tuple[tuple[Inline, ...], ...]
    kind: str = field(default="bullets", init=False)


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    kind: str = field(default="table", init=False)

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row) != len(self.header):
                raise ValueError(f"table row has {len(row)} cells, the header {len(self.header)}: {row!r}")


@dataclass(frozen=True)
class Image:
    """A PNG file in the run folder (inlined into report.html)."""

    file: str
    alt: str
    kind: str = field(default="image", init=False)


@dataclass(frozen=True)
class CodeBlock:
    """Lines shown verbatim in a code font (a program a model wrote, what it printed)."""

    text: str
    kind: str = field(default="code", init=False)


Block = Union[Heading, Paragraph, BulletList, Table, Image, CodeBlock]


@dataclass
class Document:
    title: str
    blocks: list[Block] = field(default_factory=list)


# small constructors, so section code reads like the report it writes


def heading(level: int, *parts: Inline) -> Heading:
    return Heading(level, _parts(list(parts)))


def paragraph(*parts: Inline) -> Paragraph:
    return Paragraph(_parts(list(parts)))


def bullets(items: list[Inline | list[Inline] | tuple[Inline, ...]]) -> BulletList:
    return BulletList(tuple(_parts(i) for i in items))


def table(header: list[str], rows: list[list[str]]) -> Table:
    return Table(tuple(header), tuple(tuple(r) for r in rows))
