"""The learned TCS decoder: GAP projections alternating with small learned U-Nets.

Deep unfolding of GAP (design 7: "a few GAP steps in front of a small U-Net learned
at once"): the estimate starts as ``y / Phi`` in every frame, goes through
``gap_iters`` classical GAP-TV iterations (:mod:`.gaptv`, the same code as the
classical decoder), then each of ``stages`` stages adds a U-Net's correction, fed
with the estimate and the masks; stages after the first first project the estimate
onto the measurements (a GAP step). The network thus starts from GAP-TV's answer and
learns what TV gets wrong (motion, fine tubules); a projection right after TV would
put the detector noise back before the first U-Net (it cost 4 dB early in training).
Each U-Net also sees ``y / Phi``, the time-averaged snapshot before TV: without it
the network could not bring back detail TV had smoothed away, and stayed level with
GAP-TV.
The U-Net reuses :class:`~pssr_live.network.ResBlock` (no normalisation layers, so
every engine computes the same numbers); it keeps only a stem at full resolution and
does its work at 1/2 and 1/4.

The engine contract (``run(batch)`` on one (N, C, H, W) array) is kept by packing the
inputs: channel 0 is the normalised snapshot, channels 1..B the masks (0/1); the
output is (N, B, H, W), the normalised frames (see :mod:`pssr_live.tcs.decode`).
Ops: Conv, ConvTranspose, Relu, Add, Sub, Mul, Div, Sqrt, ReduceSum, Max, Concat,
Slice, Expand: ONNX opset 17, TensorRT.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pssr_live.modelfile import (
    FORMAT_VERSION,
    ModelError,
    load_weights,
    read_model_file,
    write_model_file,
)
from pssr_live.network import RES_INIT_GAIN, ResBlock
from pssr_live.normalization import NormSettings
from pssr_live.settingsdict import checked_keys
from pssr_live.tcs.gaptv import gap_tv_steps

KIND = "tcs"


@dataclass
class TCSConfig:
    """Architecture of the decoder; stored in its model file."""

    ratio: int = 10  # B, frames per snapshot
    width: int = 16  # channels at full resolution (x2 at 1/2, x4 at 1/4)
    stages: int = 2
    blocks: int = 1  # residual blocks per level below full resolution
    gap_iters: int = 0  # classical GAP-TV iterations in front of the learned stages
    tv_weight: float = 0.05  # their TV weight ...
    tv_iters: int = 5  # ... and TV steps

    def __post_init__(self) -> None:
        for name in ("ratio", "width", "stages", "blocks", "gap_iters", "tv_iters"):
            v = getattr(self, name)
            least = 0 if name == "gap_iters" else 1
            if not isinstance(v, int) or isinstance(v, bool) or v < least:
                raise ValueError(f"TCSConfig.{name} must be an integer >= {least}, got {v!r}")
        if not (isinstance(self.tv_weight, int | float) and self.tv_weight > 0):
            raise ValueError(f"TCSConfig.tv_weight must be positive, got {self.tv_weight!r}")

    #: H and W must be multiples of this (two stride-2 levels).
    multiple = 4
    # The engine layer's view (engines/base.py): one output "pixel" per input pixel and
    # no attention, so engines pad and never tile for attention's sake.
    scale = 1
    attention = False

    @property
    def frames(self) -> int:
        """Input channels the engines feed: the snapshot and the B masks."""
        return self.ratio + 1


class StageUNet(nn.Module):
    """(estimate B, masks B, y / Phi) -> correction B; full-res stem, ResBlocks at 1/2, 1/4."""

    def __init__(self, ratio: int, width: int, blocks: int) -> None:
        super().__init__()
        c0, c1, c2 = width, 2 * width, 4 * width
        self.stem = nn.Sequential(nn.Conv2d(2 * ratio + 1, c0, 3, padding=1), nn.ReLU(inplace=True))
        self.down1 = nn.Sequential(nn.Conv2d(c0, c1, 2, stride=2), nn.ReLU(inplace=True))
        self.enc1 = nn.Sequential(*[ResBlock(c1) for _ in range(blocks)])
        self.down2 = nn.Sequential(nn.Conv2d(c1, c2, 2, stride=2), nn.ReLU(inplace=True))
        self.enc2 = nn.Sequential(*[ResBlock(c2) for _ in range(blocks)])
        self.up2 = nn.ConvTranspose2d(c2, c1, 2, stride=2)
        self.merge1 = nn.Sequential(nn.Conv2d(2 * c1, c1, 1), nn.ReLU(inplace=True))
        self.dec1 = nn.Sequential(*[ResBlock(c1) for _ in range(blocks)])
        self.up1 = nn.ConvTranspose2d(c1, c0, 2, stride=2)
        self.merge0 = nn.Sequential(nn.Conv2d(2 * c0, c0, 1), nn.ReLU(inplace=True))
        self.out = nn.Conv2d(c0, ratio, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = self.stem(x)
        s1 = self.enc1(self.down1(s0))
        z = self.enc2(self.down2(s1))
        z = self.dec1(self.merge1(torch.cat([self.up2(z), s1], dim=1)))
        z = self.merge0(torch.cat([self.up1(z), s0], dim=1))
        return self.out(z)


class TCSNet(nn.Module):
    """Packed (N, 1+B, H, W) normalised snapshot + masks -> (N, B, H, W) normalised frames."""

    def __init__(self, config: TCSConfig) -> None:
        super().__init__()
        self.config = config
        self.stages = nn.ModuleList(
            [StageUNet(config.ratio, config.width, config.blocks) for _ in range(config.stages)]
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, ResBlock):
                    m.conv2.weight.mul_(RES_INIT_GAIN)
            for stage in self.stages:  # each stage starts as no correction at all: with
                stage.out.weight.zero_()  # random ones, the ReLUs died undoing them

    def forward(self, packed: torch.Tensor) -> torch.Tensor:
        b = self.config.ratio
        if not (torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()):
            _, c, h, w = packed.shape
            if c != b + 1 or h % self.config.multiple or w % self.config.multiple:
                raise ValueError(
                    f"TCSNet: expected (N, {b + 1}, H, W) with H, W multiples of "
                    f"{self.config.multiple}, got {tuple(packed.shape)}"
                )
        c = self.config
        y = packed[:, :1]
        m = packed[:, 1:]
        phi = torch.clamp(m.sum(dim=1, keepdim=True), min=1.0)
        x = gap_tv_steps(y, m, c.gap_iters, c.tv_weight, c.tv_iters)
        for i, stage in enumerate(self.stages):
            if i:  # not before the first: it would put back the noise TV just took out
                x = x + m * ((y - (m * x).sum(dim=1, keepdim=True)) / phi)
            x = x + stage(torch.cat([x, m, y / phi], dim=1))
        return x


@dataclass
class TCSInfo:
    """What a TCS decoder file says about itself besides the weights."""

    net: TCSConfig = field(default_factory=TCSConfig)
    norm: NormSettings = field(default_factory=NormSettings)
    training: dict[str, Any] = field(default_factory=dict)  # data, noise ranges, steps, ...
    metrics: dict[str, Any] = field(default_factory=dict)
    kind: str = KIND
    version: int = FORMAT_VERSION

    #: For the engine layer and ONNX metadata, which name a model's window mode.
    window = "snapshot"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "net": asdict(self.net), "norm": self.norm.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TCSInfo:
        checked_keys(cls, d)
        return cls(
            net=TCSConfig(**d["net"]),
            norm=NormSettings.from_dict(d["norm"]),
            training=d.get("training", {}),
            metrics=d.get("metrics", {}),
            kind=d["kind"],
            version=d["version"],
        )


def save_tcs_model(path: str | os.PathLike[str], net: TCSNet, info: TCSInfo) -> Path:
    """Write a TCS decoder file (safetensors + JSON metadata, as every pssr-live model)."""
    if net.config != info.net:
        raise ModelError(f"TCSInfo.net {info.net} does not match the network's {net.config}")
    return write_model_file(path, net, info.to_dict())


def load_tcs_model(
    path: str | os.PathLike[str], *, ratio: int | None = None
) -> tuple[TCSNet, TCSInfo]:
    """Load a TCS decoder (eval mode, CPU); ModelError (one line) on any problem.

    ``ratio``: the B of the snapshots to decode; a model for another B is refused.
    """
    path = Path(path)
    tensors, doc = read_model_file(path)
    if doc.get("kind") != KIND:
        raise ModelError(f"{path}: model kind is {doc.get('kind')!r}, not a TCS decoder ({KIND!r})")
    try:
        info = TCSInfo.from_dict(doc)
    except (KeyError, TypeError, ValueError) as e:
        raise ModelError(f"{path}: malformed TCS model metadata ({e})") from e
    if ratio is not None and info.net.ratio != ratio:
        raise ModelError(
            f"{path}: decoder for B = {info.net.ratio}, the snapshots have B = {ratio}; "
            f"use a model trained with `pssr-live train-tcs --ratio {ratio}` or --method gap-tv"
        )
    assert tensors is not None
    return load_weights(path, TCSNet(info.net), tensors), info


def bundled_tcs_path(ratio: int) -> Path:
    """Path of the bundled decoder for ratio B (it may not exist for every B)."""
    return Path(str(resources.files("pssr_live.models").joinpath(f"tcs_b{ratio}.safetensors")))
