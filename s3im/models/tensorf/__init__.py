"""TensoRF (VM decomposition) in pure PyTorch: field (``vm``), colour head (``shading``), packed ray
marching (``marching``), alpha mask (``alpha_mask``), resolution schedule (``schedule``), the model
(``model``) and its model family for the experiment driver (``family``)."""

from s3im.models.tensorf.family import TENSORF, build_model
from s3im.models.tensorf.model import DEFAULTS, TensoRF

__all__ = ["DEFAULTS", "TENSORF", "TensoRF", "build_model"]
