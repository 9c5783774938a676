"""Inference: what the model writes (batched greedy generation, streaming)."""
