"""Jigsaw's graph layer: the journal of fragments, the projection derived from it, and
the queries (chronology, people) that read it.

This package imports nothing from ``ingest``, ``api`` or ``viz``. It receives fragments
as canonical JSON documents (the shape ``ingest`` validates and normalises, documented in
docs/fragment-format.md) and never needs to know how they were parsed.
"""
