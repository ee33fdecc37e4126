"""Rule train_generator: one generator, on source data or on one replicate's shots."""

import re

from genaug.workflow import derive_seed, run_script


def main(smk):
    from genaug import io
    from genaug.generation import train_generator

    name, scope = smk.wildcards.generator, smk.wildcards.scope
    if scope == "source":
        split, seed = None, derive_seed(smk.params.seed, name, "source")
    else:
        k, rep = map(int, re.fullmatch(r"k(\d+)-seed(\d+)", scope).groups())
        split, seed = io.read_parquet(smk.input.split), derive_seed(rep, name, k)
    train_generator(
        name,
        smk.params.settings,
        io.read_parquet(smk.input.table),
        split,
        seed=seed,
        image_size=smk.params.image_size,
        device=smk.params.device,
        threads=smk.threads,
        out_model=smk.output.model,
        out_log=smk.output.train_log,
        out_samples=smk.output.samples,
        resume_path=smk.params.resume,
        # read here, not a rule param: how often to checkpoint changes no result, so changing
        # it must not make Snakemake retrain
        checkpoint_every=smk.config["checkpoint_every"],
        compile=smk.params.compile,
    )


run_script(main, snakemake)  # noqa: F821
