"""Rule classify: every replicate seed of one (method, regime), in one process."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  genaug, in --use-conda jobs too
from genaug.workflow import run_script


def main(smk):
    from genaug import classify, io, runtime
    from genaug.scenarios import parse_regime, read_split

    regime = parse_regime(smk.wildcards.regime)
    device = runtime.setup(threads=smk.threads, seed=0, device=smk.params.device)
    table = io.read_parquet(smk.input.table)
    synthetic = smk.input.get("synthetic", [None] * len(smk.params.seeds))
    runs = []
    for seed, split, synth in zip(smk.params.seeds, smk.input.splits, synthetic, strict=True):
        rows, topup = read_split(split)
        runs.append(
            classify.prepare(
                smk.wildcards.method,
                regime,
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
    for record, out in zip(records, smk.output.metrics, strict=True):
        io.write_json(record, out)


run_script(main, snakemake)  # noqa: F821
