"""Soak test of the live path: acquisition faster than restoration, subscribers that lag or
come and go; checks that no raw frame is lost, the counters add up and memory stays flat."""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pssr_live.drivers.source import open_source
from pssr_live.engines.base import create_engine
from pssr_live.modelfile import bundled_model_path, load_model, model_hash
from pssr_live.pipeline import Pipeline, RunSettings, Summary
from pssr_live.recorder import read_frame_tags
from pssr_live.wire import Publisher, Subscriber

#: RSS may grow by this much between the end of warm-up and the end of the run.
RSS_GROWTH_LIMIT_MIB = 64.0


def rss_mib() -> float:
    """Resident memory of this process (VmRSS of /proc/self/status) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise OSError("no VmRSS in /proc/self/status")


@dataclass
class SoakReport:
    """What a soak run did and which of its checks failed (`problems`)."""

    seconds: float
    source: str
    size: tuple[int, int]
    fps: float
    engine: str
    counters: dict[str, int]
    frames_in_file: int
    rss_mib: list[tuple[float, float]]  # (seconds since start, MiB), while running
    queued_mib: list[float]  # frames waiting in the recorders' queues, at each RSS sample
    slow_subscriber_received: int
    viewer_received: int
    viewer_connections: int
    errors: list[str]
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def rss_start_mib(self) -> float:
        """RSS once warmed up: the first sample after a tenth of the run."""
        warm = [mib for t, mib in self.rss_mib if t >= self.seconds / 10]
        return warm[0] if warm else self.rss_mib[0][1]

    @property
    def rss_end_mib(self) -> float:
        return self.rss_mib[-1][1]

    def lines(self) -> list[str]:
        c = self.counters
        return [
            f"soak {self.seconds:.0f} s: {self.source} {self.size[0]}x{self.size[1]} at "
            f"{self.fps:g} fps -> {self.engine}",
            f"acquired {c['acquired']}, recorded {c['recorded']}, in raw.ome.tif "
            f"{self.frames_in_file}; windows {c['windows']} = restored {c['restored']} + "
            f"skipped {c['skipped']}",
            f"published {c['published_raw']} raw + {c['published_restored']} restored, "
            f"{c['publish_dropped']} dropped; slow subscriber got "
            f"{self.slow_subscriber_received}, viewer got {self.viewer_received} in "
            f"{self.viewer_connections} connections",
            f"RSS after warm-up {self.rss_start_mib:.1f} MiB, at end {self.rss_end_mib:.1f} MiB, "
            f"max {max(m for _, m in self.rss_mib):.1f} MiB; recorder queues at most "
            f"{max(self.queued_mib):.1f} MiB",
            *(f"error: {e}" for e in self.errors),
            *(f"FAILED: {p}" for p in self.problems),
            "soak passed" if self.ok else "soak failed",
        ]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(ok=self.ok, rss_start_mib=self.rss_start_mib, rss_end_mib=self.rss_end_mib)
        return d


class _Consumer:
    """A subscriber thread: `slow` reads one message per `delay`; a viewer reconnects often."""

    def __init__(self, address: str, *, delay: float = 0.0, reconnect_s: float | None = None):
        self.address, self.delay, self.reconnect_s = address, delay, reconnect_s
        self.received = 0
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-subscriber", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            sub = Subscriber(self.address, rcvhwm=4)
            self.connections += 1
            t_end = time.monotonic() + (self.reconnect_s or float("inf"))
            while not self._stop.is_set() and time.monotonic() < t_end:
                if sub.receive(100) is not None:
                    self.received += 1
                    self._stop.wait(self.delay)
            sub.close()
            self._stop.wait(0.3)  # a viewer is away for a while between connections

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)


def run_soak(
    seconds: float,
    record_dir: Path,
    *,
    source: str = "sim",
    fps: float = 60.0,
    size: tuple[int, int] = (128, 128),
    engine: str = "torch",
    sample_s: float = 1.0,
) -> SoakReport:
    """Run the pipeline for `seconds` and check it; `record_dir` receives the recording."""
    model_path = bundled_model_path()
    _, info = load_model(model_path)
    eng = create_engine(engine, str(model_path))
    settings = RunSettings(
        source=source,
        engine=engine,
        model=str(model_path),
        fps=fps,
        size=size,
        record=str(record_dir),
        publish="tcp://127.0.0.1:0",
        window=info.window,
    )
    publisher = Publisher(settings.publish)
    src = open_source(source, fps=fps, size=size)
    pipeline = Pipeline(settings, src, eng, publisher, info, model_hash(model_path))
    eng.warmup(src.shape)
    slow = _Consumer(publisher.endpoint, delay=0.05)
    viewer = _Consumer(publisher.endpoint, reconnect_s=1.5)
    stop = threading.Event()
    samples: list[tuple[float, float]] = []
    queued: list[float] = []
    recorders = [r for r in (pipeline.raw_recorder, pipeline.restored_recorder) if r]
    t0 = time.monotonic()

    def tick() -> None:
        t = time.monotonic() - t0
        if not samples or t - samples[-1][0] >= sample_s:
            samples.append((t, rss_mib()))
            queued.append(sum(r.queued_bytes for r in recorders) / 2**20)
        if t >= seconds:
            stop.set()

    try:
        summary = pipeline.run(stop, tick=tick)
    finally:
        slow.close()
        viewer.close()
    tags = read_frame_tags(record_dir / "raw.ome.tif")
    report = SoakReport(
        seconds=seconds,
        source=src.name,
        size=src.shape,
        fps=fps,
        engine=eng.describe(),
        counters=_counters(summary),
        frames_in_file=len(tags),
        rss_mib=samples,
        queued_mib=queued,
        slow_subscriber_received=slow.received,
        viewer_received=viewer.received,
        viewer_connections=viewer.connections,
        errors=summary.errors,
    )
    report.problems = _check(report, [int(t["frame"]) for t in tags], pipeline)
    return report


COUNTERS = (
    "acquired",
    "recorded",
    "windows",
    "restored",
    "skipped",
    "published_raw",
    "published_restored",
    "publish_dropped",
    "restored_recorded",
)


def _counters(summary: Summary) -> dict[str, int]:
    return {k: int(getattr(summary, k)) for k in COUNTERS}


def _check(report: SoakReport, frames: list[int], pipeline: Pipeline) -> list[str]:
    """The soak's pass criteria, as a list of what failed."""
    c = report.counters
    restored_dropped = pipeline.restored_recorder.dropped if pipeline.restored_recorder else 0
    checks = {
        "raw.ome.tif holds frames 0..acquired-1 in order": frames == list(range(c["acquired"])),
        "acquired = recorded": c["acquired"] == c["recorded"],
        "windows = acquired - (frames per window - 1)": (
            c["windows"] == c["acquired"] - (pipeline.engine.frames - 1)
        ),
        "restored + skipped = windows": c["restored"] + c["skipped"] == c["windows"],
        "every message published or counted as dropped": (
            c["published_raw"] + c["published_restored"] + c["publish_dropped"]
            == c["acquired"] + c["restored"]
        ),
        "restored frames recorded or counted as dropped": (
            c["restored_recorded"] + restored_dropped == c["restored"]
        ),
        "the restorer was overloaded (skipped > 0)": c["skipped"] > 0,
        "no errors": not report.errors,
        f"RSS grew by less than {RSS_GROWTH_LIMIT_MIB:g} MiB after warm-up": (
            report.rss_end_mib - report.rss_start_mib < RSS_GROWTH_LIMIT_MIB
        ),
    }
    return [name for name, ok in checks.items() if not ok]
