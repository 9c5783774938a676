"""Reading documents into blocks and chunking them: structure followed, spans kept, equations never cut."""

from __future__ import annotations

import random
import re

import pytest
from conftest import JSONL, LATEX, MARKDOWN, write_pdf

from physlora.retrieval.chunking import chunk_document, slugify, split_sentences
from physlora.retrieval.documents import Unreadable, read_document


def doc_of(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return read_document(path, name)


def test_markdown_blocks_follow_headings_with_line_spans(tmp_path):
    doc = doc_of(tmp_path, "waves.md", MARKDOWN)
    headings = [(b.level, b.text, b.line_start) for b in doc.blocks if b.kind == "heading"]
    assert headings == [(1, "Waves", 5), (2, "Beats", 9), (2, "Standing waves on a string", 13)]
    assert not any("front matter" in b.text for b in doc.blocks)
    math = [b for b in doc.blocks if b.kind == "math"]
    assert len(math) == 1 and "f_n" in math[0].text and "n = 1, 2, 3" in math[0].text  # the blank line did not split it
    assert (math[0].line_start, math[0].line_end) == (17, 21)


def test_latex_sections_comments_and_math_environments(tmp_path):
    doc = doc_of(tmp_path, "c.tex", LATEX)
    assert [(b.level, b.text) for b in doc.blocks if b.kind == "heading"] == [(2, "Kirchhoff's laws"), (3, "Loops")]
    text = "\n".join(b.text for b in doc.blocks)
    assert "zebra-umbrella" not in text and "documentclass" not in text
    chunks = chunk_document(doc, size=60, overlap=0)
    align = [c for c in chunks if "\\begin{align}" in c.text]
    assert len(align) == 1 and "\\end{align}" in align[0].text and "V &= I R" in align[0].text


def test_jsonl_rows_become_passages_with_their_ids(tmp_path):
    doc = doc_of(tmp_path, "p.jsonl", JSONL)
    chunks = chunk_document(doc)
    assert [c.passage_id for c in chunks] == ["p.jsonl#ohm", "p.jsonl#joule"]
    assert chunks[0].heading_path == ["Ohm's law"] and chunks[0].span() == "lines 1-1"
    assert doc.warnings == ["line 2: not JSON (Expecting value); row skipped"]


def test_pdf_pages_and_outline_headings(tmp_path):
    path = write_pdf(tmp_path / "o.pdf", [("First", "Alpha text on page one."), ("Second", "Beta text on page two.")])
    chunks = chunk_document(read_document(path, "o.pdf"))
    assert [(c.heading_path, c.page_start) for c in chunks] == [(["First"], 1), (["Second"], 2)]
    assert chunks[1].span() == "p. 2" and "Beta" in chunks[1].text


def test_encrypted_and_textless_pdfs_are_named_unreadable(tmp_path):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_encryption(owner_password="o", user_password="secret")
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(0, 10, "hidden")
    pdf.output(str(tmp_path / "locked.pdf"))
    with pytest.raises(Unreadable, match="encrypted"):
        read_document(tmp_path / "locked.pdf", "locked.pdf")
    blank = FPDF()
    blank.add_page()
    blank.rect(10, 10, 50, 50)  # a drawing, no text: what a scanned page looks like to a text extractor
    blank.output(str(tmp_path / "scan.pdf"))
    with pytest.raises(Unreadable, match="no extractable text"):
        read_document(tmp_path / "scan.pdf", "scan.pdf")


@pytest.mark.parametrize("data, reason", [
    (b"\x00\x01binary", "binary"), ("caf\xe9".encode("latin-1"), "not UTF-8"), (b"  \n\n ", "no text"),
])
def test_bad_text_files_are_named_unreadable(tmp_path, data, reason):
    (tmp_path / "x.md").write_bytes(data)
    with pytest.raises(Unreadable, match=reason):
        read_document(tmp_path / "x.md", "x.md")


def test_chunks_never_span_headings_and_anchors_are_unique(tmp_path):
    text = "# A\n\nintro\n\n## Same\n\none\n\n## Same\n\ntwo\n\n### Deep\n\nthree\n"
    chunks = chunk_document(doc_of(tmp_path, "n.md", text))
    assert [(c.text, c.passage_id) for c in chunks] == [
        ("intro", "n.md#a"), ("one", "n.md#same"), ("two", "n.md#same-1"), ("three", "n.md#deep")]
    assert chunks[-1].heading_path == ["A", "Same", "Deep"]
    assert chunks[-1].anchors == ["n.md#a", "n.md#same-1", "n.md#deep"]
    assert slugify("Kepler's laws: I & II") == "keplers-laws-i-ii"


def test_sentence_split_never_cuts_inline_math():
    text = "Energy is $E = m c^2. Then$ more. Next sentence here. Last one."
    parts = [text[a:b].strip() for a, b in split_sentences(text)]
    assert parts == ["Energy is $E = m c^2. Then$ more.", "Next sentence here.", "Last one."]


def _random_section(rng: random.Random) -> tuple[str, list[str], list[str]]:
    """Prose paragraphs and display equations; returns (markdown, sentences, equations)."""
    sentences, equations, parts = [], [], []
    for p in range(rng.randint(3, 8)):
        if rng.random() < 0.3:
            eq = f"$$\nx_{p} = {rng.randint(1, 99)} y^{p}\n\nz_{p} = {rng.randint(1, 9)}\n$$"
            equations.append(eq)
            parts.append(eq)
        else:
            ss = [f"Sentence {p}-{i} says {' '.join(rng.choice(['mass', 'field', 'wave', 'heat']) for _ in range(rng.randint(3, 20)))}."
                  for i in range(rng.randint(1, 6))]
            sentences += ss
            parts.append(" ".join(ss))
    return "# Notes\n\n" + "\n\n".join(parts) + "\n", sentences, equations


@pytest.mark.parametrize("seed", range(12))
def test_chunking_keeps_every_sentence_whole_and_every_equation_uncut(tmp_path, seed):
    rng = random.Random(seed)
    text, sentences, equations = _random_section(rng)
    size, overlap = rng.choice([(120, 30), (200, 60), (400, 0), (800, 120)])
    chunks = chunk_document(doc_of(tmp_path, f"r{seed}.md", text), size=size, overlap=overlap)
    joined = "\n".join(c.text for c in chunks)
    for s in sentences:
        assert s in joined, s  # nothing lost, nothing cut mid-sentence
    for eq in equations:
        assert any(eq in c.text for c in chunks), eq
    for c in chunks:
        assert c.text.count("$$") % 2 == 0, c.text  # no chunk holds half an equation
        longest_unit = max([len(e) for e in equations if e in c.text] + [len(s) for s in sentences if s in c.text] + [0])
        assert len(c.text) <= max(size, longest_unit) + 2, (len(c.text), size)
    for a, b in zip(chunks, chunks[1:]):  # overlap: the next chunk may repeat only the end of the previous one
        shared = [s for s in sentences if s in a.text and s in b.text]
        assert sum(len(s) + 1 for s in shared) <= max(overlap, 1) + 1 or not shared


def test_overlap_repeats_the_end_of_the_previous_chunk(tmp_path):
    sentences = [f"Fact number {i} is worth remembering." for i in range(20)]
    chunks = chunk_document(doc_of(tmp_path, "o.md", "# T\n\n" + " ".join(sentences)), size=200, overlap=80)
    assert len(chunks) > 3
    fact = re.compile(r"Fact number \d+ is worth remembering\.")
    for a, b in zip(chunks, chunks[1:]):
        sa, sb = fact.findall(a.text), fact.findall(b.text)
        assert sb[0] in sa[1:], (sa, sb)  # b starts inside a (never repeating all of a) ...
        repeated = sa[sa.index(sb[0]):]
        assert sb[: len(repeated)] == repeated  # ... with a's last sentences, in order
        assert len(" ".join(repeated)) <= 80
