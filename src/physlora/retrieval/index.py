"""`physlora index DIR --out INDEX`: build or update an index folder, never leaving a broken one behind.

Layout of INDEX (a folder):

    CURRENT            the name of the live generation (replaced atomically, last)
    gen-000002/        manifest.json, chunks.jsonl, embeddings.npy, keys.json, bm25/, vectors.faiss | chroma/
    .partial/          embeddings of an interrupted build, reused by the next one
    .lock              held while a build runs (two builds of one index would race)

A build reads every supported file, re-chunks only files whose content hash changed (or all, if the
chunking settings changed), embeds only chunk texts it has no vector for, writes a complete new generation
beside the old one, then points CURRENT at it. Readers see the old index or the new one, never a mixture;
Ctrl-C or a crash loses at most the embedding batch in flight (finished batches wait in .partial/).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from physlora.errors import PhysloraError
from physlora.results.io import atomic_write_text, read_jsonl, write_json, write_jsonl
from physlora.retrieval.chunking import DEFAULT_OVERLAP, DEFAULT_SIZE, Chunk, chunk_document
from physlora.retrieval.documents import SUFFIXES, Unreadable, read_document
from physlora.retrieval.embedding import EMBEDDER_NAME, text_key
from physlora.retrieval.stores import parse_store

FORMAT = 1
EMBED_BATCH = 64
BUNDLED_CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"
CORPUS_ALIAS = "physlora-notes"


@dataclass
class SourceFile:
    rel: str
    path: Path
    sha256: str
    size: int


@dataclass
class BuildReport:
    manifest: dict
    new_files: int = 0
    reused_files: int = 0
    skipped: list[dict] = field(default_factory=list)


def resolve_source(source: str | Path) -> Path:
    if str(source) == CORPUS_ALIAS:
        return BUNDLED_CORPUS
    path = Path(source).expanduser()
    if not path.exists():
        raise PhysloraError(f"folder to index not found: {path}")
    return path


def list_sources(root: Path) -> tuple[list[SourceFile], dict[str, int]]:
    """Supported files under `root` (or `root` itself), sorted; and a count of the other files by suffix.
    Hidden files and folders are left out; links are not followed (no loops)."""
    if root.is_file():
        candidates = [(root.name, root)]
    else:
        candidates = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if not name.startswith("."):
                    p = Path(dirpath) / name
                    candidates.append((p.relative_to(root).as_posix(), p))
    files, other = [], {}
    for rel, path in candidates:
        suffix = path.suffix.lower()
        if suffix not in SUFFIXES or path.is_symlink():
            other[suffix or "(none)"] = other.get(suffix or "(none)", 0) + 1
            continue
        try:
            data = path.read_bytes()
        except OSError as e:
            other[f"unreadable ({e.strerror})"] = other.get(f"unreadable ({e.strerror})", 0) + 1
            continue
        files.append(SourceFile(rel, path, hashlib.sha256(data).hexdigest(), len(data)))
    return files, other


# ---------------------------------------------------------------- reading an existing index


def current_generation(index_dir: Path) -> Path | None:
    pointer = index_dir / "CURRENT"
    if not pointer.is_file():
        return None
    gen = index_dir / pointer.read_text(encoding="utf-8").strip()
    return gen if (gen / "manifest.json").is_file() else None


def read_manifest(index_dir: Path) -> tuple[Path, dict]:
    index_dir = Path(index_dir).expanduser()
    if not index_dir.is_dir():
        raise PhysloraError(f"index not found: {index_dir} (build it with `physlora index DIR --out {index_dir}`)")
    gen = current_generation(index_dir)
    if gen is None:
        raise PhysloraError(f"{index_dir} is not a physlora index (no CURRENT generation); build it with `physlora index`")
    try:
        manifest = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise PhysloraError(f"{gen / 'manifest.json'} is damaged; rebuild the index with `physlora index`") from None
    if manifest.get("format") != FORMAT:
        raise PhysloraError(f"{index_dir} was written by another physlora version (format {manifest.get('format')}); rebuild it")
    return gen, manifest


def read_chunks(gen: Path) -> list[Chunk]:
    return [Chunk(**row) for row in read_jsonl(gen / "chunks.jsonl")]


def read_vectors(gen: Path) -> tuple[np.ndarray, list[str]]:
    vectors = np.load(gen / "embeddings.npy", allow_pickle=False)
    keys = json.loads((gen / "keys.json").read_text(encoding="utf-8"))
    return vectors, keys


# ---------------------------------------------------------------- the embedding cache of a build


class VectorCache:
    """Vectors by text key: from the previous generation, plus batches this build (or an interrupted one)
    finished, saved in `.partial/` as they complete."""

    def __init__(self, partial_dir: Path):
        self.partial_dir = partial_dir
        self.vectors: dict[str, np.ndarray] = {}
        for shard in sorted(partial_dir.glob("shard-*.npz")):
            try:
                with np.load(shard, allow_pickle=False) as z:
                    self.vectors.update(zip(z["keys"].tolist(), z["vectors"]))
            except (OSError, ValueError, KeyError):  # a shard cut by a crash: embed those texts again
                continue

    def add_generation(self, gen: Path) -> None:
        with contextlib.suppress(OSError, ValueError, json.JSONDecodeError):
            vectors, keys = read_vectors(gen)
            self.vectors.update(zip(keys, vectors))

    def save_batch(self, keys: list[str], vectors: np.ndarray) -> None:
        self.vectors.update(zip(keys, vectors))
        self.partial_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.partial_dir, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, keys=np.array(keys), vectors=vectors)
        os.replace(tmp, self.partial_dir / f"shard-{time.time_ns()}.npz")


# ---------------------------------------------------------------- building


@contextlib.contextmanager
def _locked(index_dir: Path):
    import fcntl

    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PhysloraError(f"another `physlora index` is writing {index_dir}; wait for it to finish") from None
        yield


def _check_out_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise PhysloraError(f"--out {out} is a file; give a folder for the index")
    if out.is_dir() and any(out.iterdir()) and not (out / "CURRENT").exists() and not (out / ".partial").exists():
        raise PhysloraError(f"--out {out} is a folder that is not a physlora index; choose a new or empty folder")


def _chunk_files(files: list[SourceFile], previous: dict, prev_chunks: dict[str, list[Chunk]], settings: dict,
                 bar) -> tuple[list[Chunk], dict, list[dict], list[str], int]:
    """Chunks of every file: reused where the file's hash and the settings are unchanged, else read again."""
    same_settings = previous.get("chunking") == settings
    chunks, entries, skipped, warnings, reused = [], {}, [], [], 0
    for f in files:
        old = previous.get("files", {}).get(f.rel)
        if same_settings and old and old.get("sha256") == f.sha256 and f.rel in prev_chunks:
            file_chunks, reused = prev_chunks[f.rel], reused + 1
            entry = old
        else:
            try:
                doc = read_document(f.path, f.rel)
            except Unreadable as e:
                skipped.append({"path": f.rel, "reason": str(e)})
                bar.update(1)
                continue
            warnings += [f"{f.rel}: {w}" for w in doc.warnings]
            file_chunks = chunk_document(doc, settings["size"], settings["overlap"])
            entry = {"sha256": f.sha256, "bytes": f.size, "kind": doc.kind, "pages": doc.pages}
        entry = {**entry, "chunks": len(file_chunks)}
        entries[f.rel] = entry
        chunks += file_chunks
        bar.update(1)
    return chunks, entries, skipped, warnings, reused


