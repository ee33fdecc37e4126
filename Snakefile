# genaug: does a generative model's synthetic data make a low-data classifier better?
#
#   snakemake --cores 8 --resources gpu=1 all          # the whole experiment
#   snakemake --cores 2 results/figures/accuracy_vs_shots.png   # one figure
#   snakemake --report results/report.html             # the HTML report
import os
import sys

# the Snakefile itself works from a checkout even before `pip install -e .`
sys.path.insert(0, f"{workflow.basedir}/src")

from genaug.errors import GenaugError
from genaug.models import check_modes
from genaug.workflow import check_config


configfile: f"{workflow.basedir}/config/config.yaml"


try:
    check_config(config, workflow.source_path("config/schema.yaml"))
    check_modes(config)  # torch-free
except GenaugError as err:
    sys.exit(str(err))  # one line, before any job


# the front page opens with the answer once rule summary has written it (snakemake --report
# runs after the workflow); before that, the generic description
_front_page = os.path.abspath(f"{config['outdir']}/report/front_page.rst")


report: _front_page if os.path.exists(_front_page) else "report/workflow.rst"


# quick aggregation jobs: with a cluster executor they run here, not as cluster jobs
localrules:
    collect_runs,
    stats,
    figure_metric,
    figure_synthetic,
    figure_training,
    quality_table,
    figure_quality_gain,
    figure_neighbours,
    summary,


include: "rules/common.smk"
include: "rules/prepare.smk"
include: "rules/subsample.smk"
include: "rules/train_generator.smk"
include: "rules/generate.smk"
include: "rules/classify.smk"
include: "rules/quality.smk"
include: "rules/stats.smk"
include: "rules/figures.smk"
include: "rules/summary.smk"


rule all:
    default_target: True
    input:
        summary=f"{OUT}/summary.md",
        figures=all_figures(),
        quality=quality_figures(),
