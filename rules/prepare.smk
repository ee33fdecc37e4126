# Stage 1: the dataset as the canonical Parquet table.
rule prepare:
    input:
        unpack(prepare_input),
    output:
        table=f"{OUT}/data/prepared.parquet",
    log:
        f"{OUT}/logs/prepare.log",
    benchmark:
        f"{OUT}/benchmarks/prepare.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        dataset=DATASET,
        image_size=config["dataset"]["image_size"],
        settings=config["datasets"].get(DATASET, {}),
    script:
        "../scripts/prepare.py"
