"""The `physlora index` and `physlora search` commands (wired into physlora.cli by `add_parsers`)."""

from __future__ import annotations

import argparse
import json

from physlora.errors import PhysloraError
from physlora.retrieval.chunking import DEFAULT_OVERLAP, DEFAULT_SIZE


def add_parsers(sub) -> None:
    p = sub.add_parser("index", help="index a folder of documents (.md .txt .tex .pdf .jsonl) for retrieval",
                       description="Build or update INDEX from the documents in DIR (only changed files are read "
                       "again); or print what an index holds with --stats INDEX.")
    p.add_argument("dir", nargs="?", help=f"folder (or file) to index; '{_alias()}' is the bundled physics notes")
    p.add_argument("--out", help="index folder to create or update")
    p.add_argument("--stats", metavar="INDEX", help="print what INDEX holds and exit")
    p.add_argument("--chunk-size", type=int, default=DEFAULT_SIZE, help=f"chunk size in characters (default {DEFAULT_SIZE})")
    p.add_argument("--chunk-overlap", type=int, default=DEFAULT_OVERLAP,
                   help=f"characters repeated between consecutive chunks of a section (default {DEFAULT_OVERLAP})")
    p.add_argument("--store", default="faiss",
                   help="vector store: faiss (default, embedded), exact, chroma (embedded), or http://HOST:PORT of a Chroma server")
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    p = sub.add_parser("search", help="show the passages an index returns for a question")
    p.add_argument("index", help="index folder built by `physlora index`")
    p.add_argument("query", help="the question")
    p.add_argument("-k", type=int, default=5, help="passages to show (default 5)")
    p.add_argument("--mode", choices=["hybrid", "dense", "lexical"], default="hybrid")
    p.add_argument("--json", action="store_true", help="print the hits as JSON lines")


def _alias() -> str:
    from physlora.retrieval.index import CORPUS_ALIAS

    return CORPUS_ALIAS


def _print(text: str) -> None:
    from physlora.untrusted import terminal_text

    print(terminal_text(text))  # file names, headings and passages come from the user's documents


def main(args: argparse.Namespace) -> int:
    if args.command == "search":
        return _search(args)
    from physlora.retrieval.index import build_index, format_stats, index_stats

    if args.stats:
        _print(format_stats(index_stats(args.stats)))
        return 0
    if not args.dir or not args.out:
        raise PhysloraError("give a folder and an output: physlora index DIR --out INDEX (or --stats INDEX)")
    report = build_index(args.dir, args.out, chunk_size=args.chunk_size, chunk_overlap=args.chunk_overlap,
                         store=args.store, progress=not args.quiet, say=_print)
    m = report.manifest
    b = m["build"]
    print(f"indexed {m['n_files']} files into {m['n_chunks']} chunks in {args.out} "
          f"({report.new_files} read, {report.reused_files} unchanged; {b['embedded_chunks']} chunks embedded in "
          f"{b['embed_seconds']:.1f} s; {len(report.skipped)} files skipped; total {b['seconds']:.1f} s)")
    return 0


def _search(args: argparse.Namespace) -> int:
    from physlora.retrieval.search import Retriever

    hits = Retriever.open(args.index).search(args.query, args.k, args.mode)
    for h in hits:
        if args.json:
            print(json.dumps(h.to_dict() | {"text": h.chunk.text}))  # ASCII escapes: safe on any terminal
            continue
        d = h.to_dict()
        _print(f"[{h.rank}] {d['doc']} > {d['heading'] or '(top)'} ({d['span']}; score {h.score:.4f})")
        _print("    " + h.chunk.text[:300].replace("\n", "\n    ") + ("..." if len(h.chunk.text) > 300 else ""))
    if not hits:
        print("no passages found")
    return 0
