"""Rule quality: the quality rows of every measured method and replicate of one regime."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  genaug, in --use-conda jobs too
from genaug.workflow import run_script


def main(smk):
    from genaug import io, quality, runtime
    from genaug.scenarios import parse_regime, read_split

    device = runtime.setup(threads=smk.threads, seed=0, device=smk.params.device)
    table = io.read_parquet(smk.input.table)
    # smk.input.synthetic holds, generator after generator, one table per seed
    n = len(smk.params.seeds)
    tables = [io.read_parquet(path) for path in smk.input.get("synthetic", [])]
    synthetic = {g: tables[i * n : (i + 1) * n] for i, g in enumerate(smk.params.generators)}
    rows, pairs = quality.assess_regime(
        smk.params.methods,
        parse_regime(smk.wildcards.regime),
        smk.params.seeds,
        table,
        [read_split(path) for path in smk.input.splits],
        synthetic,
        quality.load_encoders(smk.input.encoders, device),
        smk.params.settings,
        smk.params.n_neighbours,
    )
    with io.atomic_path(smk.output.rows) as tmp:
        rows.to_csv(tmp, index=False)
    io.write_parquet(pairs, smk.output.neighbours)


run_script(main, snakemake)  # noqa: F821
