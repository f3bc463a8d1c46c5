"""Volume rendering as pure functions (nerfacc style), batched [R, S] or packed (ray_indices, n_rays).

Typical use:
    t = stratified_samples(near, far, 64, perturb=True, generator=g)          # [R, S]
    sigma, rgb = field(points_from_t(rays_o, rays_d, t), ...)                 # [R, S], [R, S, 3]
    weights, t_final, _ = weights_from_density(sigma, intervals_from_t(t, far))
    color = composite(weights, rgb, t_final, background=torch.ones(3))        # [R, 3]
"""

from common.render.aabb import packed_uniform_steps, ray_aabb_intersect, uniform_samples_in_aabb
from common.render.composite import accumulate_along_rays, accumulated_opacity, composite, expected_depth
from common.render.contraction import contract, contract_with_inner, contraction_norm
from common.render.distortion import distortion_loss, segment_exclusive_cumsum
from common.render.sampling import intervals_from_t, pdf_samples, points_from_t, stratified_samples
from common.render.weights import (
    alpha_from_density,
    pack_info,
    transmittance_from_alpha,
    weights_from_alpha,
    weights_from_density,
    weights_from_optical_depth,
)

__all__ = [
    "accumulate_along_rays",
    "accumulated_opacity",
    "alpha_from_density",
    "composite",
    "contract",
    "contract_with_inner",
    "contraction_norm",
    "distortion_loss",
    "expected_depth",
    "intervals_from_t",
    "pack_info",
    "packed_uniform_steps",
    "pdf_samples",
    "points_from_t",
    "ray_aabb_intersect",
    "segment_exclusive_cumsum",
    "stratified_samples",
    "transmittance_from_alpha",
    "uniform_samples_in_aabb",
    "weights_from_alpha",
    "weights_from_density",
    "weights_from_optical_depth",
]
