"""Model registry and drift: which lifetime models exist, which one is in use, and
whether a new batch still looks like the data a model was trained on."""