def _embed_missing(texts: list[str], cache: VectorCache, progress: bool) -> tuple[np.ndarray, list[str], dict]:
    """Vectors of all `texts` (rows in order) and their keys; only texts without a cached vector are embedded."""
    from tqdm.auto import tqdm

    from physlora.retrieval.embedding import Embedder

    keys = [text_key(t) for t in texts]
    todo = sorted({k: i for i, k in enumerate(keys) if k not in cache.vectors}.values())
    embedder = Embedder(_device())
    started = time.perf_counter()
    with tqdm(total=len(todo), desc="embedding chunks", unit="chunk", disable=not progress or not todo, leave=False) as bar:
        for s in range(0, len(todo), EMBED_BATCH):
            batch = todo[s : s + EMBED_BATCH]
            cache.save_batch([keys[i] for i in batch], embedder.encode([texts[i] for i in batch], batch_size=EMBED_BATCH))
            bar.update(len(batch))
    seconds = time.perf_counter() - started
    truncated = embedder.truncated(texts)
    dim = next(iter(cache.vectors.values())).shape[0] if cache.vectors else 384
    vectors = np.stack([cache.vectors[k] for k in keys]) if keys else np.zeros((0, dim), np.float32)
    return vectors.astype(np.float32), keys, {"embedded_chunks": len(todo), "embed_seconds": round(seconds, 3),
                                              "truncated_by_embedder": truncated}


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def build_index(
    source: str | Path,
    out: str | Path,
    *,
    chunk_size: int = DEFAULT_SIZE,
    chunk_overlap: int = DEFAULT_OVERLAP,
    store: str | None = None,
    progress: bool = True,
    say=print,
) -> BuildReport:
    from tqdm.auto import tqdm

    root, out = resolve_source(source), Path(out).expanduser()
    if chunk_size < 50 or not 0 <= chunk_overlap < chunk_size:
        raise PhysloraError(f"--chunk-size must be >= 50 and --chunk-overlap in [0, chunk size) (got {chunk_size}, {chunk_overlap})")
    store_spec = parse_store(store)
    _check_out_dir(out)
    started = time.perf_counter()
    with _locked(out):
        files, other = list_sources(root)
        if not files:
            kinds = ", ".join(sorted(SUFFIXES))
            raise PhysloraError(f"no documents to index in {root} (looked for {kinds}"
                                + (f"; found only {', '.join(f'{n} {s}' for s, n in sorted(other.items()))}" if other else "")
                                + ")" + ("; the existing index is unchanged" if (out / "CURRENT").exists() else ""))
        old_gen = current_generation(out)
        previous, prev_chunks = {}, {}
        cache = VectorCache(out / ".partial")
        if old_gen is not None:
            with contextlib.suppress(PhysloraError):
                _, previous = read_manifest(out)
                for c in read_chunks(old_gen):
                    prev_chunks.setdefault(c.doc, []).append(c)
                cache.add_generation(old_gen)
        settings = {"size": chunk_size, "overlap": chunk_overlap}
        with tqdm(total=len(files), desc="reading files", unit="file", disable=not progress, leave=False) as bar:
            chunks, entries, skipped, warnings, reused = _chunk_files(files, previous, prev_chunks, settings, bar)
        for s in skipped:
            say(f"skipped {s['path']}: {s['reason']}")
        for w in warnings[:20]:
            say(f"warning: {w}")
        if not chunks:
            raise PhysloraError(f"none of the {len(files)} documents in {root} could be read (see the reasons above)"
                                + ("; the existing index is unchanged" if old_gen else ""))
        texts = [c.embed_text() for c in chunks]
        vectors, keys, embed_info = _embed_missing(texts, cache, progress)
        manifest = {
            "format": FORMAT, "uid": previous.get("uid") or uuid.uuid4().hex[:12],
            "generation": int(previous.get("generation", 0)) + 1, "source": str(root.resolve()),
            "embedder": {"name": EMBEDDER_NAME, "dim": int(vectors.shape[1])}, "chunking": settings,
            "files": entries, "skipped": skipped, "ignored_files": other, "warnings": warnings,
            "n_chunks": len(chunks), "n_files": len(entries),
            "build": {"new_files": len(entries) - reused, "reused_files": reused, **embed_info},
        }
        new_gen = _write_generation(out, manifest, chunks, vectors, keys, store_spec, started)
        _swap(out, new_gen, old_gen, previous)
        return BuildReport(manifest, len(entries) - reused, reused, skipped)


