# Stage 8: the Markdown summary; `snakemake --report` turns the report() outputs into HTML.


rule summary:
    input:
        markdown=expand(rules.stats.output.markdown, scenario=SCENARIOS),
        runs=expand(rules.collect_runs.output.runs, scenario=SCENARIOS),
    output:
        summary=f"{OUT}/summary.md",
    log:
        f"{OUT}/logs/summary.log",
    benchmark:
        f"{OUT}/benchmarks/summary.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    params:
        config=config,
        scenarios=SCENARIOS,
    script:
        "../scripts/summary.py"
