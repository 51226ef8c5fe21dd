"""Evaluation: the supervised vs self-supervised comparison on held-out boards."""
