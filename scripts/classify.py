"""Rule classify: every run of one (method, scenario), each regime's seeds, in one process."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  genaug, in --use-conda jobs too
from genaug.workflow import run_script


def main(smk):
    import itertools
    from pathlib import Path

    from genaug import classify, io, runtime
    from genaug.scenarios import parse_regime, read_split

    device = runtime.setup(threads=smk.threads, seed=0, device=smk.params.device)
    table = io.read_parquet(smk.input.table)
    # the runs in the order of the inputs: regime after regime, one per seed
    tags = list(itertools.product(smk.params.regimes, smk.params.seeds))
    synthetic = smk.input.get("synthetic", [None] * len(tags))
    runs = []
    for (regime, seed), split, synth in zip(tags, smk.input.splits, synthetic, strict=True):
        rows, topup = read_split(split)
        runs.append(
            classify.prepare(
                smk.wildcards.method,
                parse_regime(regime),
                seed,
                table,
                rows,
                None if synth is None else io.read_parquet(synth),
                smk.params.settings,
                smk.params.augment,
                topup=topup,
            )
        )
    records = classify.run_seeds(runs, smk.params.settings, device, compile=smk.params.compile)
    out = Path(smk.output.runs)
    for (regime, seed), record in zip(tags, records, strict=True):
        io.write_json(record, out / f"{regime}-seed{seed}.json")


run_script(main, snakemake)  # noqa: F821
