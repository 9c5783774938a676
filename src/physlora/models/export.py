"""Export: fold a LoRA adapter into the base weights as a plain transformers model folder."""

from __future__ import annotations

from pathlib import Path

from physlora.errors import PhysloraError
from physlora.models.loading import _check_free_disk, load_model


def merge_adapter(base: str, adapter: str | Path, out: str | Path, *, dtype: str = "float32") -> Path:
    """Fold a LoRA adapter into the base weights and save a plain transformers model folder."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise PhysloraError(f"{out} exists and is not empty; choose another --out")
    loaded = load_model(base, adapter=str(adapter), dtype=dtype, device="cpu")
    merged = loaded.model.merge_and_unload()
    _check_free_disk(out.parent, need_bytes=merged.num_parameters() * merged.dtype.itemsize * 1.2)
    merged.save_pretrained(out, safe_serialization=True)
    loaded.tokenizer.save_pretrained(out)
    return out
