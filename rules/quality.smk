# Stage 5b: how good is each method's augmented data? A feature encoder per scenario, trained
# here on images a generator may also see (never test images), then fidelity, coverage,
# diversity, memorisation, label consistency and CAS of every (method, regime, replicate)
# against real images of the same classes (see genaug.quality). One quality job measures
# every method of a regime: its fixed cost (torch, the encoders) is paid once per regime.


rule quality_encoders:
    input:
        table=rules.prepare.output.table,
        splits=lambda wc: expand(
            rules.subsample.output.split, regime=REGIMES[wc.scenario], seed=SEEDS
        ),
    output:
        encoders=f"{OUT}/quality/{{scenario}}/encoders.pt",
    log:
        f"{OUT}/logs/quality_encoders/{{scenario}}.log",
    benchmark:
        f"{OUT}/benchmarks/quality_encoders/{{scenario}}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=30,
    params:
        tags=lambda wc: [
            TAG.format(regime=r, seed=s) for r in REGIMES[wc.scenario] for s in SEEDS
        ],
        on_source=lambda wc: scenario(wc.scenario).encoder_on_source,
        settings=config["quality"]["encoder"],
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/quality_encoders.py"


rule quality:
    input:
        unpack(quality_inputs),
    output:
        rows=f"{OUT}/quality/runs/{{regime}}.csv",
        neighbours=f"{OUT}/quality/runs/{{regime}}-neighbours.parquet",
    log:
        f"{OUT}/logs/quality/{{regime}}.log",
    benchmark:
        f"{OUT}/benchmarks/quality/{{regime}}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=4000,
        # minutes: one job measures every method and seed of a regime
        runtime=120,
    params:
        methods=lambda wc: QUALITY_METHODS[parse_regime(wc.regime).scenario],
        generators=lambda wc: QUALITY_GENERATORS[parse_regime(wc.regime).scenario],
        seeds=SEEDS,
        settings={
            "classifier": config["classifier"],
            "augment": config["augment"],
            "cas_steps": config["quality"]["cas_steps"],
        },
        n_neighbours=config["quality"]["neighbours"],
        device=config["device"],
    script:
        "../scripts/quality.py"


rule quality_table:
    input:
        rows=lambda wc: expand(rules.quality.output.rows, regime=REGIMES[wc.scenario]),
    output:
        table=report(
            f"{OUT}/quality/{{scenario}}/quality.csv",
            caption="../report/quality.rst",
            category="Synthetic data quality",
            labels={"scenario": "{scenario}", "table": "quality"},
        ),
        markdown=f"{OUT}/quality/{{scenario}}/quality.md",
    log:
        f"{OUT}/logs/quality_table/{{scenario}}.log",
    benchmark:
        f"{OUT}/benchmarks/quality_table/{{scenario}}.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    params:
        by=lambda wc: scenario(wc.scenario).level,
        level_name=lambda wc: scenario(wc.scenario).level_name,
    script:
        "../scripts/quality_table.py"
