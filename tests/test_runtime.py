"""``genaug.runtime``: a job's deterministic setup, without PyTorch's compiler stack, and the
GPU-path switches, channels-last (CUDA only) and torch.compile; and the end of a job's script."""

from __future__ import annotations

import ast
import gc
import json
import subprocess
import sys
from types import SimpleNamespace

import pandas as pd
import pytest
import torch

from conftest import REPO, train_into
from genaug import runtime
from genaug.data.fewshot import fewshot_split
from genaug.models import load_generator
from genaug.models.classifier import ConvNet
from genaug.models.dagan import DAGAN
from genaug.workflow import run_script

CPU, CUDA = torch.device("cpu"), torch.device("cuda")

# in a fresh process: the switches runtime.setup sets, next to torch.use_deterministic_algorithms'
SWITCHES = """
import json, sys, torch
from genaug import runtime

def switches():
    config = sys.modules.get("torch._inductor.config")
    return [torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled(),
            None if config is None else config.deterministic]

def put_():  # an operation without a deterministic CPU kernel
    try:
        torch.zeros(3).put_(torch.tensor([0, 0]), torch.ones(2))
        return "ran"
    except RuntimeError as err:
        return str(err).splitlines()[0]

out = {}
for device in ("cpu", "cuda"):  # "cuda" needs no GPU: setup only sets switches for it
    runtime.setup(device=device)
    out[device] = switches()
    out[f"put_ {device}"] = put_()
out["compiler_stack_imported"] = "torch._dynamo" in sys.modules
out["fills_uninitialised_memory"] = torch.utils.deterministic.fill_uninitialized_memory
import torch._inductor.config  # as compile: true does, after setup
out["inductor_after_setup"] = switches()[2]
for warn_only in (False, True):  # the reference, then setup with the config loaded
    torch.use_deterministic_algorithms(True, warn_only=warn_only)
    out[f"reference_warn_only_{warn_only}"] = switches()
    torch.use_deterministic_algorithms(False)
    runtime.setup(device="cuda" if warn_only else "cpu")
    out[f"setup_warn_only_{warn_only}"] = switches()
print(json.dumps(out))
"""


