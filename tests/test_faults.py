"""Faults in the live path: a kill, a full disk, a camera that stops, an engine that raises,
subscribers that lag. The raw recording keeps every frame it got; errors are one line."""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tifffile

from pssr_live.drivers.replay import FileSource
from pssr_live.engines.base import EngineError
from pssr_live.modelfile import bundled_model_path, read_info
from pssr_live.pipeline import Pipeline, RunSettings, Summary
from pssr_live.recorder import read_frame_tags
from pssr_live.wire import Publisher, Subscriber


class StandInEngine:
    """A fast stand-in for an engine (x4 nearest-neighbour of the window mean) that can be
    told to raise from its n-th call on, as a GPU that is lost mid-run would."""

    device, precision, frames, scale = "cpu", "fp32", 5, 4

    def __init__(self, name: str, fail_from: int | None = None) -> None:
        self.name = name
        self.fail_from = fail_from
        self.calls = 0

    def restore(self, window: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self.fail_from is not None and self.calls >= self.fail_from:
            raise RuntimeError("device lost")
        return np.kron(window.mean(axis=0), np.ones((4, 4), np.float32))

    def describe(self) -> str:
        return self.name


def write_movie(path: Path, n: int, shape: tuple[int, int] = (32, 32)) -> np.ndarray:
    frames = np.random.default_rng(1).integers(0, 4000, size=(n, *shape), dtype=np.uint16)
    tifffile.imwrite(path, frames)
    return frames


def run_pipeline(
    tmp_path: Path,
    address: str,
    engine: StandInEngine,
    fallback: Callable[[], StandInEngine] | None = None,
    n: int = 60,
    record: Path | None = None,
) -> tuple[Summary, Pipeline, np.ndarray]:
    movie = write_movie(tmp_path / "movie.tif", n)
    record = record or tmp_path / "rec"
    settings = RunSettings(source="file", record=str(record), publish=address)
    pipeline = Pipeline(
        settings,
        FileSource(tmp_path / "movie.tif", fps=300),
        engine,
        Publisher(address),
        read_info(bundled_model_path()),
        "0" * 64,
        fallback=fallback,
    )
    return pipeline.run(), pipeline, movie


def assert_raw_complete(record: Path, movie: np.ndarray) -> None:
    np.testing.assert_array_equal(tifffile.imread(record / "raw.ome.tif"), movie)
    counters = json.loads((record / "session.json").read_text())["counters"]
    assert counters["acquired"] == counters["recorded"] == len(movie)


def test_engine_failure_falls_back_and_raw_recording_goes_on(tmp_path, address):
    summary, pipeline, movie = run_pipeline(
        tmp_path, address, StandInEngine("gpu", fail_from=4), lambda: StandInEngine("cpu")
    )
    assert_raw_complete(tmp_path / "rec", movie)
    assert summary.errors == [
        "engine gpu failed (RuntimeError: device lost); falling back; raw recording continues"
    ]
    assert pipeline.restorer.engine.name == "cpu"
    assert summary.restored > 3 and summary.restored == summary.restored_recorded
    assert summary.restored + summary.skipped == summary.windows == len(movie) - 4


def test_engine_failure_without_fallback_stops_restoration_only(tmp_path, address):
    summary, _, movie = run_pipeline(tmp_path, address, StandInEngine("gpu", fail_from=4))
    assert_raw_complete(tmp_path / "rec", movie)
    assert summary.restored == 3
    assert len(summary.errors) == 1 and "restoration stopped" in summary.errors[0]


def test_fallback_that_fails_too_is_reported(tmp_path, address):
    def broken() -> StandInEngine:
        raise EngineError("torch cannot load the model")

    summary, _, movie = run_pipeline(tmp_path, address, StandInEngine("gpu", fail_from=1), broken)
    assert_raw_complete(tmp_path / "rec", movie)
    assert summary.restored == 0
    assert "falling back" in summary.errors[0]
    assert "torch cannot load the model" in summary.errors[1]
    assert "restoration stopped" in summary.errors[1]


def cli(*argv: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pssr_live.cli", "run", "--engine=torch", *argv],
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def error_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr
    return [line for line in stderr.splitlines() if "error" in line]


def test_sigkill_during_run_leaves_raw_readable(tmp_path, address):
    movie = write_movie(tmp_path / "movie.tif", 5000)
    record = tmp_path / "rec"
    proc = cli(
        f"--source=file:{tmp_path / 'movie.tif'}",
        "--fps=200",
        f"--record={record}",
        f"--publish={address}",
    )
    raw = record / "raw.ome.tif"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not raw.exists() or raw.stat().st_size < 200_000):
        time.sleep(0.05)
    proc.kill()
    proc.communicate(timeout=30)
    frames = tifffile.imread(raw)
    n = len(frames)
    assert n > 50
    np.testing.assert_array_equal(frames, movie[:n])
    assert [t["frame"] for t in read_frame_tags(raw)] == list(range(n))


def test_kill_in_the_middle_of_a_frame_keeps_the_earlier_frames(tmp_path):
    """Large frames, killed at arbitrary moments: the file reads up to the last whole frame."""
    path = tmp_path / "raw.ome.tif"
    script = textwrap.dedent(f"""
        import numpy as np, sys
        from pssr_live.recorder import StackWriter
        w = StackWriter({str(path)!r})
        frame = np.empty((512, 512), np.uint16)
        for i in range(100000):
            frame.fill(i)
            w.append(i, float(i), frame)
            if i == 2:
                print("writing", flush=True)
    """)
    for delay in (0.07, 0.19):
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
        assert proc.stdout.readline() == b"writing\n"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        frames = tifffile.imread(path)
        assert len(frames) >= 3
        assert frames[:, 0, 0].tolist() == list(range(len(frames)))
        assert frames[-1].min() == frames[-1].max()


def test_disk_full_by_file_size_limit(tmp_path, address):
    """RLIMIT_FSIZE needs no privileges: writes past it fail with EFBIG (SIGXFSZ ignored)."""
    movie = write_movie(tmp_path / "movie.tif", 2000)
    record = tmp_path / "rec"

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))

    proc = cli(
        f"--source=file:{tmp_path / 'movie.tif'}",
        "--fps=200",
        f"--record={record}",
        f"--publish={address}",
        "--no-record-restored",
        preexec_fn=limit,
    )
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1
    errors = error_lines(stderr)
    assert len(errors) == 1 and "raw.ome.tif: [Errno 27] File too large" in errors[0]
    frames = tifffile.imread(record / "raw.ome.tif")
    assert len(frames) > 5
    np.testing.assert_array_equal(frames, movie[: len(frames)])


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 256 KiB tmpfs: a real full disk (ENOSPC); needs the right to mount."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True
    )
    if done.returncode != 0:
        reason = done.stderr.decode().strip()
        pytest.skip(f"cannot mount a tmpfs ({reason}); the file-size-limit test covers this")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_disk_full_on_a_small_filesystem(tmp_path, small_tmpfs, address):
    record = small_tmpfs / "rec"
    summary, _, movie = run_pipeline(tmp_path, address, StandInEngine("x"), n=2000, record=record)
    # the first error stopped the run: raw, restored or session.json, whichever hit the full
    # disk first; the others cannot be written either, and each is said once
    errors = summary.errors
    assert errors and all(e.startswith("cannot ") and "No space left" in e for e in errors)
    assert len(errors) == len(set(errors))
    frames = tifffile.imread(record / "raw.ome.tif")
    assert 5 < len(frames) < len(movie)
    np.testing.assert_array_equal(frames, movie[: len(frames)])


