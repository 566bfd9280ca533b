"""The live viewer: real Qt windows (offscreen) against real publishers and a real pipeline."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest
import tifffile
from pyqtgraph.Qt import QtCore, QtGui, QtWidgets

from pssr_live.cli import main
from pssr_live.drivers.replay import FileSource
from pssr_live.engines.base import create_engine
from pssr_live.modelfile import bundled_model_path, load_model, model_hash
from pssr_live.pipeline import Pipeline, RunSettings
from pssr_live.viewer import ViewerWindow, show
from pssr_live.viewstream import LatestReceiver
from pssr_live.wire import Publisher

LR = 48


def pump(app: pg.QtWidgets.QApplication, until: Callable[[], bool], timeout: float = 30.0) -> None:
    """Run the Qt event loop until `until()` holds (fails the test after `timeout`)."""
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, "timed out waiting for the viewer"
        app.processEvents()
        time.sleep(0.005)


def blob_movie(n: int, shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """Bright drifting blobs on a dim background, uint16 (something worth restoring)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(np.float32)
    centres = rng.uniform(4, shape[0] - 4, size=(12, 2))
    frames = []
    for t in range(n):
        img = np.full(shape, 100.0, np.float32)
        for cy, cx in centres:
            img += 1500 * np.exp(-((yy - cy - 0.2 * t) ** 2 + (xx - cx) ** 2) / 6.0)
        frames.append(rng.poisson(img))
    return np.asarray(frames, np.uint16)


def start_pipeline(address: str, movie_path: Path, fps: float = 15.0) -> threading.Thread:
    """A real Pipeline (file replay -> torch engine -> publisher) on a worker thread."""
    model = bundled_model_path("centered")
    _, info = load_model(model)
    settings = RunSettings(source=f"file:{movie_path}", model=str(model), publish=address)
    source = FileSource(movie_path, fps=fps, loop=True)
    engine = create_engine("torch", str(model))
    pipeline = Pipeline(settings, source, engine, Publisher(address), info, model_hash(model))
    stop = threading.Event()
    thread = threading.Thread(target=pipeline.run, args=(stop,), daemon=True)
    thread.stop = stop  # type: ignore[attr-defined]
    thread.start()
    return thread


def panel_pixels(window: ViewerWindow, shot: QtGui.QImage, panel) -> np.ndarray:
    """The grey values of one image panel's image, cut out of a window screenshot."""
    rect = panel.item.mapRectToScene(panel.item.boundingRect())
    view = window.findChild(pg.GraphicsView)
    top_left = view.mapTo(window, view.mapFromScene(rect.topLeft()))
    bottom_right = view.mapTo(window, view.mapFromScene(rect.bottomRight()))
    crop = shot.copy(top_left.x(), top_left.y(), *(bottom_right - top_left).toTuple())
    crop = crop.convertToFormat(QtGui.QImage.Format.Format_Grayscale8)
    stride = crop.bytesPerLine()
    data = np.frombuffer(crop.constBits(), np.uint8, stride * crop.height())
    return data.reshape(crop.height(), stride)[:, : crop.width()].astype(np.float32)


@pytest.fixture
def movie(tmp_path) -> Path:
    path = tmp_path / "movie.tif"
    tifffile.imwrite(path, blob_movie(40, (LR, LR)))
    return path


def test_window_shows_raw_and_restored_of_a_live_pipeline(address, movie):
    app = pg.mkQApp()
    pipeline = start_pipeline(address, movie)
    receiver = LatestReceiver(address)
    window = ViewerWindow(receiver)
    window.show()
    try:
        pump(app, lambda: window.displayed >= 3 and window.raw.data is not None)
        window.refresh_readouts()
        app.processEvents()
        shot = window.grab().toImage()
        raw = panel_pixels(window, shot, window.raw)
        restored = panel_pixels(window, shot, window.restored)
    finally:
        pipeline.stop.set()
        pipeline.join(timeout=30)
        window.close()
        receiver.close()
    # both drawn, same size on screen (raw scaled 4x), neither blank, and not the same
    # picture twice; yet they depict the same frame, so they are correlated
    assert abs(raw.shape[0] - restored.shape[0]) <= 2 and raw.shape[0] > 100
    h, w = min(raw.shape[0], restored.shape[0]), min(raw.shape[1], restored.shape[1])
    raw, restored = raw[:h, :w], restored[:h, :w]
    assert raw.std() > 10 and restored.std() > 10
    assert np.abs(raw - restored).mean() > 1
    assert np.corrcoef(raw.ravel(), restored.ravel())[0, 1] > 0.5
    # the raw frame shown is the one the restored frame depicts
    assert window.shown is not None and window.shown.raw is not None
    assert window.shown.raw.frame == window.shown.restored.header["target"]
    assert "skipped windows" in window.readouts.text()
    # the line profile runs across both images at each one's full resolution
    x_raw, y_raw = window.profile_curves["raw"].getData()
    x_restored, y_restored = window.profile_curves["restored"].getData()
    assert x_raw[-1] == pytest.approx(x_restored[-1]) and x_raw[-1] > 0.3 * 4 * LR
    assert len(y_restored) == pytest.approx(4 * len(y_raw), rel=0.1)


