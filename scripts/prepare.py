"""Rule prepare: the configured dataset -> canonical Parquet table."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  genaug, in --use-conda jobs too
from genaug.workflow import run_script


def main(smk):
    from genaug.data.datasets import prepare_dataset

    settings = dict(smk.params.settings)
    if "table" in smk.input.keys():
        settings["path"] = smk.input.table
    prepare_dataset(smk.params.dataset, settings, smk.params.image_size, smk.output.table)


run_script(main, snakemake)  # noqa: F821
