"""Glue between Snakemake and the package: config checking and the script wrapper.

The scenarios and regimes are in :mod:`genaug.scenarios`, derived seeds in :mod:`genaug.seeds`.

Nothing here imports torch, so the Snakefile and light rules start fast.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from genaug.errors import GenaugError
from genaug.methods import check_combos, split_combo

log = logging.getLogger("genaug")


# --------------------------------------------------------------------------- config
def check_config(config: dict, schema_path: str | Path) -> None:
    """Validate ``config`` with ``snakemake.utils.validate``; on failure raise one clear line.

    The line names the offending key, what is wrong with it, and what the key is for.
    Strings where the schema wants a number, boolean or null are converted first, in place
    (:func:`coerce_config_strings`): that is how ``--config`` passes lists and mappings.
    """
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    schema = yaml.safe_load(Path(schema_path).read_text())
    coerce_config_strings(config, schema)
    try:
        validate(config, str(schema_path))
    except WorkflowError:
        raise GenaugError(explain_config_error(config, schema_path)) from None
    built_in = schema["properties"]["methods"]["items"]["anyOf"][0]["enum"]
    check_methods(config, built_in)
    check_combos(config, generator_settings(config))
    check_against(config, built_in)


def generator_settings(config: dict) -> dict[str, dict]:
    """The training settings of every block under ``generators``, by its name (the method
    name), each with ``model``: the registered generator it trains. A block that names a
    ``model`` is a variant of that generator's block: the keys it leaves out come from there
    (``hparams`` key by key), e.g. ``cvae_fit: {model: cvae, mode: fit}``. ``finetune_steps``
    and ``finetune_lr`` default to the block's ``steps`` and ``lr``. Stops with one line for
    an unknown ``model``. Torch-free: the Snakefile resolves them before any job."""
    from genaug.models.registry import GENERATORS

    blocks = config["generators"]
    out = {}
    for name, block in blocks.items():
        model = block.get("model", name)
        if model not in GENERATORS:
            raise GenaugError(
                f"config error at generators.{name}.model: unknown generator {model!r}: name "
                f"one of {', '.join(sorted(GENERATORS))} (fix it in your --configfile or --config)"
            )
        base = blocks.get(model, {}) if model != name else {}
        settings = {**base, **block, "model": model}
        settings["hparams"] = {**base.get("hparams", {}), **block.get("hparams", {})}
        settings.setdefault("finetune_steps", settings["steps"])
        settings.setdefault("finetune_lr", settings["lr"])
        out[name] = settings
    return out


def check_methods(config: dict, built_in: list[str]) -> None:
    """Stop with one line when a method is neither ``built_in`` (the schema's names) nor the
    name of a block under ``generators`` (a variant, see :func:`generator_settings`)."""
    settings = generator_settings(config)
    for i, method in enumerate(config["methods"]):
        if split_combo(method) is not None:
            continue  # a generator on top of a transform: check_combos
        if method not in built_in and method not in settings:
            raise GenaugError(
                f"config error at methods[{i}]: {method!r} is neither a known method nor a "
                "block under generators: fix it in your --configfile or --config (a variant "
                "of a generator needs its block, e.g. generators.cvae_fit: {model: cvae, "
                "mode: fit})"
            )


def check_against(config: dict, built_in: list[str]) -> None:
    """Stop with one line when a strong baseline of ``stats.against`` is no method at all
    (neither ``built_in`` nor a generator block: a typo) or is ``none``, which every method is
    tested against anyway. One the scenario does not run (``methods`` cut down to a few) is
    left out of the statistics, not an error."""
    known = set(built_in) | set(config["generators"])
    for name, bases in config["stats"]["against"].items():
        for i, base in enumerate(bases):
            if base == "none" or base not in known:
                why = "is the baseline of every comparison" if base == "none" else "is no method"
                raise GenaugError(
                    f"config error at stats.against.{name}[{i}]: {base!r} {why}: name one of "
                    "the scenario's methods, e.g. oversample or classical (fix it in your "
                    "--configfile or --config)"
                )


#: how ``--config`` spells a non-string scalar (YAML's forms), by the JSON type it becomes
_SCALAR_SPELLINGS = {
    "integer": re.compile(r"[-+]?[0-9]+"),
    "number": re.compile(r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?"),
    "boolean": re.compile(r"true|false", re.IGNORECASE),
    "null": re.compile(r"null|~", re.IGNORECASE),
}


def coerce_config_strings(config: Any, schema: dict) -> Any:
    """Convert, in place, each string of ``config`` that sits where ``schema`` allows no
    string but an integer, number, boolean or null, and reads as one; returns ``config``.

    Snakemake's ``--config replicates=[0,1,2]`` parses lists and mappings with YAML's
    BaseLoader, so every value inside them arrives as a string ("'2' is not of type
    'integer'"). Hand-written: jsonschema validates but never converts. Follows
    ``properties``, ``additionalProperties``, ``items``, local ``$ref`` and
    ``allOf``/``anyOf``/``oneOf``; anything else is left for validation to report.
    """
    return _coerce(config, [schema], schema)


def _coerce(value: Any, nodes: list[dict], root: dict) -> Any:
    nodes = [n for node in nodes for n in _subschemas(node, root)]
    if isinstance(value, dict):
        for key, item in value.items():
            value[key] = _coerce(item, [c for n in nodes for c in _property(n, key)], root)
    elif isinstance(value, list):
        items = [n["items"] for n in nodes if isinstance(n.get("items"), dict)]
        value[:] = [_coerce(item, items, root) for item in value]
    elif isinstance(value, str):
        types = set()
        for n in nodes:
            declared = n.get("type", [])
            types.update([declared] if isinstance(declared, str) else declared)
            # an untyped enum or const (e.g. channels: [1, 3]) allows its values' types
            allowed = [*n.get("enum", []), *([n["const"]] if "const" in n else [])]
            types.update(_json_type(v) for v in allowed)
        if types and "string" not in types:
            return _parse_scalar(value, types)
    return value


def _subschemas(node: dict, root: dict) -> list[dict]:
    """``node`` with its local ``$ref`` and ``allOf``/``anyOf``/``oneOf`` parts, flattened."""
    out = [node]
    if isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
        target: Any = root
        for part in node["$ref"][2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        out += _subschemas(target, root)
    for key in ("allOf", "anyOf", "oneOf"):
        for part in node.get(key, []):
            out += _subschemas(part, root)
    return out


def _property(node: dict, key: str) -> list[dict]:
    if key in node.get("properties", {}):
        return [node["properties"][key]]
    extra = node.get("additionalProperties")
    return [extra] if isinstance(extra, dict) else []


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string" if isinstance(value, str) else type(value).__name__


def _parse_scalar(text: str, types: set[str]) -> Any:
    """``text`` as the first of ``types`` it spells (integer before number); else unchanged."""
    text_ = text.strip()
    spelled = {k for k in types & _SCALAR_SPELLINGS.keys() if _SCALAR_SPELLINGS[k].fullmatch(text_)}
    if spelled & {"integer", "number"}:
        return int(text_) if _SCALAR_SPELLINGS["integer"].fullmatch(text_) else float(text_)
    if "boolean" in spelled:
        return text_.lower() == "true"
    return None if "null" in spelled else text


def explain_config_error(config: dict, schema_path: str | Path) -> str:
    import jsonschema

    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is None:
        return "config is invalid: check it against config/schema.yaml"
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    where = where.lstrip(".") or "(top level)"
    hint = _description(schema, list(error.absolute_schema_path)) or ""
    msg = error.message.replace("\n", " ")
    fix = f"; {hint}" if hint else ""
    return f"config error at {where}: {msg}{fix} (fix it in your --configfile or --config)"


def _description(schema: dict, path: list) -> str | None:
    """The description nearest to the failing schema node, walking up from it."""
    nodes = [schema]
    node: Any = schema
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
        nodes.append(node)
    for node in reversed(nodes):
        if isinstance(node, dict) and "description" in node:
            return " ".join(str(node["description"]).split())
    return None


# --------------------------------------------------------------------------- scripts
def run_script(main: Callable[[Any], None], smk: Any) -> None:
    """Run a rule script's ``main(snakemake)`` with logging to the rule's log file.

    A :class:`GenaugError` (bad input) ends the job with its one-line message and exit
    status 1, no traceback; anything else is a bug and keeps its traceback.

    Once ``main`` has returned, every object left is frozen out of the garbage collector
    (``gc.freeze``), as the job's process ends next (a rule script's last statement is this
    call): the collections Python runs at exit then skip the interpreter's objects (PyTorch's
    are many), which saves about 0.6 of the 0.8 CPU s a model job spent exiting. Exit itself
    stays normal: log handlers, files and ``atexit`` hooks are flushed and closed as usual.

    ``main`` starts with Python's cyclic garbage collector off, for the job's imports: PyTorch,
    pandas and torchvision make hundreds of thousands of objects, and the full collections
    that set off as they load take about 0.5 of a model job's 2.5 CPU s of imports
    (``benchmarks/job_overhead.py``). :func:`genaug.runtime.setup`, which a model job calls
    once its imports are done, freezes what they made and turns the collector back on. The
    jobs that do not call it (prepare, subsample, tables, figures) run to the end without it;
    what they free, reference counting frees.
    """
    import gc

    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if getattr(smk, "log", None):
        Path(smk.log[0]).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(smk.log[0], mode="w"))
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    rule = getattr(smk, "rule", "script")
    start = time.perf_counter()
    gc.disable()
    try:
        main(smk)
    except GenaugError as err:
        log.error("%s", err)
        sys.exit(1)
    log.info("%s done in %.1f s", rule, time.perf_counter() - start)
    gc.freeze()
