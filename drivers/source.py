"""What every acquisition source produces, and how a source is chosen from a string."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from pssr_live.errors import UserError

SUPPORTED_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16))


class SourceError(UserError):
    """A source cannot start or stopped delivering; the message says what to do."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One raw 2-D frame with its acquisition index and time (Unix seconds)."""

    index: int
    t_acquired: float
    data: np.ndarray
    ground_truth_key: int | None = None  # simulator frame id, to fetch its HR ground truth


FrameSink = Callable[[Frame], None]


class FrameSource(Protocol):
    """A source pushes frames to a sink from a thread of its own until stopped."""

    name: str
    shape: tuple[int, int]
    dtype: np.dtype

    def start(self, sink: FrameSink, n_frames: int | None = None) -> None:
        """Begin delivering frames to `sink` (from the source's own thread)."""

    def stop(self) -> None:
        """Stop delivering; idempotent."""

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the source has finished (n_frames delivered or stopped)."""

    error: BaseException | None  # the error that ended delivery early, if any
    camera_lost: int  # frames the camera numbered that never reached the sink (see CoreSource)

    def ground_truth(self, frame: Frame) -> np.ndarray | None:
        """The HR ground truth of a frame (simulated sources), else None."""

    def close(self) -> None:
        """Release the hardware or file."""


class ThreadedSource:
    """Base of the sources here: frames are delivered from a daemon thread of the source's
    own, and stop, wait, error and close behave the same for every kind of source."""

    name: str
    shape: tuple[int, int]
    dtype: np.dtype

    def __init__(self) -> None:
        self.delivered = 0
        self.camera_lost = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def _run_thread(self, loop: Callable[[threading.Event], None]) -> None:
        """Run `loop(stop_event)` on the delivery thread; an exception ends it into .error."""

        def run() -> None:
            try:
                loop(self._stop)
            except BaseException as exc:  # reported through .error, never lost
                self.error = exc
            finally:
                self._done.set()

        self._thread = threading.Thread(target=run, name=f"source-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop delivering; idempotent."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until delivery has ended (all frames delivered, stopped, or failed)."""
        return self._done.wait(timeout)

    def ground_truth(self, frame: Frame) -> np.ndarray | None:
        """The HR ground truth of a frame; only the simulator has one."""
        return None

    def close(self) -> None:
        """Release the hardware or file."""
        self.stop()


def check_frame(data: np.ndarray, shape: tuple[int, int], dtype: np.dtype) -> None:
    """Raise SourceError if a frame does not match the stream's shape and dtype."""
    if data.ndim != 2 or tuple(data.shape) != tuple(shape) or data.dtype != dtype:
        raise SourceError(
            f"frame of shape {tuple(data.shape)} {data.dtype} in a stream of {shape[0]}x{shape[1]} "
            f"{dtype}: the camera changed its ROI, binning or pixel type mid-acquisition; "
            "restart the acquisition"
        )


def open_source(
    spec: str,
    *,
    fps: float | None = None,
    size: tuple[int, int] | None = None,
    seed: int = 0,
    peak_photons: float | None = None,
    timeout_s: float = 5.0,
) -> FrameSource:
    """Open `sim`, `demo`, `mm:PATH.cfg` or `file:MOVIE.tif` as a frame source."""
    from pssr_live.drivers.micromanager import CoreSource
    from pssr_live.drivers.replay import FileSource

    if spec == "sim":
        return CoreSource.simulated(
            lr_shape=size or (128, 128),
            fps=fps or 20.0,
            seed=seed,
            peak_photons=peak_photons,
            timeout_s=timeout_s,
        )
    if spec == "demo":
        return CoreSource.demo(fps=fps, size=size, timeout_s=timeout_s)
    if spec.startswith("mm:"):
        return CoreSource.from_config(Path(spec[3:]), fps=fps, timeout_s=timeout_s)
    if spec.startswith("file:"):
        return FileSource(Path(spec[5:]), fps=fps or 20.0)
    raise SourceError(
        f"unknown source {spec!r}: use sim, demo, mm:PATH.cfg (a Micro-Manager config) "
        "or file:MOVIE.tif"
    )
