# Stage 8: the Markdown summary and the HTML report's front page, each opening with the
# answer; `snakemake --report` turns the report() outputs into HTML.


rule summary:
    input:
        markdown=expand(rules.stats.output.markdown, scenario=SCENARIOS),
        comparisons=expand(rules.stats.output.comparisons, scenario=SCENARIOS),
        runs=expand(rules.collect_runs.output.runs, scenario=SCENARIOS),
        quality=expand(rules.quality_table.output.table, scenario=QUALITY_SCENARIOS),
    output:
        summary=f"{OUT}/summary.md",
        front_page=FRONT_PAGE,
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
        quality_scenarios=QUALITY_SCENARIOS,
    script:
        "../scripts/summary.py"
