"""Live quality: scores against ground truth, computed in the pipeline, sent in the headers."""

from __future__ import annotations

import threading
import time

import numpy as np
from scipy.ndimage import gaussian_filter

from pssr_live.drivers.source import open_source
from pssr_live.engines.base import create_engine
from pssr_live.livequality import bilinear_upsample, measure
from pssr_live.modelfile import bundled_model_path, load_model, model_hash
from pssr_live.pipeline import Pipeline, RunSettings
from pssr_live.wire import Publisher, Subscriber

SCALE = 4


def hr_movie(n: int, size: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.asarray(
        [1000 * gaussian_filter(rng.random((size, size)), 3.0) for _ in range(n)], np.float32
    )


def downsample(hr: np.ndarray) -> np.ndarray:
    h, w = hr.shape
    return hr.reshape(h // SCALE, SCALE, w // SCALE, SCALE).mean(axis=(1, 3))


def test_bilinear_keeps_geometry():
    lr = np.arange(16, dtype=np.float32).reshape(4, 4)
    up = bilinear_upsample(lr, SCALE)
    assert up.shape == (16, 16)
    np.testing.assert_allclose(downsample(up)[1:-1, 1:-1], lr[1:-1, 1:-1], atol=1e-4)


def test_measure_ranks_a_good_restoration_above_bilinear():
    truth = hr_movie(1, 128)[0]
    lr = downsample(truth)
    noisy = truth + np.random.default_rng(1).normal(0, 1, truth.shape).astype(np.float32)
    q = measure(noisy, lr, truth, crop=64)
    assert q["psnr"] > q["psnr_bilinear"] > 15
    assert 1 >= q["ssim"] > q["ssim_bilinear"] > 0


def test_pipeline_sends_live_quality_in_restored_headers(address):
    model = bundled_model_path("centered")
    _, info = load_model(model)
    source = open_source("sim", fps=20, size=(64, 64))
    settings = RunSettings(model=str(model), frames=40, publish=address, quality_interval_s=0.2)
    engine = create_engine("torch", str(model))
    subscriber = Subscriber(address, ("restored",))
    pipeline = Pipeline(settings, source, engine, Publisher(address), info, model_hash(model))
    time.sleep(0.3)
    collected = []
    receiving = threading.Thread(
        target=lambda: collected.extend(
            iter(lambda: subscriber.receive(1500), None)  # until the stream goes quiet
        )
    )
    receiving.start()
    summary = pipeline.run()
    receiving.join()
    subscriber.close()
    assert summary.restored > 0 and not summary.errors
    scored = [m.header["quality"] for m in collected if "quality" in m.header]
    assert scored, "no restored header carried a quality measurement"
    targets = {m.header["target"] for m in collected}
    for q in scored:
        assert set(q) == {"frame", "psnr", "ssim", "psnr_bilinear", "ssim_bilinear"}
        assert all(np.isfinite(q[k]) for k in ("psnr", "ssim", "psnr_bilinear", "ssim_bilinear"))
        assert q["frame"] in targets  # a restored frame was scored
