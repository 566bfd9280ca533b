"""`--engine auto`: the fastest engine present on this machine, by a short measurement.

Every registered engine whose runtime is installed (TensorRT only once an engine has
been built for the shape: building takes minutes) is created with the caller's
options, warmed up on a window of the frame shape and timed on a few more; the fastest
is kept, the others closed. The choice is cached in ``<cache>/auto-engine.json`` under
a key made of the CPU and GPU names, the runtimes' versions, the model's sha256, the
shape and the options, so later starts on the same machine skip the measurement.
Auto leaves which engine it took and why in ``engine.reason`` (for the command to
print, after any one-line error about its other arguments) and logs it at INFO level.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import statistics
import time
from datetime import datetime
from pathlib import Path

import numpy as np

from pssr_live.engines.base import Engine, EngineError, engine_class, engine_names
from pssr_live.engines.cache import cache_dir, write_atomic
from pssr_live.modelfile import model_hash

#: Timed windows per engine after one warm-up window, within the time budget (>= 2).
MEASURE_REPEATS = 5
MEASURE_BUDGET_S = 1.0
CACHE_FILE = "auto-engine.json"
log = logging.getLogger(__name__)


def machine() -> dict[str, object]:
    """What a measurement depends on: CPU model, core count, GPU names."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(
                (line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")),
                cpu,
            )
    except OSError:
        pass
    import torch

    gpus = (
        [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        if torch.cuda.is_available()
        else []
    )
    return {"cpu": cpu, "cores": os.cpu_count(), "gpus": gpus}


def measure_ms(engine: Engine, shape: tuple[int, int]) -> float:
    """Median milliseconds per restored window of `shape`, after one warm-up window."""
    window = np.random.default_rng(0).random((engine.frames, *shape), dtype=np.float32)
    engine.restore(window)
    times: list[float] = []
    deadline = time.perf_counter() + MEASURE_BUDGET_S
    while len(times) < MEASURE_REPEATS and (len(times) < 2 or time.perf_counter() < deadline):
        t0 = time.perf_counter()
        engine.restore(window)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def pick_engine(model_path: str, shape: tuple[int, int], options: dict[str, object]) -> Engine:
    """Create the fastest engine here for `model_path` at `shape` (see the module doc)."""
    runtimes: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for name in engine_names():
        cls = engine_class(name)
        try:
            runtimes[name] = cls.runtime()
        except EngineError as e:
            skipped[name] = str(e)
            continue
        why = cls.auto_skip(model_path, shape, options)
        if why:
            del runtimes[name]
            skipped[name] = why
    key = _cache_key(model_path, shape, runtimes, options)
    path = cache_dir() / CACHE_FILE
    cache = _read_cache(path)
    hit = cache.get(key)
    if hit and hit.get("engine") in runtimes:
        try:
            engine = engine_class(hit["engine"])(model_path, shape=shape, **options)
        except EngineError:
            pass  # e.g. a driver changed under the cache: measure again
        else:
            return _announce(
                engine,
                f"fastest at {shape[0]}x{shape[1]} in a measurement cached on {hit['when']}: "
                f"{_summary(hit['ms'])}",
            )
    times: dict[str, float] = {}
    best: Engine | None = None
    for name in runtimes:
        try:
            engine = engine_class(name)(model_path, shape=shape, **options)
            times[name] = measure_ms(engine, shape)
        except Exception as e:  # an engine that fails here is simply not the one picked
            skipped[name] = (str(e).splitlines() or [type(e).__name__])[0]
            continue
        if best is None or times[name] < times[best.name]:
            if best is not None:
                best.close()
            best = engine
        else:
            engine.close()
    if best is None:
        raise EngineError(
            "no engine works here: " + "; ".join(f"{n}: {why}" for n, why in skipped.items())
        )
    cache[key] = {
        "engine": best.name,
        "ms": times,
        "shape": list(shape),
        "when": datetime.now().isoformat(timespec="seconds"),
        "machine": machine(),
        "runtimes": runtimes,
    }
    write_atomic(path, json.dumps(cache, indent=1, sort_keys=True).encode())
    return _announce(
        best,
        f"fastest at {shape[0]}x{shape[1]}, measured now: {_summary(times)}"
        + (f" (not tried: {', '.join(sorted(skipped))})" if skipped else ""),
    )


def _summary(times: dict[str, float]) -> str:
    return ", ".join(f"{n} {ms:.1f} ms" for n, ms in sorted(times.items(), key=lambda kv: kv[1]))


def _announce(engine: Engine, why: str) -> Engine:
    engine.reason = f"auto picked {engine.describe()}: {why}"
    log.info(engine.reason)
    return engine


def _cache_key(
    model_path: str, shape: tuple[int, int], runtimes: dict[str, str], options: dict[str, object]
) -> str:
    identity = {
        "machine": machine(),
        "runtimes": runtimes,
        "model": model_hash(model_path),
        "shape": list(shape),
        "options": {k: repr(v) for k, v in sorted(options.items())},
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]


def _read_cache(path: Path) -> dict[str, dict]:
    try:
        cache = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return cache if isinstance(cache, dict) else {}