def test_setup_sets_deterministic_mode_without_the_compiler_stack():
    """``runtime.setup`` sets what ``torch.use_deterministic_algorithms`` sets (ATen's switch,
    warn-only on CUDA, and Inductor's deterministic mode, for a config loaded before or
    after), without importing ``torch._dynamo`` (about 0.8 CPU s a job), and without the
    mode's NaN fill of new tensors."""
    proc = subprocess.run([sys.executable, "-c", SWITCHES], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["cpu"] == [True, False, None] and out["cuda"] == [True, True, None]
    assert out["compiler_stack_imported"] is False
    assert out["fills_uninitialised_memory"] is False
    assert out["inductor_after_setup"] is True
    for warn_only in (False, True):
        reference = out[f"reference_warn_only_{warn_only}"]
        assert out[f"setup_warn_only_{warn_only}"] == reference == [True, warn_only, True]
    # on the CPU it is an error, with warn-only (CUDA) a warning
    assert "does not have a deterministic implementation" in out["put_ cpu"]
    assert out["put_ cuda"] == "ran"


def test_run_script_freezes_the_heap_before_the_job_exits():
    """What is left when ``main`` returns is out of the collector's reach, so the collections
    at exit do not walk it; a script's job process ends right after (see the next test)."""
    gc.unfreeze()
    try:
        run_script(lambda _: None, SimpleNamespace(rule="noop"))
        assert gc.get_freeze_count() > 0
    finally:
        gc.enable()
        gc.unfreeze()


def test_run_script_imports_without_the_collector_until_setup():
    """A job's imports run with the cyclic garbage collector off; ``runtime.setup`` (after
    them) freezes what they made and turns it back on for the work."""
    seen = {}

    def main(_):
        seen["imports"] = gc.isenabled()
        runtime.setup(seed=0, device="cpu")
        seen["work"], seen["frozen"] = gc.isenabled(), gc.get_freeze_count() > 0

    gc.unfreeze()
    try:
        run_script(main, SimpleNamespace(rule="noop"))
    finally:
        gc.enable()
        gc.unfreeze()
    assert seen == {"imports": False, "work": True, "frozen": True}
    runtime.setup(seed=0, device="cpu")  # outside a job (here, in pytest): no freezing
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_every_rule_script_ends_with_run_script():
    for script in sorted((REPO / "scripts").glob("*.py")):
        last = ast.parse(script.read_text()).body[-1]
        assert isinstance(last, ast.Expr) and isinstance(last.value, ast.Call), script.name
        assert ast.unparse(last.value.func) == "run_script", script.name


def test_channels_last_is_a_no_op_on_the_cpu():
    x = torch.rand(4, 3, 8, 8)
    assert runtime.channels_last(x, CPU) is x
    model = ConvNet(5, 28, 8, in_channels=3)
    strides = [p.stride() for p in model.parameters()]
    assert runtime.prepare(model, CPU) is model
    assert [p.stride() for p in model.parameters()] == strides
    assert all(p.is_contiguous() for p in model.parameters())


def test_channels_last_on_cuda_converts_models_and_image_batches():
    """The CUDA branch, run on CPU tensors (it only changes strides): 4-D tensors and the
    conv weights become channels-last, values and outputs stay the same."""
    x = torch.rand(4, 3, 16, 16)
    y = runtime.channels_last(x, CUDA)
    assert y.is_contiguous(memory_format=torch.channels_last) and not y.is_contiguous()
    assert torch.equal(x, y)
    labels = torch.arange(4)
    assert runtime.channels_last(labels, CUDA) is labels  # not an image batch
    torch.manual_seed(0)
    model = ConvNet(5, 16, 8, in_channels=3).eval()
    expected = model(x)
    runtime.channels_last(model, CUDA)
    weight = model.features[0][0].weight
    assert weight.is_contiguous(memory_format=torch.channels_last)
    out = model(y)
    torch.testing.assert_close(out, expected)
    # indexing a channels-last batch keeps the format, so sampled batches stay channels-last
    assert y[torch.tensor([2, 0])].is_contiguous(memory_format=torch.channels_last)


def test_compile_leaves_out_the_dagan_critic():
    model = DAGAN(16, base_channels=4, critic_channels=4, z_dim=4)
    assert model.networks() == [model.net]  # the gradient penalty needs a double backward


@pytest.mark.slow
def test_compile_trains_a_generator_on_the_cpu(embedded, tmp_path):
    """``compile: true`` on the CPU (Inductor, gcc): a cVAE trains through the compiled
    networks, its log matches the eager run's to float tolerance, and its checkpoint keeps
    the usual parameter names. (Minutes of compilation on a loaded 2-core machine.)"""
    target = embedded[embedded["role"] == "target"]["label"].unique()[:3]
    table = embedded[embedded["label"].isin(target)].reset_index(drop=True)
    split = fewshot_split(table, k=2, k_max=3, seed=0)
    settings = {
        "mode": "fit",
        "steps": 4,
        "batch_size": 8,
        "lr": 1e-3,
        "threads": 1,
        "hparams": {"latent_dim": 4, "hidden_channels": 4},
    }
    logs = {}
    for compile in (False, True):
        out = tmp_path / str(compile)
        train_into(out, "cvae", settings, table, split, seed=0, compile=compile)
        logs[compile] = pd.read_csv(out / "log.csv").drop(columns="seconds")
        model = load_generator(out / "model.pt")  # an eager model loads the weights
        assert model.checkpoint_extra["provenance"]["compile"] is compile
    assert logs[True]["step"].tolist() == logs[False]["step"].tolist() == [1, 2, 3, 4]
    pd.testing.assert_frame_equal(logs[True], logs[False], rtol=1e-4)


def test_prepare_compiles_the_given_parts_in_place():
    """Compiling is lazy (nothing is built before the first call), so this is fast."""
    model = DAGAN(16, base_channels=4, critic_channels=4, z_dim=4)
    keys = list(model.state_dict())
    runtime.prepare(model, CPU, compile=True, parts=model.networks())
    assert list(model.state_dict()) == keys
    assert model.net._compiled_call_impl is not None
    assert model.critic._compiled_call_impl is None


FAULTS = """
import resource, sys, torch
import torch.nn.functional as F
from genaug import runtime
from genaug.models.classifier import ConvNet
from genaug.optim import Adam
kept = runtime.keep_freed_memory() if sys.argv[1] == "keep" else None
torch.manual_seed(0)
torch.set_num_threads(1)
model = ConvNet(20, 28, 32).to(memory_format=torch.channels_last)
optimizer = Adam(model.parameters())
x, y = torch.rand(16, 1, 28, 28).to(memory_format=torch.channels_last), torch.arange(16)
def step():
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    optimizer.step()
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print(kept, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_keep_freed_memory_stops_the_page_faults_of_each_training_step():
    """With keep_freed_memory (which runtime.setup calls), the steps of the default classifier
    after the first reuse the memory the first one freed: 20 steps took 1 to 900 page faults
    here, against 5,800 to 80,000 with glibc's default thresholds (which adapt to a process's
    allocations, so how many they take varies from run to run)."""
    out = subprocess.run([sys.executable, "-c", FAULTS, "keep"], capture_output=True,
                         text=True, check=True).stdout.split()  # fmt: skip
    assert out[0] == "True"
    assert int(out[1]) < 2000, out
