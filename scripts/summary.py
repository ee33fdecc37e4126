"""Rule summary: results/summary.md with every scenario's statistics."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  genaug, in --use-conda jobs too
from genaug.workflow import run_script


def main(smk):
    from pathlib import Path

    import pandas as pd

    from genaug.report import summary_markdown

    scenarios = {
        scenario: (Path(md).read_text(), pd.read_csv(runs))
        for scenario, md, runs in zip(
            smk.params.scenarios, smk.input.markdown, smk.input.runs, strict=True
        )
    }
    Path(smk.output.summary).write_text(summary_markdown(smk.params.config, scenarios))


run_script(main, snakemake)  # noqa: F821
