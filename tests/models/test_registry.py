"""The generator registry, the config schema and the default config agree, and a config that
puts a generator in a mode it does not support stops with one line, without importing torch."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import yaml

from conftest import REPO
from genaug.classify import STRATEGIES
from genaug.errors import GenaugError
from genaug.models import GENERATORS, check_modes
from genaug.models.registry import Entry

SCHEMA = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
SHIPPED = sorted(p for p in (REPO / "config").glob("*.yaml") if p.name != "schema.yaml")


def test_schema_enumerates_the_registered_generators():
    methods = set(SCHEMA["properties"]["methods"]["items"]["anyOf"][0]["enum"])
    assert methods - set(GENERATORS) == set(STRATEGIES)  # every baseline classify knows
    generators = SCHEMA["properties"]["generators"]
    assert set(generators["properties"]) == set(generators["required"]) == set(GENERATORS)


def test_schema_modes_agree_with_the_registry():
    training = SCHEMA["$defs"]["training"]["properties"]["mode"]["enum"]
    assert set(training) == {mode for entry in GENERATORS.values() for mode in entry.modes}
    conditional_modes = SCHEMA["$defs"]["conditional"]["allOf"][1]["properties"]["mode"]["enum"]
    for name, ref in SCHEMA["properties"]["generators"]["properties"].items():
        conditional = ref["$ref"] == "#/$defs/conditional"
        assert (GENERATORS[name].modes == tuple(conditional_modes)) is conditional, name


def test_default_config_agrees_with_the_registry():
    from genaug.models import get_generator

    assert set(CONFIG["generators"]) == set(GENERATORS)
    assert set(GENERATORS) <= set(CONFIG["methods"])  # the default run covers every one
    for name, settings in CONFIG["generators"].items():
        assert settings["mode"] in GENERATORS[name].modes, name
        assert set(settings["hparams"]) == set(get_generator(name).defaults), name


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_configs_use_supported_modes(path):
    check_modes({**CONFIG, **yaml.safe_load(path.read_text())})


def test_unsupported_mode_is_one_line(monkeypatch):
    monkeypatch.setitem(GENERATORS, "dagan", Entry("genaug.models.dagan", "DAGAN", ("fit",)))
    config = copy.deepcopy(CONFIG)
    with pytest.raises(GenaugError) as err:
        check_modes(config)
    assert str(err.value) == (
        "config error at generators.dagan.mode: the dagan generator supports mode fit, not "
        "'transfer': fix it"
    )
    config["generators"]["gan"] = config["generators"].pop("dagan")
    with pytest.raises(GenaugError, match="unknown generator 'gan'"):
        check_modes(config)


def test_the_check_does_not_import_torch():
    """The Snakefile runs it at every start: importing torch there would cost seconds."""
    code = (
        "import sys, yaml; from genaug.models import check_modes; "
        f"check_modes(yaml.safe_load(open({str(REPO / 'config' / 'config.yaml')!r}))); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
