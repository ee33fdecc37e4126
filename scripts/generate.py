"""Rule generate: synthetic images for every replicate seed of one (generator, regime), each
as Parquet and as PNG shards."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  genaug, in --use-conda jobs too
from genaug.workflow import run_script


def main(smk):
    from genaug import io
    from genaug.generation import generate
    from genaug.scenarios import parse_regime, read_split

    table = io.read_parquet(smk.input.table)
    regime = parse_regime(smk.wildcards.regime)
    for seed, model, split, out_table, out_shards in zip(
        smk.params.seeds,
        smk.input.models,
        smk.input.splits,
        smk.output.tables,
        smk.output.shards,
        strict=True,
    ):
        rows, topup = read_split(split)
        generate(
            model,
            table,
            rows,
            regime=regime,
            n_per_image=smk.params.n_per_image,
            seed=seed,
            device=smk.params.device,
            out_table=out_table,
            out_shards=out_shards,
            shard_size=smk.params.shard_size,
            topup=topup,
            method=smk.wildcards.generator,
        )


run_script(main, snakemake)  # noqa: F821
