"""PyTorch engine: the float32 reference on the CPU."""

from __future__ import annotations

import numpy as np
import torch
from pssr_live.engines.base import Engine, register

from pssr_live.modelfile import load_model


@register("torch")
class TorchEngine(Engine):
    """Runs the model with torch in inference mode; the reference every engine is held to."""

    name = "torch"

    def __init__(self, model_path: str, *, threads: int | None = None, **_: object) -> None:
        if threads:
            torch.set_num_threads(threads)
        self.net, self.info = load_model(model_path)
        self.frames = self.info.net.frames
        self.scale = self.info.net.scale
        self.multiple = 2**self.info.net.depth
        self.device = "cpu"
        self.precision = "fp32"

    def run(self, batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.net(torch.from_numpy(batch)).numpy()
