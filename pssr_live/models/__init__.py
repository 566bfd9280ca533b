"""Bundled model files (safetensors with JSON metadata)."""
