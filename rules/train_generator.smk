# Stage 3: train a generator. Three rules serve every generator, by its mode: transfer-mode
# generators train once on the source classes (scope "source"); fit-mode ones on the
# reduced training set of each replicate (scope "<regime>-seed<seed>"), every seed of a
# (generator, regime) in one job, so torch is imported once; finetune-mode ones do both:
# the source-scope job pretrains, then finetune_generator fine-tunes that checkpoint on each
# replicate's reduced training set, with new class embeddings. A fit- or finetune-mode job
# then writes each replicate's synthetic images (rule generate's job for a transfer-mode
# generator), so the replicate's model is loaded once. Test images never reach a generator.


rule train_generator:
    input:
        table=rules.prepare.output.table,
    output:
        models=[f"{OUT}/generators/{{generator}}/source/model.pt"],
        train_logs=[f"{OUT}/generators/{{generator}}/source/train_log.csv"],
        samples=[f"{OUT}/generators/{{generator}}/source/samples.png"],
    log:
        f"{OUT}/logs/train_generator/{{generator}}/source.log",
    benchmark:
        f"{OUT}/benchmarks/train_generator/{{generator}}/source.tsv"
    # generators gate every generate/classify job downstream: start them first
    priority: 10
    # null: Snakemake's --retries; each attempt resumes from the last checkpoint
    retries: config["generator_retries"]
    conda:
        "../envs/torch.yaml"
    threads: lambda wc: SETTINGS[wc.generator]["threads"]
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=240,
    params:
        settings=training_settings,
        seeds=[config["seed"]],
        image_size=config["dataset"]["image_size"],
        device=config["device"],
        compile=config["compile"],
        # the resumable checkpoint lives outside the outputs, which a failed job loses
        resume=lambda wc: [f"{OUT}/resume/generators/{wc.generator}/source.pt"],
    script:
        "../scripts/train_generator.py"


use rule train_generator as fit_generator with:
    input:
        table=rules.prepare.output.table,
        splits=expand(rules.subsample.output.split, seed=SEEDS, allow_missing=True),
    output:
        models=expand(
            f"{OUT}/generators/{{generator}}/{TAG}/model.pt",
            seed=SEEDS,
            allow_missing=True,
        ),
        train_logs=expand(
            f"{OUT}/generators/{{generator}}/{TAG}/train_log.csv",
            seed=SEEDS,
            allow_missing=True,
        ),
        samples=expand(
            f"{OUT}/generators/{{generator}}/{TAG}/samples.png",
            seed=SEEDS,
            allow_missing=True,
        ),
        tables=expand(SYNTHETIC, seed=SEEDS, allow_missing=True),
        shards=[
            directory(path) for path in expand(SHARDS, seed=SEEDS, allow_missing=True)
        ],
    log:
        f"{OUT}/logs/train_generator/{{generator}}/{{regime}}.log",
    benchmark:
        f"{OUT}/benchmarks/train_generator/{{generator}}/{{regime}}.tsv"
    wildcard_constraints:
        generator=generators_in_mode("fit"),
    params:
        settings=training_settings,
        seeds=SEEDS,
        image_size=config["dataset"]["image_size"],
        device=config["device"],
        compile=config["compile"],
        resume=lambda wc: [
            f"{OUT}/resume/generators/{wc.generator}/{wc.regime}-seed{seed}.pt"
            for seed in SEEDS
        ],
        generate=GENERATE,


# the fine-tuning of a finetune-mode generator: fit_generator's job, from the pretrained
# checkpoint that train_generator wrote at scope "source"
use rule fit_generator as finetune_generator with:
    input:
        table=rules.prepare.output.table,
        splits=expand(rules.subsample.output.split, seed=SEEDS, allow_missing=True),
        pretrained=f"{OUT}/generators/{{generator}}/source/model.pt",
    wildcard_constraints:
        generator=generators_in_mode("finetune"),
