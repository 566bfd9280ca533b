"""Live coded snapshots: every B raw frames become one message on the ``tcs`` topic.

The producer (the source's thread) only copies each frame into a bounded queue, as the
raw recorder does; a thread of its own codes the frames and hands each finished
snapshot to the publisher. A full queue drops frames from the TCS stream (counted),
never from the raw path. Groups are aligned to acquisition indices (frames
``nB .. nB+B-1``); a group with a missing frame is abandoned (counted), never coded
across a gap. Snapshots travel as uint16 when they fit, else uint32 (float32 for
float sources): the wire header says ``ratio``, ``frames`` [first, last] and ``masks``
(the seed), and ``source_dtype`` (what the raw frames were, for the bandwidth saved).

:class:`SnapshotReceiver` is the other end, for viewers: it decodes the newest
snapshot on a thread of its own (the bundled network for that B, else GAP-TV).
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass

import numpy as np

from pssr_live.curve import CurveKeys
from pssr_live.drivers.source import Frame
from pssr_live.engines.base import create_engine
from pssr_live.errors import UserError
from pssr_live.tcs.codec import accumulate, masks_from_seed
from pssr_live.tcs.decode import Decoder, gap_tv_decoder, net_decoder
from pssr_live.tcs.net import bundled_tcs_path, load_tcs_model
from pssr_live.wire import Message, Publisher, Subscriber


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
        self.source_dtype = np.dtype(dtype).name
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
            "source_dtype": self.source_dtype,
        }
        if self.publisher.send("tcs", header, image):
            self.published += 1

    def close(self) -> None:
        """Code what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout=5.0)


@dataclass(frozen=True, slots=True)
class DecodedSnapshot:
    """The B frames of one received snapshot and what it cost to send and decode."""

    frames: np.ndarray  # (B, H, W) float32, counts
    header: dict
    decoder: str
    decode_ms: float
    bytes_sent: int  # the snapshot's payload
    bytes_raw: int  # the B raw frames it stands for

    @property
    def saved(self) -> float:
        """Fraction of the raw stream's bandwidth saved."""
        return 1.0 - self.bytes_sent / self.bytes_raw


class SnapshotReceiver:
    """Subscribes to ``tcs`` messages and decodes the newest one on its own thread.

    Older snapshots still queued when a decode ends are skipped (newest only), so a slow
    decoder never builds a backlog.
    """

    def __init__(
        self, address: str, *, engine: str = "auto", curve: CurveKeys | None = None
    ) -> None:
        self._sub = Subscriber(address, ("tcs",), rcvhwm=8, curve=curve)
        self._engine = engine
        self._decoders: dict[tuple[int, int, tuple[int, int]], tuple[Decoder, str, np.ndarray]] = {}
        self._latest: DecodedSnapshot | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.decoded = 0
        self.skipped = 0
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name="tcs-decoder", daemon=True)
        self._thread.start()

    def _decoder(self, ratio: int, seed: int, shape: tuple[int, int]):
        key = (ratio, seed, shape)
        if key not in self._decoders:
            path = bundled_tcs_path(ratio)
            if path.exists():
                _, info = load_tcs_model(path, ratio=ratio)
                engine = create_engine(self._engine, str(path), shape=shape)
                found = (net_decoder(engine, ratio, info.norm), f"network, {engine.name}")
            else:
                found = (gap_tv_decoder(), "GAP-TV")
            self._decoders[key] = (*found, masks_from_seed(seed, ratio, shape))
        return self._decoders[key]

    def _newest(self) -> Message | None:
        message = self._sub.receive(100)
        while message is not None and (newer := self._sub.receive(0)) is not None:
            message = newer
            self.skipped += 1
        return message

    def _run(self) -> None:
        while not self._stop.is_set():
            message = self._newest()
            if message is None or not isinstance(message.header["masks"], int):
                continue  # calibrated mask files are not streamed live
            h = message.header
            shape = (int(message.image.shape[0]), int(message.image.shape[1]))
            t0 = time.perf_counter()
            try:
                decoder, label, masks = self._decoder(int(h["ratio"]), h["masks"], shape)
                frames = decoder(message.image.astype(np.float32), masks)
            except UserError as exc:  # e.g. a damaged bundled model: say so, keep listening
                self.error = str(exc)
                continue
            raw_item = np.dtype(h.get("source_dtype", "uint16")).itemsize
            decoded = DecodedSnapshot(
                frames,
                h,
                label,
                1e3 * (time.perf_counter() - t0),
                message.image.nbytes,
                int(h["ratio"]) * shape[0] * shape[1] * raw_item,
            )
            with self._lock:
                self._latest = decoded
                self.decoded += 1

    def take(self) -> DecodedSnapshot | None:
        """The newest decoded snapshot not yet taken, or None."""
        with self._lock:
            latest, self._latest = self._latest, None
            return latest

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)
        self._sub.close()
