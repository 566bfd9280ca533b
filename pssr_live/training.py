"""Training: endless five-to-one pairs -> PSSRNet, one-cycle AdamW, best model kept.

Recipe (PSSR's, fitted to a CPU budget): AdamW (weight decay 1e-4), one-cycle learning
rate schedule (30 % warm-up to ``lr``, cosine down), MSE loss (L1 optional) on
normalised images, gradient norm clipped at 1. Every ``val_every`` steps ("epoch") the
model is scored on a fixed validation set (its own seeds, never used for training or
testing) with :func:`pssr_live.metrics.score`; the best model so far is written to the
output file, and a checkpoint (weights as a model file + optimizer state, both
loadable without unpickling code) lets ``--resume`` continue an interrupted run.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from pssr_live.crappify import make_crappifier
from pssr_live.datasets import MoviePairs, PairStream, SimulatedPairs
from pssr_live.drivers.movie import read_movie
from pssr_live.errors import UserError
from pssr_live.metrics import score
from pssr_live.modelfile import ModelInfo, load_model, model_hash, read_info, save_model
from pssr_live.network import NetConfig, PSSRNet
from pssr_live.normalization import NormSettings


@dataclass
class TrainConfig:
    """Everything a training run depends on (recorded in the model file)."""

    output: Path
    window: str = "centered"
    single_frame: bool = False
    steps: int = 3000
    batch: int = 8
    patch: int = 48  # LR tile size
    width: int = 32
    depth: int = 2
    blocks: int = 1
    lr: float = 1e-3
    weight_decay: float = 1e-4
    loss: str = "mse"
    seed: int = 0
    val_every: int = 250
    val_windows: int = 32
    hr: list[Path] = field(default_factory=list)
    crappifier: str = "confocal"
    workers: int = 1
    threads: int | None = None
    resume: bool = False
    init: Path | None = None  # start from this model's weights (fine-tuning)
    command: str = ""


@dataclass(frozen=True)
class TrainResult:
    path: Path
    best_psnr: float
    best_step: int
    seconds: float


def checkpoint_paths(output: Path) -> tuple[Path, Path]:
    """(weights as a model file, optimizer/scheduler state) beside the output."""
    return output.with_suffix(".ckpt.safetensors"), output.with_suffix(".ckpt.state.pt")


def _data(cfg: TrainConfig, frames: int) -> tuple[object, list, dict]:
    """Training source, fixed validation pairs, and the data description for metadata."""
    norm = NormSettings()
    if cfg.hr:
        movies = [read_movie(p) for p in cfg.hr]
        crap = make_crappifier(cfg.crappifier)
        src = MoviePairs(movies, crap, cfg.patch, cfg.window, frames, cfg.seed, norm)
        val = [src.pair(i, split_tag=1) for i in range(cfg.val_windows)]
        desc = {
            "source": "user HR movies",
            "files": [{"name": p.name, "sha256": model_hash(p)} for p in cfg.hr],
            "crappifier": asdict(crap),
            "validation": "other tiles of the same movies",
        }
        return src, val, desc
    src = SimulatedPairs(cfg.patch, cfg.window, frames, "train", cfg.seed, norm=norm)
    vsrc = SimulatedPairs(cfg.patch, cfg.window, frames, "validation", 0, norm=norm, augment=False)
    val = [vsrc.pair(i) for i in range(cfg.val_windows)]
    desc = {
        "source": "simulator (drivers.scene + drivers.confocal), domain-randomised per window",
        "ranges": src.ranges.to_dict(),
        "window_seeds": f"pssr_live.domain.window_seed('train', {cfg.seed}, i)",
        "validation": f"{cfg.val_windows} windows, window_seed('validation', 0, i)",
    }
    return src, val, desc


def validate(net: PSSRNet, val: list, device: torch.device) -> float:
    """Mean PSNR (metrics.score) of the network on the validation pairs."""
    net.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(val), 8):
            x = torch.from_numpy(np.stack([v[0] for v in val[i : i + 8]])).to(device)
            pred = net(x).cpu().numpy()
            out += [score(p[0], v[1][0]).psnr for p, v in zip(pred, val[i : i + 8], strict=True)]
    net.train()
    return float(np.mean(out))


def train(cfg: TrainConfig, progress: bool = True) -> TrainResult:
    """Run (or resume) a training run; returns where the best model went and its score."""
    if cfg.window not in ("centered", "causal"):
        raise UserError(f"window must be centered or causal, not {cfg.window!r}")
    if cfg.loss not in ("mse", "l1"):
        raise UserError(f"loss must be mse or l1, not {cfg.loss!r}")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    frames = 1 if cfg.single_frame else 5
    ref = 0 if frames == 1 else (2 if cfg.window == "centered" else 4)
    net_cfg = NetConfig(frames, 4, cfg.width, cfg.depth, cfg.blocks, False, ref)
    if cfg.patch % net_cfg.multiple:
        raise UserError(f"--patch {cfg.patch} must be a multiple of {net_cfg.multiple}")
    net = PSSRNet(net_cfg).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.3
    )
    if cfg.init is not None:
        init_net, init_info = load_model(cfg.init)
        if init_info.net != net_cfg:
            raise UserError(
                f"--init {cfg.init}: its network {init_info.net} differs from this run's "
                f"{net_cfg}; match --width/--depth/--window/--single-frame"
            )
        net.load_state_dict(init_net.state_dict())
    src, val, data_desc = _data(cfg, frames)
    start, best, best_step, elapsed = 0, -math.inf, -1, 0.0
    ck_model, ck_state = checkpoint_paths(cfg.output)
    if cfg.resume:
        if not (ck_model.exists() and ck_state.exists()):
            raise UserError(f"--resume: no checkpoint {ck_model} / {ck_state}")
        ck_net, _ = load_model(ck_model)
        net.load_state_dict(ck_net.state_dict())
        state = torch.load(ck_state, map_location=device, weights_only=True)
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        start, best, best_step = int(state["step"]), float(state["best"]), int(state["best_step"])
        elapsed = float(state["seconds"])

    def info(step: int, val_psnr: float) -> ModelInfo:
        recipe = {
            k: getattr(cfg, k)
            for k in ("steps", "batch", "patch", "lr", "weight_decay", "loss", "seed")
        }
        recipe |= {"optimizer": "AdamW", "schedule": "one-cycle (pct_start 0.3)", "clip": 1.0}
        if cfg.init is not None:
            recipe["init"] = {
                "model": cfg.init.name,
                "sha256": model_hash(cfg.init),
                "training": read_info(cfg.init).training,  # the earlier stage(s)
            }
        return ModelInfo(
            kind="pssr-sf" if frames == 1 else "pssr-mf",
            net=net_cfg,
            window=cfg.window,  # type: ignore[arg-type]
            norm=NormSettings(),
            training={
                "status": "trained",
                "data": data_desc,
                "recipe": recipe,
                "command": cfg.command,
                "step": step,
                "seconds": round(elapsed, 1),
                "device": device.type,
            },
            metrics={"validation_psnr": round(val_psnr, 3)},
        )

    stream = PairStream(src, start=start * cfg.batch)
    loader = DataLoader(
        stream,
        batch_size=cfg.batch,
        num_workers=cfg.workers,
        persistent_workers=cfg.workers > 0,
        prefetch_factor=4 if cfg.workers > 0 else None,
    )
    loss_fn = F.mse_loss if cfg.loss == "mse" else F.l1_loss
    bar = tqdm(total=cfg.steps, initial=start, disable=not progress, dynamic_ncols=True)
    net.train()
    ema, val_psnr = None, best
    t0 = time.perf_counter() - elapsed
    batches = iter(loader)
    for step in range(start + 1, cfg.steps + 1):
        x, y = next(batches)
        x, y = x.to(device), y.to(device)
        loss = loss_fn(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        value = float(loss.detach())
        ema = value if ema is None else 0.98 * ema + 0.02 * value
        if step % cfg.val_every == 0 or step == cfg.steps:
            val_psnr = validate(net, val, device)
            elapsed = time.perf_counter() - t0
            if val_psnr > best:
                best, best_step = val_psnr, step
                save_model(cfg.output, net, info(step, val_psnr))
            save_model(ck_model, net, info(step, val_psnr))
            torch.save(
                {
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(),
                    "step": step,
                    "best": best,
                    "best_step": best_step,
                    "seconds": elapsed,
                },
                ck_state,
            )
        bar.set_postfix_str(f"loss {ema:.4g} val {val_psnr:.2f} dB", refresh=False)
        bar.update(1)
    bar.close()
    return TrainResult(cfg.output, best, best_step, time.perf_counter() - t0)
