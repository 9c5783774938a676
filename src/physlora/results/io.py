"""Result files a user can keep: atomic writes and the run folder's provenance."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Iterable


def slug(text: str) -> str:
    """A file-name-safe form of a data set name."""
    return "".join(c if c.isalnum() else "_" for c in text)


def atomic_write_text(path: Path, text: str) -> None:
    """Write to a temp file in the same folder, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False, allow_nan=True) + "\n")


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def read_jsonl(path: Path, errors: str = "strict") -> list[dict]:
    """Rows of a JSON Lines file; errors="replace" reads bytes that are not UTF-8 as U+FFFD (for display)."""
    rows = []
    with Path(path).open(encoding="utf-8", errors=errors) as f:
        for line in f:
            line = line.strip()
            if line:
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    break  # a line cut by a crash: keep what came before
    return rows


def environment() -> dict[str, Any]:
    """Versions and git commit, so a result can be traced to the code that made it."""
    import importlib.metadata as md

    versions = {}
    for pkg in ("physlora", "torch", "transformers", "peft", "datasets", "accelerate"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).parent
        ).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"python": platform.python_version(), "platform": platform.platform(), "git_commit": commit, **versions}
