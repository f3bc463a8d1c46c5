import math

import torch

from nerf_correspondence.features import paper_feature_layers, point_features, sample_point_set
from nerf_correspondence.rendering import camera_origins, camera_rays
from nerf_correspondence.siren import FiLMSiren


def test_paper_layers_start_mid_trunk_and_end_with_the_colour_layer():
    assert paper_feature_layers(8) == (4, 5, 6, 7, 8)
    assert paper_feature_layers(4, start=4) == (3, 4)
    siren = FiLMSiren(z_dim=4, width=8, depth=4, mapping_hidden=8)
    g, b = siren.modulations(torch.randn(2, 4))
    f, sigma = point_features(siren, torch.randn(2, 5, 3) * 0.1, torch.randn(2, 5, 3), g, b, (2, 3, 4))
    assert f.shape == (2, 5, 24) and sigma.shape == (2, 5)


def test_point_sets_come_from_opaque_rays_with_transmittance_weights():
    torch.manual_seed(0)
    siren = FiLMSiren(z_dim=4, width=16, depth=2, mapping_hidden=8, box_side=2.0)
    with torch.no_grad():  # a solid ball of radius ~0.5: density = 50 relu(1 - 2 |x|) via the final layer
        siren.final_layer.weight.zero_()
        siren.final_layer.bias.fill_(0.0)

    def ball_forward(x, gamma, beta, dirs, feature_layers=()):
        sigma = 200 * torch.relu(0.5 - x.norm(dim=-1))
        return sigma, torch.full((*x.shape[:-1], 3), 0.5), []

    siren.forward_with_modulations = ball_forward
    g, b = siren.modulations(torch.randn(1, 4))

    def cams(n, gen):
        o = camera_origins(torch.full((n,), math.pi / 2), torch.full((n,), math.pi / 2), 2.0)
        return camera_rays(o, 8, 40.0)

    ps = sample_point_set(siren, g, b, cams, 2, 300, 1.0, 3.0, 8, generator=torch.Generator().manual_seed(0))
    assert ps.points.shape == (1, 300, 3) and ps.dirs.shape == (1, 300, 3) and ps.transmittance.shape == (1, 300)
    r = ps.points[0].norm(dim=-1)
    assert (r < 0.6).float().mean() > 0.95  # importance sampling puts the points at the ball
    assert (ps.transmittance >= 0).all() and (ps.transmittance <= 1).all()
    assert ps.transmittance.max() > 0.5  # the front surface is visible


def test_surface_features_hit_the_sphere_and_similarity_maps_mask_background():
    from nerf_correspondence.features import similarity_maps, surface_features

    class Sphere(torch.nn.Module):
        """A FiLMSiren stand-in: an opaque unit sphere; features = the point itself."""

        def forward_with_modulations(self, p, gamma, beta, dirs, layers=()):
            sigma = torch.where(p.norm(dim=-1) < 1.0, 1e3, 0.0)
            return sigma, torch.ones_like(p) * 0.5, [p] * len(layers)

    origin = torch.tensor([[0.0, 0.0, -3.0]])
    dirs = torch.nn.functional.normalize(torch.tensor([[[0.0, 0.0, 1.0], [0.1, 0.0, 1.0], [1.0, 0.0, 1.0]]]), dim=-1)
    feats, points, opacity = surface_features(Sphere(), None, None, origin, dirs, 1.0, 5.0, 256, (0,))
    assert opacity[:2].min() > 0.99 and opacity[2] < 1e-3  # the last ray misses the sphere
    assert torch.allclose(points[:2].norm(dim=-1), torch.ones(2), atol=0.03)  # first hit at radius 1
    assert torch.equal(feats, points)
    sim = similarity_maps(feats[:1], feats, opacity)
    assert sim.shape == (1, 3) and torch.isnan(sim[0, 2]) and abs(float(sim[0, 0]) - 1.0) < 1e-6
