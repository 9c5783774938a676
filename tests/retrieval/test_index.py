"""`physlora index` on a folder the test builds (Markdown, LaTeX, text, JSONL, real PDFs, bad files), with the
real MiniLM embedder: what is indexed and skipped, re-indexing only what changed, never a broken index."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import build_library

from physlora.cli import main
from physlora.errors import PhysloraError
from physlora.retrieval import index as index_mod
from physlora.retrieval.index import build_index, current_generation, index_stats, read_vectors
from physlora.retrieval.search import Retriever


def quiet(_msg: str) -> None:
    pass


def test_index_reads_every_format_and_names_what_it_skips(library_index):
    s = index_stats(library_index)
    assert s["kinds"] == {"jsonl": 1, "latex": 1, "markdown": 1, "pdf": 1, "text": 1}
    skipped = {x["path"]: x["reason"] for x in s["skipped"]}
    assert set(skipped) == {"binary.md", "latin1.txt", "broken.pdf", "empty.md"}
    assert "binary" in skipped["binary.md"] and "UTF-8" in skipped["latin1.txt"]
    assert "unreadable PDF" in skipped["broken.pdf"] and "no text" in skipped["empty.md"]
    assert s["ignored_files"] == {".png": 1}
    assert s["store"] == {"kind": "faiss", "index": "flat"} and s["embedder"]["dim"] == 384


def test_search_returns_file_heading_and_span(library_index):
    r = Retriever.open(library_index)
    hit = r.search("How fast must a rocket go to leave a planet for good?", k=3)[0]
    assert (hit.chunk.doc, hit.chunk.heading_path, hit.chunk.span()) == ("orbits.pdf", ["Escape velocity"], "p. 2")
    top = r.search("beat frequency of two tones", k=1)[0].chunk
    assert top.passage_id == "waves.md#beats" and top.span() == "lines 11-11"
    # a symbol-heavy query that BM25 carries: the JSONL passage with its row id
    assert r.search("V = I R Ohm", k=1)[0].chunk.passage_id == "passages.jsonl#ohm"


def test_cli_index_stats_and_search(library, tmp_path, capsys):
    out = tmp_path / "cli-idx"
    assert main(["index", str(library), "--out", str(out), "--quiet", "--chunk-size", "300", "--chunk-overlap", "40"]) == 0
    printed = capsys.readouterr()
    assert "skipped broken.pdf: unreadable PDF" in printed.out + printed.err
    assert main(["index", "--stats", str(out)]) == 0
    assert "chunk size 300 chars, overlap 40" in capsys.readouterr().out
    assert main(["search", str(out), "Kepler ellipse", "-k", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["doc"] == "orbits.pdf"
    assert main(["index", "--stats", str(tmp_path / "nope")]) == 2
    (tmp_path / "empty").mkdir()
    assert main(["index", str(tmp_path / "empty"), "--out", str(tmp_path / "x")]) == 2
    assert "no documents to index" in capsys.readouterr().err


def test_reindex_reads_and_embeds_only_what_changed(tmp_path):
    docs = build_library(tmp_path / "docs")
    out = tmp_path / "idx"
    first = build_index(docs, out, progress=False, say=quiet).manifest
    gen1 = current_generation(out)
    vectors1, keys1 = read_vectors(gen1)
    again = build_index(docs, out, progress=False, say=quiet)
    assert again.new_files == 0 and again.manifest["build"]["embedded_chunks"] == 0
    (docs / "notes.txt").write_text("Total internal reflection traps light in an optical fibre.\n", encoding="utf-8")
    (docs / "sub" / "circuits.tex").unlink()
    report = build_index(docs, out, progress=False, say=quiet)
    m = report.manifest
    assert report.new_files == 1 and report.reused_files == 3 and m["build"]["embedded_chunks"] == 1
    assert "sub/circuits.tex" not in m["files"] and m["generation"] == first["generation"] + 2
    vectors3, keys3 = read_vectors(current_generation(out))
    unchanged = [k for k in keys3 if k in keys1]
    assert len(unchanged) == len(keys3) - 1
    assert np.array_equal(vectors3[keys3.index(unchanged[0])], vectors1[keys1.index(unchanged[0])])
    assert [p.name for p in out.iterdir() if p.name.startswith("gen-")] == [current_generation(out).name]
    hit = Retriever.open(out).search("light trapped in a fibre", k=1)[0]
    assert hit.chunk.doc == "notes.txt"


def test_failed_or_interrupted_builds_leave_the_old_index_working(tmp_path, monkeypatch):
    docs = build_library(tmp_path / "docs")
    out = tmp_path / "idx"
    build_index(docs, out, progress=False, say=quiet)
    before = [h.chunk.id for h in Retriever.open(out).search("escape velocity", k=3)]
    (docs / "more.md").write_text("# Extra\n\n" + "\n\n".join(f"## Tide {i}\n\nParagraph {i} about tides." for i in range(6)),
                                  encoding="utf-8")

    # Ctrl-C in the middle of embedding: finished batches are kept, the live index is untouched
    monkeypatch.setattr(index_mod, "EMBED_BATCH", 1)
    from physlora.retrieval.embedding import Embedder

    real_encode, calls = Embedder.encode, []

    def interrupt_after_two(self, texts, **kw):
        calls.append(len(texts))
        if len(calls) > 2:
            raise KeyboardInterrupt
        return real_encode(self, texts, **kw)

    monkeypatch.setattr(Embedder, "encode", interrupt_after_two)
    with pytest.raises(KeyboardInterrupt):
        build_index(docs, out, progress=False, say=quiet)
    monkeypatch.setattr(Embedder, "encode", real_encode)
    assert [h.chunk.id for h in Retriever.open(out).search("escape velocity", k=3)] == before
    assert len(list((out / ".partial").glob("shard-*.npz"))) == 2

    # a crash while writing the new generation: also harmless
    from physlora.retrieval import lexical

    monkeypatch.setattr(lexical.BM25Index, "build", classmethod(lambda cls, texts: (_ for _ in ()).throw(OSError(28, "No space left"))))
    with pytest.raises(OSError):
        build_index(docs, out, progress=False, say=quiet)
    assert [h.chunk.id for h in Retriever.open(out).search("escape velocity", k=3)] == before
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    assert len(list((out / ".partial").glob("shard-*.npz"))) == 6  # it embedded only the 4 missing chunks
    monkeypatch.undo()

    # the next build has every vector already: nothing done before is lost
    report = build_index(docs, out, progress=False, say=quiet)
    assert report.manifest["build"]["embedded_chunks"] == 0 and report.manifest["n_chunks"] > 6
    assert not (out / ".partial").exists()


def test_bad_inputs_stop_with_one_line_and_keep_the_index(tmp_path):
    docs = build_library(tmp_path / "docs")
    out = tmp_path / "idx"
    build_index(docs, out, progress=False, say=quiet)
    only_bad = tmp_path / "bad"
    only_bad.mkdir()
    (only_bad / "x.md").write_bytes(b"\x00\x00")
    with pytest.raises(PhysloraError, match="could be read.*the existing index is unchanged"):
        build_index(only_bad, out, progress=False, say=quiet)
    assert index_stats(out)["files"] == 5
    user_folder = tmp_path / "mine"
    user_folder.mkdir()
    (user_folder / "thesis.tex").write_text("precious", encoding="utf-8")
    with pytest.raises(PhysloraError, match="not a physlora index"):
        build_index(docs, user_folder, progress=False, say=quiet)
    assert (user_folder / "thesis.tex").read_text(encoding="utf-8") == "precious"
    with pytest.raises(PhysloraError, match="index not found"):
        Retriever.open(tmp_path / "missing")
    shutil.rmtree(current_generation(out))
    with pytest.raises(PhysloraError, match="not a physlora index"):
        Retriever.open(out)
