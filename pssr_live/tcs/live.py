"""Live coded snapshots: every B raw frames become one message on the ``tcs`` topic.

The producer (the source's thread) only copies each frame into a bounded queue, as the
raw recorder does; a thread of its own codes the frames and hands each finished
snapshot to the publisher. A full queue drops frames from the TCS stream (counted),
never from the raw path. Groups are aligned to acquisition indices (frames
``nB .. nB+B-1``); a group with a missing frame is abandoned (counted), never coded
across a gap. Snapshots travel as uint16 when they fit, else uint32 (float32 for
float sources): the wire header says ``ratio``, ``frames`` [first, last] and ``masks``
(the seed).
"""

from __future__ import annotations

import queue
import threading

import numpy as np

from pssr_live.drivers.source import Frame
from pssr_live.tcs.codec import accumulate, masks_from_seed
from pssr_live.wire import Publisher


class SnapshotStreamer:
    """Codes the raw stream into snapshots of ``ratio`` frames and publishes them."""

    def __init__(
        self,
        publisher: Publisher,
        ratio: int,
        shape: tuple[int, int],
        dtype: np.dtype,
        mask_seed: int = 0,
    ) -> None:
        self.publisher = publisher
        self.ratio = ratio
        self.mask_seed = mask_seed
        self.masks = masks_from_seed(mask_seed, ratio, shape)
        self.integer = np.dtype(dtype).kind in "ui"
        self.published = 0
        self.dropped_frames = 0
        self.abandoned = 0
        self._queue: queue.Queue[tuple[int, float, np.ndarray] | None] = queue.Queue(
            maxsize=4 * ratio
        )
        self._thread = threading.Thread(target=self._run, name="tcs-coder", daemon=True)
        self._thread.start()

    def submit(self, frame: Frame) -> None:
        """Producer side: queue a copy of the frame, or count it dropped; never waits."""
        try:
            self._queue.put_nowait((frame.index, frame.t_acquired, frame.data.copy()))
        except queue.Full:
            self.dropped_frames += 1

    def _run(self) -> None:
        y = np.zeros(self.masks.shape[1:], np.float32)
        tmp = np.empty_like(y)
        first: int | None = None
        expected = -1
        while (item := self._queue.get()) is not None:
            index, t_acquired, data = item
            k = index % self.ratio
            if k == 0:
                first = index
                y.fill(0)
            elif first is not None and index != expected:
                first = None  # a frame is missing: never code across the gap
                self.abandoned += 1
            if first is None:
                continue
            accumulate(y, data, self.masks[k], tmp)
            expected = index + 1
            if k == self.ratio - 1:
                self._publish(y, first, index, t_acquired)
                first = None

    def _publish(self, y: np.ndarray, first: int, last: int, t_acquired: float) -> None:
        image = y
        if self.integer:
            image = y.astype(np.uint16 if float(y.max()) < 2**16 else np.uint32)
        header = {
            "frame": last,
            "t_acquired": t_acquired,
            "ratio": self.ratio,
            "frames": [first, last],
            "masks": self.mask_seed,
        }
        if self.publisher.send("tcs", header, image):
            self.published += 1

    def close(self) -> None:
        """Code what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout=5.0)
