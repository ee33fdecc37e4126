"""Rule figure_neighbours: synthetic images next to their nearest real training images."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  genaug, in --use-conda jobs too
from genaug.workflow import run_script


def main(smk):
    import numpy as np

    from genaug import io, plots

    pairs = io.read_parquet(smk.input.neighbours)
    mode = io.png_mode(pairs["synthetic"].iloc[0]) if len(pairs) else "L"
    rows = []
    for method in smk.params.methods:
        mine = pairs[pairs["method"] == method]
        images = [
            io.decode_png(png, mode)
            for synthetic, nearest in zip(mine["synthetic"], mine["nearest"], strict=True)
            for png in (synthetic, nearest)
        ]
        rows.append(np.stack(images) if images else np.zeros((0, 1, 1), np.uint8))
    plots.image_grid(
        rows,
        smk.output.figure,
        row_labels=smk.params.methods,
        title=f"{smk.params.regime}: each synthetic image, then its nearest training image",
    )


run_script(main, snakemake)  # noqa: F821
