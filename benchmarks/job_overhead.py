"""Per-job overhead of classify: the fixed cost of one job against the cost of one seed, and
the config's seeds (up to ``--seeds``) run as single-seed jobs (one process each) against one
batched job.

A job here is what Snakemake's ``script:`` directive starts for rule classify: a fresh Python
process that imports torch and genaug, sets up, reads the prepared table and trains and tests
the classifier once per seed, inside ``genaug.workflow.run_script`` (as ``scripts/classify.py``
does; Snakemake's own scheduling is not counted). The data is the embedded Omniglot subset,
prepared and split as the workflow does, with the classifier settings of a config file, on
the CPU. Each measurement is given in wall seconds and in CPU seconds of the job process
(user + system): the CPU seconds change little when other work shares the machine, the wall
seconds do.

A job's fixed cost (``job_fixed_cost``) is what it costs with the seeds' training and testing
taken out: interpreter start, the imports, ``runtime.setup``, reading the table, the first
optimiser step (``first_optimizer``: ``genaug.optim.Adam``, which unlike a ``torch.optim``
optimiser does not import PyTorch's compiler stack) and the process's exit. Writes a CSV:

    python benchmarks/job_overhead.py --out benchmarks/job-overhead-cpu.csv
    python benchmarks/job_overhead.py --repeats 1 --steps 20   # a quick look
"""

from __future__ import annotations

import time

# a job's clocks start before its heavy imports
START, START_CPU, START_WALL = time.perf_counter(), time.process_time(), time.time()

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import yaml  # noqa: E402
from throughput import cpu_name  # noqa: E402  (same folder)

REPO = Path(__file__).resolve().parents[1]
FIELDS = ["measurement", "median_s", "min_s", "median_cpu_s", "repeats", "seeds", "method",
          "k", "steps", "threads", "device_name", "torch"]  # fmt: skip


def job(args: argparse.Namespace) -> dict:
    """One classify job (this process): what ``scripts/classify.py`` does, timed. Each part
    is ``[wall seconds, CPU seconds of this process]``."""
    times: dict = {"process_start": [START_WALL - args.launched, None]}
    clock = [START, START_CPU]

    def lap() -> list[float]:
        now = [time.perf_counter(), time.process_time()]
        part = [now[0] - clock[0], now[1] - clock[1]]
        clock[:] = now
        return part

    import torch

    times["import_torch"] = lap()
    from genaug import classify, io, runtime
    from genaug.optim import Adam
    from genaug.scenarios import Regime

    times["import_genaug"] = lap()
    settings = json.loads(args.settings)
    device = runtime.setup(threads=args.threads, seed=0, device="cpu")
    times["setup"] = lap()
    table = io.read_parquet(Path(args.data) / "prepared.parquet")
    times["read_table"] = lap()
    param = torch.zeros(1, requires_grad=True)
    optimizer = Adam([param])
    param.sum().backward()
    optimizer.step()
    times["first_optimizer"] = lap()
    times["seeds"] = []
    regime, augment = Regime("fewshot", args.k), json.loads(args.augment)
    for seed in args.job:
        split = io.read_parquet(Path(args.data) / f"k{args.k}-seed{seed}.parquet")
        record = classify.run(
            args.method, regime, seed, table, split, None, settings, augment, device
        )
        io.write_json(record, Path(args.data) / f"{args.method}-k{args.k}-seed{seed}.json")
        times["seeds"].append(lap())
    times["torch"] = torch.__version__
    times["in_script"] = [time.perf_counter() - START, time.process_time() - START_CPU]
    return times