def assert_screenshot(path: Path) -> None:
    image = QtGui.QImage(str(path))
    assert image.width() >= 800 and image.height() >= 600
    grey = image.convertToFormat(QtGui.QImage.Format.Format_Grayscale8)
    values = np.frombuffer(grey.constBits(), np.uint8, grey.bytesPerLine() * grey.height())
    assert values.std() > 20  # a window with content, not a blank surface


def test_view_command_saves_a_screenshot_and_exits(address, tmp_path):
    publisher = Publisher(address)
    sending = threading.Event()

    def send() -> None:
        frame = 0
        while not sending.is_set():
            restored_message(publisher, frame, float(frame % 7), shape=(64, 64))
            frame += 1
            time.sleep(0.02)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    shot = tmp_path / "shot.png"
    try:
        code = main(["view", address, "--screenshot", str(shot), "--exit-after", "3"])
    finally:
        sending.set()
        sender.join()
        publisher.close()
    assert code == 0
    assert_screenshot(shot)


def test_run_with_view_stops_when_the_viewer_exits(address, movie, tmp_path, capsys):
    shot = tmp_path / "run.png"
    argv = ["run", "--source", f"file:{movie}", "--publish", address, "--fps", "15"]
    code = main([*argv, "--view", "--screenshot", str(shot), "--exit-after", "3"])
    assert code == 0
    assert_screenshot(shot)
    # the pipeline ran on its worker thread, was stopped by the viewer and summed up
    assert "restored" in capsys.readouterr().err


def restored_message(publisher: Publisher, frame: int, value: float, shape=(64, 64)) -> None:
    header = {
        "frame": frame,
        "target": frame,
        "t_acquired": time.time(),
        "window": [frame - 4, frame],
        "latency_ms": 1.0,
        "engine": "test",
    }
    publisher.send("restored", header, np.full(shape, value, np.float32))


def test_receiver_keeps_only_the_newest_frame(address):
    receiver = LatestReceiver(address)
    publisher = Publisher(address)
    try:
        time.sleep(0.3)  # let the subscription reach the publisher
        for i in range(30):
            restored_message(publisher, 10 + i, float(i))
        deadline = time.monotonic() + 10
        while receiver.stats().received < 30 and time.monotonic() < deadline:
            time.sleep(0.01)
        update = receiver.take()
        stats = receiver.stats()
    finally:
        publisher.close()
        receiver.close()
    assert stats.received == 30
    assert update is not None and update.restored.frame == 39
    assert float(update.restored.image[0, 0]) == 29.0
    assert stats.stale_dropped == 29
    assert receiver.take() is None  # nothing newer: nothing to draw


def test_viewer_survives_publisher_restart_and_says_when_no_data(address):
    app = pg.mkQApp()
    receiver = LatestReceiver(address)
    window = ViewerWindow(receiver, no_data_after_s=0.3)
    window.show()
    first = Publisher(address)
    try:
        time.sleep(0.3)
        pump(app, lambda: (restored_message(first, 100, 1.0), window.displayed > 0)[1])
        first.close()
        pump(app, lambda: "no data from" in window.status.text())
        assert address in window.status.text()
        second = Publisher(address)
        try:
            # the new publisher counts from 0 again: the viewer follows it
            pump(
                app,
                lambda: (
                    restored_message(second, 5, 2.0),
                    window.restored.data is not None and window.restored.data[0, 0] == 2.0,
                )[1],
            )
            pump(app, lambda: "receiving" in window.status.text())
        finally:
            second.close()
    finally:
        window.close()
        receiver.close()


def test_closing_the_window_ends_the_viewer(address):
    def close_viewer() -> None:
        for widget in QtWidgets.QApplication.topLevelWidgets():
            if isinstance(widget, ViewerWindow):
                widget.close()

    pg.mkQApp()
    QtCore.QTimer.singleShot(500, close_viewer)
    assert show(address) == 0  # returned: nothing was displayed, nothing hangs


def test_view_exits_cleanly_on_ctrl_c(address):
    proc = subprocess.Popen(
        [sys.executable, "-m", "pssr_live.cli", "view", address],
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(60, proc.kill)  # never hang the suite
    watchdog.start()
    # wait until the window is up and its event loop runs (Qt may print notices before)
    assert any("showing" in line for line in iter(proc.stderr.readline, ""))
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    watchdog.cancel()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
