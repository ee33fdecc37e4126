"""Adam for the training jobs: ``torch.optim.Adam``'s update, without the cost of its base
class.

Constructing any ``torch.optim.Optimizer`` imports PyTorch's compiler stack
(``torch._dynamo``: its ``add_param_group``, ``zero_grad`` and ``state_dict`` are wrapped in
``torch._disable_dynamo``, which imports it on first call, and ``step`` imports it on every
call). That is about 0.8 CPU s, a third of a training job's fixed cost
(``benchmarks/job_overhead.py``), paid by every job that trains and by none of them used:
genaug compiles nothing unless ``compile: true``.

:class:`Adam` keeps the optimiser state and calls PyTorch's own functional Adam
(``torch.optim.adam.adam``, the code ``torch.optim.Adam.step`` runs), with the same state
layout and the same defaults, so the numbers are bit for bit those of ``torch.optim.Adam``
(``tests/test_optim.py``) and :meth:`Adam.state_dict` has its format. Written by hand is only
the bookkeeping (one parameter group, lazy state, ``zero_grad``, the state dict): no library
offers the update without the base class.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch.optim.adam import adam


class Adam:
    """``torch.optim.Adam(params, lr, betas, eps, fused=fused)`` with one parameter group
    (``param_groups[0]``: its ``"lr"`` may be changed between steps). ``fused=None`` is
    PyTorch's default (the single-tensor loop on the CPU); ``fused=True`` its fused kernel."""

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        *,
        fused: bool | None = None,
    ) -> None:
        params = list(params)
        if not params:
            raise ValueError("Adam got an empty parameter list")
        if lr < 0 or eps < 0 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"Adam: invalid lr={lr}, betas={betas} or eps={eps}")
        self.param_groups = [
            {
                "params": params,
                "lr": float(lr),
                "betas": (float(betas[0]), float(betas[1])),
                "eps": float(eps),
                "weight_decay": 0,
                "amsgrad": False,
                "maximize": False,
                "foreach": None,
                "capturable": False,
                "differentiable": False,
                "fused": fused,
                "decoupled_weight_decay": False,
            }
        ]
        #: per parameter: "step", "exp_avg", "exp_avg_sq", created at its first update
        self.state: dict[torch.Tensor, dict[str, torch.Tensor]] = {}

    @property
    def _group(self) -> dict[str, Any]:
        return self.param_groups[0]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self._group["params"]:
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad.detach_().zero_()

    def _state(self, p: torch.Tensor) -> dict[str, torch.Tensor]:
        """The state of ``p``, created as ``torch.optim.Adam._init_group`` creates it."""
        state = self.state.get(p)
        if state is None:
            fused = self._group["fused"]
            step = (
                torch.zeros((), dtype=torch.float32, device=p.device)
                if fused
                else torch.tensor(0.0, dtype=torch.get_default_dtype())
            )
            state = self.state[p] = {
                "step": step,
                "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format),
            }
        return state

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter that has a gradient."""
        group = self._group
        params = [p for p in group["params"] if p.grad is not None]
        if not params:
            return
        states = [self._state(p) for p in params]
        beta1, beta2 = group["betas"]
        adam(
            params,
            [p.grad for p in params],
            [s["exp_avg"] for s in states],
            [s["exp_avg_sq"] for s in states],
            [],
            [s["step"] for s in states],
            foreach=group["foreach"],
            capturable=False,
            differentiable=False,
            fused=group["fused"],
            grad_scale=None,
            found_inf=None,
            has_complex=any(torch.is_complex(p) for p in params),
            decoupled_weight_decay=False,
            amsgrad=False,
            beta1=beta1,
            beta2=beta2,
            lr=group["lr"],
            weight_decay=0.0,
            eps=group["eps"],
            maximize=False,
        )

    def state_dict(self) -> dict[str, Any]:
        """``torch.optim.Optimizer.state_dict``'s format: the state by parameter index."""
        params = self._group["params"]
        state = {i: dict(self.state[p]) for i, p in enumerate(params) if p in self.state}
        group = {k: v for k, v in self._group.items() if k != "params"}
        return {"state": state, "param_groups": [{**group, "params": list(range(len(params)))}]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state saved by :meth:`state_dict`, or by ``torch.optim.Adam`` with one
        parameter group over the same parameters (copied, as the step counts on the CPU unless
        fused, the moments on each parameter's device and in its dtype)."""
        (saved_group,) = state_dict["param_groups"]
        params = self._group["params"]
        if len(saved_group["params"]) != len(params):
            raise ValueError(
                f"the optimiser state is of {len(saved_group['params'])} parameters, "
                f"not of these {len(params)}"
            )
        fused = self._group["fused"]
        by_index = dict(zip(saved_group["params"], params, strict=True))
        self.state = {}
        for i, saved in state_dict["state"].items():
            p = by_index[i]
            self.state[p] = {
                k: v.to(p.device if fused else "cpu").clone()
                if k == "step"
                else v.to(device=p.device, dtype=p.dtype).clone()
                for k, v in saved.items()
            }
        self._group.update({k: saved_group[k] for k in ("lr", "betas", "eps")})
