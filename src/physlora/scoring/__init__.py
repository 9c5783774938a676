"""Likelihood-based scores by teacher forcing: reference NLL and multiple-choice log-likelihoods (no torch import here)."""
