"""Jigsaw's doors: the command line now, the HTTP API with its issue. Imports ingest and graph."""
