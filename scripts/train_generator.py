"""Rules train_generator, fit_generator and finetune_generator: one generator on the source
data, or on the reduced training set of every replicate seed of one regime (finetune: from
its pretrained checkpoint). A fit- or finetune-mode job then writes each replicate's synthetic
images, as rule generate does for a transfer-mode generator."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  genaug, in --use-conda jobs too
from genaug.workflow import run_script


def main(smk):
    from genaug import io
    from genaug.generation import generate_replicate, train_generator
    from genaug.seeds import derive_seed

    name = smk.wildcards.generator
    regime = smk.wildcards.get("regime")
    splits = smk.input.get("splits", [None])
    n = len(smk.params.seeds)
    # fit and finetune mode: each replicate's synthetic images too
    tables, shards = (smk.output.get(key, [None] * n) for key in ("tables", "shards"))
    table = io.read_parquet(smk.input.table)
    for seed, split, model, train_log, samples, resume, out_table, out_shards in zip(
        smk.params.seeds,
        splits,
        smk.output.models,
        smk.output.train_logs,
        smk.output.samples,
        smk.params.resume,
        tables,
        shards,
        strict=True,
    ):
        train_generator(
            name,
            smk.params.settings,
            table,
            None if split is None else io.read_parquet(split),
            seed=derive_seed(seed, name, regime or "source"),
            image_size=smk.params.image_size,
            device=smk.params.device,
            threads=smk.threads,
            out_model=model,
            out_log=train_log,
            out_samples=samples,
            resume_path=resume,
            # read here, not a rule param: how often to checkpoint changes no result, so
            # changing it must not make Snakemake retrain
            checkpoint_every=smk.config["checkpoint_every"],
            compile=smk.params.compile,
            pretrained=smk.input.get("pretrained"),
        )
        if out_table is not None:
            generate_replicate(
                model, table, split, regime, seed, smk.params.generate, out_table, out_shards, name
            )


run_script(main, snakemake)  # noqa: F821
