import threading

import numpy as np
import pytest

from pssr_live.ringbuffer import RingBuffer


def frame(i: int, shape=(4, 6)) -> np.ndarray:
    return np.full(shape, i, np.uint16)


def test_memory_is_allocated_once_and_push_copies():
    ring = RingBuffer(8, (4, 6), np.uint16)
    buffer_id = ring._data.__array_interface__["data"][0]
    src = frame(0)
    ring.push(0, 0.0, src)
    src[:] = 99  # the ring holds a copy
    for i in range(1, 30):
        ring.push(i, float(i), frame(i))
    assert ring._data.__array_interface__["data"][0] == buffer_id
    window = ring.newest_window()
    assert window.indices.tolist() == [25, 26, 27, 28, 29]
    assert [int(f[0, 0]) for f in window.frames] == [25, 26, 27, 28, 29]
    assert window.times.tolist() == [25.0, 26.0, 27.0, 28.0, 29.0]


def test_no_window_until_five_frames():
    ring = RingBuffer(8, (4, 6), np.uint16)
    for i in range(4):
        ring.push(i, 0.0, frame(i))
        assert ring.newest_window() is None
    ring.push(4, 0.0, frame(4))
    assert ring.newest_window().indices.tolist() == [0, 1, 2, 3, 4]


def test_gap_breaks_window_instead_of_joining_non_neighbours():
    ring = RingBuffer(16, (4, 6), np.uint16)
    for i in [0, 1, 2, 3, 5, 6, 7, 8]:  # index 4 is missing
        ring.push(i, 0.0, frame(i))
    assert ring.newest_window() is None
    assert ring.newest_complete is None
    ring.push(9, 0.0, frame(9))
    assert ring.newest_window().indices.tolist() == [5, 6, 7, 8, 9]
    # windows formed: [0..3] never complete; [5..9] is the first
    assert ring.counters().windows == 1


def test_counters_written_read_overwritten():
    ring = RingBuffer(8, (4, 6), np.uint16)
    for i in range(8):
        ring.push(i, 0.0, frame(i))
    ring.newest_window()  # reads 3..7
    for i in range(8, 12):  # evicts frames 0, 1, 2 (never read) and 3 (read)
        ring.push(i, 0.0, frame(i))
    c = ring.counters()
    assert c.written == 12
    assert c.read == 5
    assert c.overwritten_unread == 3
    assert c.windows == 8


def test_wrong_shape_or_dtype_rejected():
    ring = RingBuffer(8, (4, 6), np.uint16)
    with pytest.raises(ValueError, match="buffer holds"):
        ring.push(0, 0.0, np.zeros((4, 5), np.uint16))
    with pytest.raises(ValueError, match="buffer holds"):
        ring.push(0, 0.0, np.zeros((4, 6), np.float32))


def test_frame_lookup():
    ring = RingBuffer(8, (4, 6), np.uint16)
    for i in range(20):
        ring.push(i, 0.0, frame(i))
    assert int(ring.frame(17)[0, 0]) == 17
    assert ring.frame(5) is None  # overwritten


def test_producer_racing_readers_never_yields_torn_or_mixed_windows():
    """A fast producer laps a tiny buffer while readers copy windows: every window a reader
    gets must hold five consecutive frames whose pixels match their indices."""
    ring = RingBuffer(7, (64, 64), np.uint16)
    n = 20000
    bad: list[str] = []
    got = [0]
    done = threading.Event()

    def reader():
        while not done.is_set():
            w = ring.newest_window()
            if w is None:
                continue
            got[0] += 1
            if np.any(np.diff(w.indices) != 1):
                bad.append(f"indices {w.indices}")
            for idx, f in zip(w.indices, w.frames, strict=True):
                if not np.all(f == idx % 65536):
                    bad.append(f"frame {idx} torn")
                    break

    readers = [threading.Thread(target=reader) for _ in range(2)]
    for r in readers:
        r.start()
    for i in range(n):
        ring.push(i, float(i), np.full((64, 64), i % 65536, np.uint16))
    done.set()
    for r in readers:
        r.join()
    assert not bad, bad[:3]
    assert got[0] > 0
    assert ring.counters().written == n


def test_wait_for_frame_wakes_on_push():
    ring = RingBuffer(8, (4, 6), np.uint16)
    assert not ring.wait_for_frame(None, 0.01)
    t = threading.Timer(0.05, lambda: ring.push(0, 0.0, frame(0)))
    t.start()
    assert ring.wait_for_frame(None, 2.0)
    assert not ring.wait_for_frame(0, 0.01)
