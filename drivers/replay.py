"""Replays a recorded T x Y x X TIFF movie as if it came live from a camera."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from pssr_live.drivers.movie import read_movie
from pssr_live.drivers.source import SUPPORTED_DTYPES, Frame, FrameSink, SourceError, ThreadedSource


class FileSource(ThreadedSource):
    """Streams the frames of a TIFF at a fixed rate, one consecutive index per frame."""

    def __init__(self, path: Path, *, fps: float = 20.0, loop: bool = False) -> None:
        super().__init__()
        self.movie = read_movie(path, mmap=True)
        if self.movie.dtype not in SUPPORTED_DTYPES:
            raise SourceError(
                f"{path} holds {self.movie.dtype} pixels; replay takes uint8 or uint16 raw "
                "recordings (use `pssr-live restore` for float data)"
            )
        self.name = f"file:{path.name}"
        self.shape = (int(self.movie.shape[1]), int(self.movie.shape[2]))
        self.dtype = self.movie.dtype
        self.fps = fps
        self.loop = loop

    def start(self, sink: FrameSink, n_frames: int | None = None) -> None:
        total = len(self.movie)
        if n_frames is None:
            n_frames = None if self.loop else total
        elif n_frames > total and not self.loop:
            raise SourceError(f"--frames {n_frames} but the movie has only {total} frames")

        def loop(stop: threading.Event) -> None:
            period = 1.0 / self.fps
            t_next = time.monotonic()
            while not stop.is_set() and (n_frames is None or self.delivered < n_frames):
                delay = t_next - time.monotonic()
                if delay > 0 and stop.wait(delay):
                    break
                t_next += period
                data = np.asarray(self.movie[self.delivered % total])
                sink(Frame(self.delivered, time.time(), data))
                self.delivered += 1

        self._run_thread(loop)

    def close(self) -> None:
        super().close()
        self.movie = np.empty((0, *self.shape), self.dtype)
