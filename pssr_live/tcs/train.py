"""Training the learned TCS decoder on simulated (or given) movies.

Every sample is fresh: a random clean B-frame clip (random crop, flips, transposition,
time reversal) from a pool of movies (simulated ones are renewed as training goes), a
detector drawn from wide ranges (shot + read noise at 20-200 photons peak, 10 %
noise-free), fresh Bernoulli(0.5) masks, the coded
snapshot, and the per-snapshot normalisation of :mod:`pssr_live.tcs.decode` applied to
the snapshot and to the clean target alike. Loss: MSE on the normalised frames (what
PSNR measures); Adam with a cosine learning rate over the time budget. Every two
minutes the network decodes the simulated validation movies (never the test set) and
the model file holds the best one so far (with the user's movies: the latest), so a
stopped run still leaves a usable decoder.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from pssr_live.normalization import NormSettings
from pssr_live.tcs.codec import encode
from pssr_live.tcs.data import VALIDATION_MOVIES, DetectorRanges, clean_movie
from pssr_live.tcs.decode import net_decoder, normalize_snapshot
from pssr_live.tcs.evaluate import Case, evaluate_method, simulated_cases
from pssr_live.tcs.gaptv import DEFAULT_ITERS, DEFAULT_TV_ITERS, DEFAULT_TV_WEIGHT
from pssr_live.tcs.net import TCSConfig, TCSInfo, TCSNet, save_tcs_model

log = logging.getLogger(__name__)

#: Validation movies (never trained on) at the test frame size, 30 frames each.
VALIDATION_SIZE = 256
VALIDATION_FRAMES = 30


@dataclass
class TrainSettings:
    """Recipe of one training run; stored in the model file."""

    ratio: int = 10
    width: int = 16
    stages: int = 1
    gap_iters: int = DEFAULT_ITERS  # classical GAP-TV iterations in front (tuned values)
    patch: int = 64
    batch: int = 8
    minutes: float = 10.0
    max_steps: int = 100_000
    lr: float = 5e-4
    seed: int = 0
    pool_movies: int = 16
    pool_shape: int = 160  # HR pixels per side of the simulated movies
    speeds: tuple[float, float] = (0.5, 4.0)  # log-uniform scene speed of the pool
    detector: DetectorRanges = field(default_factory=DetectorRanges)
    threads: int = 1
    renew_every: int = 4  # steps between replacing one simulated pool movie with a new one
    validate_every_s: float = 120.0  # the best model on the validation movies is kept


def simulated_pool(s: TrainSettings, rng: np.random.Generator) -> list[np.ndarray]:
    """Clean simulated movies (pool_movies of 4 x ratio frames) to draw clips from."""
    return [simulated_movie(s, rng) for _ in range(s.pool_movies)]


def simulated_movie(s: TrainSettings, rng: np.random.Generator) -> np.ndarray:
    """One clean simulated movie of 4 x ratio frames, new scene and speed (25 ms here).

    The pool is renewed as training goes (`renew_every`): with a fixed pool of 16
    movies the decoder learned them by heart, its loss fell and its validation PSNR
    fell with it (35.1 dB after 7 000 steps, 32.8 after 15 000).
    """
    speed = math.exp(rng.uniform(*np.log(s.speeds)))
    seed = int(rng.integers(1_000_000, 2**31))  # clear of the test and validation seeds
    return clean_movie(4 * s.ratio, (s.pool_shape,) * 2, seed, speed)


def sample(
    pool: Sequence[np.ndarray],
    rng: np.random.Generator,
    s: TrainSettings,
    norm: NormSettings,
) -> tuple[np.ndarray, np.ndarray]:
    """One training pair: packed input (1+B, p, p) and normalised clean target (B, p, p)."""
    movie = pool[int(rng.integers(len(pool)))]
    t = int(rng.integers(len(movie) - s.ratio + 1))
    y0 = int(rng.integers(movie.shape[1] - s.patch + 1))
    x0 = int(rng.integers(movie.shape[2] - s.patch + 1))
    clip = movie[t : t + s.ratio, y0 : y0 + s.patch, x0 : x0 + s.patch]
    clip = clip / max(float(np.percentile(clip, 99.9)), 1e-3)  # brightest ~1 in every crop
    clip = clip * rng.uniform(0.3, 1.0)  # ... or dimmer
    if rng.random() < 0.5:
        clip = clip[::-1]
    if rng.random() < 0.5:
        clip = clip[:, ::-1]
    if rng.random() < 0.5:
        clip = clip.transpose(0, 2, 1)
    detector = s.detector.sample(rng)
    frames = detector.measure(clip, rng)
    masks = rng.integers(0, 2, frames.shape, dtype=np.uint8)
    y_norm, scaling = normalize_snapshot(encode(frames, masks), masks, norm)
    target = (detector.expected(clip) - np.float32(scaling.low)) / np.float32(scaling.scale)
    packed = np.concatenate([y_norm[np.newaxis], masks.astype(np.float32)])
    return packed, target.astype(np.float32)


def train(
    settings: TrainSettings,
    out_path: str | os.PathLike[str],
    *,
    movies: Sequence[np.ndarray] | None = None,
    data_label: str = "simulator",
) -> TCSInfo:
    """Train a decoder for ``settings.ratio`` and write it to ``out_path``.

    ``movies``: clean (T, H, W) movies to learn from instead of the simulator.
    """
    torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    norm = NormSettings()
    pool = list(movies) if movies is not None else simulated_pool(settings, rng)
    config = TCSConfig(
        ratio=settings.ratio,
        width=settings.width,
        stages=settings.stages,
        gap_iters=settings.gap_iters,
        tv_weight=DEFAULT_TV_WEIGHT,
        tv_iters=DEFAULT_TV_ITERS,
    )
    net = TCSNet(config)
    opt = torch.optim.Adam(net.parameters(), lr=settings.lr)
    budget = settings.minutes * 60.0
    recipe = {
        "data": data_label,
        "settings": json.loads(json.dumps(settings, default=_jsonable)),
        "loss": "MSE on normalised frames",
    }
    info = TCSInfo(net=config, norm=norm, training=recipe)
    validation = (  # simulated validation movies for a simulated training set
        simulated_cases(VALIDATION_SIZE, VALIDATION_FRAMES, movies=VALIDATION_MOVIES)
        if movies is None
        else None
    )
    best = -math.inf
    start = last_check = time.monotonic()
    step, running = 0, 0.0
    while step < settings.max_steps and (elapsed := time.monotonic() - start) < budget:
        if movies is None and step % settings.renew_every == 0:  # endless fresh movies
            pool[int(rng.integers(len(pool)))] = simulated_movie(settings, rng)
        for group in opt.param_groups:
            group["lr"] = settings.lr * 0.5 * (1 + math.cos(math.pi * elapsed / budget))
        pairs = [sample(pool, rng, settings, norm) for _ in range(settings.batch)]
        x = torch.from_numpy(np.stack([p for p, _ in pairs]))
        target = torch.from_numpy(np.stack([t for _, t in pairs]))
        loss = torch.nn.functional.mse_loss(net(x), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        value = loss.item()
        running = 0.98 * running + 0.02 * value if step > 1 else value
        if step % 50 == 0:
            log.info("step %d  %.1f min  loss %.4f", step, elapsed / 60, running)
        last = step >= settings.max_steps or time.monotonic() - start >= budget
        if last or time.monotonic() - last_check > settings.validate_every_s:
            seconds = round(time.monotonic() - start, 1)
            info.training.update(steps=step, seconds=seconds, loss=round(running, 5))
            if validation is None:  # the user's movies: keep the latest
                save_tcs_model(out_path, net, info)
            else:
                psnr = validation_psnr(net, validation, norm)
                log.info("step %d  validation %.2f dB (best %.2f)", step, psnr, max(psnr, best))
                if psnr > best or best == -math.inf:  # the first is kept even if NaN
                    best = psnr
                    info.training.update(best_step=step, validation_psnr=round(psnr, 3))
                    save_tcs_model(out_path, net, info)
            last_check = time.monotonic()
    return info


class _NetworkRun:
    """The network in training, seen as an engine by the decoder (eval mode, no grad)."""

    def __init__(self, net: TCSNet) -> None:
        self.net = net
        self.multiple = net.config.multiple

    def run(self, batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.net(torch.from_numpy(batch)).numpy()


def validation_psnr(net: TCSNet, cases: list[Case], norm: NormSettings) -> float:
    """Mean PSNR of the network on the validation movies (the same scoring as evaluate-tcs)."""
    net.eval()
    try:
        decoder = net_decoder(_NetworkRun(net), net.config.ratio, norm)
        return evaluate_method("network", decoder, cases, net.config.ratio).psnr
    finally:
        net.train()


def _jsonable(obj: object) -> object:
    if hasattr(obj, "to_dict"):
        return obj.to_dict()  # type: ignore[attr-defined]
    if hasattr(obj, "__dataclass_fields__"):
        return {k: getattr(obj, k) for k in obj.__dataclass_fields__}  # type: ignore[attr-defined]
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")
