"""The ZeroMQ wire format of design 3.4: `[topic, JSON header, raw payload]`, no pickle."""

from __future__ import annotations

import json
import queue
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import zmq
from zmq.auth.thread import ThreadAuthenticator

from pssr_live.curve import CurveKeys, secure_client, secure_server
from pssr_live.errors import UserError

WIRE_VERSION = 1
DEFAULT_ADDRESS = "tcp://127.0.0.1:5555"
TOPICS = ("raw", "restored", "tcs")
_REQUIRED = {
    "v": int,
    "stream": str,
    "frame": int,
    "shape": list,
    "dtype": str,
    "t_acquired": float,
}
_REQUIRED_BY_TOPIC: dict[str, dict[str, type]] = {
    "restored": {"window": list, "latency_ms": float, "engine": str},
    "tcs": {"ratio": int, "frames": list, "masks": object},
}
_DTYPES = {"uint8", "uint16", "float32", "float16", "int16", "int32", "uint32", "float64"}


class WireError(UserError):
    """A message that does not follow the wire format; the text says which rule it breaks."""


@dataclass(frozen=True, slots=True)
class Message:
    """A decoded, validated message."""

    topic: str
    header: dict[str, Any]
    image: np.ndarray

    @property
    def frame(self) -> int:
        return int(self.header["frame"])


def is_loopback(address: str) -> bool:
    """True for tcp addresses on 127.0.0.0/8, ::1 or localhost, and for ipc/inproc."""
    if not address.startswith("tcp://"):
        return True
    host = address[len("tcp://") :].rsplit(":", 1)[0].strip("[]")
    return host == "localhost" or host.startswith("127.") or host == "::1"


def encode(topic: str, header: dict[str, Any], image: np.ndarray) -> list[bytes]:
    """Build the three frames of a message; the header gets shape, dtype, v and stream."""
    if topic not in TOPICS:
        raise WireError(f"unknown topic {topic!r}; use one of {', '.join(TOPICS)}")
    image = np.ascontiguousarray(image)
    full = {
        "v": WIRE_VERSION,
        "stream": topic,
        **header,
        "shape": list(image.shape),
        "dtype": image.dtype.name,
    }
    return [topic.encode(), json.dumps(full).encode(), image.data.cast("B")]


