"""The neural fields S3IM is plugged into (one subpackage per model) and their registry.

``REGISTRY[model.name]`` is the ``common.engine.experiment.ModelFamily`` the experiment driver
trains; a new model is a subpackage, an entry here and a preset in ``s3im/configs/``.
"""

from s3im.models.dnerf.family import DNERF
from s3im.models.dvgo.family import DVGO
from s3im.models.dynamic_nerf.family import DYNAMIC_NERF
from s3im.models.nerf.family import NERF
from s3im.models.neus.family import NEUS
from s3im.models.tensorf.family import TENSORF

REGISTRY = {"dvgo": DVGO, "nerf": NERF, "tensorf": TENSORF, "neus": NEUS, "dnerf": DNERF, "dynamic_nerf": DYNAMIC_NERF}

__all__ = ["REGISTRY"]
