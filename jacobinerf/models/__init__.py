"""The model families of this package (``REGISTRY[model.name]``) for the experiment driver."""

from jacobinerf.family import JNERF

REGISTRY = {"jnerf": JNERF}

__all__ = ["REGISTRY"]
