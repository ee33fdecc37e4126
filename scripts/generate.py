"""Rule generate: synthetic images of a transfer-mode generator for every replicate seed of one
regime, each as Parquet and as PNG shards."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  genaug, in --use-conda jobs too
from genaug.workflow import run_script


def main(smk):
    from genaug import io
    from genaug.generation import generate_replicate

    table = io.read_parquet(smk.input.table)
    for seed, model, split, out_table, out_shards in zip(
        smk.params.seeds,
        smk.input.models,
        smk.input.splits,
        smk.output.tables,
        smk.output.shards,
        strict=True,
    ):
        generate_replicate(
            model,
            table,
            split,
            smk.wildcards.regime,
            seed,
            smk.params.generate,
            out_table,
            out_shards,
            method=smk.wildcards.generator,
        )


run_script(main, snakemake)  # noqa: F821
