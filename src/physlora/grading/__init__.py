"""Grading of written answers against references: text metrics and the physics check (numbers, units, formulas)."""
