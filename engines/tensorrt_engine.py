"""TensorRT engine (NVIDIA GPUs; optional: pip install 'pssr-live[tensorrt]').

Build: the ONNX export is parsed and built for one LR shape (an optimisation profile
from the network's multiple up to that shape; larger frames are tiled) in fp16 or
fp32. Serialized engines are cached in ``<cache>/tensorrt/`` under a name made of the
ONNX graph's sha256, the shape, the precision, the GPU name, its compute capability
and the TensorRT version, beside a timing cache per GPU and TensorRT version that
makes rebuilds fast. TensorRT 10 builds fp16 from the float32 ONNX with the FP16
builder flag; TensorRT 11 dropped that flag (networks are strongly typed), so it is
given the fp16 ONNX (float32 input and output kept) instead.

Run: named tensors (``set_input_shape``, ``set_tensor_address``,
``execute_async_v3``), page-locked host buffers, device buffers and a stream from
pycuda, so the acquisition PC needs no CUDA build of torch. The first window of a
shape runs once plainly, then is captured into a CUDA graph that every later window
of that shape replays. The primary CUDA context is made current around each call,
since the restorer calls from its own thread.

tensorrt and pycuda are imported only when the engine is used: without them the
engine says, on one line, how to install them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from pssr_live.engines.base import DEFAULT_SHAPE, Engine, EngineError, register
from pssr_live.engines.cache import cache_dir, write_atomic
from pssr_live.engines.onnx_export import INPUT, OUTPUT, OnnxModel, onnx_for

INSTALL = (
    "TensorRT is not installed here; on a machine with an NVIDIA GPU and its driver run "
    "`pip install tensorrt pycuda` (or `pip install 'pssr-live[tensorrt]'`), "
    "or use --engine torch or onnxruntime"
)
PRECISIONS = ("fp16", "fp32")
DEFAULT_WORKSPACE_GB = 4.0
_LOGGER = None
log = logging.getLogger(__name__)


def _runtime():
    """(tensorrt, pycuda.driver), or EngineError with the install steps."""
    try:
        import pycuda.driver as cuda
        import tensorrt as trt
    except (ImportError, OSError) as e:
        missing = getattr(e, "name", None) or str(e)
        raise EngineError(f"{INSTALL} ({missing} could not be imported)") from e
    return trt, cuda


def _logger(trt):
    global _LOGGER
    if _LOGGER is None:  # TensorRT wants one logger for the whole process
        _LOGGER = trt.Logger(trt.Logger.WARNING)
    return _LOGGER


class _Gpu:
    """Device 0's primary CUDA context (shared with torch, if torch uses CUDA too)."""

    def __init__(self, cuda) -> None:
        try:
            cuda.init()
            if cuda.Device.count() == 0:
                raise EngineError("TensorRT needs an NVIDIA GPU; none is visible here")
            self.device = cuda.Device(0)
            self.context = self.device.retain_primary_context()
        except cuda.Error as e:
            raise EngineError(f"CUDA is not usable here ({e}); check the NVIDIA driver") from e
        self.cuda = cuda
        self.name = self.device.name()
        self.capability = self.device.compute_capability()

    def release(self) -> None:
        self.context.detach()

    @contextmanager
    def current(self) -> Iterator[None]:
        """Make the context current on the calling thread for the duration."""
        self.context.push()
        try:
            yield
        finally:
            self.cuda.Context.pop()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-")


