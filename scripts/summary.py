"""Rule summary: results/summary.md and the HTML report's front page, the answer first."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  genaug, in --use-conda jobs too
from genaug.workflow import run_script


def main(smk):
    from pathlib import Path

    import pandas as pd

    from genaug import io
    from genaug.report import ScenarioResults, front_page_rst, summary_markdown

    quality = dict(zip(smk.params.quality_scenarios, smk.input.quality, strict=True))
    scenarios = {
        name: ScenarioResults(
            Path(md).read_text(),
            pd.read_csv(comparisons),
            pd.read_csv(runs),
            pd.read_csv(quality[name]) if name in quality else None,
        )
        for name, md, comparisons, runs in zip(
            smk.params.scenarios,
            smk.input.markdown,
            smk.input.comparisons,
            smk.input.runs,
            strict=True,
        )
    }
    for text, out in [
        (summary_markdown(smk.params.config, scenarios), smk.output.summary),
        (front_page_rst(smk.params.config, scenarios), smk.output.front_page),
    ]:
        with io.atomic_path(out) as tmp:
            tmp.write_text(text)


run_script(main, snakemake)  # noqa: F821
