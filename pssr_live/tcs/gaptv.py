"""GAP-TV: generalised alternating projection with total-variation denoising.

The classical decoder of video snapshot compressive imaging (Yuan, ICIP 2016). Each
iteration projects the estimate onto the measurements, then denoises every frame with
isotropic 2-D TV (Chambolle's projection algorithm, ``tv_iters`` steps). The plain
projection is used, not the accelerated one (which accumulates the residual): with
detector noise the accelerated variant fits the noise and lost 2-7 dB on the
validation movies after 10-40 iterations. It works on normalised snapshots (see
:mod:`pssr_live.tcs.decode`), so ``tv_weight`` does not depend on the intensity scale.

Started from ``y / Phi`` in every frame (``Phi = sum_k M_k``), not the textbook
``A^T y``: fluorescence is sparse and smooth, and that start is already the right
static image, so the iterations only add the motion (design 7, lessons).

One implementation in torch serves both the classical decoder (:func:`gap_tv`, numpy
in and out) and the learned one, whose first steps are these (:mod:`.net`): only
slices, concatenations and element-wise ops, so it exports to ONNX.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

#: Tuned on the validation movies at 256 x 256 (`pssr-live evaluate-tcs --tune`,
#: docs/tcs.md): with shot and read noise, PSNR peaks after 3-5 iterations and falls
#: slowly after, as the projections bring the noise back.
DEFAULT_ITERS = 3
DEFAULT_TV_WEIGHT = 0.2
DEFAULT_TV_ITERS = 5


def _grad(u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences along y and x, zero at the far edge."""
    gy = torch.cat([u[..., 1:, :] - u[..., :-1, :], torch.zeros_like(u[..., :1, :])], dim=-2)
    gx = torch.cat([u[..., :, 1:] - u[..., :, :-1], torch.zeros_like(u[..., :, :1])], dim=-1)
    return gy, gx


def _div(py: torch.Tensor, px: torch.Tensor) -> torch.Tensor:
    """Divergence, the negative adjoint of :func:`_grad`."""
    dy = py - torch.cat([torch.zeros_like(py[..., :1, :]), py[..., :-1, :]], dim=-2)
    dx = px - torch.cat([torch.zeros_like(px[..., :, :1]), px[..., :, :-1]], dim=-1)
    return dy + dx


def tv_denoise(f: torch.Tensor, weight: float, iters: int = DEFAULT_TV_ITERS) -> torch.Tensor:
    """argmin_x 1/2 ||x - f||^2 + weight * TV(x), per 2-D frame (Chambolle 2004)."""
    tau = 0.25
    py = torch.zeros_like(f)
    px = torch.zeros_like(f)
    for _ in range(iters):
        gy, gx = _grad(_div(py, px) - f / weight)
        norm = 1.0 + tau * torch.sqrt(gy * gy + gx * gx)
        py = (py + tau * gy) / norm
        px = (px + tau * gx) / norm
    return f - weight * _div(py, px)


def gap_tv_steps(
    y: torch.Tensor,
    m: torch.Tensor,
    iters: int,
    tv_weight: float,
    tv_iters: int = DEFAULT_TV_ITERS,
    callback: Callable[[int, torch.Tensor], None] | None = None,
) -> torch.Tensor:
    """GAP-TV on tensors: y (N, 1, H, W), masks m (N, B, H, W) float -> (N, B, H, W)."""
    phi = torch.clamp(m.sum(dim=1, keepdim=True), min=1.0)
    x = (y / phi).expand_as(m)
    for i in range(iters):
        x = x + m * ((y - (m * x).sum(dim=1, keepdim=True)) / phi)
        x = tv_denoise(x, tv_weight, tv_iters)
        if callback is not None:
            callback(i, x)
    return x


def gap_tv(
    y: np.ndarray,
    masks: np.ndarray,
    *,
    iters: int = DEFAULT_ITERS,
    tv_weight: float = DEFAULT_TV_WEIGHT,
    tv_iters: int = DEFAULT_TV_ITERS,
    callback: Callable[[int, np.ndarray], None] | None = None,
) -> np.ndarray:
    """Decode one snapshot ``y`` (H, W) coded with ``masks`` (B, H, W) -> float32 (B, H, W).

    ``callback(i, x)`` is called after every iteration (for convergence studies).
    """
    yt = torch.from_numpy(np.ascontiguousarray(y, np.float32))[None, None]
    mt = torch.from_numpy(masks.astype(np.float32))[None]
    hook = None if callback is None else (lambda i, x: callback(i, x[0].numpy()))
    with torch.inference_mode():
        return gap_tv_steps(yt, mt, iters, tv_weight, tv_iters, hook)[0].numpy()