def _padded(shape: tuple[int, int], multiple: int) -> tuple[int, int]:
    return tuple(-(-n // multiple) * multiple for n in shape)  # type: ignore[return-value]


def plan_path(
    onnx: OnnxModel, shape: tuple[int, int], precision: str, gpu: _Gpu, trt_version: str
) -> Path:
    """Where the serialized engine for this graph, shape, precision, GPU and TensorRT lives."""
    cc = "".join(str(c) for c in gpu.capability)
    name = (
        f"{onnx.sha256[:16]}-{shape[0]}x{shape[1]}-{precision}-"
        f"{_slug(gpu.name)}-sm{cc}-trt{_slug(trt_version)}.engine"
    )
    return cache_dir("tensorrt") / name


def build_engine(
    model_path: str,
    shape: tuple[int, int],
    *,
    precision: str = "fp16",
    workspace_gb: float = DEFAULT_WORKSPACE_GB,
    rebuild: bool = False,
) -> tuple[Path, bool]:
    """Build (or find in the cache) the engine for a model or ONNX file at an LR shape.

    Returns the plan's path and whether it was built now.
    """
    trt, cuda = _runtime()
    gpu = _Gpu(cuda)
    try:
        onnx = _onnx_for_build(trt, model_path, precision)
        return _plan(trt, gpu, onnx, shape, precision, workspace_gb, rebuild)
    finally:
        gpu.release()


def _plan(
    trt,
    gpu: _Gpu,
    onnx: OnnxModel,
    shape: tuple[int, int],
    precision: str,
    workspace_gb: float,
    rebuild: bool = False,
) -> tuple[Path, bool]:
    shape = _padded(shape, onnx.info.net.multiple)
    path = plan_path(onnx, shape, precision, gpu, trt.__version__)
    if path.exists() and not rebuild:
        return path, False
    log.info("building a TensorRT engine for %dx%d (%s); this takes minutes", *shape, precision)
    with gpu.current():
        write_atomic(path, _build(trt, onnx, shape, precision, gpu, workspace_gb))
    return path, True


def _strongly_typed(trt) -> bool:
    """TensorRT 11 has no FP16 builder flag: precision comes from the graph's types."""
    return not hasattr(trt.BuilderFlag, "FP16")


def _onnx_for_build(trt, model_path: str, precision: str) -> OnnxModel:
    if precision not in PRECISIONS:
        raise EngineError(f"TensorRT precision {precision!r}: use one of {PRECISIONS}")
    onnx = onnx_for(model_path, fp16=precision == "fp16" and _strongly_typed(trt))
    if onnx.precision == "fp16" and precision == "fp32":
        raise EngineError("an fp16 ONNX file builds only fp16 engines: add --fp16")
    return onnx


def _build(
    trt, onnx: OnnxModel, shape: tuple[int, int], precision: str, gpu: _Gpu, workspace_gb: float
) -> bytes:
    logger = _logger(trt)
    builder = trt.Builder(logger)
    flags = 0
    if _strongly_typed(trt) and hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED"):
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx.data):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise EngineError(f"TensorRT cannot parse the ONNX graph: {errors[0] if errors else '?'}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    if precision == "fp16" and not _strongly_typed(trt):
        config.set_flag(trt.BuilderFlag.FP16)
    if precision == "fp32" and hasattr(trt.BuilderFlag, "TF32"):
        config.clear_flag(trt.BuilderFlag.TF32)  # fp32 means fp32 (parity 1e-4)
    frames, m = onnx.info.net.frames, onnx.info.net.multiple
    profile = builder.create_optimization_profile()
    full = (1, frames, *shape)
    profile.set_shape(INPUT, (1, frames, m, m), full, full)
    config.add_optimization_profile(profile)
    timing_path = _timing_cache_path(gpu, trt.__version__)
    timing = config.create_timing_cache(timing_path.read_bytes() if timing_path.exists() else b"")
    config.set_timing_cache(timing, ignore_mismatch=True)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise EngineError("TensorRT could not build the engine (see its log above)")
    write_atomic(timing_path, bytes(config.get_timing_cache().serialize()))
    return bytes(plan)


def _timing_cache_path(gpu: _Gpu, trt_version: str) -> Path:
    cc = "".join(str(c) for c in gpu.capability)
    return cache_dir("tensorrt") / f"timing-{_slug(gpu.name)}-sm{cc}-trt{_slug(trt_version)}.cache"


@register("tensorrt")
class TensorRTEngine(Engine):
    """Runs a TensorRT engine built for one LR shape; larger frames are tiled."""

    name = "tensorrt"
    device = "cuda"

    def __init__(
        self,
        model_path: str,
        *,
        shape: tuple[int, int] | None = None,
        precision: str | None = None,
        cuda_graphs: bool = True,
        workspace_gb: float = DEFAULT_WORKSPACE_GB,
        **options: object,
    ) -> None:
        trt, cuda = _runtime()
        self.precision = precision or "fp16"
        self._cuda = cuda
        self._gpu = _Gpu(cuda)
        onnx = _onnx_for_build(trt, model_path, self.precision)
        super().__init__(onnx.info, **options)
        self.max_shape = _padded(shape or DEFAULT_SHAPE, self.multiple)
        plan, _ = _plan(trt, self._gpu, onnx, self.max_shape, self.precision, workspace_gb)
        self.cuda_graphs = cuda_graphs
        with self._gpu.current():
            self._engine = trt.Runtime(_logger(trt)).deserialize_cuda_engine(plan.read_bytes())
            if self._engine is None:
                raise EngineError(f"TensorRT cannot load {plan}; delete it and build again")
            for tensor in (INPUT, OUTPUT):
                if trt.nptype(self._engine.get_tensor_dtype(tensor)) != np.float32:
                    raise EngineError(f"engine {plan}: tensor {tensor!r} is not float32")
            self._context = self._engine.create_execution_context()
            self._stream = cuda.Stream()
            largest = (1, self.frames, *self.max_shape)
            if not self._context.set_input_shape(INPUT, largest):
                raise EngineError(f"engine {plan} does not take its own shape {largest}")
            out_size = int(np.prod(tuple(self._context.get_tensor_shape(OUTPUT))))
            self._host_in = cuda.pagelocked_empty(int(np.prod(largest)), np.float32)
            self._host_out = cuda.pagelocked_empty(out_size, np.float32)
            self._dev_in = cuda.mem_alloc(self._host_in.nbytes)
            self._dev_out = cuda.mem_alloc(self._host_out.nbytes)
            self._context.set_tensor_address(INPUT, int(self._dev_in))
            self._context.set_tensor_address(OUTPUT, int(self._dev_out))
        self._shape: tuple[int, ...] | None = None
        self._out_shape: tuple[int, ...] = ()
        self._graph = None  # CUDA graph of the current shape

    @classmethod
    def runtime(cls) -> str:
        trt, _ = _runtime()
        return f"tensorrt {trt.__version__}"

    @classmethod
    def auto_skip(cls, model_path: str, shape: tuple[int, int], options: dict) -> str | None:
        """Auto uses TensorRT only where its engine is built already (building takes minutes)."""
        trt, cuda = _runtime()
        precision = str(options.get("precision") or "fp16")
        try:
            gpu = _Gpu(cuda)
        except EngineError as e:
            return str(e)
        try:
            onnx = _onnx_for_build(trt, model_path, precision)
            padded = _padded(shape, onnx.info.net.multiple)
            built = plan_path(onnx, padded, precision, gpu, trt.__version__).exists()
        except EngineError as e:
            return str(e)
        finally:
            gpu.release()
        return None if built else f"no engine built for {padded[0]}x{padded[1]} (build-engine)"

    def run(self, batch: np.ndarray) -> np.ndarray:
        with self._gpu.current():
            return np.stack([self._run_window(window) for window in batch])

    def _run_window(self, window: np.ndarray) -> np.ndarray:
        shape = (1, *window.shape)
        if shape != self._shape:
            if not self._context.set_input_shape(INPUT, shape):
                raise EngineError(f"TensorRT engine does not take input shape {shape}")
            self._shape, self._graph = shape, None
            self._out_shape = tuple(self._context.get_tensor_shape(OUTPUT))
        host_in = self._host_in[: window.size].reshape(shape)
        host_out = self._host_out[: int(np.prod(self._out_shape))].reshape(self._out_shape)
        np.copyto(host_in, window[np.newaxis])
        self._cuda.memcpy_htod_async(self._dev_in, host_in, self._stream)
        self._execute()
        self._cuda.memcpy_dtoh_async(host_out, self._dev_out, self._stream)
        self._stream.synchronize()
        return host_out[0].copy()

    def _execute(self) -> None:
        """Replay the shape's CUDA graph; the first window of a shape runs plainly, then
        is captured (TensorRT does deferred per-shape work on its first run)."""
        if self._graph is not None:
            self._graph.launch(self._stream)
            return
        if not self._context.execute_async_v3(self._stream.handle):
            raise EngineError("TensorRT execution failed (see its log above)")
        if self.cuda_graphs:
            self._graph = self._capture()

    def _capture(self):
        """A CUDA graph of one execution, or None (and no more tries) if capture fails."""
        try:
            self._stream.begin_capture()
        except (AttributeError, self._cuda.Error):  # pycuda without graph support
            self.cuda_graphs = False
            return None
        try:
            captured = self._context.execute_async_v3(self._stream.handle)
        finally:
            try:  # an invalidated capture raises here; the stream leaves capture mode
                graph = self._stream.end_capture()
            except self._cuda.Error:
                graph = None
        try:
            if captured and graph is not None:
                return graph.instantiate()
        except self._cuda.Error:
            pass
        log.warning("TensorRT: CUDA graph capture failed; running without graphs")
        self.cuda_graphs = False
        return None

    def describe(self) -> str:
        graphs = ", CUDA graphs" if self.cuda_graphs else ""
        h, w = self.max_shape or DEFAULT_SHAPE
        return f"{self.name} ({self._gpu.name}, {self.precision}, up to {h}x{w}{graphs})"

    def close(self) -> None:
        if self._context is None:
            return
        with self._gpu.current():
            self._graph = self._context = self._engine = None
            self._dev_in.free()
            self._dev_out.free()
            # Freed while the context is current: after release() pycuda cannot free them.
            self._host_in.base.free()
            self._host_out.base.free()
            self._stream = None
        self._gpu.release()
