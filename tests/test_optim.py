"""genaug.optim.Adam: torch.optim.Adam's numbers and state format, without torch._dynamo."""

import subprocess
import sys

import pytest
import torch
from torch import nn

from genaug.optim import Adam


def _net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))


def _train(net: nn.Module, opt, steps: int, start: int = 0) -> None:
    for i in range(start, start + steps):
        g = torch.Generator().manual_seed(i)
        x, y = torch.randn(5, 1, 8, 8, generator=g), torch.randint(0, 3, (5,), generator=g)
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()


@pytest.mark.parametrize("fused", [None, True])
def test_same_bits_as_torch_adam(fused):
    ours, theirs = _net(), _net()
    _train(ours, Adam(ours.parameters(), lr=3e-3, betas=(0.5, 0.9), fused=fused), 12)
    _train(
        theirs, torch.optim.Adam(theirs.parameters(), lr=3e-3, betas=(0.5, 0.9), fused=fused), 12
    )
    for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(next(ours.parameters()), next(_net().parameters()))  # it trained


def test_state_dict_round_trip_and_torch_format():
    """A run stopped, saved and loaded into a new optimiser ends where an uninterrupted one
    does; the saved state loads into torch.optim.Adam too, and the other way round."""
    straight = _net()
    _train(straight, Adam(straight.parameters(), lr=1e-2), 10)

    for cls in (Adam, torch.optim.Adam):
        resumed = _net()
        first = Adam(resumed.parameters(), lr=1e-2)
        _train(resumed, first, 6)
        state = first.state_dict()
        assert state["param_groups"][0]["params"] == [0, 1, 2, 3]
        assert torch.equal(state["state"][0]["step"], torch.tensor(6.0))
        second = cls(resumed.parameters(), lr=0.5)  # the saved lr wins
        second.load_state_dict(state)
        _train(resumed, second, 4, start=6)
        for a, b in zip(resumed.parameters(), straight.parameters(), strict=True):
            assert torch.equal(a, b)

    net = _net()
    theirs = torch.optim.Adam(net.parameters(), lr=1e-2)
    _train(net, theirs, 3)
    ours = Adam(net.parameters())
    ours.load_state_dict(theirs.state_dict())
    assert ours.param_groups[0]["lr"] == 1e-2
    saved = theirs.state_dict()["state"][1]["exp_avg"]
    assert torch.equal(ours.state_dict()["state"][1]["exp_avg"], saved)


def test_rejects_another_models_state():
    state = Adam(_net().parameters()).state_dict()
    with pytest.raises(ValueError, match="of 4 parameters, not of these 2"):
        Adam(nn.Linear(2, 2).parameters()).load_state_dict(state)


def test_does_not_import_the_compiler_stack():
    """The point of the class: a training step leaves torch._dynamo unimported (a fresh
    interpreter, as a job is)."""
    code = (
        "import sys, torch\n"
        "from genaug.optim import Adam\n"
        "net = torch.nn.Linear(3, 2); opt = Adam(net.parameters())\n"
        "net(torch.randn(4, 3)).sum().backward(); opt.step(); opt.zero_grad()\n"
        "opt.load_state_dict(opt.state_dict())\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
