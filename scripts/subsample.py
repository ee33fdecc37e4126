"""Rule subsample: one replicate's training and test images in one regime."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  genaug, in --use-conda jobs too
from genaug.workflow import run_script


def main(smk):
    from genaug import io
    from genaug.data.fewshot import fewshot_split
    from genaug.data.imbalance import imbalance_split
    from genaug.provenance import provenance
    from genaug.workflow import parse_regime

    regime, seed = parse_regime(smk.wildcards.regime), int(smk.wildcards.seed)
    table = io.read_parquet(smk.input.table)
    if regime.scenario == "fewshot":
        p = smk.params.fewshot
        cfg = {"k": regime.k, **p}
        split = fewshot_split(
            table, regime.k, p["k_max"], seed, p["n_classes"], p["redraw_classes"]
        )
    else:
        p = smk.params.imbalance
        cfg = {"fraction": regime.fraction, **p}
        split = imbalance_split(
            table,
            regime.fraction,
            seed,
            minority_class=p["minority_class"],
            n_classes=p["n_classes"],
            test_fraction=p["test_fraction"],
            max_train_per_class=p["max_train_per_class"],
            redraw_classes=p["redraw_classes"],
        )
    io.write_parquet(split, smk.output.split, meta=provenance(cfg, seed=seed))


run_script(main, snakemake)  # noqa: F821
