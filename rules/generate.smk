# Stage 4: synthetic images for each replicate's training set, with provenance: few-shot,
# n_per_image per real image; imbalance, the minority top-up that its split decided.
# One job per (transfer-mode generator, regime) serves every replicate seed, so torch is
# imported once. A fit- or finetune-mode generator's training job (train_generator.smk)
# writes its replicates' synthetic images itself, right after training each.


rule generate:
    input:
        models=lambda wc: [
            f"{generator_dir(wc.generator, wc.regime, seed)}/model.pt"
            for seed in SEEDS
        ],
        table=rules.prepare.output.table,
        splits=expand(rules.subsample.output.split, seed=SEEDS, allow_missing=True),
    output:
        tables=expand(SYNTHETIC, seed=SEEDS, allow_missing=True),
        shards=[
            directory(path) for path in expand(SHARDS, seed=SEEDS, allow_missing=True)
        ],
    log:
        f"{OUT}/logs/generate/{{generator}}/{{regime}}.log",
    benchmark:
        f"{OUT}/benchmarks/generate/{{generator}}/{{regime}}.tsv"
    wildcard_constraints:
        generator=generators_in_mode("transfer"),
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=30,
    params:
        seeds=SEEDS,
        generate=GENERATE,
    script:
        "../scripts/generate.py"
