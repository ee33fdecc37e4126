"""Data: the canonical Omniglot table (:mod:`.omniglot`) and few-shot splits (:mod:`.fewshot`).

Import the submodules directly; this package imports nothing heavy on its own.
"""
