"""Bad configs stop the run before any job, with one line naming the key."""

from __future__ import annotations

import copy
import shlex

import pytest
import yaml

from conftest import REPO, snakemake
from genaug.errors import GenaugError
from genaug.scenarios import OWN_METHODS
from genaug.seeds import derive_seed
from genaug.workflow import check_config

SCHEMA = REPO / "config" / "schema.yaml"


def default_config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


#: every experiment config shipped in config/
CONFIGS = sorted(p.name for p in (REPO / "config").glob("*.yaml") if p.name != "schema.yaml")


@pytest.mark.parametrize("name", CONFIGS)
def test_shipped_configs_are_valid(name):
    config = merged(default_config(), yaml.safe_load((REPO / "config" / name).read_text()))
    check_config(config, SCHEMA)


@pytest.mark.parametrize(
    "edit, where",
    [
        (lambda c: c["methods"].append("gan"), f"methods[{len(default_config()['methods'])}]"),
        (lambda c: c["fewshot"].update(shots=[1, 25]), "fewshot.shots[1]"),
        (lambda c: c.update(replicates=[0, -1]), "replicates[1]"),
        (lambda c: c["imbalance"].update(fractions=[0.1, 1.5]), "imbalance.fractions[1]"),
        (
            lambda c: c["stats"]["metrics"].update(fewshot=["minority_f1"]),
            "stats.metrics.fewshot[0]",
        ),
        (lambda c: c.pop("classifier"), "(top level)"),
        (lambda c: c["generators"].update(gan=c["generators"]["dagan"]), "generators.gan"),
        (lambda c: c["methods"].remove("none"), "methods"),
        (lambda c: c["generators"]["dagan"].update(mode="both"), "generators.dagan.mode"),
        (lambda c: c["generators"]["cvae"].update(mode="transfer"), "generators.cvae.mode"),
        # a strong baseline that is no method, or none
        (lambda c: c["stats"]["against"].update(fewshot=["classic"]), "stats.against.fewshot[0]"),
        (lambda c: c["stats"]["against"].update(imbalance=["oversample", "none"]),
         "stats.against.imbalance[1]"),
        (lambda c: c["stats"]["against"].update(imbalance="oversample"), "stats.against.imbalance"),
    ],
)  # fmt: skip
def test_schema_errors_are_one_line(edit, where):
    config = copy.deepcopy(default_config())
    edit(config)
    with pytest.raises(GenaugError) as err:
        check_config(config, SCHEMA)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"config error at {where}:"), message
    assert "fix it" in message


