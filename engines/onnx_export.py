"""ONNX export of a model file, for ONNX Runtime, OpenVINO and TensorRT.

The graph takes ``window`` (N, frames, h, w) float32 and returns ``restored``
(N, 1, scale*h, scale*w) float32, with dynamic N, h and w, at opset 17 (h and w must
be multiples of the model's ``multiple``, as for the torch network). The model's
identity travels in ``metadata_props``: ``model_sha256``, ``frames``, ``scale``,
``window``, ``norm`` (JSON), ``multiple``, ``precision`` and ``pssr_live`` (the whole
ModelInfo as JSON), so an ONNX file is enough to run and to trace.

A restoration network is exported in its phase-space form
(:class:`~pssr_live.engines.phase_space.PhaseSpaceNet`): the same numbers, with the
head's blur and the bicubic residual done at LR size and no cubic Resize.

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

import onnx

from pssr_live.engines.cache import cache_dir, write_atomic
from pssr_live.engines.phase_space import PhaseSpaceNet
from pssr_live.modelfile import ModelError, ModelInfo, info_from_dict, load_network, model_hash
from pssr_live.network import PSSRNet

if TYPE_CHECKING:
    import torch

OPSET = 17
INPUT = "window"
OUTPUT = "restored"
#: Bumped whenever the exported graph changes, so cached exports are redone.
EXPORT_VERSION = 2


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
    if isinstance(net, PSSRNet):
        net = PhaseSpaceNet(net).eval()
    m = info.net.multiple
    model = trace_onnx(net, torch.zeros(1, info.net.frames, 4 * m, 4 * m))
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
