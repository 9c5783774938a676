"""Answers with tools: a sandbox for model-written programs (physlora.tools.sandbox) and its layers."""
