"""The engine interface every inference backend implements, and the registry that picks one."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np

from pssr_live.errors import UserError


class EngineError(UserError):
    """An engine cannot be created or failed; the message says what to do."""


class Engine(ABC):
    """Runs the restoration network on one normalised window.

    `restore` takes float32 `(frames, h, w)` and returns float32 `(scale*h, scale*w)`;
    normalisation happens before and after, in the restorer, so every engine sees the same
    numbers. Engines pad inputs to the multiple their network needs and crop the output.
    """

    name: str = "engine"
    precision: str = "fp32"
    device: str = "cpu"
    frames: int = 5
    scale: int = 4
    multiple: int = 4  # H and W are padded to a multiple of this

    @abstractmethod
    def run(self, batch: np.ndarray) -> np.ndarray:
        """Network on a padded batch (N, frames, H, W) -> (N, 1, scale*H, scale*W)."""

    def restore(self, window: np.ndarray) -> np.ndarray:
        """Restore one normalised window (frames, h, w) -> (scale*h, scale*w)."""
        if window.ndim != 3 or window.shape[0] != self.frames:
            raise EngineError(
                f"window of shape {window.shape}; this model takes {self.frames} frames (F, H, W)"
            )
        h, w = window.shape[1:]
        padded = pad_to_multiple(window, self.multiple)
        out = self.run(padded[np.newaxis])[0, 0]
        return out[: self.scale * h, : self.scale * w]

    def warmup(self, shape: tuple[int, int], repeats: int = 3) -> None:
        """Run a few windows of `shape` so the first real one is not slow."""
        dummy = np.zeros((self.frames, *shape), np.float32)
        for _ in range(repeats):
            self.restore(dummy)

    def describe(self) -> str:
        return f"{self.name} ({self.device}, {self.precision})"

    def close(self) -> None:  # noqa: B027 - engines without resources need nothing
        """Release device memory and handles."""


def pad_to_multiple(window: np.ndarray, multiple: int) -> np.ndarray:
    """Reflect-pad the last two axes up to a multiple (edge-pad when too small to reflect)."""
    h, w = window.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    if not ph and not pw:
        return np.ascontiguousarray(window, np.float32)
    widths = [(0, 0)] * (window.ndim - 2) + [(0, ph), (0, pw)]
    mode = "reflect" if ph < h and pw < w else "edge"
    return np.pad(window, widths, mode=mode).astype(np.float32, copy=False)


EngineFactory = Callable[..., Engine]
_REGISTRY: dict[str, EngineFactory] = {}


def register(name: str) -> Callable[[EngineFactory], EngineFactory]:
    """Class decorator: make an engine available under `--engine NAME`."""

    def wrap(factory: EngineFactory) -> EngineFactory:
        _REGISTRY[name] = factory
        return factory

    return wrap


def engine_names() -> list[str]:
    """Names of every registered engine (present or not on this machine)."""
    _import_all()
    return sorted(_REGISTRY)


def create_engine(name: str, model_path: str, **options: object) -> Engine:
    """Create the engine `name` for the model file at `model_path`."""
    _import_all()
    if name == "auto":
        name = "torch"
    if name not in _REGISTRY:
        raise EngineError(
            f"unknown engine {name!r}; choose one of: auto, {', '.join(sorted(_REGISTRY))}"
        )
    return _REGISTRY[name](model_path, **options)


def _import_all() -> None:
    from pssr_live.engines import torch_engine  # noqa: F401 - registers itself
