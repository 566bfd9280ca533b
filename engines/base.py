"""The engine interface every inference backend implements, and the registry that picks one.

An engine is made by ``create_engine(name, model_path, shape=..., **options)``: its
constructor loads the model, `warmup` runs a few windows, `restore` restores one
window, and `name`, `precision`, `device`, `max_shape` describe it. Options meant for
another engine are ignored, so that `auto` can hand one set of options to every
candidate. Runtimes (onnxruntime, openvino, tensorrt, pycuda) are imported lazily:
a missing one makes that engine unavailable, with a one-line message, and nothing else.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, TypeVar

import numpy as np

from pssr_live.engines.tiling import DEFAULT_OVERLAP, restore_tiled
from pssr_live.errors import UserError

if TYPE_CHECKING:
    from pssr_live.modelfile import ModelInfo

#: LR frame shape used when an engine has to plan for a shape and none was given.
DEFAULT_SHAPE = (128, 128)
#: Largest tile for models with bottleneck attention, whose memory grows as (H*W)^2.
ATTENTION_MAX_TILE = 256
#: Modules that register engines; `_import_all` imports those that import.
ENGINE_MODULES = ("torch_engine", "onnxruntime_engine", "openvino_engine", "tensorrt_engine")


class EngineError(UserError):
    """An engine cannot be created or failed; the message says what to do."""


def _pair(value: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if value is None:
        return None
    h, w = (value, value) if isinstance(value, int) else value
    if h <= 0 or w <= 0:
        raise EngineError(f"max_tile must be positive, got {value!r}")
    return int(h), int(w)


class Engine(ABC):
    """Runs the restoration network on one normalised window.

    `restore` takes float32 `(frames, h, w)` and returns float32 `(scale*h, scale*w)`;
    normalisation happens before and after, in the restorer, so every engine sees the
    same numbers. Windows are padded to the network's multiple, and restored in
    overlapping tiles (engines/tiling.py) when larger than `max_shape` or `max_tile`.
    """

    name: ClassVar[str] = "engine"
    precision: str = "fp32"
    device: str = "cpu"
    frames: int = 5
    scale: int = 4
    multiple: int = 4  # H and W are padded to a multiple of this
    max_shape: tuple[int, int] | None = None  # largest padded LR (h, w) one run takes
    reason: str = ""  # why this engine was chosen; set by `auto`

    def __init__(
        self,
        info: ModelInfo,
        *,
        max_tile: int | tuple[int, int] | None = None,
        tile_overlap: int = DEFAULT_OVERLAP,
        **_other_engines_options: object,
    ) -> None:
        self.frames = info.net.frames
        self.scale = info.net.scale
        self.multiple = info.net.multiple
        if max_tile is None and info.net.attention:
            max_tile = ATTENTION_MAX_TILE
        self.max_tile = _pair(max_tile)
        self.tile_overlap = tile_overlap

    @classmethod
    def runtime(cls) -> str:
        """Name and version of the runtime; raises EngineError (how to install) if missing."""
        return cls.name

    @classmethod
    def auto_skip(cls, model_path: str, shape: tuple[int, int], options: dict) -> str | None:
        """Why `auto` should not try this engine here (None: try it). Default: never skip."""
        return None

    @abstractmethod
    def run(self, batch: np.ndarray) -> np.ndarray:
        """Network on a padded batch (N, frames, H, W) -> (N, 1, scale*H, scale*W)."""

    def tile_shape(self, h: int, w: int) -> tuple[int, int] | None:
        """The tile size for a padded (h, w) window, or None when it runs whole."""
        limits = [lim for lim in (self.max_shape, self.max_tile) if lim is not None]
        th = min([h, *(lim[0] for lim in limits)])
        tw = min([w, *(lim[1] for lim in limits)])
        return None if (th, tw) == (h, w) else (th, tw)

    def restore(self, window: np.ndarray) -> np.ndarray:
        """Restore one normalised window (frames, h, w) -> (scale*h, scale*w)."""
        if window.ndim != 3 or window.shape[0] != self.frames:
            raise EngineError(
                f"window of shape {window.shape}; this model takes {self.frames} frames (F, H, W)"
            )
        h, w = window.shape[1:]
        padded = pad_to_multiple(window, self.multiple)
        tile = self.tile_shape(*padded.shape[1:])
        if tile is None:
            out = self._run_one(padded)
        else:
            out = restore_tiled(
                self._run_one,
                padded,
                tile,
                overlap=self.tile_overlap,
                scale=self.scale,
                multiple=self.multiple,
            )
        return out[: self.scale * h, : self.scale * w]

    def _run_one(self, window: np.ndarray) -> np.ndarray:
        return self.run(window[np.newaxis])[0, 0]

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


_REGISTRY: dict[str, type[Engine]] = {}
E = TypeVar("E", bound=Engine)


def register(name: str) -> Callable[[type[E]], type[E]]:
    """Class decorator: make an engine available under `--engine NAME`."""

    def wrap(cls: type[E]) -> type[E]:
        _REGISTRY[name] = cls
        return cls

    return wrap


def engine_names() -> list[str]:
    """Names of every registered engine (present or not on this machine)."""
    _import_all()
    return sorted(_REGISTRY)


def engine_class(name: str) -> type[Engine]:
    """The class registered under `name`; EngineError naming the choices otherwise."""
    _import_all()
    if name not in _REGISTRY:
        raise EngineError(
            f"unknown engine {name!r}; choose one of: auto, {', '.join(sorted(_REGISTRY))}"
        )
    return _REGISTRY[name]


def create_engine(
    name: str, model_path: str, *, shape: tuple[int, int] | None = None, **options: object
) -> Engine:
    """Create the engine `name` (or the fastest one here, for "auto") for a model file.

    `shape` is the LR frame shape the engine will mostly see: `auto` measures on it,
    TensorRT builds for it, the CUDA engines capture their graphs for it.
    """
    if name == "auto":
        from pssr_live.engines.auto import pick_engine

        return pick_engine(model_path, shape or DEFAULT_SHAPE, options)
    cls = engine_class(name)
    cls.runtime()  # a missing runtime fails here, with install steps
    return cls(model_path, shape=shape, **options)


def _import_all() -> None:
    for module in ENGINE_MODULES:
        try:
            importlib.import_module(f"pssr_live.engines.{module}")
        except ImportError:  # an engine whose own module cannot load is simply absent
            continue
