"""Where and how a job computes: device, threads, seeds, mixed precision, memory format and
compilation."""

from __future__ import annotations

import contextlib
import gc
import os
import random
import sys

import numpy as np
import torch
from torch import nn


def setup(threads: int = 1, seed: int = 0, device: str = "auto") -> torch.device:
    """Seed every RNG, pin the CPU thread count and pick the device.

    On the CPU the result is bit-for-bit reproducible for a given thread count; on CUDA the
    job asks for deterministic kernels where PyTorch has them. Either way PyTorch's
    deterministic mode is on (see :func:`deterministic`): on the CPU an operation without a
    deterministic implementation is an error, on CUDA a warning.
    """
    if not gc.isenabled():  # in a rule's job, after its imports (genaug.workflow.run_script)
        gc.freeze()
        gc.enable()
    keep_freed_memory()
    torch.set_num_threads(max(1, int(threads)))
    seed_everything(seed)
    dev = resolve_device(device)
    if dev.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
    deterministic(warn_only=dev.type == "cuda")
    return dev


def deterministic(warn_only: bool = False) -> None:
    """What ``torch.use_deterministic_algorithms(True, warn_only=warn_only)`` does, without
    importing PyTorch's compiler stack.

    That function sets two things: the ATen switch (deterministic kernels, and an error, or
    with ``warn_only`` a warning, for an operation that has none) and Inductor's
    deterministic mode (no benchmarking that changes numerics in compiled code). To set the
    second it imports ``torch._inductor.config``, which imports ``torch._dynamo``: about
    0.8 CPU s, most of a job's setup. Here the ATen switch is set through the public
    ``torch.set_deterministic_debug_mode`` (the same call underneath), and Inductor's mode
    through its documented variable ``TORCHINDUCTOR_DETERMINISTIC``, which its config reads
    when it is imported (by ``compile: true``, in this process or in compile workers), or
    directly when the config is already loaded. (A ``torch.optim`` optimiser imports
    ``torch._dynamo`` too, and so does torchvision; the jobs train with
    :class:`genaug.optim.Adam`, so a model job that needs no torchvision (most of them) runs
    without it.)

    The switch is needed on the CPU too: with it, ``index_put_(..., accumulate=True)`` and
    the backward of indexing with a list of tensors (``x[idx]``) run deterministically on
    several threads, and an operation with no deterministic CPU kernel (``MaxUnpool``,
    ``put_(..., accumulate=False)``) is an error instead of numbers that differ between runs.

    The mode also fills every new uninitialised tensor with NaN (``torch.empty``, and the
    buffers convolutions and ``.contiguous()`` allocate), a guard against reading memory
    that was never written; that is turned off, as PyTorch's documentation allows for a valid
    program (``torch.utils.deterministic.fill_uninitialized_memory``): the numbers are the
    same, and a DAGAN step at ``arch: paper`` takes 4 % less CPU time.
    """
    torch.set_deterministic_debug_mode("warn" if warn_only else "error")
    torch.utils.deterministic.fill_uninitialized_memory = False
    os.environ["TORCHINDUCTOR_DETERMINISTIC"] = "1"
    inductor_config = sys.modules.get("torch._inductor.config")
    if inductor_config is not None:
        inductor_config.deterministic = True


#: glibc's mallopt(3) parameters, and the values :func:`keep_freed_memory` sets
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD = 32 * 2**20  # glibc's maximum on 64-bit systems
_TRIM_THRESHOLD = 2**30


def keep_freed_memory() -> bool:
    """Have glibc's ``malloc`` keep the memory PyTorch frees for its next tensors, instead of
    returning it to the kernel; whether it could (False on a C library other than glibc).

    PyTorch's CPU tensors come straight from ``malloc`` (it has no caching allocator on the
    CPU), and glibc's default thresholds give each large buffer back as it is freed (``munmap``,
    or trimming the heap's top), so the same activations are page-faulted in again at every
    training step: 220 steps of the default classifier took 0.4 to 1.4 million page faults
    and 1.1 to 3.3 CPU s of system time, and with this 107,000 and 0.6 to 0.8 s, the step 15%
    faster (10.5 against 9.0 ms, the means of four runs each on the 2-core CI machine).
    Buffers of up to 32 MiB now come from the heap, and the heap is trimmed only when 1 GiB
    of it is free: a job keeps up to its peak memory until it exits, which the ``mem_mb`` of
    its rule already budgets. The numbers do not change: this is where memory
    comes from, not what is computed. Written by hand (``ctypes`` and ``mallopt(3)``): PyTorch
    offers no such setting, and the usual alternative, preloading jemalloc or tcmalloc, needs a
    library outside the Python packages."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return bool(
        mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD) and mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
    )


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (for third-party code using the global RNG)
    torch.manual_seed(seed)


def rng(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A private torch RNG, so that one stream (e.g. batch order) does not shift another."""
    g = torch.Generator(device=device)
    g.manual_seed(seed)
    return g


def autocast(device: torch.device, cpu_bf16: bool = False):
    """bf16 autocast on CUDA (no loss scaling needed); on the CPU a no-op, or with
    ``cpu_bf16`` bf16 autocast too (oneDNN's bf16 kernels: fast on CPUs with AMX, e.g. Intel
    Xeon since Sapphire Rapids; slow on CPUs without bf16 instructions)."""
    if device.type == "cuda" or (cpu_bf16 and device.type == "cpu"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def channels_last(x, device: torch.device):
    """``x`` (a module or a 4-D image batch) in the channels-last memory format on CUDA, where
    cuDNN's convolutions are fastest with it under bf16 autocast (the output of a convolution
    whose weight is channels-last is channels-last too, and indexing a channels-last batch
    keeps the format); unchanged on the CPU and for tensors that are not 4-D."""
    if torch.device(device).type != "cuda":
        return x
    if isinstance(x, nn.Module) or x.dim() == 4:
        return x.to(memory_format=torch.channels_last)
    return x


def prepare(
    model: nn.Module,
    device: torch.device,
    *,
    compile: bool = False,
    parts: list[nn.Module] | None = None,
) -> nn.Module:
    """``model`` on ``device`` (channels-last on CUDA) and, with ``compile``, its networks
    compiled in place with ``torch.compile`` (``nn.Module.compile``, so parameter names, the
    state dict and checkpoints stay the same). ``parts`` are the submodules to compile (default:
    the whole model): the networks a training loop calls. On the CPU the compiled code uses the
    job's thread count (``threads:``), and so do its compile workers."""
    model = channels_last(model.to(device), device)
    if compile:
        import torch._inductor.config as inductor_config

        inductor_config.compile_threads = torch.get_num_threads()
        for part in [model] if parts is None else parts:
            part.compile()
    return model
