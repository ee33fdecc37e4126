"""Several copies of one network, trained as one: the replicate seeds of a classify job.

A classifier of the default config is far too small to fill a GPU (or even the vector units
of a CPU core) with one seed's batch. :class:`StackedModels` keeps the ``S`` seeds' weights
stacked along a new leading dimension (``torch.func.stack_module_state``) and runs them in one
call with ``torch.func.vmap`` over ``functional_call``, so one kernel launch serves every seed.
Each seed keeps its own initialisation (the modules it was built from), its own batches (the
input's leading dimension) and its own BatchNorm statistics (stacked buffers). Adam, applied to
the stacked parameters, is elementwise, so each seed's update is the one it would get alone;
only the summation order inside the kernels differs, which is why results match the
one-seed-at-a-time path to float tolerance, not bit for bit.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap


class StackedModels:
    """``S`` modules of one architecture as stacked tensors.

    :attr:`parameters` are leaves to hand to an optimiser; calling the object maps
    ``S x B x ...`` inputs to ``S x B x ...`` outputs, seed ``s`` through module ``s``.
    :meth:`unstack` writes the trained state back into the modules and returns them.
    """

    def __init__(self, models: Sequence[nn.Module]) -> None:
        if not models:
            raise ValueError("StackedModels needs at least one module")
        self.models = list(models)
        self.params, self.buffers = stack_module_state(self.models)
        # a stateless copy that only supplies the forward code; its tensors live on "meta"
        self.base = copy.deepcopy(self.models[0]).to("meta")

    def __len__(self) -> int:
        return len(self.models)

    def parameters(self) -> list[torch.Tensor]:
        return list(self.params.values())

    def train(self, mode: bool = True) -> StackedModels:
        self.base.train(mode)
        return self

    def eval(self) -> StackedModels:
        return self.train(False)

    def _call(self, params, buffers, *args):
        return functional_call(self.base, (params, buffers), args)

    def __call__(self, *args: torch.Tensor) -> torch.Tensor:
        """Every argument has the seeds as its leading dimension."""
        return vmap(self._call, randomness="error")(self.params, self.buffers, *args)

    @torch.no_grad()
    def unstack(self) -> list[nn.Module]:
        """The modules, each holding its seed's trained parameters and buffers."""
        for s, model in enumerate(self.models):
            state = {name: t[s] for name, t in {**self.params, **self.buffers}.items()}
            model.load_state_dict(state)
        return self.models