def test_cli_stops_before_any_job(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("fewshot:\n  shots: [1, 30]\n  n_classes: null\n  redraw_classes: false\n")
    proc = snakemake(tmp_path, "--cores", "1", f"--configfile={bad}", check=False)
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("config error at fewshot.shots[1]: 30 is greater than")
    assert len([line for line in lines if "config error" in line]) == 1
    assert not (tmp_path / "results").exists()


def test_derive_seed_is_stable_and_separates_streams():
    assert derive_seed(0, "classifier", 1) == derive_seed(0, "classifier", 1)
    assert derive_seed(0, "classifier", 1) != derive_seed(0, "classifier", 2)
    assert 0 <= derive_seed("x") < 2**31


def test_rule_scripts_end_bad_input_with_one_line(tmp_path, capsys):
    """A GenaugError in a rule script (bad data, a NaN loss, ...) exits 1 with its one line
    in the rule's log and on stderr, no traceback."""
    import gc
    from types import SimpleNamespace

    from genaug.models.base import check_finite
    from genaug.workflow import run_script

    log = tmp_path / "rule.log"
    smk = SimpleNamespace(log=[str(log)], rule="train_generator")
    with pytest.raises(SystemExit) as exit_:
        try:
            run_script(lambda _: check_finite(40, critic_loss=float("nan")), smk)
        finally:
            gc.enable()  # run_script ends a job's process; this is pytest's
    assert exit_.value.code == 1
    lines = log.read_text().strip().splitlines()
    assert len(lines) == 1 and "non-finite loss at step 40: critic_loss=nan" in lines[0]
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("name", CONFIGS)
def test_every_shipped_config_plans_quickly(name, tmp_path):
    """`snakemake -n` plans each experiment config offline, and fast, with one split per
    (regime, replicate) and one classify job per (method, regime)."""
    import time

    start = time.perf_counter()
    proc = snakemake(tmp_path, "-n", "--quiet", "rules", f"--configfile={REPO / 'config' / name}")
    assert time.perf_counter() - start < 30
    config = merged(default_config(), yaml.safe_load((REPO / "config" / name).read_text()))
    check_planned_jobs(proc.stdout, config)


def check_planned_jobs(stdout: str, config: dict) -> None:
    """The dry run's "Job stats" table has one split per (regime, replicate) and one classify
    job per (method, scenario) of ``config``."""
    counts = {}  # the "Job stats" table: "<rule> <count>" lines
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    n_regimes = {"fewshot": len(config["fewshot"]["shots"])}
    n_regimes["imbalance"] = len(config["imbalance"]["fractions"])
    n_jobs = {"subsample": 0, "classify": 0}
    for scenario in config["scenarios"]:
        methods = [m for m in config["methods"] if scenario == "imbalance" or m not in OWN_METHODS]
        n_jobs["subsample"] += len(config["replicates"]) * n_regimes[scenario]
        n_jobs["classify"] += len(methods)  # every regime's seeds in one job
    assert {rule: counts.get(rule) for rule in n_jobs} == n_jobs


def readme_config_examples() -> list[list[str]]:
    """The arguments of every `snakemake ... --config ...` command line in README.md."""
    return [
        shlex.split(line)[1:]
        for line in (REPO / "README.md").read_text().splitlines()
        if line.startswith("snakemake ") and " --config " in line
    ]


#: overrides of the lists and numbers README's "Configure" table shows, as a user types them
#: (Snakemake hands every value inside a list or mapping over as a string)
CONFIG_OVERRIDES = [
    ["--config", "replicates=[0,1,2]"],
    ["--config", "fewshot={shots: [1, 3, 5], n_classes: 5, redraw_classes: true}"],
    ["--config", "imbalance={fractions: [0.1, 0.5], ratio: 1.0, minority_class: 2}"],
    ["--config", "scenarios=[imbalance]", "augment={n_per_image: 2, classical: {scale: [1, 1.5]}}"],
    ["--config", "classifier={steps: 50, batch_size: 16, lr: 0.01}", "seed=3"],
]


@pytest.mark.parametrize("args", readme_config_examples() + CONFIG_OVERRIDES, ids=" ".join)
def test_config_overrides_plan(args, tmp_path):
    """Each `--config` of the README, and of the lists and numbers it documents, plans with
    `snakemake -n`, and the plan follows the override."""
    from snakemake.cli import parse_config

    entries = args[args.index("--config") + 1 :]
    entries = entries[: next((i for i, a in enumerate(entries) if a.startswith("-")), None)]
    proc = snakemake(tmp_path, "-n", *args)
    config = merged(default_config(), parse_config(entries))
    check_planned_jobs(proc.stdout, config)
    outputs = [line.split(":", 1)[1] for line in proc.stdout.splitlines() if "output:" in line]
    paths = [p.strip() for line in outputs for p in line.split(",")]
    assert paths and all(p.startswith(f"{config['outdir']}/") for p in paths)


@pytest.mark.parametrize(
    "key, given, becomes",
    [
        ("replicates", ["0", "1", "2"], [0, 1, 2]),
        ("fewshot.shots", ["1", " 3", "5"], [1, 3, 5]),
        ("fewshot.n_classes", "null", None),
        ("fewshot.redraw_classes", "true", True),
        ("imbalance.fractions", ["0.1", ".5", "1"], [0.1, 0.5, 1]),
        ("imbalance.ratio", "1e0", 1.0),
        ("augment.classical.scale", ["0.9", "1.1"], [0.9, 1.1]),
        ("generators.cvae.steps", "10", 10),  # through $ref and allOf
        ("datasets.utkface.channels", "3", 3),  # an untyped enum of numbers
        ("datasets.utkface.md5", "0" * 32, "0" * 32),  # a string stays a string
    ],
)
def test_config_strings_become_the_schema_types(key, given, becomes):
    config = copy.deepcopy(default_config())
    *parents, leaf = key.split(".")
    node = config
    for part in parents:
        node = node[part]
    node[leaf] = given
    check_config(config, SCHEMA)
    assert repr(node[leaf]) == repr(becomes)  # the value and its type (1 is not 1.0)


def test_config_strings_that_are_not_numbers_still_fail():
    config = copy.deepcopy(default_config())
    config["replicates"] = ["0", "1x"]
    with pytest.raises(GenaugError, match=r"^config error at replicates\[1\]: '1x' is not of"):
        check_config(config, SCHEMA)


def merged(base: dict, override: dict) -> dict:
    """A config file on top of the default one, merged key by key as Snakemake does."""
    out = dict(base)
    for key, value in override.items():
        out[key] = merged(base[key], value) if isinstance(value, dict) and key in base else value
    return out


# the `datasets:` block of each dataset a config can name, as an experiment config sets it
DATASET_BLOCKS = {
    "utkface": {
        "url": "https://example.org/UTKFace.tar.gz",
        "md5": "ae1a16905fbd795db921ff1d940df9cc",
        "download_dir": "downloads/utkface",
        "channels": 3,
    },
    "celeba": {"root": "data/celeba", "attribute": "Smiling", "channels": 1, "limit": 5000},
    "imagefolder": {"root": "/data/my_images", "channels": 3},
}


@pytest.mark.parametrize("name", sorted(DATASET_BLOCKS))
def test_schema_accepts_each_dataset(name):
    config = copy.deepcopy(default_config())
    config["dataset"] = {"name": name, "image_size": 64}
    config["datasets"][name] = DATASET_BLOCKS[name]
    check_config(config, SCHEMA)
    assert set(DATASET_BLOCKS[name]) <= set(default_config()["datasets"][name])


@pytest.mark.parametrize(
    "edit, where, says",
    [
        (lambda d: d["utkface"].update(md5="abc"), "datasets.utkface.md5", "md5 of UTKFace"),
        (lambda d: d["utkface"].pop("download_dir"), "datasets.utkface", "'download_dir'"),
        (lambda d: d["celeba"].update(attribute="Male Young"), "datasets.celeba.attribute",
         "list_attr_celeba.txt"),
        (lambda d: d["celeba"].update(limit=0), "datasets.celeba.limit", "first"),
        (lambda d: d["imagefolder"].update(channels=4), "datasets.imagefolder.channels",
         "1 = grayscale"),
        (lambda d: d["imagefolder"].update(path="x"), "datasets.imagefolder", "'path'"),
        (lambda d: d.update(mnist={}), "datasets", "'mnist'"),
    ],
)  # fmt: skip
def test_schema_rejects_a_bad_dataset_block(edit, where, says):
    config = copy.deepcopy(default_config())
    edit(config["datasets"])
    with pytest.raises(GenaugError) as err:
        check_config(config, SCHEMA)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"config error at {where}:"), message
    assert says in message, message


