# Stage 6: every run in one table, then each method against the "none" baseline.


rule collect_runs:
    input:
        metrics=expand(
            f"{OUT}/classify/{{method}}/{TAG}.json",
            method=METHODS,
            k=SHOTS,
            seed=SEEDS,
        ),
    output:
        runs=f"{OUT}/stats/runs.csv",
    log:
        f"{OUT}/logs/collect_runs.log",
    benchmark:
        f"{OUT}/benchmarks/collect_runs.tsv"
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
            f"{OUT}/stats/comparisons.csv",
            caption="../report/comparisons.rst",
            category="Comparisons",
        ),
        markdown=f"{OUT}/stats/comparisons.md",
        describe=f"{OUT}/stats/by_method.csv",
    log:
        f"{OUT}/logs/stats.log",
    benchmark:
        f"{OUT}/benchmarks/stats.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    params:
        settings=config["stats"],
        baseline="none",
    script:
        "../scripts/stats.py"
