# Stage 7: figures, each its own target.


rule figure_accuracy:
    input:
        describe=rules.stats.output.describe,
    output:
        figure=report(
            f"{OUT}/figures/accuracy_vs_shots.png",
            caption="../report/accuracy_vs_shots.rst",
            category="Figures",
            labels={"figure": "accuracy vs shots"},
        ),
    log:
        f"{OUT}/logs/figures/accuracy_vs_shots.log",
    benchmark:
        f"{OUT}/benchmarks/figures/accuracy_vs_shots.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    params:
        metric=config["stats"]["metric"],
    script:
        "../scripts/figure_accuracy.py"


rule figure_synthetic:
    input:
        table=rules.prepare.output.table,
        split=expand(rules.subsample.output.split, k=max(SHOTS), seed=SEEDS[0]),
        synthetic=expand(SYNTHETIC, k=max(SHOTS), seed=SEEDS[0], allow_missing=True),
    output:
        figure=report(
            f"{OUT}/figures/synthetic_{{generator}}.png",
            caption="../report/synthetic.rst",
            category="Figures",
            subcategory="Synthetic samples",
            labels={"figure": "synthetic samples", "generator": "{generator}"},
        ),
    log:
        f"{OUT}/logs/figures/synthetic_{{generator}}.log",
    benchmark:
        f"{OUT}/benchmarks/figures/synthetic_{{generator}}.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    params:
        n_real=8,
        n_per_real=8,
    script:
        "../scripts/figure_synthetic.py"


rule figure_training:
    input:
        logs=training_logs,
    output:
        figure=report(
            f"{OUT}/figures/training_{{generator}}.png",
            caption="../report/training.rst",
            category="Figures",
            subcategory="Generator training",
            labels={"figure": "training curves", "generator": "{generator}"},
        ),
    log:
        f"{OUT}/logs/figures/training_{{generator}}.log",
    benchmark:
        f"{OUT}/benchmarks/figures/training_{{generator}}.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    script:
        "../scripts/figure_training.py"
