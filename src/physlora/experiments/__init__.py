"""Experiments: the recipes behind the CLI (run, eval, train), each read top to bottom."""
