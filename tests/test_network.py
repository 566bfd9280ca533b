"""Tests for pssr_live.network: shapes, input checks, init behaviour, ONNX export."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pssr_live.engines.onnx_export import trace_onnx
from pssr_live.network import (
    NetConfig,
    PixelShuffleICNR,
    PSSRNet,
    ReplicatePadTopLeft,
    count_flops,
)

#: ONNX ops the export may use; all are supported by TensorRT's ONNX parser (8.6 / 10).
#: Shape/Gather/Unsqueeze/Reshape/Transpose only appear with attention (reshape sizes);
#: Identity appears when the exporter deduplicates equal initialisers (e.g. zero biases).
TENSORRT_OPS = {
    "Conv",
    "ConvTranspose",
    "Relu",
    "LeakyRelu",
    "Add",
    "Mul",
    "Concat",
    "Slice",
    "Resize",
    "DepthToSpace",
    "AveragePool",
    "Pad",
    "MatMul",
    "Softmax",
    "Reshape",
    "Transpose",
    "Shape",
    "Gather",
    "Unsqueeze",
    "Constant",
    "Identity",
}


def _smooth_window(frames: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    """A smooth random window normalised to [0, 1], like a normalised LR window."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, frames, h, w, generator=g)
    x = F.avg_pool2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), 5, stride=1)
    return (x - x.min()) / (x.max() - x.min())


@pytest.mark.parametrize(
    ("frames", "ref", "depth", "attention"),
    [(5, 2, 2, False), (5, 4, 2, True), (1, 0, 2, False), (5, 2, 3, True), (1, 0, 3, False)],
)
def test_output_shape(frames: int, ref: int, depth: int, attention: bool) -> None:
    cfg = NetConfig(frames=frames, ref_index=ref, depth=depth, attention=attention, width=8)
    net = PSSRNet(cfg).eval()
    with torch.inference_mode():
        y = net(torch.rand(2, frames, 16, 24))
    assert y.shape == (2, 1, 64, 96)
    assert y.dtype == torch.float32


def test_bad_input_shapes() -> None:
    net = PSSRNet(NetConfig(width=8))
    with pytest.raises(ValueError, match="multiples of 2\\*\\*depth=4"):
        net(torch.rand(1, 5, 18, 16))
    with pytest.raises(ValueError, match=r"\(N, 5, H, W\)"):
        net(torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError, match=r"\(N, 5, H, W\)"):
        net(torch.rand(5, 16, 16))
    with pytest.raises(ValueError, match="multiples of 2\\*\\*depth=8"):
        PSSRNet(NetConfig(width=8, depth=3))(torch.rand(1, 5, 12, 16))


def test_no_normalisation_layers() -> None:
    net = PSSRNet(NetConfig(attention=True, blocks=2))
    norm_types = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm2d)
    assert not [m for m in net.modules() if isinstance(m, norm_types)]


@pytest.mark.parametrize("attention", [False, True])
def test_untrained_output_close_to_bicubic_of_reference(attention: bool) -> None:
    torch.manual_seed(0)
    net = PSSRNet(NetConfig(attention=attention)).eval()
    x = _smooth_window(5, 32, 32)
    with torch.inference_mode():
        y = net(x)
    b = F.interpolate(x[:, 2:3], scale_factor=4, mode="bicubic", align_corners=False)
    dev = y - b
    assert float(dev.pow(2).mean().sqrt()) < 0.1 * float(b.std())
    assert float(dev.abs().max()) < 0.1
    # and it is the reference frame that matters: another frame's bicubic is far off
    other = F.interpolate(x[:, 0:1], scale_factor=4, mode="bicubic", align_corners=False)
    assert float((y - other).pow(2).mean().sqrt()) > 3 * float(dev.pow(2).mean().sqrt())


@pytest.mark.parametrize(("frames", "ref"), [(5, 2), (5, 4), (1, 0)])
def test_global_residual_is_bicubic_of_ref_frame(frames: int, ref: int) -> None:
    net = PSSRNet(NetConfig(frames=frames, ref_index=ref, width=8)).eval()
    with torch.no_grad():
        net.head.conv.weight.zero_()
        net.head.conv.bias.zero_()
    x = torch.rand(1, frames, 8, 12)
    with torch.inference_mode():
        y = net(x)
    b = F.interpolate(x[:, ref : ref + 1], scale_factor=4, mode="bicubic", align_corners=False)
    torch.testing.assert_close(y, b)


def test_icnr_head_starts_as_nearest_neighbour_plus_blur() -> None:
    head = PixelShuffleICNR(8, 1, 4)
    w = head.conv.weight
    assert w.shape == (16, 8, 3, 3)
    assert torch.equal(w, w[:1].expand_as(w))  # all 16 sub-pixel kernels equal
    # without the blur the output is piecewise constant on 4x4 blocks
    with torch.no_grad():
        z = head.shuffle(head.conv(torch.rand(1, 8, 5, 5)))
    torch.testing.assert_close(z, z[:, :, ::4, ::4].repeat_interleave(4, 2).repeat_interleave(4, 3))


def test_pad_matches_replication_pad() -> None:
    x = torch.rand(2, 3, 5, 7)
    torch.testing.assert_close(ReplicatePadTopLeft()(x), nn.ReplicationPad2d((1, 0, 1, 0))(x))


def test_config_dict_round_trip_and_validation() -> None:
    cfg = NetConfig(frames=5, width=16, depth=3, blocks=2, attention=True, ref_index=4)
    assert NetConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['heads'\]"):
        NetConfig.from_dict({**cfg.to_dict(), "heads": 4})
    with pytest.raises(ValueError, match="ref_index"):
        NetConfig(frames=1, ref_index=2)
    with pytest.raises(ValueError, match="integer"):
        NetConfig(width=3.5)  # type: ignore[arg-type]


def test_count_flops() -> None:
    cfg = NetConfig()
    f128 = count_flops(cfg, 128, 128)
    assert 3e9 < f128 < 4.5e9  # ~3.6 GFLOP for the default net on one 5x128x128 window
    assert count_flops(cfg, 256, 256) == 4 * f128  # convolutions only: linear in area
    assert count_flops(NetConfig(attention=True), 128, 128) > f128
    with pytest.raises(ValueError):
        count_flops(cfg, 130, 128)


def _export(net: PSSRNet, x: torch.Tensor) -> onnx.ModelProto:
    model = trace_onnx(net, x)
    onnx.checker.check_model(model)
    return model


@pytest.mark.parametrize("attention", [False, True])
def test_onnx_export_opset17_tensorrt_ops(attention: bool, tmp_path: object) -> None:
    torch.manual_seed(0)
    net = PSSRNet(NetConfig(width=8, attention=attention)).eval()
    if attention:
        with torch.no_grad():
            net.attn.gamma.fill_(0.5)  # make the attention branch matter for the check below
    model = _export(net, torch.rand(1, 5, 16, 16))
    ops = {n.op_type for n in model.graph.node}
    assert ops <= TENSORRT_OPS, f"ops outside the TensorRT list: {ops - TENSORRT_OPS}"
    assert {"Conv", "DepthToSpace", "Resize", "AveragePool"} <= ops
    assert ("MatMul" in ops and "Softmax" in ops) == attention
    assert model.opset_import[0].version == 17
    resize = next(n for n in model.graph.node if n.op_type == "Resize")
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in resize.attribute}
    assert attrs["mode"] == b"cubic"

    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = torch.rand(2, 5, 24, 32)  # another shape than exported: dynamic axes work
    got = sess.run(None, {"window": x.numpy()})[0]
    with torch.inference_mode():
        want = net(x).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)
