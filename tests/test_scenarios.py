"""The scenario model: regime tags and levels, methods per scenario, and that nothing outside
it branches on a scenario's name."""

from __future__ import annotations

import re

import pytest
import yaml

from conftest import REPO
from genaug.errors import GenaugError
from genaug.scenarios import (
    FEWSHOT,
    IMBALANCE,
    SCENARIOS,
    Regime,
    display_regime,
    owner,
    parse_regime,
    regimes,
    scenario,
)

CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


@pytest.mark.parametrize(
    "regime, tag",
    [
        (Regime("fewshot", 5), "k5"),
        (Regime("fewshot", 20.0), "k20"),
        (Regime("imbalance", 0.1), "frac0.1"),
        (Regime("imbalance", 0.25), "frac0.25"),
        (Regime("imbalance", 1), "frac1"),
        (Regime("imbalance", 1e-5), "frac1e-05"),
    ],
)
def test_tags_round_trip(regime, tag):
    assert regime.tag == tag
    again = parse_regime(tag)
    assert again == regime and type(again.level) is regime.spec.level_type


def test_levels_are_typed_and_name_their_column():
    assert parse_regime("k5").level == 5 and isinstance(parse_regime("k5").level, int)
    assert parse_regime("frac0.5").level == 0.5
    assert Regime("fewshot", 3).columns() == {"k": 3, "fraction": None}
    assert Regime("imbalance", 0.5).columns() == {"k": None, "fraction": 0.5}
    assert [s.level for s in SCENARIOS.values()] == ["k", "fraction"]


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: parse_regime("seed5"), "not a regime tag: 'seed5'"),
        (lambda: parse_regime("k1.5"), "not a regime tag"),
        (lambda: parse_regime("frac"), "not a regime tag"),
        (lambda: parse_regime("k0"), "fewshot.shots"),
        (lambda: parse_regime("frac1.5"), "imbalance.fractions"),
        (lambda: Regime("fewshot", 2.5), "whole number of shots"),
        (lambda: Regime("fewshot", "5"), "fewshot.shots"),
        (lambda: Regime("imbalance", 0.0), r"in \(0, 1\]"),
        (lambda: Regime("imbalance", float("nan")), "imbalance.fractions"),
        (lambda: Regime("zeroshot", 1), "unknown scenario 'zeroshot'"),
    ],
)
def test_bad_tags_and_levels_are_one_line(make, match):
    with pytest.raises(GenaugError, match=match) as err:
        make()
    assert "\n" not in str(err.value)


def test_methods_per_scenario():
    config = {"methods": CONFIG["methods"]}
    own = ["oversample", "undersample", "weighted", "cyclegan"]  # imbalance only
    assert FEWSHOT.methods(config) == [m for m in CONFIG["methods"] if m not in own]
    assert IMBALANCE.methods(config) == CONFIG["methods"]
    assert [owner(m) for m in ["none", "dagan", *own]] == [None, None, *[IMBALANCE] * 4]
    assert FEWSHOT.applies("a_new_generator") and IMBALANCE.applies("a_new_generator")


def test_regimes_of_a_config_increase_and_pick_the_display():
    config = {**CONFIG, "fewshot": {"shots": [5, 1]}, "imbalance": {"fractions": [0.5, 0.1]}}
    assert regimes(config) == {
        "fewshot": [Regime("fewshot", 1), Regime("fewshot", 5)],
        "imbalance": [Regime("imbalance", 0.1), Regime("imbalance", 0.5)],
    }
    assert display_regime(config).tag == "k5"  # the most shots
    only = {**config, "scenarios": ["imbalance"]}
    assert list(regimes(only)) == ["imbalance"]
    assert display_regime(only).tag == "frac0.1"  # the largest top-up


def test_every_scenario_is_complete():
    """Its config block, figure axis and metrics exist; its texts are filled in."""
    assert list(SCENARIOS) == CONFIG["scenarios"]
    axes = [s.axis for s in SCENARIOS.values()]
    assert len(set(axes)) == len(axes)
    for name, spec in SCENARIOS.items():
        assert scenario(name) is spec and spec.mix in ("alternate", "union")
        assert spec.levels(CONFIG) == sorted(CONFIG[name][spec.levels_key])
        assert list(spec.default_metrics) == CONFIG["stats"]["metrics"][name]
        assert all([spec.title, spec.legend, spec.level_name, spec.axis_label, spec.axis_words])


def test_nothing_else_branches_on_a_scenario_name():
    """The scenario names appear as string literals only in the scenario model and the two
    split modules (which name their config block in error messages)."""
    allowed = [
        REPO / "src/genaug" / f for f in ("scenarios.py", "data/fewshot.py", "data/imbalance.py")
    ]
    files = [REPO / "Snakefile"] + [
        path
        for folder in ("src/genaug", "scripts", "rules")
        for path in sorted((REPO / folder).rglob("*"))
        if path.suffix in (".py", ".smk") and path not in allowed
    ]
    names = "|".join(map(re.escape, SCENARIOS))
    literal = re.compile(rf"""["']({names})["']""")
    found = [
        f"{path.relative_to(REPO)}:{n}: {line.strip()}"
        for path in files
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if literal.search(line)
    ]
    assert len(files) > 20 and not found, found
