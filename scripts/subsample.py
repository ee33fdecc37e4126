"""Rule subsample: one replicate's training and test images in one regime, and (imbalance)
the minority top-up that generation and the classifier then read from the split."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  genaug, in --use-conda jobs too
from genaug.workflow import run_script


def main(smk):
    from genaug import io
    from genaug.provenance import provenance
    from genaug.scenarios import parse_regime, write_split

    regime, seed = parse_regime(smk.wildcards.regime), int(smk.wildcards.seed)
    settings = smk.params.settings
    rows, topup = regime.spec.split(io.read_parquet(smk.input.table), regime.level, seed, settings)
    meta = provenance({regime.spec.level: regime.level, **settings}, seed=seed)
    write_split(rows, topup, smk.output.split, meta)


run_script(main, snakemake)  # noqa: F821
