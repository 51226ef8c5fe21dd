"""Ingestion: from a contract-v1 batch to an analysis-ready data set."""
