# Stage 8: the Markdown summary; `snakemake --report` turns the report() outputs into HTML.


rule summary:
    input:
        markdown=rules.stats.output.markdown,
        runs=rules.collect_runs.output.runs,
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
    script:
        "../scripts/summary.py"
