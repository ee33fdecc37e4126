# Names, paths and input functions shared by the rules.
import re

from genaug.methods import generator_of, generators_of
from genaug.scenarios import (
    UNMEASURED,
    display_regime,
    parse_regime,
    regimes,
    scenario,
)
from genaug.workflow import generator_settings

OUT = config["outdir"]
SEEDS = config["replicates"]
METHODS = config["methods"]
# every generator block's effective settings (variants resolved), by method name
SETTINGS = generator_settings(config)
# the generators to train: the configured methods' own and those of combinations (dagan+classical)
GENERATORS = generators_of(METHODS, SETTINGS)
DATASET = config["dataset"]["name"]
MODE = {name: settings["mode"] for name, settings in SETTINGS.items()}
# per scenario (see genaug.scenarios), its regime tags (k1, k5 / frac0.1, ...), methods and
# metrics
REGIMES = {s: [r.tag for r in rs] for s, rs in regimes(config).items()}
SCENARIOS = list(REGIMES)
ALL_REGIMES = [tag for tags in REGIMES.values() for tag in tags]
SCENARIO_METHODS = {s: scenario(s).methods(config) for s in SCENARIOS}
# the generators each scenario runs (cyclegan: imbalance only), and those some scenario runs
SCENARIO_GENERATORS = {
    s: generators_of(ms, GENERATORS) for s, ms in SCENARIO_METHODS.items()
}
RUN_GENERATORS = [
    g for g in GENERATORS if any(g in gs for gs in SCENARIO_GENERATORS.values())
]
METRICS = {
    s: config["stats"]["metrics"].get(s) or list(scenario(s).default_metrics)
    for s in SCENARIOS
}
# the x axis of each scenario's figures names them: figures/<metric>_vs_<axis>.png
SCENARIO_OF_AXIS = {scenario(s).axis: s for s in SCENARIOS}
# one replicate of one regime: its split, fit-mode generators, classifier runs
TAG = "{regime}-seed{seed}"
SYNTHETIC = f"{OUT}/synthetic/{{generator}}/{TAG}.parquet"
SHARDS = f"{OUT}/synthetic/{{generator}}/{TAG}.shards"
# how synthetic images are written (genaug.generation.generate_replicate)
GENERATE = {
    "n_per_image": config["augment"]["n_per_image"],
    "shard_size": config["augment"]["shard_size"],
    "device": config["device"],
}


def display_tag(generator):
    """The regime whose synthetic images the sample figures show, of a scenario that runs
    ``generator``."""
    return display_regime(config, generator).tag


wildcard_constraints:
    regime="|".join(map(re.escape, ALL_REGIMES)),
    seed=r"\d+",
    method="|".join(map(re.escape, METHODS)),
    generator="|".join(SETTINGS),
    scenario="|".join(SCENARIOS),
    metric=r"[a-z][a-z0-9_]*",
    axis="|".join(SCENARIO_OF_AXIS),


def prepare_input(wildcards):
    """The embedded table is an input (relative paths: the working directory first, then
    the workflow's folder); downloaded datasets have none."""
    if DATASET != "omniglot_small":
        return {}
    path = config["datasets"]["omniglot_small"]["path"]
    if not os.path.isabs(path) and not os.path.exists(path):
        path = os.path.join(workflow.basedir, path)
    return {"table": path}


def checkpoint_scope(generator, regime, seed):
    """Transfer-mode generators are trained once; fit-mode ones per replicate, and so are
    finetune-mode ones (fine-tuned from their pretraining, at scope "source")."""
    if MODE[generator] == "transfer":
        return "source"
    return TAG.format(regime=regime, seed=seed)


def generator_dir(generator, regime, seed):
    return f"{OUT}/generators/{generator}/{checkpoint_scope(generator, regime, seed)}"


def classify_outputs(s):
    """The folders of a scenario's classify jobs, one per method: a JSON per run in each,
    <regime>-seed<s>.json."""
    return expand(f"{OUT}/classify/{{method}}/{s}", method=SCENARIO_METHODS[s])


