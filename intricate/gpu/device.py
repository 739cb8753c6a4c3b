"""The WebGPU device: adapter choice, the one GPU thread with its asyncio bridge, and counters.

Every wgpu call runs on the device's own thread. Coroutines ``await device.run(fn, ...)``; the
event loop never waits on the GPU itself. One thread keeps submissions in order and matches
wgpu-py's per-thread error capture.
"""

from __future__ import annotations

import asyncio
import functools
import os
import tempfile
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import wgpu

from .dtypes import ELEMENT_FEATURES

OPTIONAL_FEATURES = ("shader-f16", "shader-f64", "timestamp-query", "subgroup")
POWER_PREFERENCES = ("high-performance", "low-power")
WAKE_SECONDS = 0.1  # how often the event loop wakes while it awaits the GPU thread (see run)
NO_ADAPTER_HELP = (
    "no WebGPU adapter was found. Install a GPU driver with Vulkan, Metal or D3D12 support; on a "
    "machine without a GPU install Mesa's software Vulkan driver "
    "(Debian/Ubuntu: `apt-get install mesa-vulkan-drivers`)."
)
Result = TypeVar("Result")


class NoAdapterError(RuntimeError):
    """Raised when no WebGPU adapter (GPU driver or software Vulkan) is available."""


class ForkedProcessError(RuntimeError):
    """Raised in a child made by ``fork()`` after its parent used the GPU: wgpu and the driver
    can't work there (they hang), so intricate refuses at once."""


_gpu_pid: int | None = None  # the process that first asked wgpu for an adapter


def check_not_forked(opened_in: int | None = None) -> None:
    """Raise ForkedProcessError if this process is a fork of the one that used the GPU (or
    of ``opened_in``, the process that opened a device)."""
    parent = opened_in if opened_in is not None else _gpu_pid
    if parent is not None and parent != os.getpid():
        raise ForkedProcessError(
            f"this process (pid {os.getpid()}) was forked from pid {parent} after that one "
            "used the GPU; wgpu and the GPU driver can't be used in a forked child (they hang). "
            "Start worker processes with multiprocessing's 'spawn' start method "
            "(multiprocessing.get_context('spawn'), or set_start_method('spawn') before the "
            "parent touches the GPU), or use the GPU only in processes that never fork.")


class Stats(dict):
    """Counters of GPU work, readable like a dict: ``device.stats["dispatches"]``.

    ``dispatches``, ``submits``, ``readbacks``, ``uploads`` and ``passes`` (compute passes
    encoded: gpu/encoding.py) count events since the last ``reset()``; ``live_buffers`` is a
    gauge (buffers currently alive) and is never reset.
    """

    COUNTERS = ("dispatches", "submits", "readbacks", "uploads", "passes")

    def __init__(self) -> None:
        super().__init__({name: 0 for name in self.COUNTERS}, live_buffers=0)

    def reset(self) -> None:
        for name in self.COUNTERS:
            self[name] = 0


def _count_release(stats: Stats) -> None:
    stats["live_buffers"] -= 1


def _ensure_runtime_dir() -> None:
    # Mesa prints "XDG_RUNTIME_DIR is invalid" on every device when the variable is unset.
    path = os.environ.get("XDG_RUNTIME_DIR")
    if not path or not os.path.isdir(path):
        os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="intricate-xdg-")


def _choose_adapter(power_preference: str, adapter_name: str | None) -> wgpu.GPUAdapter:
    global _gpu_pid
    check_not_forked()
    _gpu_pid = os.getpid()
    _ensure_runtime_dir()
    if adapter_name is None:
        try:
            adapter = wgpu.gpu.request_adapter_sync(power_preference=power_preference)
        except Exception as error:  # wgpu-native reports "no adapter" as a RuntimeError
            raise NoAdapterError(f"{NO_ADAPTER_HELP} (wgpu said: {error})") from error
        if adapter is None:
            raise NoAdapterError(NO_ADAPTER_HELP)
        return adapter
    adapters = wgpu.gpu.enumerate_adapters_sync()
    if not adapters:
        raise NoAdapterError(NO_ADAPTER_HELP)
    # The same GPU can appear once per backend; prefer the native ones over OpenGL.
    adapters.sort(key=lambda a: a.info.get("backend_type", "") == "OpenGL")
    for adapter in adapters:
        if adapter_name.lower() in adapter.info.get("device", "").lower():
            return adapter
    names = sorted({a.info.get("device", "?") for a in adapters})
    raise ValueError(
        f"adapter_name: expected part of one of the adapter names {names}, "
        f"received {adapter_name!r}. Pick one of those names or leave adapter_name=None."
    )