def test_schema_knows_the_new_dataset_names():
    config = copy.deepcopy(default_config())
    config["dataset"]["name"] = "mnist"
    with pytest.raises(GenaugError, match=r"dataset.name: 'mnist' is not one of .*imagefolder"):
        check_config(config, SCHEMA)


#: a variant of cvae in fit mode, beside cvae (finetune in the default config)
CVAE_FIT = {"model": "cvae", "mode": "fit", "steps": 50, "hparams": {"beta": 2.0}}


def test_variants_take_what_they_leave_out_from_their_model():
    from genaug.workflow import generator_settings

    config = default_config()
    config["generators"]["cvae_fit"] = copy.deepcopy(CVAE_FIT)
    config["methods"].append("cvae_fit")
    check_config(config, SCHEMA)
    settings = generator_settings(config)
    cvae = config["generators"]["cvae"]
    assert settings["cvae_fit"] == {
        **cvae,
        "model": "cvae",
        "mode": "fit",
        "steps": 50,
        "hparams": {**cvae["hparams"], "beta": 2.0},
        "finetune_lr": cvae["lr"],
    }
    # finetune_steps given, finetune_lr left to lr
    assert settings["cvae"] == {**cvae, "model": "cvae", "finetune_lr": cvae["lr"]}
    dagan = config["generators"]["dagan"]
    assert settings["dagan"] == {**dagan, "model": "dagan", "finetune_steps": dagan["steps"],
                                 "finetune_lr": dagan["lr"]}  # fmt: skip
    assert config["generators"]["cvae_fit"] == CVAE_FIT  # the config itself is left alone


@pytest.mark.parametrize(
    "variant, method, where",
    [
        ({"model": "cvx", "mode": "fit"}, "cvae_fit", "generators.cvae_fit.model"),
        ({"mode": "fit"}, "cvae_fit", "generators.cvae_fit"),  # no model
        ({"model": "cvae", "stepz": 3}, "cvae_fit", "generators.cvae_fit"),
        ({"model": "dagan", "mode": "finetune"}, "cvae_fit", "generators.cvae_fit.mode"),
        ({"model": "cvae", "mode": "transfer"}, "cvae_fit", "generators.cvae_fit.mode"),
        (None, "cvae_fit", "methods[1]"),  # a method without a block
    ],
)
def test_bad_variants_are_one_line(variant, method, where):
    """As the Snakefile checks a config: the schema, the methods, then the modes."""
    from genaug.models import check_modes

    config = default_config()
    config["methods"] = ["none", method]
    if variant is not None:
        config["generators"][method] = variant
    with pytest.raises(GenaugError) as err:
        check_config(config, SCHEMA)
        check_modes(config)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"config error at {where}:"), message
    assert "fix it" in message