def run_process(cmd: list[str]) -> tuple[list[float], str]:
    """``[wall, CPU]`` seconds of a child process from start to exit, and its stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return [wall, cpu], out


def run_job(seeds: list[int], args: argparse.Namespace) -> tuple[list[float], dict]:
    """``[wall, CPU]`` seconds of one job process (interpreter start to exit), and its own
    timings; ``process_start`` + ``process_exit`` together are the process's CPU time outside
    the script, booked to ``process_exit`` (which includes ``run_script``'s end)."""
    cmd = [sys.executable, __file__, "--data", args.data, "--settings", args.settings,
           "--augment", args.augment,
           "--method", args.method, "--k", str(args.k), "--threads", str(args.threads),
           "--launched", repr(time.time()), "--job", *map(str, seeds)]  # fmt: skip
    total, out = run_process(cmd)
    times = json.loads(out.strip().splitlines()[-1])
    wall_start, script = times["process_start"][0], times["in_script"]
    times["process_exit"] = [total[0] - wall_start - script[0], total[1] - script[1]]
    return total, times


def prepare_data(folder: Path, k: int, seeds: list[int], config: dict) -> None:
    """The prepared table and the (k, seed) splits, as rules prepare and subsample make them."""
    from genaug import io
    from genaug.data.fewshot import fewshot_split
    from genaug.data.omniglot import prepare_embedded

    size = config["dataset"]["image_size"]
    prepare_embedded(
        REPO / config["datasets"]["omniglot_small"]["path"], folder / "prepared.parquet", size
    )
    table = io.read_parquet(folder / "prepared.parquet")
    k_max = max(config["fewshot"]["shots"])
    for seed in seeds:
        split = fewshot_split(table, k, k_max, seed, config["fewshot"]["n_classes"])
        io.write_parquet(split, folder / f"k{k}-seed{seed}.parquet")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "config" / "config.yaml"))
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "job-overhead-cpu.csv"))
    parser.add_argument("--method", default="none", help="none, classical or erasing")
    parser.add_argument("--k", type=int, default=1, help="shots per class")
    parser.add_argument("--seeds", type=int, default=5, help="seeds per batched job")
    parser.add_argument("--steps", type=int, help="classifier steps (default: the config's)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads")
    parser.add_argument("--repeats", type=int, default=3, help="times each measurement runs")
    parser.add_argument("--data", help=argparse.SUPPRESS)  # the child: where the data is
    parser.add_argument("--settings", help=argparse.SUPPRESS)  # the child: classifier settings
    parser.add_argument("--augment", help=argparse.SUPPRESS)  # the child: augment settings
    parser.add_argument("--launched", type=float, help=argparse.SUPPRESS)  # the child: when
    parser.add_argument("--job", nargs="+", type=int, help=argparse.SUPPRESS)  # child: seeds
    args = parser.parse_args(argv)
    if args.job:  # a job: its timings on stdout, then run_script's end and the exit
        from genaug.workflow import run_script

        run_script(lambda _: print(json.dumps(job(args)), flush=True), SimpleNamespace())
        return 0

    config = yaml.safe_load(Path(args.config).read_text())
    settings = dict(config["classifier"])
    if args.steps:
        settings["steps"] = args.steps
    seeds = config["replicates"][: args.seeds]
    samples: dict[str, list[list[float | None]]] = {}

    def add(name: str, value: list[float | None]) -> None:
        samples.setdefault(name, []).append(value)

    with tempfile.TemporaryDirectory() as tmp:
        prepare_data(Path(tmp), args.k, seeds, config)
        # one transformed copy per image, as in the measurements before the config had more
        augment = {**config["augment"], "n_per_image": 1}
        args.data, args.settings, args.augment = tmp, json.dumps(settings), json.dumps(augment)
        for repeat in range(args.repeats):
            add("interpreter_start", run_process([sys.executable, "-c", "pass"])[0])
            single = [0.0, 0.0]
            for seed in seeds:
                total, times = run_job([seed], args)
                single = [a + b for a, b in zip(single, total, strict=True)]
                for part in ("process_start", "import_torch", "import_genaug", "setup",
                             "read_table", "first_optimizer", "process_exit"):  # fmt: skip
                    add(part, times[part])
                seed_time = times["seeds"][0]
                add("job_fixed_cost", [t - s for t, s in zip(total, seed_time, strict=True)])
                add("classifier_seed", seed_time)
            add(f"{len(seeds)}_single_seed_jobs", single)
            batched, times = run_job(seeds, args)
            add(f"one_batched_job_{len(seeds)}_seeds", batched)
            print(f"repeat {repeat + 1}/{args.repeats}: {len(seeds)} single-seed jobs "
                  f"{single[0]:.1f} s, one batched job {batched[0]:.1f} s", flush=True)  # fmt: skip
    common = {"repeats": args.repeats, "seeds": len(seeds), "method": args.method, "k": args.k,
              "steps": settings["steps"], "threads": args.threads, "device_name": cpu_name(),
              "torch": times["torch"]}  # fmt: skip

    def median(values: list[float | None]) -> float | str:
        return "" if None in values else round(statistics.median(values), 3)

    rows = [
        {"measurement": name, "median_s": median([v[0] for v in values]),
         "min_s": round(min(v[0] for v in values), 3),
         "median_cpu_s": median([v[1] for v in values]), **common}
        for name, values in samples.items()
    ]  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    for row in rows:
        print(f"{row['measurement']:28s} {row['median_s']:>8} s  {row['median_cpu_s']:>8} s CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
