"""Neural-field building blocks shared by the model families: encodings, MLPs, the NeRF network,
hash and dense voxel grids, and the occupancy grid for empty-space skipping."""

from common.fields.encoding import PositionalEncoding, encoding_dim, positional_encoding
from common.fields.grid import DenseGrid, MaskGrid, grid_points, grid_resolution, normalize_to_grid, sample_points
from common.fields.hashgrid import HashGrid, level_resolutions
from common.fields.mlp import MLP, activation_fn, apply_skip_linears, skip_linears
from common.fields.nerf import NeRF, NeRFFields
from common.fields.occupancy import OccupancyGrid

__all__ = [
    "MLP",
    "DenseGrid",
    "HashGrid",
    "MaskGrid",
    "NeRF",
    "NeRFFields",
    "OccupancyGrid",
    "PositionalEncoding",
    "activation_fn",
    "apply_skip_linears",
    "encoding_dim",
    "grid_points",
    "grid_resolution",
    "level_resolutions",
    "normalize_to_grid",
    "positional_encoding",
    "sample_points",
    "skip_linears",
]
