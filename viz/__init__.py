"""Jigsaw's pages (chronology timeline, network) arrive with the meeting-view issue."""
