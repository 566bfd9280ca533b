"""ONNX export of a model file, for ONNX Runtime, OpenVINO and TensorRT.

The graph takes ``window`` (N, frames, h, w) float32 and returns ``restored``
(N, 1, scale*h, scale*w) float32, with dynamic N, h and w, at opset 17 (h and w must
be multiples of the model's ``multiple``, as for the torch network). The model's
identity travels in ``metadata_props``: ``model_sha256``, ``frames``, ``scale``,
``window``, ``norm`` (JSON), ``multiple``, ``precision`` and ``pssr_live`` (the whole
ModelInfo as JSON), so an ONNX file is enough to run and to trace.

One rewrite follows the export: the bicubic Resize of the global residual becomes
edge padding (Slice + Concat) + a fixed 5x5 convolution giving the scale**2 sub-pixel
phases + DepthToSpace. It computes the same numbers (torch's bicubic, A = -0.75,
half-pixel centres, clamped borders), but CPU runtimes run a cubic Resize an order of
magnitude slower than a convolution (it was ~60 % of ONNX Runtime's and OpenVINO's
time), and TensorRT's parser has supported cubic Resize only since 8.6.

``fp16=True`` converts weights and activations to float16 (onnxconverter-common) and
keeps the float32 input and output, with Casts at both ends: what TensorRT 11, which
has no FP16 builder flag, builds an fp16 engine from.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnx
from onnx import helper, numpy_helper

from pssr_live.engines.cache import cache_dir, write_atomic
from pssr_live.modelfile import ModelError, ModelInfo, info_from_dict, load_network, model_hash

if TYPE_CHECKING:
    import torch

OPSET = 17
INPUT = "window"
OUTPUT = "restored"
#: Bumped whenever the exported graph changes, so cached exports are redone.
EXPORT_VERSION = 1
_INT64_MAX = np.iinfo(np.int64).max


@dataclass(frozen=True)
class OnnxModel:
    """A serialized ONNX graph and what its metadata says about it."""

    data: bytes
    info: ModelInfo
    model_sha256: str
    precision: str  # "fp32" | "fp16"

    @property
    def sha256(self) -> str:
        """Identity of the graph itself (engine caches are keyed on it)."""
        return hashlib.sha256(self.data).hexdigest()


def trace_onnx(net: torch.nn.Module, example: torch.Tensor) -> onnx.ModelProto:
    """torch's ONNX export of a network as it is (dynamic batch, height and width)."""
    import torch

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notices
        torch.onnx.export(
            net,
            (example,),
            buf,
            opset_version=OPSET,
            dynamo=False,
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_axes={INPUT: {0: "n", 2: "h", 3: "w"}, OUTPUT: {0: "n", 2: "H", 3: "W"}},
        )
    return onnx.load_from_string(buf.getvalue())


def export_onnx(model_path: str | os.PathLike[str], *, fp16: bool = False) -> onnx.ModelProto:
    """Export the model file at `model_path` to a checked ONNX graph (see the module doc)."""
    import torch

    net, info = load_network(model_path)
    m = info.net.multiple
    model = trace_onnx(net, torch.zeros(1, info.net.frames, 4 * m, 4 * m))
    replace_bicubic_resize(model)
    model.producer_name = "pssr-live"
    meta = {
        "model_sha256": model_hash(model_path),
        "frames": str(info.net.frames),
        "scale": str(info.net.scale),
        "multiple": str(info.net.multiple),
        "window": info.window,
        "norm": json.dumps(info.norm.to_dict()),
        "precision": "fp32",
        "pssr_live": json.dumps(info.to_dict(), sort_keys=True),
    }
    onnx.helper.set_model_props(model, meta)
    if fp16:
        model = to_fp16(model)
    onnx.checker.check_model(model, full_check=True)
    return model


def to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """float16 weights and activations, float32 input and output (Casts at both ends)."""
    from onnxconverter_common import float16

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "values truncated to fp16 range" for tiny weights
        half = float16.convert_float_to_float16(model, keep_io_types=True)
    props = {p.key: p.value for p in half.metadata_props}
    props["precision"] = "fp16"
    onnx.helper.set_model_props(half, props)
    return half


def read_onnx(path: str | os.PathLike[str]) -> OnnxModel:
    """Read an ONNX file written by `pssr-live export` and the model it describes."""
    path = Path(path)
    try:
        data = path.read_bytes()
        model = onnx.load_from_string(data)
    except OSError as e:
        raise ModelError(f"cannot read ONNX file {path}: {e.strerror or e}") from e
    except Exception as e:  # protobuf's DecodeError and friends
        raise ModelError(f"{path}: not a readable ONNX file ({type(e).__name__})") from e
    props = {p.key: p.value for p in model.metadata_props}
    if "pssr_live" not in props:
        raise ModelError(f"{path}: no pssr-live metadata; export it with `pssr-live export`")
    try:
        info = info_from_dict(json.loads(props["pssr_live"]))
    except (ValueError, TypeError) as e:
        raise ModelError(f"{path}: malformed pssr-live metadata ({e})") from e
    return OnnxModel(data, info, props.get("model_sha256", ""), props.get("precision", "fp32"))


