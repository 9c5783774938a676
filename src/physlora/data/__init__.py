"""Physics Q&A data: the native record, readers for files and the hub, column mapping, sources and splits, and the bundled set."""
