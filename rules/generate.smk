# Stage 4: synthetic images for each replicate's k-shot training set, with provenance.


rule generate:
    input:
        model=lambda wc: f"{generator_dir(wc.generator, wc.k, wc.seed)}/model.pt",
        table=rules.prepare.output.table,
        split=rules.subsample.output.split,
    output:
        table=f"{OUT}/synthetic/{{generator}}/{TAG}.parquet",
        shards=directory(f"{OUT}/synthetic/{{generator}}/{TAG}.shards"),
    log:
        f"{OUT}/logs/generate/{{generator}}/{TAG}.log",
    benchmark:
        f"{OUT}/benchmarks/generate/{{generator}}/{TAG}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=30,
    params:
        n_per_image=config["augment"]["n_per_image"],
        shard_size=config["augment"]["shard_size"],
        device=config["device"],
    script:
        "../scripts/generate.py"
