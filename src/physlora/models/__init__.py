"""Models: loading (alias, hub id, folder, GGUF), adapters, export, and the forward pass on scored positions only."""
