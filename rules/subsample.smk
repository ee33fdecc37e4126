# Stage 2: the low-data regime of one replicate: k training images per target class
# (few-shot, regime "k<k>"), or one class's training images kept at a fraction
# (imbalance, regime "frac<fraction>"), with the minority top-up that generate and
# classify read from the split. The test set is the same for every regime of a replicate
# and scenario.


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
        settings=split_settings,
    script:
        "../scripts/subsample.py"
