"""PyTorch engine: the float32 reference on the CPU; fp16/bf16 with CUDA graphs on a GPU.

On CUDA the network runs in half precision (fp16 by default, bf16 on request) in
channels_last layout. Each input shape gets its own slot: page-locked host buffers,
static device buffers, and a CUDA graph captured once and replayed for every later
window of that shape, all on a stream of the engine's own; the host-to-device copy,
the replay and the copy back are queued asynchronously and waited for once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pssr_live.engines.base import Engine, EngineError, register
from pssr_live.modelfile import load_network

_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
#: Shapes whose CUDA graph and buffers are kept (tiles and one frame shape need 1-2).
MAX_SLOTS = 4


@register("torch")
class TorchEngine(Engine):
    """Runs the model with torch in inference mode; on the CPU, the reference every engine
    is held to."""

    name = "torch"

    def __init__(
        self,
        model_path: str,
        *,
        threads: int | None = None,
        device: str | None = None,
        precision: str | None = None,
        cuda_graphs: bool = True,
        **options: object,
    ) -> None:
        if str(model_path).endswith(".onnx"):
            raise EngineError("the torch engine needs the model file (.safetensors), not ONNX")
        if threads:
            torch.set_num_threads(threads)
        net, info = load_network(model_path)
        super().__init__(info, **options)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        on_cuda = self.device.startswith("cuda")
        if on_cuda and not torch.cuda.is_available():
            raise EngineError(
                f"device {self.device!r}: torch sees no CUDA GPU (a CPU-only torch build, "
                "or no driver); use --engine torch without a device, or install torch with CUDA"
            )
        self.precision = precision or ("fp16" if on_cuda else "fp32")
        if self.precision not in _DTYPES or (not on_cuda and self.precision != "fp32"):
            raise EngineError(
                f"torch precision {self.precision!r} on {self.device}: "
                "use fp32 on the CPU, fp16 or bf16 on CUDA"
            )
        self.net = net
        self._cuda = (
            _CudaRunner(net, self.device, _DTYPES[self.precision], cuda_graphs) if on_cuda else None
        )

    @classmethod
    def runtime(cls) -> str:
        cuda = f", CUDA {torch.version.cuda}" if torch.cuda.is_available() else ""
        return f"torch {torch.__version__}{cuda}"

    def run(self, batch: np.ndarray) -> np.ndarray:
        if self._cuda is not None:
            return self._cuda(batch)
        with torch.inference_mode():
            return self.net(torch.from_numpy(batch)).numpy()

    def describe(self) -> str:
        if self._cuda is None:
            return f"{self.name} (cpu, {self.precision}, {torch.get_num_threads()} threads)"
        graphs = ", CUDA graphs" if self._cuda.graphs else ""
        return f"{self.name} ({self.device}, {self.precision}{graphs})"

    def close(self) -> None:
        if self._cuda is not None:
            self._cuda.slots.clear()
            torch.cuda.empty_cache()


@dataclass
class _Slot:
    """Everything one input shape needs on CUDA."""

    host_in: torch.Tensor  # page-locked float32
    host_out: torch.Tensor  # page-locked float32
    dev_in: torch.Tensor  # static device input (graphs read it in place)
    dev_out: torch.Tensor | None = None  # static device output of the graph
    graph: torch.cuda.CUDAGraph | None = None


class _CudaRunner:
    """Runs the network on a CUDA device from pinned buffers, on a stream of its own."""

    def __init__(self, net: torch.nn.Module, device: str, dtype: torch.dtype, graphs: bool) -> None:
        self.device = torch.device(device)
        self.dtype = dtype
        self.graphs = graphs
        torch.backends.cudnn.benchmark = True  # shapes are fixed: let cuDNN pick the kernels
        if dtype == torch.float32:  # fp32 means fp32: no TF32 convolutions (parity 1e-4)
            torch.backends.cudnn.allow_tf32 = False
        self.net = net.to(self.device, dtype).to(memory_format=torch.channels_last).eval()
        self.stream = torch.cuda.Stream(self.device)
        self.slots: dict[tuple[int, ...], _Slot] = {}

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.dtype).contiguous(memory_format=torch.channels_last)
        return self.net(x).float()

    def _slot(self, shape: tuple[int, ...]) -> _Slot:
        slot = self.slots.get(shape)
        if slot is not None:
            return slot
        if len(self.slots) >= MAX_SLOTS:
            self.slots.pop(next(iter(self.slots)))
        dev_in = torch.zeros(shape, dtype=torch.float32, device=self.device)
        self.stream.wait_stream(torch.cuda.current_stream(self.device))  # the zeros are written
        # Warm up on the engine's stream (cuDNN autotuning, allocator) before any
        # capture, as CUDA graphs require; the warm-up also gives the output shape.
        with torch.no_grad(), torch.cuda.stream(self.stream):
            for _ in range(3):
                out = self._forward(dev_in)
        self.stream.synchronize()
        slot = _Slot(
            host_in=torch.empty(shape, dtype=torch.float32, pin_memory=True),
            host_out=torch.empty(out.shape, dtype=torch.float32, pin_memory=True),
            dev_in=dev_in,
        )
        if self.graphs:
            slot.graph = torch.cuda.CUDAGraph()
            with torch.no_grad(), torch.cuda.graph(slot.graph, stream=self.stream):
                slot.dev_out = self._forward(slot.dev_in)
        self.slots[shape] = slot
        return slot

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        slot = self._slot(batch.shape)
        slot.host_in.numpy()[...] = batch
        with torch.no_grad(), torch.cuda.stream(self.stream):
            slot.dev_in.copy_(slot.host_in, non_blocking=True)
            if slot.graph is not None:
                slot.graph.replay()
                out = slot.dev_out
            else:
                out = self._forward(slot.dev_in)
            slot.host_out.copy_(out, non_blocking=True)
        self.stream.synchronize()
        return slot.host_out.numpy().copy()
