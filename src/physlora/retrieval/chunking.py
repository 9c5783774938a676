"""Split a document into chunks that follow its structure.

* A chunk never spans two sections: every heading starts a new chunk, and the chunk keeps the path of
  headings above it (file > chapter > section) and an anchor per heading (`file.md#section-slug`) that a
  data record can name as its gold passage.
* Inside a section, blocks (paragraphs, lists, code, display equations) are packed up to `size`
  characters. A chunk is cut between blocks where it can (when that keeps it at least half full), else
  between sentences of a long paragraph; never inside a display equation or code block, nor inside inline
  math. A block too long on its own (one huge equation) stays whole.
* `overlap` characters of whole sentences (or a whole equation) from the end of a chunk repeat at the start
  of the next one in the same section, so a fact split across the cut is found from either side.

Sizes are in characters, so the index does not depend on any model's tokenizer; the default 800 stays under
the 256-token window of the MiniLM embedder for ordinary prose (`physlora index --stats` reports how many
chunks the embedder had to truncate).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass, field

from physlora.retrieval.documents import Block, Document

DEFAULT_SIZE = 800
DEFAULT_OVERLAP = 120


@dataclass
class Chunk:
    id: str  # "<file>::<n>", stable while the file is unchanged
    doc: str
    text: str
    heading_path: list[str] = field(default_factory=list)
    anchors: list[str] = field(default_factory=list)  # passage ids of each heading in heading_path
    line_start: int | None = None
    line_end: int | None = None
    page_start: int | None = None
    page_end: int | None = None

    @property
    def passage_id(self) -> str:
        """The innermost section's anchor (the file itself for text before any heading)."""
        return self.anchors[-1] if self.anchors else self.doc

    @property
    def title(self) -> str:
        return " > ".join([self.doc, *self.heading_path])

    def embed_text(self) -> str:
        """What the embedder and BM25 see: the heading path gives a short chunk its context."""
        head = " > ".join(self.heading_path)
        return f"{head}\n{self.text}" if head else self.text

    def span(self) -> str:
        if self.page_start is not None:
            return f"p. {self.page_start}" + (f"-{self.page_end}" if self.page_end != self.page_start else "")
        if self.line_start is not None:
            return f"lines {self.line_start}-{self.line_end}"
        return ""

    def to_dict(self) -> dict:
        return asdict(self)


def slugify(title: str) -> str:
    """GitHub-style heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    text = unicodedata.normalize("NFKD", title).lower()
    text = re.sub(r"[^\w\s-]", "", text)
    return re.sub(r"\s+", "-", text.strip()) or "section"


@dataclass
class _Unit:
    """A piece that is never cut: a sentence of prose, or a whole equation/code block."""

    text: str
    block: int  # index of the block it came from (units of one block join with a space)
    line_start: int | None
    line_end: int | None
    page: int | None
    atomic: bool = False


_INLINE_MATH = re.compile(r"\$[^$\n]+\$|\\\([^\n]*?\\\)")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[A-Z0-9(\[\\$\"'])")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences of `text`; never a cut inside inline math."""
    protected = [(m.start(), m.end()) for m in _INLINE_MATH.finditer(text)]
    cuts = [m.end() for m in _SENTENCE_END.finditer(text)
            if not any(a < m.start() < b for a, b in protected)]
    bounds = [0, *cuts, len(text)]
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if text[a:b].strip()]


def _units(b: Block, index: int, size: int) -> list[_Unit]:
    if b.kind in ("math", "code") or len(b.text) <= size:
        return [_Unit(b.text, index, b.line_start, b.line_end, b.page, atomic=b.kind in ("math", "code"))]
    out = []
    for start, end in split_sentences(b.text):
        line0 = None if b.line_start is None else b.line_start + b.text.count("\n", 0, start)
        line1 = None if b.line_start is None else b.line_start + b.text.count("\n", 0, max(start, end - 1))
        out.append(_Unit(b.text[start:end].strip(), index, line0, line1, b.page))
    return out


