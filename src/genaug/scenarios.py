"""The low-data questions genaug asks, each defined once: few-shot and class imbalance.

A :class:`Scenario` holds everything that differs between them: its regime level (the column
that holds it, its type, where the config lists it, its tag in output paths), its texts
(figure axis, the statistics legend, the report), how it splits the data, which methods apply,
its default metrics and how the classifier mixes real and augmented images. The rules,
scripts, figures, report and classifier read it; nothing else branches on a scenario's name.
A :class:`Regime` is one level of one scenario, named by its tag (``k5``, ``frac0.1``).

Nothing here imports torch, so the Snakefile and light rules start fast.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from genaug import io
from genaug.data.fewshot import fewshot_split
from genaug.data.imbalance import TopUp, imbalance_split
from genaug.errors import GenaugError
from genaug.methods import base_method

#: a split's rows (``image_id``, ``label``, ``split``) and its minority top-up, if any
SplitFn = Callable[[pd.DataFrame, Any, int, dict], tuple[pd.DataFrame, TopUp | None]]
#: the Parquet metadata key of what a split decides besides its rows (the top-up)
SPLIT_KEY = "genaug.split"


@dataclass(frozen=True)
class Scenario:
    """One low-data question. ``config[name]`` is its config block."""

    name: str
    #: the run-table column of the regime level, its type, and what a valid level is
    level: str
    level_type: type
    level_ok: Callable[[Any], bool]
    level_rule: str
    #: where the config block lists the levels: ``config[name][levels_key]``
    levels_key: str
    #: a level's tag in output paths (``str.format``), and the regex that reads it back
    tag_format: str
    tag_pattern: str
    #: figures/<metric>_vs_<axis>.png, the x axis label and the title's words for it
    axis: str
    axis_label: str
    axis_words: str
    #: what the statistics legend compares at ("... at k shots per class")
    legend: str
    #: the report: section title, a level's name in its tables, and its description
    title: str
    level_name: str
    describe: Callable[[dict, pd.DataFrame], str]
    #: (table, level, seed, config block) -> split rows and their top-up
    split: SplitFn
    #: the methods only this scenario runs
    own_methods: tuple[str, ...]
    default_metrics: tuple[str, ...]
    #: how a classifier run mixes the augmented pool with the real images: "alternate"
    #: (every other batch from the pool) or "union" (every batch from real + pool images)
    mix: str
    #: whether its splits carry a minority top-up (:class:`~genaug.data.imbalance.TopUp`)
    tops_up: bool
    #: which of its regimes the synthetic-sample figures show (index into increasing levels)
    display: int
    #: the quality stage's feature encoder is trained on the source classes (True; per
    #: replicate where the dataset has none) or per replicate, on the training images of its
    #: regimes (which share one test set)
    encoder_on_source: bool

    def read_level(self, value: Any) -> int | float:
        """``value`` as this scenario's level type; one clear line when it is not a level."""
        try:
            level = self.level_type(value)
        except (TypeError, ValueError):
            level = None
        if level is None or level != value or not self.level_ok(level):
            raise GenaugError(
                f"{value!r} is not a {self.name} level, which is {self.level_rule}: fix "
                f"{self.name}.{self.levels_key} in the config"
            )
        return level

    def tag(self, level: Any) -> str:
        return self.tag_format.format(self.read_level(level))

    def levels(self, config: dict) -> list:
        """The configured levels, increasing."""
        return sorted(config[self.name][self.levels_key])

    def applies(self, method: str) -> bool:
        """Whether ``method`` runs in this scenario: generic methods and its own (a
        generator+transform combination: where its generator runs)."""
        method = base_method(method)
        return method in self.own_methods or method not in OWN_METHODS

    def methods(self, config: dict) -> list[str]:
        """The configured methods that run in this scenario."""
        return [m for m in config["methods"] if self.applies(m)]


@dataclass(frozen=True)
class Regime:
    """One low-data regime: a level of a scenario (``k`` shots per class, or the kept
    ``fraction`` of the minority class). Its ``tag`` names it in output paths."""

    scenario: str
    level: int | float

    def __post_init__(self) -> None:
        object.__setattr__(self, "level", self.spec.read_level(self.level))

    @property
    def spec(self) -> Scenario:
        return scenario(self.scenario)

    @property
    def tag(self) -> str:
        return self.spec.tag(self.level)

    def columns(self) -> dict[str, int | float | None]:
        """Every scenario's level column, set for this regime's and None for the others."""
        return {
            s.level: self.level if s.name == self.scenario else None for s in SCENARIOS.values()
        }


# --------------------------------------------------------------------------- the scenarios
def _fewshot_split(table: pd.DataFrame, k: int, seed: int, block: dict):
    split = fewshot_split(
        table, k, max(block["shots"]), seed, block["n_classes"], block["redraw_classes"]
    )
    return split, None


def _imbalance_split(table: pd.DataFrame, fraction: float, seed: int, block: dict):
    return imbalance_split(
        table,
        fraction,
        seed,
        minority_class=block["minority_class"],
        n_classes=block["n_classes"],
        test_fraction=block["test_fraction"],
        max_train_per_class=block["max_train_per_class"],
        redraw_classes=block["redraw_classes"],
        ratio=block["ratio"],
    )


def _fewshot_text(config: dict, runs: pd.DataFrame) -> str:
    return (
        f"A {int(runs['n_classes'].max())}-way task with k real training images per class, "
        f"k = {FEWSHOT.levels(config)}."
    )


