"""Data: the `SceneData` contract, one loader per real format, and the procedural generator."""

from common.data.collection import CollectionSampler, SceneCollection  # noqa: F401 (re-exported)
from common.data.errors import DataFormatError
from common.data.registry import FORMATS, load_scene
from common.data.scene import Normalization, SceneData

__all__ = ["FORMATS", "DataFormatError", "Normalization", "SceneData", "load_scene"]
