"""Evaluation figures: a crop panel with a line profile, and PSNR against dose."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np

from pssr_live.evaluation import TestMovie
from pssr_live.metrics import fit_to, percentile_normalize

matplotlib.use("Agg")
import matplotlib.pyplot as plt

PANEL = ("LR", "bilinear", "classical", "single-frame", "five-frame", "HR")


def _crop_box(hr: np.ndarray, size: int) -> tuple[int, int]:
    """Top-left of the `size` crop holding the most signal (a strided search)."""
    size = min(size, *hr.shape)
    best, at = -np.inf, (0, 0)
    step = max(size // 4, 1)
    for y in range(0, hr.shape[0] - size + 1, step):
        for x in range(0, hr.shape[1] - size + 1, step):
            v = float(hr[y : y + size, x : x + size].sum())
            if v > best:
                best, at = v, (y, x)
    return at


def panel_figure(
    movie: TestMovie, preds: dict[str, list[np.ndarray]], path: Path, size: int = 128
) -> None:
    """LR, bilinear, classical, SF, MF and HR crops of the first target frame, and a
    horizontal line profile through the crop's centre (all fitted to the normalised HR)."""
    t = movie.targets[0]
    gt = percentile_normalize(movie.hr[t])
    lr_up = np.kron(movie.lr[t].astype(np.float32), np.ones((4, 4), np.float32))
    images = {"LR": lr_up, "HR": gt} | {k: v[0] for k, v in preds.items()}
    names = [n for n in PANEL if n in images]
    y0, x0 = _crop_box(gt, size)
    size = min(size, *gt.shape)
    fig, axes = plt.subplots(1, len(names) + 1, figsize=(2.6 * (len(names) + 1), 2.9))
    row = y0 + size // 2
    for ax, name in zip(axes, names, strict=False):
        img = fit_to(images[name], gt)[y0 : y0 + size, x0 : x0 + size]
        ax.imshow(img, cmap="magma", vmin=0, vmax=1)
        ax.axhline(size // 2, color="c", lw=0.5)
        ax.set_title(name, fontsize=9)
        ax.axis("off")
        axes[-1].plot(fit_to(images[name], gt)[row, x0 : x0 + size], label=name, lw=1)
    axes[-1].set_title("line profile", fontsize=9)
    axes[-1].legend(fontsize=6)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def dose_figure(sweep: dict[str, dict[str, float]], path: Path) -> None:
    """PSNR of every method against peak photon count (log axis)."""
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for name, by_dose in sweep.items():
        doses = [float(d) for d in by_dose]
        ax.plot(doses, list(by_dose.values()), marker="o", label=name)
    ax.set_xscale("log")
    ax.set_xlabel("peak photons per pixel")
    ax.set_ylabel("PSNR (dB)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
