"""Live pyqtgraph viewer: raw and restored side by side, line profiles, rates, live quality.

The raw frame is drawn with a 4x transform (nearest neighbour) so both images share one
coordinate system in restored pixels; zoom, pan and the line-profile tool apply to both.
The viewer pairs each restored frame with the raw frame of its `target` index and only
ever draws the newest restored frame (see `viewstream.LatestReceiver`).
"""

from __future__ import annotations

import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore, QtGui, QtWidgets

from pssr_live.curve import CurveKeys
from pssr_live.viewstream import LatestReceiver, StreamStats, Update, rate

if TYPE_CHECKING:  # the TCS decoder (torch, engines) loads only for `view --tcs`
    from pssr_live.tcs.live import DecodedSnapshot, SnapshotReceiver

T = TypeVar("T")
PROFILE_PENS = {"raw": pg.mkPen("#e69f00", width=2), "restored": pg.mkPen("#56b4e9", width=2)}
QUALITY_CURVES = {  # header key: (legend, pen)
    "psnr": ("restored", pg.mkPen("#56b4e9", width=2)),
    "psnr_bilinear": ("bilinear", pg.mkPen("#999999")),
}


def percentile_levels(
    image: np.ndarray, low: float = 0.5, high: float = 99.8
) -> tuple[float, float]:
    """Display levels from percentiles of a strided subsample (cheap on 2048x2048 frames)."""
    step = max(1, max(image.shape) // 256)
    lo, hi = np.percentile(image[::step, ::step], [low, high])
    return float(lo), float(max(hi, lo + 1e-6))


class ImagePanel:
    """One image in a ViewBox with its own HistogramLUT.

    Frames are drawn strided to about the screen's resolution (nearest neighbour, as Qt
    would draw them anyway), so a 2048x2048 frame costs what a screen-sized one does;
    zooming in redraws at full resolution. The histogram is redrawn by `sync_histogram`
    a few times a second rather than with every frame: its axis and region repaint
    cost more than the image.
    """

    def __init__(self, layout: pg.GraphicsLayout, title: str, row: int, col: int) -> None:
        self.title = layout.addLabel(title, row=row, col=col, colspan=2)
        self.view = layout.addViewBox(row=row + 1, col=col, lockAspect=True, invertY=True)
        self.item = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.item)
        self.hist = pg.HistogramLUTItem(image=self.item)
        self.item.sigImageChanged.disconnect(self.hist.imageChanged)
        layout.addItem(self.hist, row=row + 1, col=col + 1)
        self.data: np.ndarray | None = None
        self.scale = 1.0
        self.stride = 0
        self.view.sigRangeChanged.connect(lambda *_: self.redraw())

    def show(self, image: np.ndarray, scale: float, levels: tuple[float, float] | None) -> None:
        self.data, self.scale, self.stride = image, scale, 0
        self.redraw()
        if levels is not None:
            self.item.setLevels(levels)

    def profile(self, start: QtCore.QPointF, end: QtCore.QPointF) -> np.ndarray:
        """Nearest-neighbour samples of the full-resolution frame along a line given in
        view coordinates (restored pixels), one sample per frame pixel along it."""
        assert self.data is not None
        (x0, y0), (x1, y1) = ((p.x() / self.scale, p.y() / self.scale) for p in (start, end))
        n = max(2, int(np.hypot(x1 - x0, y1 - y0)) + 1)
        h, w = self.data.shape
        rows = np.clip(np.linspace(y0, y1, n).astype(int), 0, h - 1)
        cols = np.clip(np.linspace(x0, x1, n).astype(int), 0, w - 1)
        return self.data[rows, cols]

    def sync_histogram(self) -> None:
        """Redraw the histogram of the current frame and move its region to the levels."""
        if self.data is not None:
            self.hist.imageChanged()

    def redraw(self) -> None:
        """Draw the current frame at the stride the view's zoom needs (if it changed)."""
        if self.data is None:
            return
        screen_px = self.view.viewPixelSize()
        stride = max(1, int(min(screen_px) / self.scale)) if all(screen_px) else 1
        if stride == self.stride:
            return
        self.stride = stride
        self.item.setImage(self.data[::stride, ::stride], autoLevels=False)
        step = self.scale * stride
        self.item.setTransform(QtGui.QTransform.fromScale(step, step))


