import contextlib
import json
import time

import numpy as np
import pytest
import zmq
from hypothesis import given, settings
from hypothesis import strategies as st

from pssr_live.wire import Publisher, Subscriber, WireError, decode, encode, is_loopback


def test_encode_decode_round_trip():
    image = np.arange(12, dtype=np.uint16).reshape(3, 4)
    parts = encode("raw", {"frame": 7, "t_acquired": 1.5}, image)
    assert parts[0] == b"raw"
    header = json.loads(parts[1])
    assert header == {
        "v": 1,
        "stream": "raw",
        "frame": 7,
        "t_acquired": 1.5,
        "shape": [3, 4],
        "dtype": "uint16",
    }
    assert len(bytes(parts[2])) == 24
    msg = decode([bytes(p) for p in parts])
    np.testing.assert_array_equal(msg.image, image)
    assert msg.frame == 7


def restored_header(**over):
    h = {"frame": 4, "t_acquired": 1.0, "window": [0, 4], "latency_ms": 12.5, "engine": "torch"}
    h.update(over)
    return h


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda p: p[:2], "3"),
        (lambda p: [p[0], b"{not json", p[2]], "JSON"),
        (lambda p: [p[0], b"[1, 2]", p[2]], "JSON object"),
        (lambda p: [p[0], p[1], p[2][:-1]], "payload"),
        (lambda p: [b"weird", p[1], p[2]], "topic"),
        (lambda p: [b"raw", p[1], p[2]], "does not match"),
    ],
)
def test_malformed_messages_rejected(mutate, reason):
    parts = [bytes(p) for p in encode("restored", restored_header(), np.zeros((2, 2), np.float32))]
    with pytest.raises(WireError, match=reason):
        decode(mutate(parts))


@pytest.mark.parametrize("missing", ["frame", "t_acquired", "window", "latency_ms", "engine"])
def test_restored_header_keys_required(missing):
    header = restored_header()
    del header[missing]
    parts = [bytes(p) for p in encode("restored", header, np.zeros((2, 2), np.float32))]
    with pytest.raises(WireError, match=missing):
        decode(parts)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=64), min_size=0, max_size=5))
def test_decode_never_crashes_on_garbage(parts):
    with contextlib.suppress(WireError):
        decode(parts)


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["v", "stream", "frame", "shape", "dtype", "t_acquired"]),
        st.one_of(
            st.integers(),
            st.floats(allow_nan=False),
            st.text(max_size=5),
            st.lists(st.integers(-3, 5), max_size=3),
            st.none(),
        ),
    ),
    st.binary(max_size=64),
)
def test_decode_rejects_or_returns_consistent_image(header, payload):
    try:
        msg = decode([b"raw", json.dumps(header).encode(), payload])
    except WireError:
        return
    assert msg.image.nbytes == len(payload)
    assert list(msg.image.shape) == header["shape"]


def test_loopback_rules():
    assert is_loopback("tcp://127.0.0.1:5555")
    assert is_loopback("tcp://localhost:1")
    assert is_loopback("tcp://[::1]:1")
    assert not is_loopback("tcp://0.0.0.0:5555")
    assert not is_loopback("tcp://*:5555")
    with pytest.raises(WireError, match="allow-remote"):
        Publisher("tcp://0.0.0.0:5599")


def test_publish_subscribe_on_loopback():
    pub = Publisher("tcp://127.0.0.1:0")
    sub = Subscriber(pub.endpoint, topics=("raw",))
    try:
        time.sleep(0.3)  # slow joiner
        for i in range(20):
            pub.send("raw", {"frame": i, "t_acquired": time.time()}, np.full((8, 8), i, np.uint16))
            pub.send("restored", restored_header(frame=i), np.zeros((32, 32), np.float32))
            time.sleep(0.002)  # a live stream's pace; bursts beyond the HWM are dropped by design
        got = []
        while (msg := sub.receive(1000)) is not None and len(got) < 20:
            got.append(msg)
        assert [m.frame for m in got] == list(range(20))
        assert all(m.topic == "raw" for m in got)  # subscribed to raw only
        assert all(int(m.image[0, 0]) == m.frame for m in got)
    finally:
        sub.close()
        pub.close()


def test_subscriber_skips_malformed_and_counts_them():
    ctx = zmq.Context.instance()
    raw_pub = ctx.socket(zmq.PUB)
    port = raw_pub.bind_to_random_port("tcp://127.0.0.1")
    sub = Subscriber(f"tcp://127.0.0.1:{port}", topics=("raw",))
    try:
        time.sleep(0.3)
        raw_pub.send_multipart([b"raw", b"{}", b""])
        raw_pub.send_multipart(
            [
                bytes(p)
                for p in encode("raw", {"frame": 1, "t_acquired": 0.0}, np.zeros((2, 2), np.uint8))
            ]
        )
        msg = sub.receive(2000)
        assert msg is not None and msg.frame == 1
        assert sub.rejected == 1 and "lacks" in sub.last_error
    finally:
        sub.close()
        raw_pub.close()


def test_absent_subscriber_never_blocks_publisher():
    pub = Publisher("tcp://127.0.0.1:0", queue_size=4)
    try:
        t0 = time.perf_counter()
        for i in range(2000):
            pub.send("raw", {"frame": i, "t_acquired": 0.0}, np.zeros((64, 64), np.uint16))
        assert time.perf_counter() - t0 < 5.0
    finally:
        pub.close()
