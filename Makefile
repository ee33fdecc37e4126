# Two commands do everything on a fresh clone:
#   make run    set up .venv, run the workflow on the default config, build the HTML report
#   make test   set up .venv, run the whole test suite, then the SLURM test (what CI runs)
PYTHON ?= python3
VENV ?= .venv
CORES ?= all
OUT ?= results
BIN := $(VENV)/bin
SNAKEMAKE := $(BIN)/snakemake
STAMP := $(VENV)/.genaug-installed

.PHONY: setup run report test test-slurm lint format embedded-data clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

run: setup
	$(SNAKEMAKE) --cores $(CORES) all
	@$(MAKE) --no-print-directory report

# the HTML report, rebuilt only when the summary (the last job) is newer
report: $(OUT)/report.html

$(OUT)/report.html: $(OUT)/summary.md
	$(SNAKEMAKE) --cores 1 --report $@

test: setup
	$(BIN)/pytest
	@$(MAKE) --no-print-directory test-slurm

# the workflow through a real one-node SLURM cluster built on this machine (a few minutes);
# it needs root and apt-get, and skips with one line without them
test-slurm: setup
	PYTHON=$(abspath $(BIN))/python tests/slurm/run.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile rules/
	$(SNAKEMAKE) --lint

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	$(BIN)/snakefmt Snakefile rules/

# rebuild data/omniglot_small.parquet from the two official small background archives
OMNIGLOT_ZIPS ?= ../shared/data/omniglot
embedded-data: setup
	$(BIN)/python -m genaug.data.omniglot build-embedded \
		$(OMNIGLOT_ZIPS)/images_background_small1.zip \
		$(OMNIGLOT_ZIPS)/images_background_small2.zip --out data/omniglot_small.parquet

clean:
	rm -rf $(OUT)/* .snakemake
