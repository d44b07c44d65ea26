"""Jigsaw's ingest layer: the fragment contract, readers per file format, normalisation and
the pipeline into the store. Imports graph, never api or viz."""
