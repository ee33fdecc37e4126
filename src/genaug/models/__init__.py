"""The generator families and the classifier.

Add a generator: one module here with a :class:`~genaug.models.base.Generator` subclass and
one entry in :data:`~genaug.models.registry.GENERATORS` (see the README, "Add a generator").
Importing this package does not import torch: the model modules are imported on first use.
"""

from genaug.models.registry import GENERATORS, check_modes, get_generator, load_generator

__all__ = ["GENERATORS", "check_modes", "get_generator", "load_generator"]
