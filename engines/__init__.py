"""Inference backends that run the restoration network."""
