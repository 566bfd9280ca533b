"""PSSRNet: a residual U-Net at LR size with an ICNR PixelShuffle x``scale`` head.

Input ``(N, frames, H, W)``: a normalised float32 window, frames as channels
(5 for PSSR-MF, 1 for the single-frame variant; same body). Output
``(N, 1, scale*H, scale*W)``.

Shape of the network (design section 4):

- stem conv, then ``depth`` down levels (2x2 stride-2 conv, channels doubling),
  ``blocks`` residual blocks (conv-ReLU-conv + skip, no BatchNorm) per level, optional
  single-head spatial self-attention at the bottleneck, and a decoder of 2x2 stride-2
  transposed convs + concatenated skips + residual blocks, all at LR resolution;
- head: conv to ``scale**2`` channels initialised with ICNR, PixelShuffle, then the
  fastai blur (ReplicationPad2d((1, 0, 1, 0)) + AvgPool2d(2, stride=1); the pad is
  written as Slice + Concat for a static ONNX graph) against checkerboard artefacts;
- global residual: the head output is *added* to a bicubic upsampling of the reference
  frame (``ref_index``: the centre frame for centered windows, the last for causal).
  The head is initialised small, so an untrained net already outputs ~bicubic of the
  reference frame and training learns a correction.

H and W must be multiples of ``2**depth`` (4 at the default depth 2): each down level
halves the size. :meth:`PSSRNet.forward` raises ValueError otherwise; engines pad.

Only ops that export to ONNX opset 17 and that TensorRT supports are used: Conv,
ConvTranspose, Relu, Add, Mul, Concat, Slice, Resize (cubic), DepthToSpace,
AveragePool, and for attention Reshape/Transpose/MatMul/Softmax (+ Shape/Gather/... for
reshape sizes). Engines export the same network in its phase-space form
(engines/phase_space.py: head, blur and bicubic done at LR size, no Resize). The
attention costs O((H*W/4**depth)**2) memory: fine on tiles of a few hundred LR pixels,
not on whole large frames.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pssr_live.settingsdict import checked_keys

#: Gain applied to the ICNR-initialised head conv; makes an untrained net output
#: bicubic(reference frame) + a correction of ~1-3 % of the signal (a sensible start).
HEAD_INIT_GAIN = 0.01
#: Gain applied to the second conv of every residual block at init (ESRGAN-style
#: residual scaling: each block starts close to identity).
RES_INIT_GAIN = 0.1


@dataclass
class NetConfig:
    """Architecture hyper-parameters; stored in every model file."""

    frames: int = 5
    scale: int = 4
    width: int = 32
    depth: int = 2
    blocks: int = 1
    attention: bool = False
    ref_index: int = 2  # frame the residual is taken from (2 centered, 4 causal, 0 single-frame)

    def __post_init__(self) -> None:
        for name in ("frames", "scale", "width", "depth", "blocks", "ref_index"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool):
                raise ValueError(f"NetConfig.{name} must be an integer, got {v!r}")
        if not isinstance(self.attention, bool):
            raise ValueError(f"NetConfig.attention must be true/false, got {self.attention!r}")
        if self.frames < 1 or self.scale < 1 or self.width < 1 or self.blocks < 0:
            raise ValueError(f"NetConfig: frames, scale, width must be >= 1, blocks >= 0: {self}")
        if self.depth < 0:
            raise ValueError(f"NetConfig.depth must be >= 0, got {self.depth}")
        if not 0 <= self.ref_index < self.frames:
            raise ValueError(
                f"NetConfig.ref_index must be in 0..{self.frames - 1} (frames={self.frames}), "
                f"got {self.ref_index}"
            )
        if self.attention and self.width * 2**self.depth < 8:
            raise ValueError("NetConfig: attention needs >= 8 bottleneck channels")

    @property
    def multiple(self) -> int:
        """H and W must be multiples of this (``2**depth``)."""
        return 2**self.depth

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NetConfig:
        """Inverse of :meth:`to_dict`; rejects unknown keys with a clear message."""
        return cls(**checked_keys(cls, d))


def icnr_(weight: torch.Tensor, scale: int, gain: float = 1.0) -> torch.Tensor:
    """ICNR init (Aitken et al. 2017) in place for a conv feeding PixelShuffle(scale).

    All ``scale**2`` sub-pixel kernels of an output channel start equal, so the
    sub-pixel conv starts as conv + nearest-neighbour upsampling (no checkerboard).
    """
    out_ch, in_ch, kh, kw = weight.shape
    r2 = scale * scale
    if out_ch % r2:
        raise ValueError(f"icnr_: {out_ch} output channels not divisible by scale**2={r2}")
    sub = torch.empty(out_ch // r2, in_ch, kh, kw)
    nn.init.kaiming_normal_(sub, nonlinearity="relu")
    # PixelShuffle maps channel c*r2 + s to output channel c, sub-pixel s.
    with torch.no_grad():
        weight.copy_(sub.repeat_interleave(r2, dim=0) * gain)
    return weight


def _conv3(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1)


class ResBlock(nn.Module):
    """conv3x3 - ReLU - conv3x3 + identity skip; no normalisation layers."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv1 = _conv3(ch, ch)
        self.act = nn.ReLU(inplace=True)
        self.conv2 = _conv3(ch, ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.act(self.conv1(x)))


