# Names, paths and input functions shared by the rules.
import re

from genaug.workflow import LEVEL_COLUMN, regimes, scenario_methods

OUT = config["outdir"]
SEEDS = config["replicates"]
METHODS = config["methods"]
GENERATORS = [m for m in METHODS if m in config["generators"]]
DATASET = config["dataset"]["name"]
MODE = {name: settings["mode"] for name, settings in config["generators"].items()}
# per scenario, its regime tags (k1, k5 / frac0.1, ...), methods and metrics
REGIMES = {s: [r.tag for r in rs] for s, rs in regimes(config).items()}
SCENARIOS = list(REGIMES)
ALL_REGIMES = [tag for tags in REGIMES.values() for tag in tags]
SCENARIO_METHODS = {s: scenario_methods(config, s) for s in SCENARIOS}
METRICS = config["stats"]["metrics"]
# the x axis of each scenario's figures: figures/<metric>_vs_<axis>.png
AXIS = {"fewshot": "shots", "imbalance": "fraction"}
SCENARIO_OF_AXIS = {axis: scenario for scenario, axis in AXIS.items()}
# one replicate of one regime: its split, fit-mode generators, classifier runs
TAG = "{regime}-seed{seed}"
SYNTHETIC = f"{OUT}/synthetic/{{generator}}/{TAG}.parquet"
SHARDS = f"{OUT}/synthetic/{{generator}}/{TAG}.shards"
# the regime whose synthetic images the sample figures show
DISPLAY_REGIME = (
    REGIMES["fewshot"][-1] if "fewshot" in REGIMES else REGIMES["imbalance"][0]
)


wildcard_constraints:
    regime="|".join(map(re.escape, ALL_REGIMES)),
    seed=r"\d+",
    method="|".join(METHODS),
    generator="|".join(config["generators"]),
    scenario="|".join(SCENARIOS),
    metric=r"[a-z][a-z0-9_]*",
    axis="|".join(AXIS[s] for s in SCENARIOS),


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
    """Transfer-mode generators are trained once; fit-mode ones per replicate."""
    if MODE[generator] == "transfer":
        return "source"
    return TAG.format(regime=regime, seed=seed)


def generator_dir(generator, regime, seed):
    return f"{OUT}/generators/{generator}/{checkpoint_scope(generator, regime, seed)}"


def classify_outputs(scenario):
    return expand(
        f"{OUT}/classify/{{method}}/{TAG}.json",
        method=SCENARIO_METHODS[scenario],
        regime=REGIMES[scenario],
        seed=SEEDS,
    )


def scenario_figures(scenario):
    return expand(
        f"{OUT}/figures/{{metric}}_vs_{AXIS[scenario]}.png", metric=METRICS[scenario]
    )


def all_figures():
    figures = [f for scenario in SCENARIOS for f in scenario_figures(scenario)]
    for generator in GENERATORS:
        figures += [
            f"{OUT}/figures/synthetic_{generator}.png",
            f"{OUT}/figures/training_{generator}.png",
        ]
    return figures


def classify_inputs(wildcards):
    regime = wildcards.regime
    inputs = {
        "table": rules.prepare.output.table,
        "splits": expand(rules.subsample.output.split, regime=regime, seed=SEEDS),
    }
    if wildcards.method in GENERATORS:
        inputs["synthetic"] = expand(
            SYNTHETIC, generator=wildcards.method, regime=regime, seed=SEEDS
        )
    return inputs


def training_logs(wildcards):
    return sorted(
        {
            f"{generator_dir(wildcards.generator, regime, seed)}/train_log.csv"
            for regime in ALL_REGIMES
            for seed in SEEDS
        }
    )
