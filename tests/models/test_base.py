"""The training loop's parts that no generator overrides: NaN checks and checkpoints."""

from __future__ import annotations

import math

import pytest
import torch

from genaug.errors import GenaugError
from genaug.models.base import LossMeter, NonFiniteLoss, Resume, check_finite, train_steps


def test_check_finite():
    check_finite(3, loss=1.0, kl=torch.tensor(0.5))
    with pytest.raises(FloatingPointError, match=r"non-finite loss at step 7: kl=nan"):
        check_finite(7, loss=1.0, kl=float("nan"))
    with pytest.raises(FloatingPointError, match="step 2: loss=inf"):
        check_finite(2, loss=math.inf)
    with pytest.raises(GenaugError, match="lower the generator's lr"):  # one line, no traceback
        check_finite(2, loss=math.nan)


def test_no_checkpoint_holds_a_diverged_run(tmp_path):
    """Losses are checked before every checkpoint, not only when logged: a run that went NaN
    between two logs stops at the next checkpoint and keeps the last good one."""
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    meter = LossMeter(lambda entry: None, log_every=100, steps=10)
    resume = Resume(tmp_path / "r.pt", "run-a", 2)
    with pytest.raises(NonFiniteLoss, match="non-finite loss at step 6: loss=nan"):
        for step in train_steps(10, resume, model, [opt], torch.Generator(), meter):
            meter.update(step, loss=torch.tensor(float("nan") if step == 5 else 1.0))
    assert torch.load(tmp_path / "r.pt", weights_only=True)["step"] == 4
