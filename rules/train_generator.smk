# Stage 3: train a generator. One rule serves every generator: transfer-mode generators
# train once on the source classes (scope "source"), fit-mode ones on the k-shot training
# set of each replicate (scope "k<k>-seed<seed>"). Test images never reach a generator.


rule train_generator:
    input:
        unpack(generator_inputs),
    output:
        model=f"{OUT}/generators/{{generator}}/{{scope}}/model.pt",
        train_log=f"{OUT}/generators/{{generator}}/{{scope}}/train_log.csv",
        samples=f"{OUT}/generators/{{generator}}/{{scope}}/samples.png",
    log:
        f"{OUT}/logs/train_generator/{{generator}}/{{scope}}.log",
    benchmark:
        f"{OUT}/benchmarks/train_generator/{{generator}}/{{scope}}.tsv"
    # generators gate every generate/classify job downstream: start them first
    priority: 10
    # null: Snakemake's --retries; each attempt resumes from the last checkpoint
    retries: config["generator_retries"]
    conda:
        "../envs/torch.yaml"
    threads: lambda wc: config["generators"][wc.generator]["threads"]
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=240,
    params:
        settings=lambda wc: config["generators"][wc.generator],
        seed=config["seed"],
        image_size=config["dataset"]["image_size"],
        device=config["device"],
        compile=config["compile"],
        # the resumable checkpoint lives outside the outputs, which a failed job loses
        resume=lambda wc: f"{OUT}/resume/generators/{wc.generator}/{wc.scope}.pt",
    script:
        "../scripts/train_generator.py"