class SelfAttention(nn.Module):
    """Single-head spatial self-attention (SAGAN-style), exportable to ONNX.

    ``x + gamma * V softmax(Q^T K / sqrt(d))``; gamma starts at 0, so the block starts
    as the identity and the attention is learnt in.
    """

    def __init__(self, ch: int) -> None:
        super().__init__()
        d = max(ch // 8, 1)
        self.q = nn.Conv2d(ch, d, 1)
        self.k = nn.Conv2d(ch, d, 1)
        self.v = nn.Conv2d(ch, ch, 1)
        self.gamma = nn.Parameter(torch.zeros(1))
        self.inv_sqrt_d = 1.0 / math.sqrt(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q = self.q(x).flatten(2)  # (n, d, hw)
        k = self.k(x).flatten(2)  # (n, d, hw)
        v = self.v(x).flatten(2)  # (n, c, hw)
        attn = torch.softmax(torch.matmul(q.transpose(1, 2), k) * self.inv_sqrt_d, dim=-1)
        out = torch.matmul(v, attn.transpose(1, 2))  # (n, c, hw)
        return x + self.gamma * out.reshape(n, c, h, w)


class ReplicatePadTopLeft(nn.Module):
    """Same as ``nn.ReplicationPad2d((1, 0, 1, 0))``, written as Slice + Concat.

    The TorchScript ONNX exporter turns ReplicationPad2d into a Pad (edge) fed by a
    chain of ConstantOfShape/Reshape/Slice/Transpose/Cast nodes computing the pads;
    two Concats of the first row / column are the same thing with static ops only.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([x[:, :, :1], x], dim=2)
        return torch.cat([x[:, :, :, :1], x], dim=3)


class PixelShuffleICNR(nn.Module):
    """conv -> PixelShuffle(scale) -> blur, as fastai's ``PixelShuffle_ICNR(blur=True)``.

    The blur (replicate-pad top/left by one, 2x2 average with stride 1) smooths the
    nearest-neighbour look of the ICNR start and suppresses checkerboard artefacts.
    """

    def __init__(self, cin: int, cout: int, scale: int, gain: float = 1.0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout * scale * scale, 3, padding=1)
        icnr_(self.conv.weight, scale, gain)
        nn.init.zeros_(self.conv.bias)
        self.shuffle = nn.PixelShuffle(scale)
        self.pad = ReplicatePadTopLeft()
        self.blur = nn.AvgPool2d(2, stride=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blur(self.pad(self.shuffle(self.conv(x))))


class PSSRNet(nn.Module):
    """Residual U-Net at LR size; see the module docstring for the layout."""

    def __init__(self, config: NetConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        chans = [c.width * 2**i for i in range(c.depth + 1)]
        self.stem = nn.Sequential(_conv3(c.frames, c.width), nn.ReLU(inplace=True))
        self.enc = nn.ModuleList(
            [nn.Sequential(*[ResBlock(chans[0]) for _ in range(c.blocks)])]
            + [
                nn.Sequential(
                    nn.Conv2d(chans[i - 1], chans[i], 2, stride=2),
                    nn.ReLU(inplace=True),
                    *[ResBlock(chans[i]) for _ in range(c.blocks)],
                )
                for i in range(1, c.depth + 1)
            ]
        )
        self.attn = SelfAttention(chans[-1]) if c.attention else nn.Identity()
        # decoder level i (i = depth-1 .. 0): up from chans[i+1], merge with skip i
        self.up = nn.ModuleList(
            [nn.ConvTranspose2d(chans[i + 1], chans[i], 2, stride=2) for i in range(c.depth)]
        )
        self.merge = nn.ModuleList(
            [
                nn.Sequential(nn.Conv2d(2 * chans[i], chans[i], 1), nn.ReLU(inplace=True))
                for i in range(c.depth)
            ]
        )
        self.dec = nn.ModuleList(
            [nn.Sequential(*[ResBlock(chans[i]) for _ in range(c.blocks)]) for i in range(c.depth)]
        )
        self._init_weights()
        # head last: its ICNR init must not be overwritten by _init_weights
        self.head = PixelShuffleICNR(chans[0], 1, c.scale, gain=HEAD_INIT_GAIN)

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, ResBlock):
                    m.conv2.weight.mul_(RES_INIT_GAIN)

    def _check_input(self, x: torch.Tensor) -> None:
        c = self.config
        if x.ndim != 4 or x.shape[1] != c.frames:
            raise ValueError(f"PSSRNet: expected input (N, {c.frames}, H, W), got {tuple(x.shape)}")
        h, w = int(x.shape[2]), int(x.shape[3])
        m = c.multiple
        if h % m or w % m or h == 0 or w == 0:
            raise ValueError(
                f"PSSRNet: H and W must be positive multiples of 2**depth={m}, got {h}x{w}; "
                "pad the frame (engines do)"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, frames, H, W) normalised -> (N, 1, scale*H, scale*W) normalised."""
        if not (torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()):
            self._check_input(x)
        c = self.config
        ref = x[:, c.ref_index : c.ref_index + 1]
        base = F.interpolate(ref, scale_factor=c.scale, mode="bicubic", align_corners=False)
        return self.head(self.features(x)) + base

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The U-Net's output at LR size, what the head turns into sub-pixels."""
        y = self.stem(x)
        skips = []
        for level in self.enc:
            y = level(y)
            skips.append(y)
        y = self.attn(skips.pop())
        for i in reversed(range(self.config.depth)):
            y = self.up[i](y)
            y = self.merge[i](torch.cat([y, skips[i]], dim=1))
            y = self.dec[i](y)
        return y


def count_flops(config: NetConfig, h: int, w: int) -> int:
    """FLOPs (2 x multiply-accumulates) of one forward pass on one (frames, h, w) window.

    Counts convolutions, transposed convolutions and the attention matmuls, which are
    >99% of the work; element-wise ops, the blur and the bicubic residual are ignored.
    """
    if h % config.multiple or w % config.multiple:
        raise ValueError(f"count_flops: {h}x{w} is not a multiple of {config.multiple}")
    with torch.device("meta"):
        net = PSSRNet(config)
    macs = 0

    def conv_hook(m: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal macs
        assert isinstance(m, nn.Conv2d | nn.ConvTranspose2d)
        k = m.kernel_size[0] * m.kernel_size[1] // m.groups
        if isinstance(m, nn.Conv2d):
            macs += out.numel() * m.in_channels * k
        else:  # each input pixel scatters into a k-sized patch of every output channel
            macs += inp[0].numel() * m.out_channels * k

    def attn_hook(m: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal macs
        assert isinstance(m, SelfAttention)
        n, ch, hh, ww = inp[0].shape
        hw = hh * ww
        macs += n * hw * hw * (m.q.out_channels + ch)

    for m in net.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            m.register_forward_hook(conv_hook)
        elif isinstance(m, SelfAttention):
            m.register_forward_hook(attn_hook)
    with torch.no_grad():
        net(torch.empty(1, config.frames, h, w, device="meta"))
    return 2 * macs
