# Stage 6: every run of a scenario in one table, then each method against the "none"
# baseline on each of the scenario's metrics; the methods that use a generator also against
# the scenario's strong baselines (stats.against), and the combinations against their
# transform.


rule collect_runs:
    input:
        metrics=lambda wc: classify_outputs(wc.scenario),
    output:
        runs=f"{OUT}/stats/{{scenario}}/runs.csv",
    log:
        f"{OUT}/logs/collect_runs/{{scenario}}.log",
    benchmark:
        f"{OUT}/benchmarks/collect_runs/{{scenario}}.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    script:
        "../scripts/collect_runs.py"


rule stats:
    input:
        runs=rules.collect_runs.output.runs,
    output:
        comparisons=report(
            f"{OUT}/stats/{{scenario}}/comparisons.csv",
            caption="../report/comparisons.rst",
            category="Comparisons",
            labels={"scenario": "{scenario}"},
        ),
        markdown=f"{OUT}/stats/{{scenario}}/comparisons.md",
        describe=f"{OUT}/stats/{{scenario}}/by_method.csv",
    log:
        f"{OUT}/logs/stats/{{scenario}}.log",
    benchmark:
        f"{OUT}/benchmarks/stats/{{scenario}}.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    params:
        settings=config["stats"],
        metrics=lambda wc: METRICS[wc.scenario],
        by=lambda wc: scenario(wc.scenario).level,
        level_text=lambda wc: scenario(wc.scenario).legend,
        baseline="none",
        against=lambda wc: config["stats"]["against"][wc.scenario],
        generators=list(SETTINGS),
    script:
        "../scripts/stats.py"