class ViewerWindow(QtWidgets.QWidget):
    """The viewer window; `tick` pulls the newest frame, `refresh_readouts` the statistics."""

    closed = QtCore.Signal()

    def __init__(
        self,
        receiver: LatestReceiver,
        *,
        no_data_after_s: float = 2.0,
        on_frames: Callable[[int], None] | None = None,
        tcs: SnapshotReceiver | None = None,
    ) -> None:
        super().__init__()
        self.receiver = receiver
        self.tcs = tcs
        self.tcs_shown: DecodedSnapshot | None = None
        self.no_data_after_s = no_data_after_s
        self.on_frames = on_frames
        self.displayed = 0
        self.shown: Update | None = None  # the update on screen
        self._display_times: deque[float] = deque(maxlen=50)
        self._setting_levels = False
        self.setWindowTitle(f"pssr-live view {receiver.address}")
        self.resize(1300, 900)

        self.status = QtWidgets.QLabel()
        self.readouts = QtWidgets.QLabel()
        self.readouts.setFont(QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.FixedFont))
        self.auto_levels = QtWidgets.QCheckBox("auto levels (percentiles)")
        self.auto_levels.setChecked(True)
        top = QtWidgets.QHBoxLayout()
        top.addWidget(self.status, stretch=1)
        top.addWidget(self.auto_levels)

        graphics = pg.GraphicsLayoutWidget()
        layout = graphics.ci
        self.raw = ImagePanel(layout, "raw (nearest neighbour)", 0, 0)
        self.restored = ImagePanel(layout, "restored", 0, 2)
        self.restored.view.setXLink(self.raw.view)
        self.restored.view.setYLink(self.raw.view)
        self.tcs_panel = ImagePanel(layout, "TCS decoded", 0, 4) if tcs is not None else None
        if self.tcs_panel is not None:
            self.tcs_panel.view.setXLink(self.raw.view)
            self.tcs_panel.view.setYLink(self.raw.view)
        for panel in (self.raw, self.restored):
            panel.hist.sigLevelChangeFinished.connect(self._levels_changed_by_hand)

        self.profile_plot = layout.addPlot(row=2, col=0, colspan=2, title="line profile")
        self.profile_plot.setLabel("bottom", "distance (restored pixels)")
        self.profile_plot.addLegend(offset=(-5, 5))
        self.profile_curves = {
            name: self.profile_plot.plot(pen=pen, name=name) for name, pen in PROFILE_PENS.items()
        }
        self.quality_plot = layout.addPlot(row=2, col=2, colspan=2, title="PSNR vs ground truth")
        self.quality_plot.setLabel("bottom", "frame")
        self.quality_plot.setLabel("left", "dB")
        self.quality_plot.addLegend(offset=(-5, 5))
        self.quality_curves = {
            key: self.quality_plot.plot(pen=pen, name=legend)
            for key, (legend, pen) in QUALITY_CURVES.items()
        }
        layout.layout.setRowStretchFactor(1, 3)
        layout.layout.setRowStretchFactor(2, 1)

        # One line-profile ROI per image, kept on the same coordinates.
        self.rois = [pg.LineSegmentROI([[10, 10], [100, 100]], pen="y") for _ in range(2)]
        for roi, panel in zip(self.rois, (self.raw, self.restored), strict=True):
            panel.view.addItem(roi)
            roi.sigRegionChanged.connect(self._roi_moved)
        self._roi_placed = False

        box = QtWidgets.QVBoxLayout(self)
        box.addLayout(top)
        box.addWidget(graphics, stretch=1)
        box.addWidget(self.readouts)

        self.timer = QtCore.QTimer(self)
        self.timer.timeout.connect(self.tick)
        self.timer.start(10)
        self.readout_timer = QtCore.QTimer(self)
        self.readout_timer.timeout.connect(self.refresh_readouts)
        self.readout_timer.start(250)
        self.refresh_readouts()

    # -- frames ------------------------------------------------------------------------------

    def tick(self) -> None:
        """Draw the newest restored frame (and its raw frame) if one arrived."""
        update = self.receiver.take()
        if update is not None:
            self.show_update(update)
        if self.tcs is not None and (decoded := self.tcs.take()) is not None:
            self.show_tcs(decoded)

    def show_tcs(self, decoded: DecodedSnapshot) -> None:
        """Draw the newest frame of a decoded snapshot, at the raw panel's scale."""
        assert self.tcs_panel is not None
        frame = decoded.frames[-1]
        levels = percentile_levels(frame) if self.auto_levels.isChecked() else None
        self.tcs_panel.show(frame, self.raw.scale, levels)
        h = decoded.header
        first, last = h["frames"]
        self.tcs_panel.title.setText(
            f"TCS decoded frame {last} (snapshot {first}-{last}, B = {h['ratio']}, "
            f"{decoded.decoder})"
        )
        self.tcs_shown = decoded

    def show_update(self, update: Update) -> None:
        restored = update.restored.image
        auto = self.auto_levels.isChecked()
        self._setting_levels = True
        try:
            self.restored.show(restored, 1.0, percentile_levels(restored) if auto else None)
            if update.raw is not None:
                raw = update.raw.image
                scale = restored.shape[0] / raw.shape[0]
                self.raw.show(raw, scale, percentile_levels(raw) if auto else None)
        finally:
            self._setting_levels = False
        if not self._roi_placed:
            self._place_roi(restored.shape)
        self._update_profiles()
        self.shown = update
        self.displayed += 1
        self._display_times.append(time.monotonic())
        if self.on_frames is not None:
            self.on_frames(self.displayed)

    def _levels_changed_by_hand(self) -> None:
        if not self._setting_levels:
            self.auto_levels.setChecked(False)

    # -- line profile ------------------------------------------------------------------------

    def _place_roi(self, shape: tuple[int, ...]) -> None:
        """Put the profile line across the middle of the first frame and fit the view."""
        h, w = shape
        state = {"pos": (0, 0), "size": (1, 1), "angle": 0.0}
        state["points"] = [(0.3 * w, 0.5 * h), (0.7 * w, 0.5 * h)]
        for roi in self.rois:
            roi.blockSignals(True)
            roi.setState(state)
            roi.blockSignals(False)
        self.raw.view.autoRange(padding=0)
        self._roi_placed = True

    def _roi_moved(self, roi: pg.LineSegmentROI) -> None:
        other = self.rois[1] if roi is self.rois[0] else self.rois[0]
        other.blockSignals(True)
        other.setState(roi.getState())
        other.blockSignals(False)
        self._update_profiles()

    def _update_profiles(self) -> None:
        start, end = (self.rois[1].mapToParent(p) for p in self.rois[1].listPoints())
        length = float(np.hypot(end.x() - start.x(), end.y() - start.y()))
        for name, panel in (("raw", self.raw), ("restored", self.restored)):
            if panel.data is not None:
                profile = panel.profile(start, end)
                self.profile_curves[name].setData(np.linspace(0, length, len(profile)), profile)

    # -- readouts ----------------------------------------------------------------------------

    def refresh_readouts(self) -> None:
        self._setting_levels = True
        try:
            for panel in (self.raw, self.restored, self.tcs_panel):
                if panel is not None:
                    panel.sync_histogram()
        finally:
            self._setting_levels = False
        if self.shown is not None:
            self._update_titles(self.shown)
        stats = self.receiver.stats()
        self.status.setText(self._status_text(stats))
        shown_fps = rate(self._display_times)
        lat = (
            f"latency p50 {stats.latency_p50_ms:.0f} ms, p99 {stats.latency_p99_ms:.0f} ms"
            if stats.latency_p50_ms is not None
            else "latency -"
        )
        lines = [
            f"acquisition {stats.acquisition_fps:5.1f} fps | restored {stats.restored_fps:5.1f} fps"
            f" | displayed {shown_fps:5.1f} fps | skipped windows {stats.skipped} | {lat}"
        ]
        q = stats.quality
        if q is not None:
            lines.append(
                f"frame {q['frame']}: restored PSNR {q['psnr']:.2f} dB SSIM {q['ssim']:.3f} | "
                f"bilinear PSNR {q['psnr_bilinear']:.2f} dB SSIM {q['ssim_bilinear']:.3f}"
            )
            frames = [h["frame"] for h in stats.quality_history]
            for name, curve in self.quality_curves.items():
                curve.setData(frames, [h[name] for h in stats.quality_history])
        else:
            lines.append("quality: no ground truth in this stream (simulated source only)")
        if self.tcs is not None:
            lines.append(self._tcs_text())
        self.readouts.setText("\n".join(lines))

    def _tcs_text(self) -> str:
        d = self.tcs_shown
        if d is None:
            return "TCS: waiting for coded snapshots (start the run with --publish-tcs B)"
        return (
            f"TCS: B = {d.header['ratio']}, {d.bytes_sent / 1e3:.1f} kB per snapshot instead of "
            f"{d.bytes_raw / 1e3:.1f} kB of raw frames: bandwidth saved {d.saved:.0%} | "
            f"decoded by {d.decoder} in {d.decode_ms:.0f} ms"
        )

    def _update_titles(self, update: Update) -> None:
        """Which raw frame and which restoration are on screen (they depict the same frame)."""
        h = update.restored.header
        first, last = h["window"]
        self.restored.title.setText(
            f"restored frame {h.get('target', update.restored.frame)} "
            f"(window {first}-{last}, {h['engine']}, {update.restored.image.shape[0]} px)"
        )
        if update.raw is not None:
            self.raw.title.setText(
                f"raw frame {update.raw.frame} ({update.raw.image.shape[0]} px, nearest neighbour)"
            )

    def _status_text(self, stats: StreamStats) -> str:
        address = self.receiver.address
        if stats.silent_s is None:
            return f"<b style='color:#d55e00'>waiting for data from {address}</b>"
        if stats.silent_s > self.no_data_after_s:
            return f"<b style='color:#d55e00'>no data from {address} for {stats.silent_s:.0f} s</b>"
        return f"receiving from {address}"

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        self.closed.emit()
        super().closeEvent(event)


