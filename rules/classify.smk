# Stage 5: train the classifier with and without each augmentation. One job trains every run
# of a (method, scenario), each regime's replicate seeds, so torch is imported once for them.
# Adding a method adds its jobs only; changing a scenario's regimes reruns its jobs.


rule classify:
    input:
        unpack(classify_inputs),
    output:
        runs=directory(f"{OUT}/classify/{{method}}/{{scenario}}"),
    log:
        f"{OUT}/logs/classify/{{method}}/{{scenario}}.log",
    benchmark:
        f"{OUT}/benchmarks/classify/{{method}}/{{scenario}}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: config["classifier"]["threads"]
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=60,
    params:
        regimes=lambda wildcards: REGIMES[wildcards.scenario],
        seeds=SEEDS,
        settings=config["classifier"],
        augment=config["augment"],
        device=config["device"],
        compile=config["compile"],
    script:
        "../scripts/classify.py"