def test_camera_that_stops_delivering_times_out(tmp_path, address):
    """The DemoCamera at 0.2 fps delivers nothing for 5 s: with --timeout 1 the run ends."""
    record = tmp_path / "rec"
    proc = cli(
        "--source=demo",
        "--fps=0.2",
        "--timeout=1",
        "--size=64",
        f"--record={record}",
        f"--publish={address}",
    )
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1
    errors = error_lines(stderr)
    assert len(errors) == 1 and "no frame from camera" in errors[0] and "for 1 s" in errors[0]
    session = json.loads((record / "session.json").read_text())
    assert session["errors"] == [errors[0].split("error: ", 1)[1]]
    with tifffile.TiffFile(record / "raw.ome.tif") as tif:  # closed and valid
        assert len(tif.pages) == session["counters"]["acquired"] == session["counters"]["recorded"]


def test_slow_and_vanishing_subscribers_never_block_the_publisher():
    pub = Publisher("tcp://127.0.0.1:0", queue_size=8, hwm=4)
    slow = Subscriber(pub.endpoint, rcvhwm=1)  # connected, never reads
    try:
        image = np.zeros((512, 512), np.float32)  # 1 MiB messages
        worst = 0.0
        for i in range(300):
            if i % 50 == 0:  # a viewer connects, takes one message, and goes away
                gone = Subscriber(pub.endpoint, topics=("raw",))
                gone.receive(50)
                gone.close()
            t0 = time.perf_counter()
            pub.send("raw", {"frame": i, "t_acquired": 0.0}, image)
            worst = max(worst, time.perf_counter() - t0)
        assert worst < 0.1
    finally:
        slow.close()
        pub.close()
    assert pub.published["raw"] + pub.dropped == 300
