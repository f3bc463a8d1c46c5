import math

import torch

from nerf_correspondence.siren import FREQ_SCALE, FREQ_SHIFT, FiLMLayer, FiLMSiren, MappingNetwork


def test_frequency_init_ranges_and_shapes():
    torch.manual_seed(0)
    net = FiLMSiren(z_dim=256, width=256, depth=8, mapping_hidden=256)
    first = net.network[0].layer.weight
    assert first.shape == (256, 3)
    assert first.abs().max() <= 1 / 3 and first.abs().max() > 0.9 / 3  # U(-1/n, 1/n), n = 3
    for layer in [*[m.layer for m in net.network[1:]], net.final_layer, net.color_layer_sine.layer,
                  net.color_layer_linear[0]]:  # fmt: skip
        bound = math.sqrt(6 / layer.weight.shape[1]) / 25
        assert layer.weight.abs().max() <= bound
        assert layer.weight.abs().max() > 0.95 * bound  # the whole range is used
        assert abs(layer.weight.std().item() - bound / math.sqrt(3)) < 0.1 * bound  # uniform: std = bound / sqrt 3
    assert net.color_layer_sine.layer.weight.shape == (256, 259)  # [ray dir, h]
    assert net.final_layer.weight.shape == (1, 256)
    assert net.color_layer_linear[0].weight.shape == (3, 256)


def test_mapping_network_output_split_and_init():
    torch.manual_seed(0)
    m = MappingNetwork(256, 256, 9 * 256 * 2)
    lin = [x for x in m.network if isinstance(x, torch.nn.Linear)]
    assert [tuple(x.weight.shape) for x in lin] == [(256, 256), (256, 256), (256, 256), (4608, 256)]
    kaiming_std = math.sqrt(2 / (1 + 0.2**2)) / math.sqrt(256)
    assert abs(lin[0].weight.std().item() - kaiming_std) < 0.05 * kaiming_std
    assert abs(lin[-1].weight.std().item() - 0.25 * kaiming_std) < 0.05 * kaiming_std
    z = torch.randn(5, 256)
    freqs, phases = m(z)
    full = m.network(z)
    assert freqs.shape == phases.shape == (5, 2304)
    assert torch.equal(freqs, full[:, :2304]) and torch.equal(phases, full[:, 2304:])


def test_gamma_is_15f_plus_30_and_near_30_at_init():
    torch.manual_seed(0)
    net = FiLMSiren(z_dim=32, width=16, depth=3, mapping_hidden=32)
    z = torch.randn(4, 32)
    gamma, beta = net.modulations(z)
    f, p = net.mapping_network(z)
    assert torch.allclose(gamma, f * FREQ_SCALE + FREQ_SHIFT) and torch.equal(beta, p)
    assert gamma.shape == (4, 4 * 16)


def test_film_layer_formula_and_forward_shapes():
    torch.manual_seed(0)
    layer = FiLMLayer(3, 4)
    x = torch.randn(2, 5, 3)
    gamma, beta = torch.randn(2, 4), torch.randn(2, 4)
    ref = torch.sin(gamma[:, None] * (x @ layer.layer.weight.T + layer.layer.bias) + beta[:, None])
    assert torch.allclose(layer(x, gamma, beta), ref, atol=1e-6)
    net = FiLMSiren(z_dim=8, width=16, depth=3, mapping_hidden=8, box_side=0.24)
    pts, dirs = torch.randn(2, 7, 3) * 0.1, torch.nn.functional.normalize(torch.randn(2, 7, 3), dim=-1)
    sigma, rgb = net(pts, torch.randn(2, 8), dirs)
    assert sigma.shape == (2, 7) and rgb.shape == (2, 7, 3) and (rgb > 0).all() and (rgb < 1).all()
    gamma, beta = net.modulations(torch.randn(2, 8))
    s, c, feats = net.forward_with_modulations(pts, gamma, beta, dirs, feature_layers=(1, 2, 3))
    assert [f.shape for f in feats] == [(2, 7, 16)] * 3
    # layer 3 (= depth) is the colour sine layer: it depends on the view direction, the trunk does not
    _, _, feats2 = net.forward_with_modulations(pts, gamma, beta, -dirs, feature_layers=(1, 2, 3))
    assert torch.equal(feats[0], feats2[0]) and torch.equal(feats[1], feats2[1])
    assert not torch.allclose(feats[2], feats2[2])
