# Stage 5: train the classifier with and without each augmentation. One job trains every
# replicate seed of a (method, regime), so torch is imported once per batch of seeds.


rule classify:
    input:
        unpack(classify_inputs),
    output:
        metrics=expand(
            f"{OUT}/classify/{{method}}/{TAG}.json", seed=SEEDS, allow_missing=True
        ),
    log:
        f"{OUT}/logs/classify/{{method}}/{{regime}}.log",
    benchmark:
        f"{OUT}/benchmarks/classify/{{method}}/{{regime}}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: config["classifier"]["threads"]
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=60,
    params:
        seeds=SEEDS,
        settings=config["classifier"],
        augment=config["augment"],
        device=config["device"],
        compile=config["compile"],
    script:
        "../scripts/classify.py"
