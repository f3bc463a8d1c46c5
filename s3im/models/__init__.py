"""The neural fields S3IM is plugged into (one subpackage per model) and their registry.

``REGISTRY[model.name]`` is the ``common.engine.experiment.ModelFamily`` the experiment driver
trains; a new model is a subpackage, an entry here and a preset in ``s3im/configs/``.
"""

from s3im.models.dvgo.family import DVGO

REGISTRY = {"dvgo": DVGO}

__all__ = ["REGISTRY"]
