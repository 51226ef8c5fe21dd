"""Imaging: intensity normalisation and spatial sampling-rate alignment of joint images."""
