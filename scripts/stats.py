"""Rule stats: each method against the baseline in one scenario, as CSV and Markdown."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  genaug, in --use-conda jobs too
from genaug.workflow import run_script


def main(smk):
    import pandas as pd

    from genaug import stats
    from genaug.report import comparisons_markdown

    s = smk.params.settings
    comparisons, tables, described = stats.scenario_statistics(
        pd.read_csv(smk.input.runs),
        smk.params.metrics,
        smk.params.by,
        smk.params.baseline,
        s["alpha"],
        s["confidence"],
        margin=s["equivalence_margin"],
        against=smk.params.against,
        generators=smk.params.generators,
    )
    comparisons.to_csv(smk.output.comparisons, index=False)
    with open(smk.output.markdown, "w") as fh:
        fh.write(comparisons_markdown(tables, smk.params.level_text))
    described.to_csv(smk.output.describe, index=False)


run_script(main, snakemake)  # noqa: F821
