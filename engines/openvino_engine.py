"""OpenVINO engine on the CPU (optional extra: pip install 'pssr-live[openvino]').

OpenVINO compiles the exported ONNX graph for the CPU it runs on, in latency mode.
It computes in float32 by default: left to itself, OpenVINO picks bfloat16 on CPUs with
native bf16 (AVX512_BF16 or AMX), which is faster but put the trained bundled model
1.7e-2 (relative L2) away from the torch reference, beyond the 1e-2 held for reduced
precision. ``precision="bf16"`` (or fp16) asks for it explicitly; ``precision=None``
leaves the choice to OpenVINO. The precision it really uses is read back and reported.
"""

from __future__ import annotations

import numpy as np

from pssr_live.engines.base import Engine, EngineError, register
from pssr_live.engines.onnx_export import onnx_for

_HINTS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}
_NAMES = {"f32": "fp32", "bf16": "bf16", "f16": "fp16"}


def _ov():
    try:
        import openvino
    except ImportError as e:
        raise EngineError(
            "openvino is not installed: pip install openvino (or pip install 'pssr-live[openvino]')"
        ) from e
    return openvino


@register("openvino")
class OpenVinoEngine(Engine):
    """Runs the ONNX export with OpenVINO's CPU plugin."""

    name = "openvino"

    def __init__(
        self,
        model_path: str,
        *,
        threads: int | None = None,
        precision: str | None = "fp32",
        shape: tuple[int, int] | None = None,
        **options: object,
    ) -> None:
        ov = _ov()
        model = onnx_for(model_path)
        super().__init__(model.info, **options)
        if precision is not None and precision not in _HINTS:
            raise EngineError(f"openvino precision {precision!r}: use one of {sorted(_HINTS)}")
        config: dict[str, object] = {"PERFORMANCE_HINT": "LATENCY"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        if precision:
            config["INFERENCE_PRECISION_HINT"] = _HINTS[precision]
        self._core, self._data, self._config = ov.Core(), model.data, config
        # A static shape compiles to faster kernels (~10 % here); other shapes (tiles at
        # the edges of odd frames, a shape change) get a dynamic-shape model when needed.
        self._requests: dict[tuple[int, ...] | None, object] = {}
        if shape is not None:
            padded = tuple(-(-n // self.multiple) * self.multiple for n in shape)
            static = (1, self.frames, *(self.tile_shape(*padded) or padded))
            self._requests[static] = self._compile(static)
        else:
            self._requests[None] = self._compile(None)
        compiled = next(iter(self._requests.values())).get_compiled_model()
        hint = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        self.precision = _NAMES.get(hint, hint)
        self.threads = threads

    def _compile(self, shape: tuple[int, ...] | None):
        """An infer request for a static input `shape` (None: any shape)."""
        model = self._core.read_model(self._data)
        if shape is not None:
            model.reshape({0: list(shape)})
        try:
            compiled = self._core.compile_model(model, "CPU", self._config)
        except RuntimeError as e:
            raise EngineError(f"openvino cannot compile the model: {str(e).splitlines()[0]}") from e
        return compiled.create_infer_request()

    @classmethod
    def runtime(cls) -> str:
        return f"openvino {_ov().get_version()}"

    def run(self, batch: np.ndarray) -> np.ndarray:
        request = self._requests.get(batch.shape)
        if request is None:
            request = self._requests.get(None) or self._requests.setdefault(
                None, self._compile(None)
            )
        request.infer({0: batch})
        return request.get_output_tensor(0).data.copy()

    def describe(self) -> str:
        threads = f", {self.threads} threads" if self.threads else ""
        return f"{self.name} (cpu, {self.precision}{threads})"
