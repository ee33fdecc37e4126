# Stage 4: synthetic images for each replicate's k-shot training set, with provenance.
# One job per (generator, k) serves every replicate seed, so torch is imported once.


rule generate:
    input:
        models=lambda wc: [
            f"{generator_dir(wc.generator, wc.k, seed)}/model.pt" for seed in SEEDS
        ],
        table=rules.prepare.output.table,
        splits=expand(rules.subsample.output.split, seed=SEEDS, allow_missing=True),
    output:
        tables=expand(SYNTHETIC, seed=SEEDS, allow_missing=True),
        shards=[
            directory(path) for path in expand(SHARDS, seed=SEEDS, allow_missing=True)
        ],
    log:
        f"{OUT}/logs/generate/{{generator}}/k{{k}}.log",
    benchmark:
        f"{OUT}/benchmarks/generate/{{generator}}/k{{k}}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=30,
    params:
        seeds=SEEDS,
        n_per_image=config["augment"]["n_per_image"],
        shard_size=config["augment"]["shard_size"],
        device=config["device"],
    script:
        "../scripts/generate.py"
