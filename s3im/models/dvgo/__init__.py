"""DirectVoxGO (bounded, two-stage) and DirectContractedVoxGO (unbounded) in pure PyTorch."""

from s3im.models.dvgo.build import DEFAULTS, build_fine_from_coarse, build_model, resolve_stage_config
from s3im.models.dvgo.contracted import DirectContractedVoxGO
from s3im.models.dvgo.model import DirectVoxGO, VoxGOBase
from s3im.models.dvgo.optim import MaskedAdam

__all__ = [
    "DEFAULTS",
    "DirectContractedVoxGO",
    "DirectVoxGO",
    "MaskedAdam",
    "VoxGOBase",
    "build_fine_from_coarse",
    "build_model",
    "resolve_stage_config",
]
