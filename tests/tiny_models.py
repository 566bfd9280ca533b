"""Tiny untrained model files for the evaluation and restore tests."""

from __future__ import annotations

from pathlib import Path

from pssr_live.modelfile import ModelInfo, save_model
from pssr_live.network import NetConfig, PSSRNet


def make_tiny_models(directory: Path) -> tuple[Path, Path]:
    """(five-frame centered, single-frame) model files, width 4, depth 1."""
    out = []
    for kind, frames, ref in (("pssr-mf", 5, 2), ("pssr-sf", 1, 0)):
        cfg = NetConfig(frames=frames, width=4, depth=1, ref_index=ref)
        path = directory / f"{kind}.safetensors"
        save_model(path, PSSRNet(cfg).eval(), ModelInfo(kind=kind, net=cfg))
        out.append(path)
    return out[0], out[1]
