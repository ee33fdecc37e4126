# Stage 2: the low-data regime, k training images per target class for each replicate.


rule subsample:
    input:
        table=rules.prepare.output.table,
    output:
        split=f"{OUT}/splits/{TAG}.parquet",
    log:
        f"{OUT}/logs/subsample/{TAG}.log",
    benchmark:
        f"{OUT}/benchmarks/subsample/{TAG}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        k_max=max(SHOTS),
        n_classes=config["fewshot"]["n_classes"],
        redraw_classes=config["fewshot"]["redraw_classes"],
    script:
        "../scripts/subsample.py"
