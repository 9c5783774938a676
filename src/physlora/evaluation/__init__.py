"""Evaluation: the runner that scores a model on records, aggregates with CIs, paired comparisons, statistics."""
