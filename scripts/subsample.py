"""Rule subsample: which k images per target class train, the rest test."""

from genaug.workflow import run_script


def main(smk):
    from genaug import io
    from genaug.data.fewshot import fewshot_split
    from genaug.provenance import provenance

    k, seed = int(smk.wildcards.k), int(smk.wildcards.seed)
    table = io.read_parquet(smk.input.table)
    p = smk.params
    split = fewshot_split(table, k, p.k_max, seed, p.n_classes, p.redraw_classes)
    cfg = {"k": k, "k_max": p.k_max, "n_classes": p.n_classes, "redraw": p.redraw_classes}
    io.write_parquet(split, smk.output.split, meta=provenance(cfg, seed=seed))


run_script(main, snakemake)  # noqa: F821
