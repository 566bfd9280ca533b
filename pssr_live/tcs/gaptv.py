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
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: Defaults tuned on the validation set (docs/tcs.md, `pssr-live evaluate-tcs --tune`).
DEFAULT_ITERS = 60
DEFAULT_TV_WEIGHT = 0.1
DEFAULT_TV_ITERS = 5


def _grad(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forward differences along y and x (zero at the far edge)."""
    gy = np.zeros_like(u)
    gx = np.zeros_like(u)
    np.subtract(u[..., 1:, :], u[..., :-1, :], out=gy[..., :-1, :])
    np.subtract(u[..., :, 1:], u[..., :, :-1], out=gx[..., :, :-1])
    return gy, gx


def _div(py: np.ndarray, px: np.ndarray) -> np.ndarray:
    """Divergence, the negative adjoint of :func:`_grad`."""
    d = py.copy()
    d[..., 1:, :] -= py[..., :-1, :]
    d[..., :, 1:] += px[..., :, 1:]
    d[..., :, 1:] -= px[..., :, :-1]
    d[..., :, 0] += px[..., :, 0]
    return d


def tv_denoise(f: np.ndarray, weight: float, iters: int = DEFAULT_TV_ITERS) -> np.ndarray:
    """argmin_x 1/2 ||x - f||^2 + weight * TV(x), per 2-D frame (Chambolle 2004)."""
    if weight <= 0:
        return f
    tau = np.float32(0.25)
    py = np.zeros_like(f)
    px = np.zeros_like(f)
    inv_w = np.float32(1.0 / weight)
    for _ in range(iters):
        gy, gx = _grad(_div(py, px) - f * inv_w)
        norm = np.sqrt(gy * gy + gx * gx)
        norm *= tau
        norm += 1
        py += tau * gy
        py /= norm
        px += tau * gx
        px /= norm
    return f - np.float32(weight) * _div(py, px)


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
    m = masks.astype(np.float32)
    y = y.astype(np.float32)
    phi = np.maximum(m.sum(axis=0), 1.0)
    x = np.repeat((y / phi)[np.newaxis], len(m), axis=0)
    for i in range(iters):
        x += m * ((y - (m * x).sum(axis=0)) / phi)
        x = tv_denoise(x, tv_weight, tv_iters)
        if callback is not None:
            callback(i, x)
    return x
