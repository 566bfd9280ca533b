"""PSSRNet's output stage rewritten in sub-pixel phase space: the form engines export.

PSSRNet ends at HR size: PixelShuffle of the head conv, replicate-pad + 2x2 blur, plus
a bicubic upsampling of the reference frame, each a pass over the full HR frame (16x
the LR pixels). All three are linear, so they can be done on the ``scale**2`` phase
channels at LR size instead, with one DepthToSpace at the very end:

- the blur becomes a fixed 2x2 convolution between phase channels, on the phases
  extended by one row and column whose channels are gathered so that the HR frame's
  replicated top row and left column come out exactly;
- the bicubic becomes a fixed 5x5 convolution of the edge-padded reference frame giving
  its phases (torch's bicubic: A = -0.75, half-pixel centres, clamped borders).

Same numbers as PSSRNet up to float rounding (tests: < 1e-6 relative), two HR passes
fewer, and no cubic Resize, which CPU runtimes ran an order of magnitude slower than a
convolution and TensorRT's parser took only from 8.6 on. Ops: Slice, Concat, Gather,
Conv, Add, DepthToSpace.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pssr_live.network import PSSRNet


def cubic_phase_taps(scale: int, a: float = -0.75) -> np.ndarray:
    """(scale, 5) weights of source pixels i-2..i+2 for each output phase of a x`scale`
    bicubic upsampling with half-pixel centres (Keys kernel with parameter `a`)."""

    def keys(x: float) -> float:
        x = abs(x)
        if x <= 1:
            return (a + 2) * x**3 - (a + 3) * x**2 + 1
        if x < 2:
            return a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a
        return 0.0

    taps = np.zeros((scale, 5))
    for p in range(scale):
        src = (p + 0.5) / scale - 0.5  # in (-0.5, 0.5): floor is -1 or 0
        f = int(np.floor(src))
        for j in range(-1, 3):
            taps[p, f + j + 2] = keys(src - f - j)
    return taps


def blur_phase_weights(scale: int) -> np.ndarray:
    """(s*s, s*s, 2, 2) conv weights: the HR 2x2 mean over (row-1..row, col-1..col), on
    phases extended by one row on top and one column on the left."""
    s = scale
    weight = np.zeros((s * s, s * s, 2, 2))
    for a in range(s):
        for b in range(s):
            for dy in (0, 1):
                ky, ay = (1, a - dy) if a - dy >= 0 else (0, s - 1)
                for dx in (0, 1):
                    kx, bx = (1, b - dx) if b - dx >= 0 else (0, s - 1)
                    weight[a * s + b, ay * s + bx, ky, kx] += 0.25
    return weight


def _edge_pad(x: torch.Tensor, n: int) -> torch.Tensor:
    """Replicate the first and last `n` rows and columns (Slice + Concat when exported)."""
    x = torch.cat([x[:, :, :1]] * n + [x] + [x[:, :, -1:]] * n, dim=2)
    return torch.cat([x[:, :, :, :1]] * n + [x] + [x[:, :, :, -1:]] * n, dim=3)


class PhaseSpaceNet(nn.Module):
    """A PSSRNet whose head, blur and bicubic residual run at LR size (module doc)."""

    def __init__(self, net: PSSRNet) -> None:
        super().__init__()
        self.net = net
        s = net.config.scale
        taps = cubic_phase_taps(s)
        bicubic = np.einsum("py,qx->pqyx", taps, taps).reshape(s * s, 1, 5, 5)
        phases = np.arange(s * s)
        self.register_buffer("bicubic", torch.tensor(bicubic, dtype=torch.float32))
        self.register_buffer("blur", torch.tensor(blur_phase_weights(s), dtype=torch.float32))
        # The row above LR row 0 holds HR row -1 in its last phase row: HR row 0 (phase
        # row 0) replicated; likewise the column left of LR column 0.
        self.register_buffer("top", torch.tensor(phases % s))
        self.register_buffer("left", torch.tensor(phases - phases % s))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, frames, H, W) normalised -> (N, 1, scale*H, scale*W), as PSSRNet."""
        c = self.net.config
        p = self.net.head.conv(self.net.features(x))
        p = torch.cat([p[:, :, :1].index_select(1, self.top), p], dim=2)
        p = torch.cat([p[:, :, :, :1].index_select(1, self.left), p], dim=3)
        ref = x[:, c.ref_index : c.ref_index + 1]
        phases = F.conv2d(p, self.blur) + F.conv2d(_edge_pad(ref, 2), self.bicubic)
        return F.pixel_shuffle(phases, c.scale)
