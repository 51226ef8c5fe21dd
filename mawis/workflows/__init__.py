"""The users' workflows, each composed from the pipeline stages: train (and register), predict,
drift, retrain and the end-to-end demo. The CLI calls these; so can a notebook."""
