"""Rule quality_encoders: the feature encoders one scenario's quality rows are measured in."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  genaug, in --use-conda jobs too
from genaug.workflow import run_script


def main(smk):
    import logging

    from genaug import io, quality, runtime
    from genaug.scenarios import read_split

    device = runtime.setup(threads=smk.threads, seed=smk.params.seed, device=smk.params.device)
    table = io.read_parquet(smk.input.table)
    splits = {
        tag: read_split(path)[0]
        for tag, path in zip(smk.params.tags, smk.input.splits, strict=True)
    }
    encoders = quality.train_encoders(
        table, splits, smk.params.on_source, smk.params.seed, smk.params.settings, device
    )
    for scope, trained in encoders.items():
        logging.info(
            "encoder %s: sha256 %s, trained on %s", scope, trained.sha256, trained.trained_on
        )
    quality.save_encoders(encoders, smk.output.encoders)


run_script(main, snakemake)  # noqa: F821
