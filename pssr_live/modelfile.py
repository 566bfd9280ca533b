"""Model files: one ``.safetensors`` file, weights plus JSON metadata; never unpickled.

Layout: the safetensors tensors are the :class:`~pssr_live.network.PSSRNet` state dict
(float32); the safetensors metadata (a string -> string map) holds

- ``"pssr_live"``: a JSON document, :meth:`ModelInfo.to_dict` (kind, net architecture,
  window mode, normalisation, training description, metrics, format version);
- ``"written_by"``: ``"pssr-live <version>"`` (informational).

safetensors is a plain header + raw buffer format: reading it cannot run code, unlike
``torch.load`` of a pickle. Every failure to read a model raises :class:`ModelError`
with a one-line message that says what is wrong and what to do.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from pssr_live import __version__
from pssr_live.errors import UserError
from pssr_live.network import NetConfig, PSSRNet
from pssr_live.normalization import NormSettings

FORMAT_VERSION = 1
#: Metadata key holding the JSON document.
META_KEY = "pssr_live"
#: Kinds whose network is a PSSRNet (other kinds, e.g. "tcs", bring their own loader).
NET_KINDS = ("pssr-mf", "pssr-sf")
WINDOWS = ("centered", "causal")
_Net = TypeVar("_Net", bound=torch.nn.Module)


class ModelError(UserError, ValueError):
    """One-line, user-facing: what is wrong with a model file and what to do."""


@dataclass
class ModelInfo:
    """Everything a model file says about itself besides the weights."""

    kind: str = "pssr-mf"  # "pssr-mf" | "pssr-sf"
    net: NetConfig = field(default_factory=NetConfig)
    window: Literal["centered", "causal"] = "centered"
    norm: NormSettings = field(default_factory=NormSettings)
    training: dict[str, Any] = field(default_factory=dict)  # dataset, ranges, steps, seed, ...
    metrics: dict[str, Any] = field(default_factory=dict)  # validation figures (optional)
    version: int = FORMAT_VERSION

    def validate(self) -> None:
        """Raise ModelError if the fields contradict each other."""
        if self.kind not in NET_KINDS:
            raise ModelError(f"unknown model kind {self.kind!r}; this loader reads {NET_KINDS}")
        if self.window not in WINDOWS:
            raise ModelError(f"unknown window mode {self.window!r}; expected one of {WINDOWS}")
        n = self.net
        if self.kind == "pssr-sf" and n.frames != 1:
            raise ModelError(f"kind 'pssr-sf' needs net.frames == 1, got {n.frames}")
        if self.kind == "pssr-mf" and n.frames < 2:
            raise ModelError(f"kind 'pssr-mf' needs net.frames >= 2, got {n.frames}")
        want_ref = n.frames // 2 if self.window == "centered" else n.frames - 1
        if n.ref_index != want_ref:
            raise ModelError(
                f"window {self.window!r} with {n.frames} frames needs net.ref_index "
                f"{want_ref}, got {n.ref_index}"
            )
        if not isinstance(self.training, dict) or not isinstance(self.metrics, dict):
            raise ModelError("training and metrics must be JSON objects (dicts)")
        if not isinstance(self.version, int) or isinstance(self.version, bool):
            raise ModelError(f"format version must be an integer, got {self.version!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the document stored under the ``pssr_live`` metadata key)."""
        return {
            "kind": self.kind,
            "net": self.net.to_dict(),
            "window": self.window,
            "norm": self.norm.to_dict(),
            "training": self.training,
            "metrics": self.metrics,
            "version": self.version,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelInfo:
        """Inverse of :meth:`to_dict`; ValueError/TypeError on unknown keys or bad values."""
        if not isinstance(d, dict):
            raise ValueError(f"expected a JSON object, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown key(s) {unknown}")
        missing = sorted({"kind", "net", "window", "norm", "version"} - set(d))
        if missing:
            raise ValueError(f"missing key(s) {missing}")
        for key in ("net", "norm"):
            if not isinstance(d[key], dict):
                raise ValueError(f"{key!r} must be a JSON object")
        return cls(
            kind=d["kind"],
            net=NetConfig.from_dict(d["net"]),
            window=d["window"],
            norm=NormSettings.from_dict(d["norm"]),
            training=d.get("training", {}),
            metrics=d.get("metrics", {}),
            version=d["version"],
        )


def save_model(path: str | os.PathLike[str], net: PSSRNet, info: ModelInfo) -> Path:
    """Write ``net``'s weights (float32) and ``info`` to a safetensors file, atomically.

    Raises ModelError if ``info`` is inconsistent or does not describe ``net``.
    """
    path = Path(path)
    info.validate()
    if info.version != FORMAT_VERSION:
        raise ModelError(f"can only write format version {FORMAT_VERSION}, got {info.version}")
    if net.config != info.net:
        raise ModelError(
            f"ModelInfo.net {info.net} does not match the network's config {net.config}"
        )
    return write_model_file(path, net, info.to_dict())


def write_model_file(
    path: str | os.PathLike[str], net: torch.nn.Module, doc: dict[str, Any]
) -> Path:
    """Write any network's weights (float32) and its JSON document ``doc``, atomically.

    The shared writer of every model kind (``save_model``, the TCS decoder's).
    """
    path = Path(path)
    try:
        text = json.dumps(doc, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ModelError(
            f"model metadata is not strict JSON ({e}); use plain numbers/strings"
        ) from e
    tensors = {
        k: v.detach().to(device="cpu", dtype=torch.float32).contiguous().clone()
        for k, v in net.state_dict().items()
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata={META_KEY: text, "written_by": f"pssr-live {__version__}"})
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a model file is meant to be shared
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _pickle_hint(path: Path) -> str:
    """A hint when the file looks like torch.save / pickle output, else ''."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(2)
    except OSError:
        return ""
    if head == b"PK" or head[:1] == b"\x80":
        return (
            "; it looks like a torch.save/pickle file, which pssr-live never loads "
            "(unpickling can run code): re-save it with pssr_live.modelfile.save_model"
        )
    return ""


def read_info(path: str | os.PathLike[str]) -> ModelInfo:
    """Read and check only the metadata of a model file (no weights)."""
    return _open(Path(path), with_weights=False)[1]


def _open(
    path: Path, *, with_weights: bool = True
) -> tuple[dict[str, torch.Tensor] | None, ModelInfo]:
    """Check the file and its metadata; read the tensors too if ``with_weights``."""
    tensors, doc = read_model_file(path, with_weights=with_weights)
    if doc.get("kind") not in NET_KINDS:
        raise ModelError(
            f"{path}: unknown model kind {doc.get('kind')!r} for a restoration model "
            f"(one of {NET_KINDS})"
        )
    try:
        info = ModelInfo.from_dict(doc)
    except (ValueError, TypeError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ModelError(f"{path}: malformed model metadata ({msg})") from e
    try:
        info.validate()
    except ModelError as e:
        raise ModelError(f"{path}: {e}") from e
    return tensors, info


def read_model_file(
    path: str | os.PathLike[str], *, with_weights: bool = True
) -> tuple[dict[str, torch.Tensor] | None, dict[str, Any]]:
    """The tensors (if ``with_weights``) and the JSON document of any pssr-live model file.

    Checks what every kind shares: the file exists, is safetensors (not a pickle), has
    JSON metadata with a format version this reader knows. ModelError (one line) if not.
    """
    path = Path(path)
    if not path.exists():
        raise ModelError(f"model file not found: {path}")
    if not path.is_file():
        raise ModelError(f"model path is not a file: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            raw = meta.get(META_KEY)
            if raw is None:
                raise ModelError(
                    f"{path}: no '{META_KEY}' metadata; not a pssr-live model "
                    "(save models with pssr_live.modelfile.save_model)"
                )
            try:
                doc = json.loads(raw)
            except json.JSONDecodeError as e:
                raise ModelError(f"{path}: malformed model metadata (bad JSON: {e})") from e
            if not isinstance(doc, dict):
                raise ModelError(f"{path}: malformed model metadata (not a JSON object)")
            version = doc.get("version")
            if not isinstance(version, int) or isinstance(version, bool) or version < 1:
                raise ModelError(f"{path}: malformed model metadata (bad version {version!r})")
            if version > FORMAT_VERSION:
                raise ModelError(
                    f"{path}: model format version {version} is newer than this pssr-live "
                    f"reads ({FORMAT_VERSION}); upgrade pssr-live"
                )
            tensors = {k: f.get_tensor(k) for k in list(f.keys())} if with_weights else None
    except SafetensorError as e:
        detail = (str(e).splitlines() or [type(e).__name__])[0]
        hint = _pickle_hint(path) or (
            "; the file is truncated, damaged or not a model: copy it again or use a file "
            "written by pssr-live"
        )
        raise ModelError(f"{path}: not a readable safetensors model file ({detail}){hint}") from e
    except OSError as e:
        raise ModelError(f"{path}: cannot read model file ({e.strerror or e})") from e
    return tensors, doc


def load_model(
    path: str | os.PathLike[str], *, expect_kind: str | None = None
) -> tuple[PSSRNet, ModelInfo]:
    """Load a model file: a PSSRNet in eval mode (float32, CPU) and its ModelInfo.

    Raises ModelError (one line) for a missing, corrupt, truncated, pickled or foreign
    file, missing/malformed metadata, a kind other than ``expect_kind``, a newer
    format version, or weights that do not match the declared architecture.
    """
    path = Path(path)
    tensors, info = _open(path)
    assert tensors is not None
    if expect_kind is not None and info.kind != expect_kind:
        raise ModelError(f"{path}: model kind is {info.kind!r}, expected {expect_kind!r}")
    return load_weights(path, PSSRNet(info.net), tensors), info


def load_weights(path: Path, net: _Net, tensors: dict[str, torch.Tensor]) -> _Net:
    """Load ``tensors`` into ``net`` (eval mode), checking names, shapes and values.

    ModelError (one line) if they do not match the declared architecture.
    """
    expected = net.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        raise ModelError(
            f"{path}: weights do not match the declared architecture: "
            f"{', '.join(parts)} tensor(s); the file is damaged or its metadata is wrong"
        )
    for k, v in expected.items():
        t = tensors[k]
        if tuple(t.shape) != tuple(v.shape):
            raise ModelError(
                f"{path}: weights do not match the declared architecture: {k} has shape "
                f"{tuple(t.shape)}, expected {tuple(v.shape)}"
            )
        if not t.is_floating_point():
            raise ModelError(f"{path}: weight {k} has non-float dtype {t.dtype}")
        if not torch.isfinite(t).all():
            raise ModelError(f"{path}: weight {k} holds NaN/inf; the model is unusable")
    net.load_state_dict({k: t.to(torch.float32) for k, t in tensors.items()}, strict=True)
    return net.eval()


def load_network(path: str | os.PathLike[str]) -> tuple[torch.nn.Module, Any]:
    """The network and info of any model file, by its kind: (PSSRNet, ModelInfo) for a
    restoration model, (TCSNet, TCSInfo) for a TCS decoder. What the engines load."""
    if read_model_file(path, with_weights=False)[1].get("kind") == "tcs":
        from pssr_live.tcs.net import load_tcs_model  # pssr_live.tcs builds on this module

        return load_tcs_model(path)
    return load_model(path)


def info_from_dict(doc: dict[str, Any]) -> Any:
    """ModelInfo or TCSInfo from a model document (as carried in an ONNX export)."""
    if isinstance(doc, dict) and doc.get("kind") == "tcs":
        from pssr_live.tcs.net import TCSInfo

        return TCSInfo.from_dict(doc)
    return ModelInfo.from_dict(doc)


def model_hash(path: str | os.PathLike[str]) -> str:
    """sha256 hex digest of the whole file (model identity in session.json)."""
    path = Path(path)
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    except OSError as e:
        raise ModelError(f"cannot read model file {path}: {e.strerror or e}") from e
    return h.hexdigest()


def bundled_model_path(window: str = "centered") -> Path:
    """Path of the bundled PSSR-MF model for a window mode (``pssr_live/models/``)."""
    if window not in WINDOWS:
        raise ModelError(f"unknown window mode {window!r}; expected one of {WINDOWS}")
    return Path(str(resources.files("pssr_live.models").joinpath(f"pssr_mf_{window}.safetensors")))