def onnx_for(model_path: str | os.PathLike[str], *, fp16: bool = False) -> OnnxModel:
    """The ONNX graph for a model file (exported once, then cached) or an ONNX file as is.

    Cached exports live in ``<cache>/onnx/<model sha256>-v<EXPORT_VERSION>[-fp16].onnx``.
    An fp32 ONNX file is converted in memory when `fp16` is asked for.
    """
    path = Path(model_path)
    if path.suffix == ".onnx":
        model = read_onnx(path)
        if fp16 and model.precision != "fp16":
            half = to_fp16(onnx.load_from_string(model.data)).SerializeToString()
            return OnnxModel(half, model.info, model.model_sha256, "fp16")
        return model
    name = f"{model_hash(path)}-v{EXPORT_VERSION}{'-fp16' if fp16 else ''}.onnx"
    cached = cache_dir("onnx") / name
    if not cached.exists():
        write_atomic(cached, export_onnx(path, fp16=fp16).SerializeToString())
    return read_onnx(cached)


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


def replace_bicubic_resize(model: onnx.ModelProto) -> int:
    """Rewrite each cubic x`s` Resize of a 1-channel tensor as pad + conv + DepthToSpace.

    Returns how many Resize nodes were rewritten; others are left alone.
    """
    graph = model.graph
    constants = {n.output[0]: n for n in graph.node if n.op_type == "Constant"}
    count = 0
    for node in list(graph.node):
        scale = _cubic_scale(node, constants)
        if scale is None:
            continue
        src, dst, tag = node.input[0], node.output[0], f"bicubic{count}"
        taps = cubic_phase_taps(scale)
        weight = np.einsum("py,qx->pqyx", taps, taps).reshape(scale * scale, 1, 5, 5)
        nodes, inits = _edge_pad2(src, f"{tag}_padded", tag)
        inits.append(numpy_helper.from_array(weight.astype(np.float32), f"{tag}_weight"))
        nodes += [
            helper.make_node(
                "Conv", [f"{tag}_padded", f"{tag}_weight"], [f"{tag}_phases"], kernel_shape=[5, 5]
            ),
            helper.make_node("DepthToSpace", [f"{tag}_phases"], [dst], blocksize=scale, mode="CRD"),
        ]
        position = list(graph.node).index(node)
        graph.node.remove(node)
        for k, new in enumerate(nodes):
            graph.node.insert(position + k, new)
        graph.initializer.extend(inits)
        _drop_unused_constant(graph, node.input[2] if len(node.input) > 2 else "")
        count += 1
    return count


def _cubic_scale(node: onnx.NodeProto, constants: dict[str, onnx.NodeProto]) -> int | None:
    """The integer scale of a Resize this module can rewrite, else None."""
    if node.op_type != "Resize" or len(node.input) < 3 or node.input[2] not in constants:
        return None
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if (
        attrs.get("mode") != b"cubic"
        or attrs.get("coordinate_transformation_mode") not in (b"half_pixel", b"pytorch_half_pixel")
        or abs(attrs.get("cubic_coeff_a", -0.75) + 0.75) > 1e-7
        or attrs.get("exclude_outside", 0) != 0
    ):
        return None
    scales = numpy_helper.to_array(constants[node.input[2]].attribute[0].t)
    if scales.shape != (4,) or tuple(scales[:2]) != (1.0, 1.0) or scales[2] != scales[3]:
        return None
    s = float(scales[2])
    return int(s) if s == int(s) and s >= 1 else None


def _edge_pad2(src: str, dst: str, tag: str) -> tuple[list[onnx.NodeProto], list]:
    """Nodes replicating the first/last two rows and columns of `src` (N, C, H, W) into `dst`."""
    nodes, inits = [], []
    for axis, (a, b) in ((2, (src, f"{tag}_rows")), (3, (f"{tag}_rows", dst))):
        names = {}
        for side, (start, end) in {"first": (0, 1), "last": (-1, _INT64_MAX)}.items():
            key = f"{tag}_{side}{axis}"
            for part, value in (("starts", start), ("ends", end), ("axes", axis)):
                inits.append(numpy_helper.from_array(np.array([value], np.int64), f"{key}_{part}"))
            nodes.append(
                helper.make_node("Slice", [a, f"{key}_starts", f"{key}_ends", f"{key}_axes"], [key])
            )
            names[side] = key
        first, last = names["first"], names["last"]
        nodes.append(helper.make_node("Concat", [first, first, a, last, last], [b], axis=axis))
    return nodes, inits


def _drop_unused_constant(graph: onnx.GraphProto, name: str) -> None:
    if not name or any(name in n.input for n in graph.node):
        return
    for node in graph.node:
        if node.op_type == "Constant" and node.output[0] == name:
            graph.node.remove(node)
            return
