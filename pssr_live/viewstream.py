"""Newest-only reception for live viewers: a thread drains the socket, stale frames are dropped.

A viewer that handled every message would fall behind whenever the publisher is faster
than the screen. `LatestReceiver` empties the SUB socket continuously on its own thread
and keeps only the newest restored frame (plus a few recent raw frames to pair it with),
so what is shown is always current and memory stays flat. ZMQ_CONFLATE would do the
first part in the socket, but it does not support multipart messages.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pssr_live.curve import CurveKeys
from pssr_live.wire import Message, Subscriber


@dataclass(frozen=True, slots=True)
class Update:
    """The newest restored frame and the raw frame it depicts (None if not received)."""

    restored: Message
    raw: Message | None


@dataclass(frozen=True, slots=True)
class StreamStats:
    """Live readouts computed from the received headers."""

    acquisition_fps: float = 0.0
    restored_fps: float = 0.0
    skipped: int = 0
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    quality: dict[str, Any] | None = None
    quality_history: list[dict[str, Any]] = field(default_factory=list)
    silent_s: float | None = None  # seconds since the last message (None: never received)
    received: int = 0
    stale_dropped: int = 0


def rate(times: deque[float]) -> float:
    """Events per second over the timestamps in `times` (0 with fewer than two)."""
    return (
        (len(times) - 1) / (times[-1] - times[0])
        if len(times) > 1 and times[-1] > times[0]
        else 0.0
    )


class LatestReceiver:
    """Subscribes to `address` and keeps the newest restored message and recent raw frames.

    A restored message replaced before `take` fetched it counts as stale and dropped.
    Frame indices going backwards mean the publisher restarted: history is reset.
    """

    def __init__(
        self,
        address: str,
        *,
        raw_keep: int = 32,
        rcvhwm: int = 16,
        curve: CurveKeys | None = None,
    ) -> None:
        self.address = address
        self._sub = Subscriber(address, ("raw", "restored"), rcvhwm=rcvhwm, curve=curve)
        self._raw_keep = raw_keep
        self._lock = threading.Lock()
        self._raw: OrderedDict[int, Message] = OrderedDict()
        self._latest: Message | None = None
        self._last_restored_frame: int | None = None
        self._raw_times: deque[float] = deque(maxlen=50)
        self._restored_times: deque[float] = deque(maxlen=50)
        self._latencies: deque[float] = deque(maxlen=500)
        self._quality: deque[dict[str, Any]] = deque(maxlen=200)
        self._skipped = 0
        self._stale = 0
        self._received = 0
        self._t_last: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="viewer-receiver", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            message = self._sub.receive(100)
            if message is not None:
                with self._lock:
                    self._handle(message)

    def _handle(self, message: Message) -> None:
        self._received += 1
        self._t_last = time.monotonic()
        header = message.header
        if message.topic == "raw":
            newest_raw = next(reversed(self._raw)) if self._raw else None
            if newest_raw is not None and message.frame <= newest_raw:
                self._reset()
            self._raw[message.frame] = message
            while len(self._raw) > self._raw_keep:
                self._raw.popitem(last=False)
            self._raw_times.append(float(header["t_acquired"]))
            return
        previous = self._last_restored_frame
        if previous is not None and message.frame <= previous:
            self._reset()
        elif previous is not None:
            self._skipped += message.frame - previous - 1
        self._last_restored_frame = message.frame
        if self._latest is not None:
            self._stale += 1
        self._latest = message
        self._restored_times.append(self._t_last)
        self._latencies.append(float(header["latency_ms"]))
        quality = header.get("quality")
        if quality and (not self._quality or self._quality[-1]["frame"] != quality["frame"]):
            self._quality.append(quality)

    def _reset(self) -> None:
        """The publisher restarted (indices went back): forget the old stream's history."""
        self._raw.clear()
        self._raw_times.clear()
        self._restored_times.clear()
        self._latencies.clear()
        self._quality.clear()
        self._last_restored_frame = None
        self._skipped = 0

    def take(self) -> Update | None:
        """The newest restored frame not yet taken, paired with its raw frame, or None."""
        with self._lock:
            restored, self._latest = self._latest, None
            if restored is None:
                return None
            target = int(restored.header.get("target", restored.frame))
            raw = self._raw.get(target)
            if raw is None:  # not received (dropped at the HWM): the nearest older one
                older = [i for i in self._raw if i <= target]
                raw = self._raw[max(older)] if older else None
            return Update(restored, raw)

    def stats(self) -> StreamStats:
        with self._lock:
            lat = np.percentile(self._latencies, [50, 99]) if self._latencies else (None, None)
            return StreamStats(
                acquisition_fps=rate(self._raw_times),
                restored_fps=rate(self._restored_times),
                skipped=self._skipped,
                latency_p50_ms=None if lat[0] is None else float(lat[0]),
                latency_p99_ms=None if lat[1] is None else float(lat[1]),
                quality=self._quality[-1] if self._quality else None,
                quality_history=list(self._quality),
                silent_s=None if self._t_last is None else time.monotonic() - self._t_last,
                received=self._received,
                stale_dropped=self._stale,
            )

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        self._sub.close()
