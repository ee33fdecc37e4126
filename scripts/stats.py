"""Rule stats: each method against the baseline in one scenario, as CSV and Markdown."""

from genaug.workflow import run_script


def main(smk):
    import pandas as pd

    from genaug import stats

    s = smk.params.settings
    comparisons, markdown, described = stats.scenario_statistics(
        pd.read_csv(smk.input.runs),
        smk.params.metrics,
        smk.params.by,
        smk.params.baseline,
        s["alpha"],
        s["confidence"],
    )
    comparisons.to_csv(smk.output.comparisons, index=False)
    with open(smk.output.markdown, "w") as fh:
        fh.write(markdown)
    described.to_csv(smk.output.describe, index=False)


run_script(main, snakemake)  # noqa: F821
