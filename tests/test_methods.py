"""Generator+transform combinations: the name, the config check, where they run."""

from __future__ import annotations

import copy

import pytest
from test_config import SCHEMA, default_config

from genaug.errors import GenaugError
from genaug.methods import TRANSFORM_NAMES, generators_of, split_combo
from genaug.scenarios import FEWSHOT, IMBALANCE
from genaug.workflow import check_config


@pytest.mark.parametrize(
    "name, parts",
    [
        ("dagan+classical", ("dagan", "classical")),
        ("cvae+augmix", ("cvae", "augmix")),
        ("dagan", None),
    ],
)
def test_split_combo(name, parts):
    assert split_combo(name) == parts


def test_transform_names_are_the_transform_registry():
    from genaug.augment import TRANSFORMS

    assert TRANSFORM_NAMES == tuple(TRANSFORMS)


def test_combinations_train_their_generator_and_run_where_it_runs():
    generators = default_config()["generators"]
    methods = ["none", "classical", "cyclegan+classical", "dagan+erasing", "dagan"]
    assert generators_of(methods, generators) == ["cyclegan", "dagan"]
    assert not FEWSHOT.applies("cyclegan+classical") and IMBALANCE.applies("cyclegan+classical")
    assert FEWSHOT.applies("dagan+classical")


@pytest.mark.parametrize(
    "combo, says",
    [
        ("gan+classical", "'gan' is not a configured generator"),
        ("dagan+mixup", "'mixup' is not a transform baseline"),
        ("dagan+classical+erasing", "is not valid under any of the given schemas"),  # one +
        ("dagan+augmix", "add 'augmix' to methods"),
    ],
)
def test_bad_combinations_are_one_line(combo, says):
    config = copy.deepcopy(default_config())
    config["methods"] = ["none", "classical", combo]
    with pytest.raises(GenaugError) as err:
        check_config(config, SCHEMA)
    message = str(err.value)
    assert "\n" not in message and "fix it" in message
    assert message.startswith(f"config error at methods[2]: {combo!r}") and says in message


def test_the_schema_still_rejects_other_names():
    config = copy.deepcopy(default_config())
    config["methods"] = ["none", "dagan classical"]
    with pytest.raises(GenaugError, match=r"^config error at methods\[1\]:"):
        check_config(config, SCHEMA)


def test_a_variant_of_a_generator_combines_too():
    config = copy.deepcopy(default_config())
    config["generators"]["cvae_fit"] = {"model": "cvae", "mode": "fit"}
    config["methods"] = ["none", "classical", "cvae_fit+classical"]
    check_config(config, SCHEMA)
    assert generators_of(config["methods"], config["generators"]) == ["cvae_fit"]