def scenario_figures(s):
    return expand(
        f"{OUT}/figures/{{metric}}_vs_{scenario(s).axis}.png", metric=METRICS[s]
    )


def all_figures():
    figures = [f for s in SCENARIOS for f in scenario_figures(s)]
    for generator in RUN_GENERATORS:
        figures += [
            f"{OUT}/figures/synthetic_{generator}.png",
            f"{OUT}/figures/training_{generator}.png",
        ]
    return figures


def classify_inputs(wildcards):
    """A classify job's split and synthetic table of each run, regime after regime, one per
    seed (the order of ``scripts/classify.py``'s runs)."""
    regimes = REGIMES[wildcards.scenario]
    inputs = {
        "table": rules.prepare.output.table,
        "splits": expand(rules.subsample.output.split, regime=regimes, seed=SEEDS),
    }
    generator = generator_of(wildcards.method, GENERATORS)
    if generator is not None:
        inputs["synthetic"] = expand(
            SYNTHETIC, generator=generator, regime=regimes, seed=SEEDS
        )
    return inputs


def training_logs(wildcards):
    """Every training log of the generator, in the scenarios that run it (finetune mode:
    its pretraining's too)."""
    dirs = {
        generator_dir(wildcards.generator, regime, seed)
        for s in SCENARIOS
        if wildcards.generator in SCENARIO_GENERATORS[s]
        for regime in REGIMES[s]
        for seed in SEEDS
    }
    if MODE[wildcards.generator] == "finetune":
        dirs.add(f"{OUT}/generators/{wildcards.generator}/source")
    return sorted(f"{d}/train_log.csv" for d in dirs)


def training_settings(wildcards):
    """A training job's settings; those of a job that does not fine-tune leave out
    finetune_steps and finetune_lr, so that changing them retrains only the fine-tuning.
    """
    settings = SETTINGS[wildcards.generator]
    if hasattr(wildcards, "regime") and MODE[wildcards.generator] == "finetune":
        return settings
    return {
        k: v for k, v in settings.items() if k not in ("finetune_steps", "finetune_lr")
    }


def generators_in_mode(*modes):
    """A wildcard constraint: the names of the generator blocks in one of ``modes``."""
    return "|".join(name for name, mode in MODE.items() if mode in modes) or "(?!)"


def split_settings(wildcards):
    """The config block of the regime's scenario: how subsample splits it (imbalance: and
    tops the minority up, by its ratio)."""
    return config[parse_regime(wildcards.regime).scenario]


# the methods whose augmented images the quality stage measures, per scenario
QUALITY_METHODS = {
    s: [m for m in SCENARIO_METHODS[s] if m not in UNMEASURED] for s in SCENARIOS
}


QUALITY_SCENARIOS = [s for s in SCENARIOS if QUALITY_METHODS[s]]
# the HTML report's front page, which the summary job writes (the Snakefile's report)
FRONT_PAGE = f"{OUT}/report/front_page.rst"


# the generators whose synthetic images they are (dagan for dagan+classical), per scenario
QUALITY_GENERATORS = {
    s: generators_of(QUALITY_METHODS[s], GENERATORS) for s in SCENARIOS
}


def quality_inputs(wildcards):
    """A regime's quality job reads what its classify jobs read, for every measured method:
    the synthetic tables of QUALITY_GENERATORS, generator after generator, one per seed.
    """
    s = parse_regime(wildcards.regime).scenario
    return {
        "table": rules.prepare.output.table,
        "splits": expand(
            rules.subsample.output.split, regime=wildcards.regime, seed=SEEDS
        ),
        "synthetic": expand(
            SYNTHETIC,
            generator=QUALITY_GENERATORS[s],
            regime=wildcards.regime,
            seed=SEEDS,
        ),
        "encoders": expand(rules.quality_encoders.output.encoders, scenario=s)[0],
    }


def quality_figures():
    return [
        f"{OUT}/figures/{kind}_{s}.png"
        for s in QUALITY_SCENARIOS
        for kind in ("quality_gain", "neighbours")
    ]


def display_regime_of(s):
    """The regime of scenario ``s`` that its image figures show."""
    return REGIMES[s][scenario(s).display]