def save_screenshot(window: QtWidgets.QWidget, path: Path) -> None:
    """Render the window to a PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(path)):
        raise OSError(f"cannot write screenshot {path}")


def show(
    address: str,
    *,
    screenshot: Path | None = None,
    exit_after: int | None = None,
    no_data_after_s: float = 2.0,
    stop: threading.Event | None = None,
    curve: CurveKeys | None = None,
    on_ready: Callable[[], None] | None = None,
    tcs: bool = False,
) -> int:
    """Run the viewer on this (the main) thread until the window closes or `stop` is set.

    With `exit_after`, it exits after that many restored frames were displayed. The
    `screenshot` is saved when it exits that way or because `stop` was set (the stream it
    shows has ended). Ctrl-C closes it. `on_ready` is called once the window is up.
    Returns the number of frames displayed.
    """
    app = pg.mkQApp("pssr-live")
    receiver = LatestReceiver(address, curve=curve)
    tcs_receiver = None
    if tcs:
        from pssr_live.tcs.live import SnapshotReceiver

        tcs_receiver = SnapshotReceiver(address, curve=curve)
    window: ViewerWindow
    saved = False

    def finish() -> None:
        nonlocal saved
        if screenshot is not None and not saved:
            window.refresh_readouts()
            save_screenshot(window, screenshot)
            saved = True
        app.quit()

    def frames_shown(n: int) -> None:
        if exit_after is not None and n >= exit_after:
            finish()

    window = ViewerWindow(
        receiver, no_data_after_s=no_data_after_s, on_frames=frames_shown, tcs=tcs_receiver
    )
    window.closed.connect(app.quit)
    # Qt's loop blocks Python's signal handling: wake Python regularly, quit on SIGINT / stop.
    watchdog = QtCore.QTimer()
    watchdog.timeout.connect(lambda: stop is not None and stop.is_set() and finish())
    watchdog.start(100)
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, lambda *_: app.quit())
    window.show()
    if on_ready is not None:
        QtCore.QTimer.singleShot(0, on_ready)
    try:
        app.exec()
    finally:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, previous)
        watchdog.stop()
        window.timer.stop()
        window.readout_timer.stop()
        window.close()
        receiver.close()
        if tcs_receiver is not None:
            tcs_receiver.close()
        # Destroy the window now, with its pending paint events: left to interpreter
        # teardown, Qt may flush a window whose native handle is gone and crash.
        displayed = window.displayed
        window.deleteLater()
        QtCore.QCoreApplication.sendPostedEvents(None, 0)
        QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)
    return displayed


def run_beside_viewer(
    job: Callable[[], T],
    address: str,
    stop: threading.Event,
    *,
    screenshot: Path | None = None,
    exit_after: int | None = None,
    curve: CurveKeys | None = None,
) -> T:
    """Run `job` (the pipeline) on a worker thread and the viewer on this one.

    Closing the window, Ctrl-C or reaching `exit_after` sets `stop`; when the job ends on
    its own, the window closes. Returns what the job returned (re-raises what it raised).
    """
    done = threading.Event()
    outcome: dict[str, object] = {}

    def work() -> None:
        try:
            outcome["value"] = job()
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc
        finally:
            done.set()

    worker = threading.Thread(target=work, name="pipeline", daemon=True)
    worker.start()
    try:
        show(address, screenshot=screenshot, exit_after=exit_after, stop=done, curve=curve)
    finally:
        stop.set()
        worker.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]
