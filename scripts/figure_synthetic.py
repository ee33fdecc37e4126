"""Rule figure_synthetic: real shots next to the synthetic images made from them."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  genaug, in --use-conda jobs too
from genaug.workflow import run_script


def main(smk):
    from genaug import io, plots
    from genaug.data.tables import synthetic_by_real

    rows, labels = synthetic_by_real(
        io.read_parquet(smk.input.table),
        io.read_parquet(smk.input.split[0]),
        io.read_parquet(smk.input.synthetic[0]),
        smk.params.n_real,
        smk.params.n_per_real,
    )
    name = smk.wildcards.generator
    plots.image_grid(rows, smk.output.figure, row_labels=labels, title=f"{name}: real | synthetic")


run_script(main, snakemake)  # noqa: F821
