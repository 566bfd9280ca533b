"""`pssr-live run` end to end: real sources, real sockets, real files."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

from pssr_live.cli import main
from pssr_live.recorder import read_frame_tags
from pssr_live.wire import Subscriber


class Collector:
    """Subscribes before the run starts and keeps every message it receives."""

    def __init__(self, address: str) -> None:
        self.sub = Subscriber(address, topics=("raw", "restored"))
        self.messages = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            msg = self.sub.receive(100)
            if msg is not None:
                self.messages.append(msg)

    def close(self, linger: float = 1.0) -> None:
        time.sleep(linger)
        self._stop.set()
        self._thread.join()
        self.sub.close()

    def topic(self, name: str):
        return [m for m in self.messages if m.topic == name]


def run_and_collect(address: str, argv: list[str]) -> tuple[int, Collector]:
    collector = Collector(address)
    time.sleep(0.2)
    try:
        code = main(["run", "--publish", address, *argv])
    finally:
        collector.close()
    return code, collector


def check_recording(record: Path, n: int, lr_shape: tuple[int, int], collector: Collector) -> dict:
    raw = tifffile.imread(record / "raw.ome.tif")
    assert raw.shape == (n, *lr_shape)
    tags = read_frame_tags(record / "raw.ome.tif")
    assert [t["frame"] for t in tags] == list(range(n))
    times = [t["t"] for t in tags]
    assert all(b > a for a, b in itertools.pairwise(times))
    with tifffile.TiffFile(record / "raw.ome.tif") as tif:
        assert tif.is_ome and tif.series[0].axes == "TYX"

    session = json.loads((record / "session.json").read_text())
    c = session["counters"]
    assert c["acquired"] == c["recorded"] == n
    assert c["restored"] + c["skipped"] == c["windows"] == n - 4
    assert len(session["model"]["sha256"]) == 64

    raws = collector.topic("raw")
    assert [m.frame for m in raws] == list(range(n))
    # the published raw frames are the recorded ones
    for m in raws[:: max(1, n // 10)]:
        np.testing.assert_array_equal(m.image, raw[m.frame])
    restored = collector.topic("restored")
    assert len(restored) == c["restored"] == c["published_restored"] > 0
    for m in restored:
        h = m.header
        assert m.image.shape == (4 * lr_shape[0], 4 * lr_shape[1])
        assert h["dtype"] == "float32" and h["engine"]
        assert h["window"][1] - h["window"][0] == 4 and h["frame"] == h["window"][1]
        assert 0 <= h["latency_ms"] < 10_000
    restored_file = tifffile.imread(record / "restored.ome.tif")
    assert restored_file.shape == (c["restored"], 4 * lr_shape[0], 4 * lr_shape[1])
    return session


def test_run_sim_200_frames(tmp_path, address):
    record = tmp_path / "rec"
    code, collector = run_and_collect(
        address, ["--source", "sim", "--frames", "200", "--fps", "20", "--record", str(record)]
    )
    assert code == 0
    session = check_recording(record, 200, (128, 128), collector)
    assert session["settings"]["source"] == "sim"
    # restored frames are a restoration of the raw frames they claim: correlate with raw
    raw = tifffile.imread(record / "raw.ome.tif").astype(np.float32)
    m = collector.topic("restored")[-1]
    target = m.header["target"]
    down = m.image.reshape(128, 4, 128, 4).mean(axis=(1, 3))
    assert np.corrcoef(down.ravel(), raw[target].ravel())[0, 1] > 0.5


def test_run_demo_camera(tmp_path, address):
    record = tmp_path / "demo"
    code, collector = run_and_collect(
        address,
        [
            "--source",
            "demo",
            "--frames",
            "40",
            "--size",
            "128",
            "--fps",
            "20",
            "--record",
            str(record),
        ],
    )
    assert code == 0
    check_recording(record, 40, (128, 128), collector)


def test_run_replays_a_recorded_movie(tmp_path, address):
    movie = tmp_path / "movie.tif"
    rng = np.random.default_rng(0)
    frames = rng.integers(100, 2000, size=(30, 64, 96), dtype=np.uint16)
    tifffile.imwrite(movie, frames)
    record = tmp_path / "replay"
    code, collector = run_and_collect(
        address, ["--source", f"file:{movie}", "--fps", "40", "--record", str(record)]
    )
    assert code == 0
    check_recording(record, 30, (64, 96), collector)
    np.testing.assert_array_equal(tifffile.imread(record / "raw.ome.tif"), frames)


def test_sigint_stops_cleanly_with_readable_files(tmp_path, address):
    record = tmp_path / "sig"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pssr_live.cli",
            "run",
            "--publish",
            address,
            "--fps",
            "30",
            "--record",
            str(record),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (record / "raw.ome.tif").exists():
        time.sleep(0.2)
    time.sleep(2.0)
    proc.send_signal(2)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "acquired" in err and "latency" in err
    session = json.loads((record / "session.json").read_text())
    n = session["counters"]["acquired"]
    assert n > 10
    assert tifffile.imread(record / "raw.ome.tif").shape[0] == n == session["counters"]["recorded"]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--frames", "0"], "must be positive"),
        (["--fps", "abc"], "not a number"),
        (["--size", "13"], "multiple of 4"),
        (["--source", "nonsense"], "unknown source"),
        (["--source", "file:/nonexistent.tif", "--frames", "3"], "not found"),
        (["--engine", "warp-drive", "--frames", "3"], "unknown engine"),
        (["--model", "/nonexistent.safetensors", "--frames", "3"], "not found"),
        (["--publish", "tcp://0.0.0.0:5599", "--frames", "3"], "allow-remote"),
    ],
)
def test_bad_arguments_one_line_error(argv, needle, address):
    argv = ["--publish", address, *argv] if "--publish" not in argv else argv
    proc = subprocess.run(
        [sys.executable, "-m", "pssr_live.cli", "run", *argv],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert needle in lines[0] and "Traceback" not in proc.stderr
