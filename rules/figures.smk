# Stage 7: figures, each its own target.


rule figure_metric:
    input:
        describe=lambda wc: f"{OUT}/stats/{SCENARIO_OF_AXIS[wc.axis]}/by_method.csv",
    output:
        figure=report(
            f"{OUT}/figures/{{metric}}_vs_{{axis}}.png",
            caption="../report/metric_vs_level.rst",
            category="Figures",
            labels={"figure": "{metric} vs {axis}"},
        ),
    log:
        f"{OUT}/logs/figures/{{metric}}_vs_{{axis}}.log",
    benchmark:
        f"{OUT}/benchmarks/figures/{{metric}}_vs_{{axis}}.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    params:
        scenario=lambda wc: SCENARIO_OF_AXIS[wc.axis],
    script:
        "../scripts/figure_metric.py"


rule figure_synthetic:
    input:
        table=rules.prepare.output.table,
        split=lambda wc: expand(
            rules.subsample.output.split,
            regime=display_tag(wc.generator),
            seed=SEEDS[0],
        ),
        synthetic=lambda wc: expand(
            SYNTHETIC,
            generator=wc.generator,
            regime=display_tag(wc.generator),
            seed=SEEDS[0],
        ),
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


rule figure_quality_gain:
    input:
        quality=rules.quality_table.output.table,
        comparisons=rules.stats.output.comparisons,
    output:
        figure=report(
            f"{OUT}/figures/quality_gain_{{scenario}}.png",
            caption="../report/quality_gain.rst",
            category="Synthetic data quality",
            labels={"scenario": "{scenario}", "figure": "quality vs gain"},
        ),
    log:
        f"{OUT}/logs/figures/quality_gain_{{scenario}}.log",
    benchmark:
        f"{OUT}/benchmarks/figures/quality_gain_{{scenario}}.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    params:
        metric=lambda wc: METRICS[wc.scenario][0],
        by=lambda wc: scenario(wc.scenario).level,
    script:
        "../scripts/figure_quality_gain.py"


rule figure_neighbours:
    input:
        neighbours=lambda wc: expand(
            rules.quality.output.neighbours, regime=display_regime_of(wc.scenario)
        )[0],
    output:
        figure=report(
            f"{OUT}/figures/neighbours_{{scenario}}.png",
            caption="../report/neighbours.rst",
            category="Synthetic data quality",
            labels={"scenario": "{scenario}", "figure": "nearest training images"},
        ),
    log:
        f"{OUT}/logs/figures/neighbours_{{scenario}}.log",
    benchmark:
        f"{OUT}/benchmarks/figures/neighbours_{{scenario}}.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    params:
        methods=lambda wc: QUALITY_METHODS[wc.scenario],
        regime=lambda wc: display_regime_of(wc.scenario),
    script:
        "../scripts/figure_neighbours.py"
