"""Rule stats: each method against the baseline, as CSV and Markdown."""

from genaug.workflow import run_script


def main(smk):
    import pandas as pd

    from genaug import stats

    s = smk.params.settings
    runs = pd.read_csv(smk.input.runs)
    table = stats.compare(runs, s["metric"], smk.params.baseline, s["alpha"], s["confidence"])
    table.to_csv(smk.output.comparisons, index=False)
    with open(smk.output.markdown, "w") as fh:
        fh.write(stats.to_markdown(table, s["metric"]) + "\n")
    stats.describe(runs, s["metric"], s["confidence"]).to_csv(smk.output.describe, index=False)


run_script(main, snakemake)  # noqa: F821
