"""Rule quality_table: one scenario's quality rows in one CSV, and its Markdown table."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  genaug, in --use-conda jobs too
from genaug.workflow import run_script


def main(smk):
    import pandas as pd

    from genaug import io
    from genaug.report import quality_markdown
    from genaug.scenarios import SCENARIOS

    table = pd.concat([pd.read_csv(path) for path in smk.input.rows], ignore_index=True)
    table = table.drop(columns=[s.level for s in SCENARIOS.values() if s.level != smk.params.by])
    with io.atomic_path(smk.output.table) as tmp:
        table.to_csv(tmp, index=False)
    with io.atomic_path(smk.output.markdown) as tmp:
        tmp.write_text(quality_markdown(table, smk.params.by, smk.params.level_name) + "\n")


run_script(main, snakemake)  # noqa: F821
