"""CoreSource on the real C++ DemoCamera when the sink falls behind Micro-Manager's buffer."""

from __future__ import annotations

import time

import pytest

from pssr_live.drivers.micromanager import CoreSource
from pssr_live.drivers.source import Frame, SourceError


def _slow_demo() -> CoreSource:
    """DemoCamera at 200 fps, 512x512 uint16 (0.5 MiB a frame), buffer for ~8 frames."""
    source = CoreSource.demo(fps=200)
    source.core.setCircularBufferMemoryFootprint(4)
    return source


def _slow_sink(seen: list[int]):
    def sink(frame: Frame) -> None:  # ~10x slower than the camera
        seen.append(frame.index)
        time.sleep(0.05)

    return sink


def test_continuous_acquisition_counts_frames_overwritten_in_the_buffer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source, seen = _slow_demo(), []
    try:
        source.start(_slow_sink(seen))
        deadline = time.monotonic() + 20
        while len(seen) < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        source.stop()
        assert source.error is None
    finally:
        source.close()
    assert seen == list(range(len(seen))) and len(seen) >= 20  # numbered without gaps ...
    assert source.camera_lost > len(seen)  # ... the camera's own numbers show the losses
    assert "lost in Micro-Manager's buffer" in caplog.text


def test_finite_acquisition_stopped_by_overflow_says_so() -> None:
    source, seen = _slow_demo(), []
    source.timeout_s = 60.0  # the end must come from the overflow, not the "no frame" timeout
    try:
        source.start(_slow_sink(seen), n_frames=60)
        assert source.wait(timeout=30)
    finally:
        source.close()
    assert isinstance(source.error, SourceError)
    assert "circular buffer overflowed" in str(source.error) and 0 < len(seen) < 60


def test_no_frame_counted_lost_when_the_sink_keeps_up() -> None:
    source, seen = CoreSource.demo(fps=100, size=(64, 64)), []
    try:
        source.start(seen.append, n_frames=30)
        assert source.wait(timeout=30) and source.error is None
    finally:
        source.close()
    assert [f.index for f in seen] == list(range(30)) and source.camera_lost == 0
