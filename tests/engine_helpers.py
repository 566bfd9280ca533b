"""Helpers shared by the engine tests: a model whose network matters, realistic windows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from pssr_live.modelfile import ModelInfo, save_model
from pssr_live.network import NetConfig, PSSRNet, ResBlock

#: Relative L2 error allowed against the torch float32 reference (design section 6).
TOLERANCE = {"fp32": 1e-4, "fp16": 1e-2, "bf16": 1e-2}


def make_model(
    path: Path, *, width: int = 32, attention: bool = False, seed: int = 0, window: str = "centered"
) -> Path:
    """A model file whose network output is far from its bicubic start, like a trained one.

    A fresh PSSRNet outputs bicubic(reference) plus a ~1 % correction, so an engine that
    got the network wrong would still match the reference closely; scaling up the head
    and the residual branches makes the learnt part ~60 % of the output.
    """
    torch.manual_seed(seed)
    config = NetConfig(width=width, attention=attention, ref_index=2 if window == "centered" else 4)
    net = PSSRNet(config).eval()
    with torch.no_grad():
        net.head.conv.weight.mul_(30.0)
        for module in net.modules():
            if isinstance(module, ResBlock):
                module.conv2.weight.mul_(5.0)
        if attention:
            net.attn.gamma.fill_(0.5)
    return save_model(path, net, ModelInfo(net=config, window=window))


def random_window(rng: np.random.Generator, shape: tuple[int, int], frames: int = 5) -> np.ndarray:
    """Normalised-looking window: smooth random structure in [0, 1] plus noise."""
    x = rng.random((frames, *shape))
    x = ndimage.gaussian_filter(x, (0, 2, 2))
    x = (x - x.min()) / (x.max() - x.min())
    x += rng.normal(0, 0.05, x.shape)
    return x.astype(np.float32)


def rel_l2(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.linalg.norm(got - want) / np.linalg.norm(want))
