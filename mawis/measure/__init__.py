"""Measurement: voids in X-ray crops, cracks in cross-section crops, acceptance verdicts."""