def _open_device(
    executor: ThreadPoolExecutor, power_preference: str, adapter_name: str | None
) -> Device:
    adapter = _choose_adapter(power_preference, adapter_name)
    features = [f for f in OPTIONAL_FEATURES if f in adapter.features]
    handle = adapter.request_device_sync(
        label="intricate", required_features=features, required_limits=dict(adapter.limits)
    )
    return Device(executor, adapter, handle)


async def setup_device(
    power_preference: str = "high-performance", adapter_name: str | None = None
) -> Device:
    """Choose an adapter and open a device on it (the original's ``setup_device_and_queue``).

    Args:
        power_preference: "high-performance" (a discrete GPU when there is one) or "low-power".
        adapter_name: part of an adapter's name (case-insensitive), e.g. "H100" or "llvmpipe";
            overrides ``power_preference``.

    Returns:
        A ``Device`` with the adapter's real limits and whichever of shader-f16, shader-f64,
        timestamp-query and subgroup the adapter offers.

    Raises:
        ValueError: unknown power_preference, or no adapter matches adapter_name.
        NoAdapterError: there is no WebGPU adapter at all.
    """
    if power_preference not in POWER_PREFERENCES:
        raise ValueError(
            f"power_preference: expected one of {POWER_PREFERENCES}, received {power_preference!r}"
        )
    if adapter_name is not None and (not isinstance(adapter_name, str) or not adapter_name):
        raise ValueError(f"adapter_name: expected a non-empty string, received {adapter_name!r}")
    check_not_forked()  # the adapter request would hang in a forked child
    return await asyncio.to_thread(_start_device, power_preference, adapter_name)


def _start_device(power_preference: str, adapter_name: str | None) -> Device:
    """A new GPU thread and the device ``_open_device`` opens on it (the thread is shut down
    when that fails)."""
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="intricate-gpu")
    try:
        return executor.submit(_open_device, executor, power_preference, adapter_name).result()
    except BaseException:
        executor.shutdown(wait=False)
        raise


_default: Device | None = None  # the process-wide default device, opened on first need
_default_lock = threading.Lock()


def _open_default_device() -> Device:
    global _default
    with _default_lock:  # models on several threads or event loops still share one
        if _default is None:
            _default = _start_device(POWER_PREFERENCES[0], None)
        return _default


async def default_device() -> Device:
    """The process-wide default device, opened by the first model that needs one (as PyTorch
    shares its default GPU): a device costs ~1.5 MB and 0.3 s, so models made without a device
    share this one. ``setup_device()`` still opens a new device of its own.

    Raises:
        NoAdapterError: there is no WebGPU adapter at all.
        ForkedProcessError: this process was forked after its parent used the GPU.
    """
    check_not_forked(_default._pid if _default is not None else None)
    if _default is not None:
        return _default
    return await asyncio.to_thread(_open_default_device)