def _imbalance_text(config: dict, runs: pd.DataFrame) -> str:
    minority = runs["minority_class"].dropna().astype(int).unique().tolist()
    return (
        f"A {int(runs['n_classes'].max())}-way task whose minority class (label {minority}) "
        f"keeps a fraction {IMBALANCE.levels(config)} of its training images; augmenters top "
        f"it up to {config[IMBALANCE.name]['ratio']:g} x the other classes' mean size."
    )


FEWSHOT = Scenario(
    name="fewshot",
    level="k",
    level_type=int,
    level_ok=lambda k: k >= 1,
    level_rule="a whole number of shots per class, at least 1",
    levels_key="shots",
    tag_format="k{:d}",
    tag_pattern=r"k(\d+)",
    axis="shots",
    axis_label="shots per class (k)",
    axis_words="shots per class",
    legend="k shots per class",
    title="Few-shot",
    level_name="k",
    describe=_fewshot_text,
    split=_fewshot_split,
    own_methods=(),
    default_metrics=("accuracy",),
    mix="alternate",
    tops_up=False,
    display=-1,  # the most shots: the most real images to show
    encoder_on_source=True,  # classes a transfer-mode generator also sees, never the targets
)
IMBALANCE = Scenario(
    name="imbalance",
    level="fraction",
    level_type=float,
    level_ok=lambda f: 0.0 < f <= 1.0,
    level_rule="the kept share of the minority class's training images, in (0, 1]",
    levels_key="fractions",
    tag_format="frac{:g}",
    tag_pattern=r"frac(\d*\.?\d+(?:e-?\d+)?)",
    axis="fraction",
    axis_label="kept fraction of the minority class's training images",
    axis_words="kept fraction",
    legend="each kept fraction of the minority class's training images",
    title="Class imbalance",
    level_name="kept fraction",
    describe=_imbalance_text,
    split=_imbalance_split,
    # cyclegan translates the other classes' images into the minority: imbalance only
    own_methods=("oversample", "undersample", "weighted", "cyclegan"),
    default_metrics=("balanced_accuracy", "minority_f1"),
    mix="union",
    tops_up=True,
    display=0,  # the smallest fraction: the largest top-up
    encoder_on_source=False,  # the task's own classes, as far as the replicate has them
)
SCENARIOS: dict[str, Scenario] = {s.name: s for s in (FEWSHOT, IMBALANCE)}
#: methods that only some scenario runs (the imbalance baselines)
OWN_METHODS = frozenset(m for s in SCENARIOS.values() for m in s.own_methods)
#: methods without a set of added images for the quality stage to measure: the baselines that
#: add none, and the batch-level ones, whose images are made inside the classifier's training
UNMEASURED = frozenset({"none", "undersample", "weighted", "mixup", "cutmix", "neuralaug"})


def scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise GenaugError(
            f"unknown scenario {name!r}: set scenarios to some of {list(SCENARIOS)}"
        ) from None


def owner(method: str) -> Scenario | None:
    """The scenario that ``method`` is particular to, or None for a generic method."""
    return next((s for s in SCENARIOS.values() if base_method(method) in s.own_methods), None)


# --------------------------------------------------------------------------- regimes
def parse_regime(tag: str) -> Regime:
    """``"k5"`` -> few-shot with k = 5; ``"frac0.1"`` -> imbalance at fraction 0.1."""
    for spec in SCENARIOS.values():
        match = re.fullmatch(spec.tag_pattern, tag)
        if match is not None:
            return Regime(spec.name, spec.level_type(match.group(1)))
    examples = " or ".join(s.tag(s.level_type(1)) for s in SCENARIOS.values())
    raise GenaugError(f"not a regime tag: {tag!r} (expected e.g. {examples})")


def regimes(config: dict) -> dict[str, list[Regime]]:
    """The regimes of each scenario the config runs, in increasing level."""
    return {
        name: [Regime(name, level) for level in scenario(name).levels(config)]
        for name in config["scenarios"]
    }


def display_regime(config: dict, method: str | None = None) -> Regime:
    """The regime whose synthetic images the sample figures show: the first configured
    scenario's (in :data:`SCENARIOS` order) that runs ``method`` (None: any), its
    ``display`` regime."""
    spec = next(
        s
        for s in SCENARIOS.values()
        if s.name in config["scenarios"] and (method is None or s.applies(method))
    )
    return regimes(config)[spec.name][spec.display]


# --------------------------------------------------------------------------- splits
def write_split(
    rows: pd.DataFrame, topup: TopUp | None, path: str | Path, meta: dict[str, Any]
) -> None:
    """The split as Parquet: provenance ``meta`` and the top-up in the file's metadata."""
    extra = {} if topup is None else {SPLIT_KEY: {"topup": topup.to_meta()}}
    io.write_parquet(rows, path, meta=meta, extra=extra)


def read_split(path: str | Path) -> tuple[pd.DataFrame, TopUp | None]:
    """A split written by :func:`write_split`: its rows and its top-up (None without one)."""
    rows = io.read_parquet(path)
    topup = io.read_parquet_meta(path, key=SPLIT_KEY).get("topup")
    return rows, None if topup is None else TopUp.from_meta(topup)


def check_topup(regime: Regime, topup: TopUp | None) -> None:
    """A regime whose scenario tops up needs the top-up its split decided."""
    if regime.spec.tops_up and topup is None:
        raise GenaugError(
            f"the {regime.tag} split carries no minority top-up (made by an older genaug?): "
            "delete the outdir's splits/ folder so rule subsample remakes it"
        )
