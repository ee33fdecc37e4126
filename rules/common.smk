# Names, paths and input functions shared by the rules.
OUT = config["outdir"]
SHOTS = sorted(config["fewshot"]["shots"])
SEEDS = config["fewshot"]["seeds"]
METHODS = config["methods"]
GENERATORS = [m for m in METHODS if m in config["generators"]]
DATASET = config["dataset"]["name"]
MODE = {name: settings["mode"] for name, settings in config["generators"].items()}
# one (k, seed) replicate of the few-shot task: its split, fit-mode generators, runs
TAG = "k{k}-seed{seed}"
SYNTHETIC = f"{OUT}/synthetic/{{generator}}/{TAG}.parquet"
SHARDS = f"{OUT}/synthetic/{{generator}}/{TAG}.shards"


wildcard_constraints:
    k=r"\d+",
    seed=r"\d+",
    method="|".join(METHODS),
    generator="|".join(config["generators"]),
    scope=r"source|k\d+-seed\d+",


def prepare_input(wildcards):
    """The embedded table is an input (relative paths: the working directory first, then
    the workflow's folder); downloaded datasets have none."""
    if DATASET != "omniglot_small":
        return {}
    path = config["datasets"]["omniglot_small"]["path"]
    if not os.path.isabs(path) and not os.path.exists(path):
        path = os.path.join(workflow.basedir, path)
    return {"table": path}


def checkpoint_scope(generator, k, seed):
    """Transfer-mode generators are trained once; fit-mode ones per replicate."""
    return "source" if MODE[generator] == "transfer" else TAG.format(k=k, seed=seed)


def generator_dir(generator, k, seed):
    return f"{OUT}/generators/{generator}/{checkpoint_scope(generator, k, seed)}"


def all_figures():
    figures = [f"{OUT}/figures/accuracy_vs_shots.png"]
    for generator in GENERATORS:
        figures += [
            f"{OUT}/figures/synthetic_{generator}.png",
            f"{OUT}/figures/training_{generator}.png",
        ]
    return figures


def generator_inputs(wildcards):
    inputs = {"table": rules.prepare.output.table}
    if wildcards.scope != "source":
        inputs["split"] = f"{OUT}/splits/{wildcards.scope}.parquet"
    return inputs


def classify_inputs(wildcards):
    k = wildcards.k
    inputs = {
        "table": rules.prepare.output.table,
        "splits": expand(rules.subsample.output.split, k=k, seed=SEEDS),
    }
    if wildcards.method in GENERATORS:
        inputs["synthetic"] = expand(
            SYNTHETIC, generator=wildcards.method, k=k, seed=SEEDS
        )
    return inputs


def training_logs(wildcards):
    return sorted(
        {
            f"{generator_dir(wildcards.generator, k, seed)}/train_log.csv"
            for k in SHOTS
            for seed in SEEDS
        }
    )