def _write_generation(out: Path, manifest: dict, chunks: list[Chunk], vectors: np.ndarray, keys: list[str],
                      store_spec: dict, started: float) -> Path:
    """Everything of the new generation in a temporary folder, renamed into place only when complete."""
    from physlora.retrieval.lexical import BM25Index
    from physlora.retrieval.stores import ChromaStore, FaissStore

    name = f"gen-{manifest['generation']:06d}"
    tmp = Path(tempfile.mkdtemp(dir=out, prefix=f".{name}.", suffix=".tmp"))
    try:
        write_jsonl(tmp / "chunks.jsonl", [c.to_dict() for c in chunks])
        np.save(tmp / "embeddings.npy", vectors)
        atomic_write_text(tmp / "keys.json", json.dumps(keys))
        BM25Index.build([c.embed_text() for c in chunks]).save(tmp / "bm25")
        t0 = time.perf_counter()
        if store_spec["kind"] == "faiss":
            store = FaissStore.build(vectors)
            store.save(tmp)
        elif store_spec["kind"] == "chroma":
            url = store_spec.get("url")
            # a Chroma server keeps the collection, so its name carries the generation (old and new coexist)
            store = ChromaStore.build(vectors, f"physlora-{manifest['uid']}-g{manifest['generation']}", url,
                                      None if url else tmp / "chroma")
        else:
            store = None
        manifest["store"] = store.spec() if store else {"kind": "exact"}
        manifest["build"]["store_seconds"] = round(time.perf_counter() - t0, 3)
        manifest["build"]["seconds"] = round(time.perf_counter() - started, 3)
        write_json(tmp / "manifest.json", manifest)
        final = out / name
        if final.exists():  # left by a crash between rename and CURRENT: never live, safe to replace
            shutil.rmtree(final)
        os.replace(tmp, final)
        return final
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap(out: Path, new_gen: Path, old_gen: Path | None, previous: dict) -> None:
    atomic_write_text(out / "CURRENT", new_gen.name + "\n")
    shutil.rmtree(out / ".partial", ignore_errors=True)
    for stale in out.iterdir():  # older generations and temp folders of crashed builds
        if stale != new_gen and stale.is_dir() and (stale.name.startswith("gen-") or stale.name.endswith(".tmp")):
            shutil.rmtree(stale, ignore_errors=True)
    old_store = previous.get("store", {})
    if old_gen is not None and old_store.get("kind") == "chroma" and old_store.get("url"):
        from physlora.retrieval.stores import ChromaStore

        with contextlib.suppress(PhysloraError):
            ChromaStore.load(None, old_store).drop()


