"""Method names: a generator on top of a transform baseline (``dagan+classical``).

A combination ``<generator>+<transform>`` trains the classifier as the transform baseline
does, with the generator's synthetic images, transformed too, added to its pool (see
:func:`genaug.classify.combined`). The statistics compare it with ``none`` and with the
transform alone (:func:`genaug.stats.scenario_statistics`).

Nothing here imports torch, so the Snakefile and the config check start fast.
"""

from __future__ import annotations

from collections.abc import Iterable

from genaug.errors import GenaugError

#: the transform baselines (genaug.augment.TRANSFORMS, which imports torch, has the same keys)
TRANSFORM_NAMES = ("classical", "erasing", "trivialaugment", "randaugment", "augmix")
#: what joins a combination's generator and transform
JOIN = "+"


def split_combo(name: str) -> tuple[str, str] | None:
    """``"dagan+classical"`` -> ``("dagan", "classical")``; None for a method that is not a
    combination (no ``+``). Which names are allowed is :func:`check_combos`'s business."""
    if JOIN not in name:
        return None
    generator, _, transform = name.partition(JOIN)
    return generator, transform


def base_method(method: str) -> str:
    """A combination's generator (``"dagan+classical"`` -> ``"dagan"``), else ``method``."""
    combo = split_combo(method)
    return method if combo is None else combo[0]


def transform_of(method: str) -> str:
    """A combination's transform (``"dagan+classical"`` -> ``"classical"``), else ``method``."""
    combo = split_combo(method)
    return method if combo is None else combo[1]


def generator_of(method: str, generators: Iterable[str]) -> str | None:
    """The generator whose synthetic images ``method`` uses: itself, a combination's
    generator, or None (a baseline)."""
    name = base_method(method)
    return name if name in set(generators) else None


def generators_of(methods: Iterable[str], generators: Iterable[str]) -> list[str]:
    """The generators that ``methods`` need trained, each once, in the order of ``methods``."""
    generators = list(generators)
    found = (generator_of(m, generators) for m in methods)
    return list(dict.fromkeys(g for g in found if g is not None))


def combos_on(transform: str, methods: Iterable[str]) -> list[str]:
    """The combinations among ``methods`` whose transform baseline is ``transform``."""
    return [m for m in methods if (c := split_combo(m)) is not None and c[1] == transform]


def check_combos(config: dict, generators: Iterable[str]) -> None:
    """Stop with one line when a combination in ``methods`` does not name one of
    ``generators`` (the config's generator blocks), a transform baseline, and a transform that
    is itself in ``methods`` (the statistics compare the combination with it)."""
    methods = config["methods"]
    generators = list(generators)
    for i, method in enumerate(methods):
        combo = split_combo(method)
        if combo is None:
            continue
        generator, transform = combo
        where = f"config error at methods[{i}]: {method!r}"
        if generator not in generators:
            raise GenaugError(
                f"{where} is <generator>+<transform>, but {generator!r} is not a configured "
                f"generator (one of {', '.join(generators)}): fix it"
            )
        if transform not in TRANSFORM_NAMES:
            raise GenaugError(
                f"{where} is <generator>+<transform>, but {transform!r} is not a transform "
                f"baseline (one of {', '.join(TRANSFORM_NAMES)}): fix it"
            )
        if transform not in methods:
            raise GenaugError(
                f"{where} is compared with {transform!r} alone, which is not in methods: "
                f"add {transform!r} to methods to fix it"
            )
