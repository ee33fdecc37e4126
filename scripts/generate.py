"""Rule generate: synthetic images for one (generator, k, seed), as Parquet and PNG shards."""

from genaug.workflow import run_script


def main(smk):
    from genaug import io
    from genaug.generation import generate

    generate(
        smk.input.model,
        io.read_parquet(smk.input.table),
        io.read_parquet(smk.input.split),
        n_per_image=smk.params.n_per_image,
        seed=int(smk.wildcards.seed),
        k=int(smk.wildcards.k),
        device=smk.params.device,
        out_table=smk.output.table,
        out_shards=smk.output.shards,
        shard_size=smk.params.shard_size,
    )


run_script(main, snakemake)  # noqa: F821