# ---------------------------------------------------------------- stats


def index_stats(index_dir: str | Path) -> dict:
    gen, manifest = read_manifest(Path(index_dir))
    chunks = read_chunks(gen)
    lengths = sorted(len(c.text) for c in chunks) or [0]
    disk = sum(p.stat().st_size for p in gen.rglob("*") if p.is_file())
    per_file = sorted(((f, e.get("chunks", 0)) for f, e in manifest["files"].items()), key=lambda x: -x[1])
    return {
        "index": str(index_dir), "generation": gen.name, "source": manifest.get("source"),
        "files": manifest["n_files"], "chunks": manifest["n_chunks"],
        "kinds": _count(e.get("kind", "?") for e in manifest["files"].values()),
        "chunk_chars": {"min": lengths[0], "median": lengths[len(lengths) // 2], "max": lengths[-1]},
        "chunking": manifest["chunking"], "embedder": manifest["embedder"], "store": manifest.get("store"),
        "skipped": manifest.get("skipped", []), "ignored_files": manifest.get("ignored_files", {}),
        "truncated_by_embedder": manifest["build"].get("truncated_by_embedder"),
        "build_seconds": manifest["build"].get("seconds"), "disk_bytes": disk, "largest_files": per_file[:5],
    }


def _count(items) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return out


def format_stats(s: dict) -> str:
    store = s["store"] or {}
    lines = [
        f"index {s['index']} ({s['generation']}), built from {s['source']}",
        f"  {s['files']} files ({', '.join(f'{n} {k}' for k, n in sorted(s['kinds'].items()))}), {s['chunks']} chunks",
        f"  chunk size {s['chunking']['size']} chars, overlap {s['chunking']['overlap']}; chunk length min/median/max "
        f"{s['chunk_chars']['min']}/{s['chunk_chars']['median']}/{s['chunk_chars']['max']} chars",
        f"  embedder {s['embedder']['name']}, {s['embedder']['dim']} dims"
        + (f"; {s['truncated_by_embedder']} chunks longer than its window (ends not embedded)" if s["truncated_by_embedder"] else ""),
        f"  vector store {store.get('kind')}" + (f" ({store['index']})" if store.get("index") else "")
        + (f" at {store['url']}, collection {store['collection']}" if store.get("url") else ""),
        f"  {s['disk_bytes'] / 1e6:.1f} MB on disk; last build {s['build_seconds']} s",
    ]
    if s["largest_files"]:
        lines.append("  most chunks: " + ", ".join(f"{f} ({n})" for f, n in s["largest_files"]))
    for sk in s["skipped"]:
        lines.append(f"  skipped {sk['path']}: {sk['reason']}")
    if s["ignored_files"]:
        lines.append("  not indexed (other types): " + ", ".join(f"{n} {k}" for k, n in sorted(s["ignored_files"].items())))
    return "\n".join(lines)
