"""Restores the newest complete window on its own thread, skipping what it cannot keep up with."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from psygnal import Signal

from pssr_live.engines.base import Engine
from pssr_live.normalization import NormSettings, denormalize, normalize
from pssr_live.ringbuffer import FrameWindow, RingBuffer

WindowMode = Literal["centered", "causal"]


@dataclass(frozen=True, slots=True)
class RestoredFrame:
    """One restored frame and where it came from."""

    image: np.ndarray  # float32 (scale*H, scale*W), in the raw frames' counts
    window: tuple[int, int]  # first and last raw index used
    target: int  # the raw index this frame depicts (centre for centered, last for causal)
    t_acquired: float  # acquisition time of the newest raw frame in the window
    engine_ms: float
    engine: str  # name of the engine that produced it


def target_index(window: FrameWindow, mode: WindowMode) -> int:
    """The raw frame a window restores: its centre (centered) or its newest frame (causal)."""
    return window.first + len(window.indices) // 2 if mode == "centered" else window.last


def restore_frames(engine: Engine, frames: np.ndarray, norm: NormSettings) -> np.ndarray:
    """One window (frames, h, w) in counts -> restored float32 frame in counts.

    The one code path from raw counts to a restored frame: live (`Restorer`), offline
    (`pssr-live restore`) and evaluation all call it, so they agree exactly.
    """
    x, scaling = normalize(frames, norm)
    return denormalize(engine.restore(x), scaling).astype(np.float32, copy=False)


class Restorer:
    """Pulls the newest window from the ring buffer, restores it, and emits `restored`.

    It never queues: after each window it jumps to the newest one, so a slow engine costs
    skipped windows (counted by the caller as windows formed minus windows restored), never
    growing latency or memory.

    If the engine raises, `failed` is emitted and, when a `fallback` factory was given, the
    restorer builds that engine once and goes on with it (the failed window is skipped);
    otherwise, or if the fallback fails too, the thread ends. The raw stream is untouched.
    """

    restored = Signal(RestoredFrame)
    failed = Signal(Exception)  # emitted before falling back (see `can_fall_back`) or stopping

    def __init__(
        self,
        ring: RingBuffer,
        engine: Engine,
        *,
        mode: WindowMode = "centered",
        norm: NormSettings | None = None,
        fallback: Callable[[], Engine] | None = None,
    ) -> None:
        self.ring = ring
        self.engine = engine
        self._fallback = fallback
        self.mode = mode
        self.norm = norm or NormSettings()
        self.count = 0
        self.last_window: int | None = None
        self.error: Exception | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def restore_window(self, window: FrameWindow) -> RestoredFrame:
        """Normalise, run the engine, and map the result back to counts."""
        t0 = time.perf_counter()
        image = restore_frames(self.engine, window.frames, self.norm)
        engine_ms = (time.perf_counter() - t0) * 1e3
        return RestoredFrame(
            image=image,
            window=(window.first, window.last),
            target=target_index(window, self.mode),
            t_acquired=float(window.times[-1]),
            engine_ms=engine_ms,
            engine=self.engine.name,
        )

    def step(self, timeout: float = 0.1) -> RestoredFrame | None:
        """Restore the newest window not yet restored, waiting up to `timeout` for one."""
        if not self.ring.wait_for_frame(self.last_window, timeout):
            return None
        window = self.ring.newest_window(self.engine.frames)
        if window is None or (self.last_window is not None and window.last <= self.last_window):
            return None
        result = self.restore_window(window)
        self.last_window = window.last
        self.count += 1
        self.restored.emit(result)
        return result

    @property
    def can_fall_back(self) -> bool:
        """True while a fallback engine is still available."""
        return self._fallback is not None

    def _fall_back(self) -> bool:
        """Replace the engine by the fallback (once); False if there is none or it fails."""
        factory, self._fallback = self._fallback, None
        if factory is None:
            return False
        try:
            self.engine = factory()
        except Exception as exc:
            self.failed.emit(exc)
            return False
        return True

    def start(self) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.step()
                except Exception as exc:  # reported, the raw stream goes on
                    self.failed.emit(exc)
                    if not self._fall_back():
                        self.error = exc
                        return

        self._thread = threading.Thread(target=loop, name="restorer", daemon=True)
        self._thread.start()

    def finish(self, timeout: float = 5.0) -> None:
        """Restore the final window if it is still pending, then stop the thread."""
        deadline = time.monotonic() + timeout
        while (
            self._thread is not None
            and self._thread.is_alive()
            and self.error is None
            and self.ring.newest_complete is not None
            and self.last_window != self.ring.newest_complete
            and time.monotonic() < deadline
        ):
            time.sleep(0.01)
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10.0)
