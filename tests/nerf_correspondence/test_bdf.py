import math

import torch

from nerf_correspondence.bdf import (
    BDF,
    BDFLossConfig,
    BDFModel,
    bdf_losses,
    blend,
    curriculum_t,
    cycle_loss,
    pair_loss,
    weighted_cosine_loss,
)
from nerf_correspondence.features import PointSet
from nerf_correspondence.siren import FiLMSiren


def test_losses_against_hand_values():
    x = torch.tensor([[[0.0, 0.0, 0.0], [3.0, 4.0, 0.0]]])
    back = torch.tensor([[[1.0, 0.0, 0.0], [3.0, 4.0, 2.0]]])
    assert math.isclose(cycle_loss(x, back).item(), (1 + 4) / 2)
    mapped = torch.tensor([[[0.0, 0.0, 0.0], [6.0, 8.0, 0.0]]])  # distance 5 -> 10
    assert math.isclose(pair_loss(x, mapped, torch.tensor([1, 0])).item(), 25.0)
    assert pair_loss(x, x + 7.0, torch.tensor([1, 0])).item() == 0.0  # translations keep distances
    fa = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    fb = torch.tensor([[0.0, 1.0], [2.0, 2.0]])
    w = torch.tensor([0.5, 2.0])
    assert math.isclose(weighted_cosine_loss(fa, fb, w).item(), (0.5 * 1 + 2.0 * 0) / 2, abs_tol=1e-7)


def test_curriculum_and_blend():
    assert curriculum_t(0, 0.6, 100) == 0.0 and curriculum_t(50, 0.6, 100) == 0.3 and curriculum_t(500, 0.6, 100) == 0.6
    assert curriculum_t(0, 1.0, 0) == 1.0
    m0, mi = torch.zeros(1, 4), torch.ones(2, 4) * 2
    assert torch.equal(blend(m0, mi, 0.25), torch.full((2, 4), 0.5))


def test_maps_start_as_identity_and_use_three_linear_layers():
    bdf = BDF(cond_dim=4, width=32)
    x, c = torch.randn(2, 5, 3), torch.randn(2, 4)
    assert torch.equal(bdf.forward_map(x, c), x) and torch.equal(bdf.backward_map(x, c), x)
    linears = [m for m in bdf.F.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 3 and linears[0].in_features == 3 + 36 + 4


def shifted_pair(seed=0, shift=(0.15, -0.1, 0.05)):
    """A tiny generator and two NeRFs: the instance is the template translated by -shift (exact: the first
    FiLM layer's phase absorbs gamma W shift), so F(x) = x + shift, B(y) = y - shift."""
    torch.manual_seed(seed)
    siren = FiLMSiren(z_dim=4, width=32, depth=3, mapping_hidden=16, box_side=2.0)
    g0, b0 = siren.modulations(torch.zeros(1, 4))
    s = torch.tensor(shift)
    bi = b0.clone()
    w = siren.width
    bi[:, :w] += g0[:, :w] * (siren.network[0].layer.weight @ (s * (2.0 / siren.box_side)))
    return siren, g0.detach(), b0.detach(), g0.detach(), bi.detach(), s


def test_bdf_learns_a_toy_translation_and_b_of_f_is_identity():
    siren, g0, b0, gi, bi, s = shifted_pair()
    x = torch.rand(1, 64, 3) - 0.5
    d = torch.nn.functional.normalize(torch.randn(1, 64, 3), dim=-1)
    f0, _, _ = siren.forward_with_modulations(x + s, g0, b0, d, (0, 1, 2, 3))
    fi, _, _ = siren.forward_with_modulations(x, gi, bi, d, (0, 1, 2, 3))
    assert all(torch.allclose(a, b, atol=1e-4) for a, b in zip(f0, fi))  # the pair is an exact translation
    torch.manual_seed(1)
    bdf = BDF(cond_dim=4, width=32, n_freqs=2)
    gen = torch.Generator().manual_seed(2)
    c = torch.ones(1, 4)

    def draw(step):
        p = torch.rand(1, 96, 3, generator=gen) - 0.5
        q = torch.rand(1, 96, 3, generator=gen) - 0.5
        dirs = torch.nn.functional.normalize(torch.randn(1, 96, 3, generator=gen), dim=-1)
        ones = torch.ones(1, 96)
        return None, PointSet(p, dirs, ones), PointSet(q, dirs, ones), gi, bi, g0, b0, c

    model = BDFModel(bdf, siren, draw, BDFLossConfig(feature_layers=(1, 2, 3)), lr=3e-3)
    opts = model.configure_optimizers((0.9, 0.999), 1e-8)
    first = model.train_step(None, 0, opts)
    for step in range(1, 150):
        last = model.train_step(None, step, opts)
    assert last["loss"] < 0.2 * first["loss"]
    x = torch.rand(1, 200, 3) * 0.6 - 0.3
    with torch.no_grad():
        fx = bdf.forward_map(x, c)
        back = bdf.backward_map(fx, c)
    assert (fx - (x + s)).norm(dim=-1).mean() < 0.25 * s.norm()  # F found the translation
    assert (back - x).norm(dim=-1).mean() < 0.02  # B(F(x)) = x
    assert not any(p.requires_grad for p in siren.parameters())


def test_bdf_losses_terms_and_weights():
    siren, g0, b0, gi, bi, _ = shifted_pair()
    bdf = BDF(cond_dim=4, width=16, n_freqs=2)
    pts = PointSet(torch.rand(1, 8, 3) - 0.5, torch.nn.functional.normalize(torch.randn(1, 8, 3), dim=-1),
                   torch.ones(1, 8))  # fmt: skip
    full = bdf_losses(bdf, siren, pts, pts, gi, bi, g0, b0, torch.ones(1, 4), BDFLossConfig(feature_layers=(2, 3)))
    assert set(full) == {"feature_F", "feature_B", "cycle", "pair", "loss"}
    assert full["cycle"].item() == 0.0 and full["pair"].item() == 0.0  # identity maps at init
    no_reg = bdf_losses(bdf, siren, pts, pts, gi, bi, g0, b0, torch.ones(1, 4),
                        BDFLossConfig(lambda_cycle=0, lambda_pair=0, feature_layers=(2, 3)))  # fmt: skip
    assert set(no_reg) == {"feature_F", "feature_B", "loss"}
    zero_w = PointSet(pts.points, pts.dirs, torch.zeros(1, 8))
    assert bdf_losses(bdf, siren, zero_w, zero_w, gi, bi, g0, b0, torch.ones(1, 4),
                      BDFLossConfig(feature_layers=(2, 3)))["feature_F"].item() == 0.0  # fmt: skip