class Device:
    """One WebGPU device, the thread that talks to it, and its counters.

    Attributes:
        handle: the ``wgpu.GPUDevice``; touch it only from the GPU thread (``run``/``run_sync``).
        adapter_info: the adapter's description (name, backend, type).
        features: the optional features this device was opened with.
        limits: the adapter's real limits, hyphenated keys as in WebGPU.
        stats: counters of dispatches, submits, readbacks, uploads and live buffers.
    """

    def __init__(self, executor: ThreadPoolExecutor, adapter: wgpu.GPUAdapter, handle) -> None:
        self._executor = executor
        self._thread_id = threading.get_ident()  # setup_device builds us on the GPU thread
        self._pid = os.getpid()  # a forked child can't use us (see check_not_forked)
        self.handle = handle
        self.queue = handle.queue
        self.adapter_info = dict(adapter.info)
        self.features = frozenset(handle.features)
        self.limits = dict(handle.limits)
        self.stats = Stats()
        self.cache: dict[Any, Any] = {}  # pipelines and other per-device objects, see shaders.py
        self._free_staging: list[wgpu.GPUBuffer] = []

    @property
    def name(self) -> str:
        return self.adapter_info.get("device", "unknown")

    @property
    def dtypes(self) -> tuple[str, ...]:
        """The element types this device's shaders can compute in, as NumPy names: "float32"
        everywhere, "float16" with shader-f16, "float64" with shader-f64. (The model dtypes it
        runs: ``intricate.gpu.dtypes.supported(device)``.)"""
        return ("float32", *(dtype for dtype, feature in ELEMENT_FEATURES.items()
                             if feature in self.features))

    def __repr__(self) -> str:
        backend = self.adapter_info.get("backend_type", "?")
        return f"Device({self.name!r}, backend={backend!r}, features={sorted(self.features)})"

    async def run(self, fn: Callable[..., Result], *args: Any, **kwargs: Any) -> Result:
        """Run ``fn(*args, **kwargs)`` on the GPU thread and await its result.

        Meanwhile the loop wakes every WAKE_SECONDS: Jupyter's "interrupt kernel" cancels the
        cell with a ``call_soon`` from a SIGINT handler, which waits for the loop to wake (a cell
        awaiting a window of fit's epochs ran on for the whole window, ~a minute on lavapipe).
        """
        check_not_forked(self._pid)  # the GPU thread doesn't exist in a forked child
        loop = asyncio.get_running_loop()
        waking: asyncio.TimerHandle | None = None

        def wake() -> None:
            nonlocal waking
            waking = loop.call_later(WAKE_SECONDS, wake)

        wake()
        try:
            return await loop.run_in_executor(self._executor,
                                              functools.partial(fn, *args, **kwargs))
        finally:
            waking.cancel()

    def run_sync(self, fn: Callable[..., Result], *args: Any, **kwargs: Any) -> Result:
        """Run ``fn`` on the GPU thread and block until it returns (for synchronous APIs)."""
        check_not_forked(self._pid)
        if threading.get_ident() == self._thread_id:
            return fn(*args, **kwargs)
        return self._executor.submit(fn, *args, **kwargs).result()

    # Buffers -------------------------------------------------------------------------------
    def create_buffer(self, nbytes: int, usage: int, label: str = "") -> wgpu.GPUBuffer:
        """Create a buffer (sizes rounded up to 4 bytes) and count it in ``live_buffers``."""
        size = max(4, -(-int(nbytes) // 4) * 4)
        limit = self.limits["max-buffer-size"]
        if size > limit:
            raise ValueError(
                f"buffer {label or ''}: needs {size} bytes but this device allows at most {limit}; "
                "use smaller batches or a smaller model"
            )
        buffer = self.handle.create_buffer(size=size, usage=usage, label=label)
        self.stats["live_buffers"] += 1
        # wgpu-py frees the buffer when its last Python reference goes; count that moment.
        weakref.finalize(buffer, _count_release, self.stats)
        return buffer

    def submit(self, encoder: wgpu.GPUCommandEncoder) -> None:
        self.queue.submit([encoder.finish()])
        self.stats["submits"] += 1

    def take_staging(self, nbytes: int) -> wgpu.GPUBuffer:
        """A reused MAP_READ buffer of at least ``nbytes`` (give it back with ``give_staging``)."""
        for index, buffer in enumerate(self._free_staging):
            if buffer.size >= nbytes:
                return self._free_staging.pop(index)
        size = 1 << max(8, (int(nbytes) - 1).bit_length())
        usage = wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_DST
        return self.create_buffer(size, usage, label="staging")

    def give_staging(self, buffer: wgpu.GPUBuffer) -> None:
        self._free_staging.append(buffer)
