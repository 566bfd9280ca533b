"""ONNX Runtime engine on the CPU: the exported graph (cached on disk), all graph
optimisations on, a configurable number of threads."""

from __future__ import annotations

import os

import numpy as np

from pssr_live.engines.base import Engine, EngineError, register
from pssr_live.engines.onnx_export import INPUT, OUTPUT, onnx_for


def _ort():
    try:
        import onnxruntime
    except ImportError as e:
        raise EngineError("onnxruntime is not installed: pip install onnxruntime") from e
    return onnxruntime


@register("onnxruntime")
class OnnxRuntimeEngine(Engine):
    """Runs the ONNX export with onnxruntime's CPU execution provider, in float32."""

    name = "onnxruntime"

    def __init__(self, model_path: str, *, threads: int | None = None, **options: object) -> None:
        ort = _ort()
        model = onnx_for(model_path)
        super().__init__(model.info, **options)
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.inter_op_num_threads = 1
        # onnxruntime's own default counts physical cores, which is 1 on a 2-vCPU machine
        # like ours (half the speed); torch and OpenVINO use every core the process may run on.
        threads = threads or usable_cores()
        so.intra_op_num_threads = threads
        so.log_severity_level = 3  # errors only: not the notes about unused initialisers
        try:
            self.session = ort.InferenceSession(model.data, so, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types
            raise EngineError(f"onnxruntime cannot load the model: {e}") from e
        self.precision = model.precision
        self.threads = threads

    @classmethod
    def runtime(cls) -> str:
        return f"onnxruntime {_ort().__version__}"

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run([OUTPUT], {INPUT: batch})[0]

    def describe(self) -> str:
        threads = f", {self.threads} threads" if self.threads else ""
        return f"{self.name} (cpu, {self.precision}{threads})"


def usable_cores() -> int:
    """CPU cores this process may run on (Linux affinity; the machine's count elsewhere)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
