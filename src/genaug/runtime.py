"""Where and how a job computes: device, threads, seeds, mixed precision, memory format and
compilation."""

from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch
from torch import nn


def setup(threads: int = 1, seed: int = 0, device: str = "auto") -> torch.device:
    """Seed every RNG, pin the CPU thread count and pick the device.

    On the CPU the result is bit-for-bit reproducible for a given thread count; on CUDA the
    job asks for deterministic kernels where PyTorch has them.
    """
    torch.set_num_threads(max(1, int(threads)))
    seed_everything(seed)
    dev = resolve_device(device)
    if dev.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=dev.type == "cuda")
    return dev


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


def autocast(device: torch.device):
    """bf16 autocast on CUDA (no loss scaling needed), a no-op on the CPU."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
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
