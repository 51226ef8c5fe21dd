"""Lifetime models: censoring-aware regression of ln(cycles to failure) from the
measured void/crack features and, optionally, an image embedding; split-conformal
intervals; the metrics that score them."""
