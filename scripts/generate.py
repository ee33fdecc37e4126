"""Rule generate: synthetic images for every replicate seed of one (generator, regime), each
as Parquet and as PNG shards."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  genaug, in --use-conda jobs too
from genaug.workflow import run_script


def main(smk):
    from genaug import io
    from genaug.generation import generate
    from genaug.workflow import parse_regime

    table = io.read_parquet(smk.input.table)
    for seed, model, split, out_table, out_shards in zip(
        smk.params.seeds,
        smk.input.models,
        smk.input.splits,
        smk.output.tables,
        smk.output.shards,
        strict=True,
    ):
        generate(
            model,
            table,
            io.read_parquet(split),
            regime=parse_regime(smk.wildcards.regime),
            n_per_image=smk.params.n_per_image,
            ratio=smk.params.ratio,
            seed=seed,
            device=smk.params.device,
            out_table=out_table,
            out_shards=out_shards,
            shard_size=smk.params.shard_size,
        )


run_script(main, snakemake)  # noqa: F821
