"""Fixed-memory frame ring buffer: one producer that never blocks, readers of the newest window."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class FrameWindow:
    """A copy of consecutive frames, oldest first, with their acquisition indices and times."""

    frames: np.ndarray  # (n, H, W), source dtype
    indices: np.ndarray  # (n,) int64, consecutive
    times: np.ndarray  # (n,) float64, Unix seconds

    @property
    def first(self) -> int:
        return int(self.indices[0])

    @property
    def last(self) -> int:
        return int(self.indices[-1])


@dataclass(frozen=True, slots=True)
class RingCounters:
    written: int
    read: int
    overwritten_unread: int
    windows: int


class RingBuffer:
    """Holds the last `capacity` frames in memory allocated once.

    The single producer (`push`) copies a frame into the next slot and never waits for
    readers. Readers (`newest_window`) copy the newest run of `window` frames whose
    acquisition indices are consecutive; a missing index breaks the run rather than
    joining frames that are not neighbours in time. A per-slot sequence number (a seqlock)
    detects a slot overwritten while a reader copied it, and the reader retries.
    """

    def __init__(
        self, capacity: int, shape: tuple[int, int], dtype: np.dtype | type, window: int = 5
    ):
        if capacity < window + 2:
            raise ValueError(f"ring capacity {capacity} is too small for windows of {window}")
        self.capacity = capacity
        self.window = window
        self.shape = (int(shape[0]), int(shape[1]))
        self.dtype = np.dtype(dtype)
        self._data = np.zeros((capacity, *self.shape), self.dtype)
        self._index = np.full(capacity, -1, np.int64)
        self._time = np.zeros(capacity, np.float64)
        self._seq = np.zeros(capacity, np.int64)  # odd while a slot is being written
        self._was_read = np.ones(capacity, bool)
        self._head = -1  # write count - 1: slot of the newest frame is _head % capacity
        self._run = 0  # length of the current run of consecutive indices ending at the newest
        self._written = 0
        self._read = 0
        self._overwritten_unread = 0
        self._windows = 0
        self._new_frame = threading.Condition()

    # -- producer -------------------------------------------------------------------------

    def push(self, index: int, t_acquired: float, data: np.ndarray) -> None:
        """Copy one frame into the buffer. Never blocks on readers and never allocates."""
        if data.shape != self.shape or data.dtype != self.dtype:
            raise ValueError(
                f"frame {index} is {data.shape} {data.dtype}, the buffer holds "
                f"{self.shape} {self.dtype}"
            )
        slot = (self._head + 1) % self.capacity
        if not self._was_read[slot]:
            self._overwritten_unread += 1
        prev_index = self._index[self._head % self.capacity] if self._head >= 0 else None
        self._seq[slot] += 1  # odd: being written
        self._data[slot] = data
        self._index[slot] = index
        self._time[slot] = t_acquired
        self._was_read[slot] = False
        self._seq[slot] += 1  # even: stable
        self._run = self._run + 1 if prev_index is not None and index == prev_index + 1 else 1
        if self._run >= self.window:
            self._windows += 1
        self._written += 1
        self._head += 1
        # Wake readers without waiting for them: only acquire the lock if it is free.
        if self._new_frame.acquire(blocking=False):
            try:
                self._new_frame.notify_all()
            finally:
                self._new_frame.release()

    # -- readers --------------------------------------------------------------------------

    @property
    def newest_index(self) -> int | None:
        """Acquisition index of the newest frame, or None while empty."""
        head = self._head
        return None if head < 0 else int(self._index[head % self.capacity])

    @property
    def newest_complete(self) -> int | None:
        """Acquisition index ending the newest complete window, or None if there is none."""
        return self.newest_index if self._run >= self.window else None

    def wait_for_frame(self, after: int | None, timeout: float) -> bool:
        """Wait until a frame newer than acquisition index `after` is in, or timeout."""
        with self._new_frame:
            return self._new_frame.wait_for(
                lambda: (n := self.newest_index) is not None and (after is None or n > after),
                timeout,
            )

    def newest_window(self, n: int | None = None) -> FrameWindow | None:
        """Copy the newest `n` consecutive frames, or None if they are not all present."""
        n = n or self.window
        for _ in range(8):  # retry if the producer lapped us mid-copy
            head = self._head
            if head + 1 < n:
                return None
            slots = np.arange(head - n + 1, head + 1) % self.capacity
            seq_before = self._seq[slots].copy()
            if np.any(seq_before & 1):
                continue
            indices = self._index[slots].copy()
            if np.any(np.diff(indices) != 1):
                return None
            frames = self._data[slots]  # fancy indexing copies
            times = self._time[slots].copy()
            if np.array_equal(self._seq[slots], seq_before):
                self._was_read[slots] = True
                self._read += n
                return FrameWindow(frames, indices, times)
        return None

    def frame(self, index: int) -> np.ndarray | None:
        """Copy of the frame with acquisition index `index` if it is still held."""
        head = self._head
        for back in range(min(self.capacity, head + 1)):
            slot = (head - back) % self.capacity
            if self._index[slot] == index:
                seq = self._seq[slot]
                data = self._data[slot].copy()
                if seq & 1 == 0 and self._seq[slot] == seq and self._index[slot] == index:
                    return data
                return None
            if self._index[slot] < index:
                return None
        return None

    def counters(self) -> RingCounters:
        return RingCounters(self._written, self._read, self._overwritten_unread, self._windows)
