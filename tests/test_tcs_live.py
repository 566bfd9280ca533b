"""Live coded snapshots on the tcs topic: aligned groups, exact sums, gaps never coded."""

from __future__ import annotations

import time

import numpy as np

from pssr_live.drivers.source import Frame
from pssr_live.tcs.codec import encode, masks_from_seed
from pssr_live.tcs.live import SnapshotReceiver, SnapshotStreamer
from pssr_live.wire import Publisher, Subscriber


def test_streamer_publishes_exact_snapshots_and_skips_gaps(address: str) -> None:
    publisher = Publisher(address)
    subscriber = Subscriber(address, topics=("tcs",))
    time.sleep(0.3)  # let the subscription reach the publisher
    rng = np.random.default_rng(0)
    movie = rng.integers(0, 1000, (16, 12, 10), dtype=np.uint16)
    streamer = SnapshotStreamer(publisher, 4, (12, 10), np.dtype(np.uint16), mask_seed=5)
    for i in range(2, 16):  # starts mid-group; frame 9 is lost
        if i != 9:
            streamer.submit(Frame(i, 100.0 + i, movie[i]))
    streamer.close()
    messages = [m for m in iter(lambda: subscriber.receive(1000), None)]
    publisher.close()
    subscriber.close()
    assert [m.header["frames"] for m in messages] == [[4, 7], [12, 15]]
    masks = masks_from_seed(5, 4, (12, 10))
    for m in messages:
        first, last = m.header["frames"]
        assert m.header["ratio"] == 4 and m.header["masks"] == 5 and m.frame == last
        assert m.header["t_acquired"] == 100.0 + last and m.image.dtype == np.uint16
        assert np.array_equal(m.image, encode(movie[first : last + 1], masks))
    assert streamer.abandoned == 1 and streamer.published == 2


def test_receiver_decodes_the_newest_snapshot(address: str) -> None:
    publisher = Publisher(address)
    receiver = SnapshotReceiver(address, engine="torch")
    time.sleep(0.3)
    movie = np.full((8, 16, 16), 300, np.uint16)
    streamer = SnapshotStreamer(publisher, 8, (16, 16), np.dtype(np.uint16))
    for i in range(8):
        streamer.submit(Frame(i, float(i), movie[i]))
    streamer.close()
    deadline = time.monotonic() + 10
    while (decoded := receiver.take()) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    receiver.close()
    publisher.close()
    assert decoded is not None and decoded.frames.shape == (8, 16, 16)
    assert decoded.decoder == "GAP-TV"  # no bundled model for B = 8
    assert decoded.saved == 0.875  # one uint16 snapshot for eight uint16 frames
    assert np.median(np.abs(decoded.frames - 300)) < 5