def decode(parts: Sequence[bytes | memoryview | zmq.Frame]) -> Message:
    """Validate and decode the three frames of a message (raises WireError)."""
    if len(parts) != 3:
        raise WireError(f"message has {len(parts)} parts, expected 3 (topic, header, payload)")
    topic_b, header_b = (bytes(p) for p in parts[:2])
    payload = memoryview(parts[2]).cast("B")  # zero-copy: the image views the received frame
    try:
        topic = topic_b.decode("ascii")
    except UnicodeDecodeError as exc:
        raise WireError("topic is not ASCII") from exc
    if topic not in TOPICS:
        raise WireError(f"unknown topic {topic!r}")
    try:
        header = json.loads(header_b.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WireError(f"header is not UTF-8 JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise WireError("header is not a JSON object")
    for key, kind in {**_REQUIRED, **_REQUIRED_BY_TOPIC.get(topic, {})}.items():
        if key not in header:
            raise WireError(f"header lacks {key!r}")
        value = header[key]
        ok = isinstance(value, (int, float)) if kind is float else isinstance(value, kind)
        if kind is int and isinstance(value, bool):
            ok = False
        if not ok:
            raise WireError(f"header {key!r} is {type(value).__name__}, expected {kind.__name__}")
    if header["v"] != WIRE_VERSION:
        raise WireError(f"wire format version {header['v']}, this reader knows {WIRE_VERSION}")
    if header["stream"] != topic:
        raise WireError(f"header stream {header['stream']!r} does not match topic {topic!r}")
    shape = header["shape"]
    if len(shape) != 2 or not all(
        isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape
    ):
        raise WireError(f"shape {shape!r} is not [height, width] of positive integers")
    if header["dtype"] not in _DTYPES:
        raise WireError(f"dtype {header['dtype']!r} is not supported")
    dtype = np.dtype(header["dtype"])
    expected = shape[0] * shape[1] * dtype.itemsize
    if len(payload) != expected:
        raise WireError(f"payload is {len(payload)} bytes, header says {expected}")
    image = np.frombuffer(payload, dtype).reshape(shape)
    return Message(topic, header, image)


class Publisher:
    """Publishes messages from one thread of its own; `send` never blocks the caller.

    ZeroMQ sockets are not thread-safe, so producers hand messages over a bounded queue;
    when it is full the message is dropped and counted, never queued without bound. A slow
    or absent subscriber cannot block publication either: PUB drops at its high-water mark.
    With `curve` keys (pssr_live.curve) the stream is encrypted and only clients whose
    public key is in `curve.authorized` receive it.
    """

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        *,
        allow_remote: bool = False,
        queue_size: int = 64,
        hwm: int = 32,
        context: zmq.Context | None = None,
        curve: CurveKeys | None = None,
    ) -> None:
        if not is_loopback(address):
            if not allow_remote:
                raise WireError(
                    f"{address} is not a loopback address; pass --allow-remote to publish "
                    "on the network"
                )
            who = "clients with a key in --curve-keys" if curve else "anyone who can reach it"
            warnings.warn(f"publishing on {address}: {who} sees the images", stacklevel=2)
        self.address = address
        self._ctx = context or zmq.Context.instance()
        self._auth: ThreadAuthenticator | None = None
        self._socket = self._ctx.socket(zmq.PUB)
        self._socket.setsockopt(zmq.SNDHWM, hwm)
        self._socket.setsockopt(zmq.LINGER, 200)
        if curve is not None:
            self._auth = ThreadAuthenticator(self._ctx)
            self._auth.start()
            self._auth.configure_curve(domain="*", location=str(curve.authorized))
            secure_server(self._socket, curve)
        try:
            self._socket.bind(address)
        except zmq.ZMQError as exc:
            self._close_socket()
            raise WireError(
                f"cannot publish on {address}: {exc}; choose another --publish"
            ) from exc
        self._queue: queue.Queue[list[bytes] | None] = queue.Queue(maxsize=queue_size)
        self.published = {topic: 0 for topic in TOPICS}
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="publisher", daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        """The bound address, with the real port when bound to port 0 or '*'."""
        return self._socket.getsockopt_string(zmq.LAST_ENDPOINT)

    def send(self, topic: str, header: dict[str, Any], image: np.ndarray) -> bool:
        """Queue a message; returns False (and counts a drop) if the queue is full."""
        try:
            self._queue.put_nowait(encode(topic, header, image))
            return True
        except queue.Full:
            self.dropped += 1
            return False

    def _run(self) -> None:
        while (parts := self._queue.get()) is not None:
            self._socket.send_multipart(parts, copy=False)
            self.published[parts[0].decode()] += 1

    def close(self) -> None:
        """Send what is queued, then close the socket."""
        self._queue.put(None)
        self._thread.join(timeout=5.0)
        self._close_socket()

    def _close_socket(self) -> None:
        self._socket.close()
        if self._auth is not None:
            self._auth.stop()


class Subscriber:
    """Receives and validates messages; malformed ones are counted and skipped."""

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        topics: tuple[str, ...] = ("raw", "restored"),
        *,
        rcvhwm: int = 1000,
        context: zmq.Context | None = None,
        curve: CurveKeys | None = None,
    ) -> None:
        self.address = address
        self._ctx = context or zmq.Context.instance()
        self._socket = self._ctx.socket(zmq.SUB)
        self._socket.setsockopt(zmq.RCVHWM, rcvhwm)
        self._socket.setsockopt(zmq.LINGER, 0)
        # Retry a publisher that is not up yet every 10 ms (on loopback without backing
        # off; remote hosts back off to 1 s), so a viewer started before `pssr-live run`
        # sees the stream from its first frame.
        self._socket.setsockopt(zmq.RECONNECT_IVL, 10)
        self._socket.setsockopt(zmq.RECONNECT_IVL_MAX, 0 if is_loopback(address) else 1000)
        if curve is not None:
            secure_client(self._socket, curve)
        for topic in topics:
            self._socket.setsockopt(zmq.SUBSCRIBE, topic.encode())
        self._socket.connect(address)
        self.received = 0
        self.rejected = 0
        self.last_error: str | None = None

    def receive(self, timeout_ms: int = 1000) -> Message | None:
        """The next valid message, or None if none arrived within the timeout."""
        while self._socket.poll(timeout_ms):
            parts = self._socket.recv_multipart(copy=False)  # large payloads: no extra copy
            try:
                message = decode(parts)
            except WireError as exc:
                self.rejected += 1
                self.last_error = str(exc)
                continue
            self.received += 1
            return message
        return None

    def close(self) -> None:
        self._socket.close()