class _SectionPacker:
    """Packs the units of one section into chunks (see the module docstring for the rules)."""

    def __init__(self, size: int, overlap: int):
        self.size, self.overlap = size, overlap
        self.current: list[_Unit] = []
        self.carried = 0  # leading units of `current` repeated from the previous chunk (overlap)
        self.done: list[list[_Unit]] = []

    @staticmethod
    def length(units: list[_Unit]) -> int:
        return len(_join(units))

    def add(self, unit: _Unit) -> None:
        # a cut at an earlier block boundary carries units forward, which may still leave no room: cut again
        while len(self.current) > self.carried and self.length([*self.current, unit]) > self.size:
            self._cut()
        self.current.append(unit)

    def _cut(self) -> None:
        units = self.current
        cut = len(units)
        # prefer the last block boundary after the carried overlap, if the chunk stays at least half full
        for i in range(len(units) - 1, self.carried, -1):
            if units[i].block != units[i - 1].block:
                if self.length(units[:i]) >= self.size / 2:
                    cut = i
                break
        emitted, rest = units[:cut], units[cut:]
        self.done.append(emitted)
        tail: list[_Unit] = []
        for u in reversed(emitted[self.carried:][1:]):  # whole units from the end, never the whole chunk
            if self.length([u, *tail]) > self.overlap:
                break
            tail.insert(0, u)
        if tail and rest and self.length(tail + rest) > self.size:
            tail = []  # the overlap is a nicety; the size limit is not
        self.current, self.carried = tail + rest, len(tail)

    def finish(self) -> list[list[_Unit]]:
        if len(self.current) > self.carried:  # something beyond the repeated overlap
            self.done.append(self.current)
        return self.done


def _join(units: list[_Unit]) -> str:
    parts = []
    for prev, u in zip([None, *units], units):
        sep = "" if prev is None else (" " if prev.block == u.block and not (prev.atomic or u.atomic) else "\n\n")
        parts.append(sep + u.text)
    return "".join(parts)


def chunk_document(doc: Document, size: int = DEFAULT_SIZE, overlap: int = DEFAULT_OVERLAP) -> list[Chunk]:
    if size < 50 or not 0 <= overlap < size:
        raise ValueError(f"chunk size {size} must be >= 50 and overlap {overlap} in [0, size)")
    chunks: list[Chunk] = []
    stack: list[tuple[int, str, str]] = []  # (level, title, anchor)
    used_slugs: dict[str, int] = {}
    section: list[Block] = []

    def anchor_for(b: Block) -> str:
        if b.anchor:
            return f"{doc.path}#{b.anchor}"
        slug = slugify(b.text)
        n = used_slugs.get(slug, 0)
        used_slugs[slug] = n + 1
        return f"{doc.path}#{slug}" + (f"-{n}" if n else "")

    def flush() -> None:
        packer = _SectionPacker(size, overlap)
        for i, b in enumerate(section):
            for u in _units(b, i, size):
                packer.add(u)
        for units in packer.finish():
            lines = [x for u in units for x in (u.line_start, u.line_end) if x is not None]
            pages = [u.page for u in units if u.page is not None]
            chunks.append(Chunk(
                id=f"{doc.path}::{len(chunks)}", doc=doc.path, text=_join(units),
                heading_path=[t for _, t, _ in stack], anchors=[a for _, _, a in stack],
                line_start=min(lines) if lines else None, line_end=max(lines) if lines else None,
                page_start=min(pages) if pages else None, page_end=max(pages) if pages else None,
            ))
        section.clear()

    for b in doc.blocks:
        if b.kind == "heading":
            flush()
            while stack and stack[-1][0] >= b.level:
                stack.pop()
            stack.append((b.level, b.text, anchor_for(b)))
        elif b.text.strip():
            section.append(b)
    flush()
    return chunks
