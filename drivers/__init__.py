"""Acquisition sources: the simulated confocal, Micro-Manager cores and file replay."""
