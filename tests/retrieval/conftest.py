"""A small library the tests build themselves: Markdown, LaTeX, plain text, JSONL and real PDFs (fpdf2), plus
files an index must name and skip."""

from __future__ import annotations

from pathlib import Path

import pytest

MARKDOWN = """---
title: front matter is not indexed
---

# Waves

Waves carry energy without carrying matter along.

## Beats

Two tones of nearby frequency f1 and f2 give a loudness that swells at the beat frequency |f1 - f2|.

## Standing waves on a string

A string of length L fixed at both ends resonates when it holds a whole number of half wavelengths.

$$
f_n = \\frac{n v}{2 L}

n = 1, 2, 3, \\ldots
$$

The fundamental is the n = 1 mode.
"""

LATEX = r"""\documentclass{article}
\begin{document}
\section{Kirchhoff's laws}
Currents into a node sum to zero. % a comment the index must drop: zebra-umbrella
\begin{align}
I_1 + I_2 &= I_3

V &= I R
\end{align}
\subsection{Loops}
The voltage changes around any closed loop add up to zero.
\end{document}
"""

JSONL = (
    '{"id": "ohm", "title": "Ohm\'s law", "text": "Ohm\'s law V = I R links voltage, current and resistance."}\n'
    "this line is not JSON\n"
    '{"id": "joule", "text": "A resistor turns electrical energy into heat at the rate P = I^2 R."}\n'
)


def write_pdf(path: Path, pages: list[tuple[str, str]]) -> Path:
    """A real PDF with one outline entry (section) per page."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for title, text in pages:
        pdf.add_page()
        pdf.start_section(title)
        pdf.multi_cell(0, 8, text)
    pdf.output(str(path))
    return path


def build_library(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "waves.md").write_text(MARKDOWN, encoding="utf-8")
    (root / "sub" / "circuits.tex").write_text(LATEX, encoding="utf-8")
    (root / "passages.jsonl").write_text(JSONL, encoding="utf-8")
    (root / "notes.txt").write_text("Snell's law: n1 sin(theta1) = n2 sin(theta2) at a refracting surface.\n", encoding="utf-8")
    write_pdf(root / "orbits.pdf", [
        ("Kepler's laws", "Planets move on ellipses with the Sun at one focus. The line from the Sun to a planet "
                          "sweeps out equal areas in equal times."),
        ("Escape velocity", "A body leaves a planet of mass M and radius R for good if it starts faster than "
                            "the escape velocity sqrt(2 G M / R), about 11.2 km/s for Earth."),
    ])
    # files the index must name and skip, or ignore
    (root / "binary.md").write_bytes(b"\x00\x01\x02 not text")
    (root / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (root / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a PDF")
    (root / "empty.md").write_text("   \n", encoding="utf-8")
    (root / "picture.png").write_bytes(b"\x89PNG")
    (root / ".hidden.md").write_text("# never indexed", encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def library(tmp_path_factory) -> Path:
    return build_library(tmp_path_factory.mktemp("library") / "docs")


@pytest.fixture(scope="session")
def library_index(tmp_path_factory, library) -> Path:
    from physlora.retrieval.index import build_index

    out = tmp_path_factory.mktemp("index") / "idx"
    build_index(library, out, progress=False, say=lambda _: None)
    return out
