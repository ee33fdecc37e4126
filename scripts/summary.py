"""Rule summary: results/summary.md with the statistics table."""

from genaug.workflow import run_script


def main(smk):
    from pathlib import Path

    import pandas as pd

    from genaug.report import summary_markdown

    text = summary_markdown(
        smk.params.config, Path(smk.input.markdown).read_text(), pd.read_csv(smk.input.runs)
    )
    Path(smk.output.summary).write_text(text)


run_script(main, snakemake)  # noqa: F821
