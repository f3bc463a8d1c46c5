"""TensoRF model: packed rendering against the official dense forward, alpha mask / shrink / ray filter,
training hooks and checkpoint state."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from s3im.models.tensorf.model import TensoRF

AABB = torch.tensor([[-1.5, -1.2, -1.0], [1.5, 1.2, 1.3]])
CFG = {
    "n_lamb_sigma": [3, 2, 4],
    "n_lamb_sh": [4, 3, 2],
    "data_dim_color": 5,
    "featureC": 16,
    "N_voxel_init": 12**3,
    "N_voxel_final": 20**3,
    "upsamp_list": [2, 5],
    "update_AlphaMask_list": [3, 6],
    "L1_weight_inital": 1e-3,
    "L1_weight_rest": 5e-4,
    "TV_weight_density": 0.1,
    "TV_weight_app": 0.01,
    "Ortho_weight": 0.2,
}


def make_model(**over) -> TensoRF:
    torch.manual_seed(0)
    model = TensoRF({**CFG, **over}, AABB, near=0.5, far=8.0, tv_decay=0.9)
    with torch.no_grad():  # a blob of density around (0.2, -0.1, 0.1) (normalised), feature -8 elsewhere
        for plane, line in zip(model.field.density_plane, model.field.density_line):
            plane.mul_(0.2)
            h, w = plane.shape[2:]
            yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
            plane[0, 0] = 6 * torch.exp(-((xx - 0.2) ** 2 + (yy + 0.1) ** 2) / 0.4)
            zz = torch.linspace(-1, 1, line.shape[2])
            line[0, 0, :, 0] = 2 * torch.exp(-((zz - 0.1) ** 2) / 0.4)
        model.field.density_plane[0][0, 1] = -8.0
        model.field.density_line[0][0, 1] = 1.0
    return model


def rays(n=96, seed=1):
    g = torch.Generator().manual_seed(seed)
    o = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=-1) * 4
    d = torch.nn.functional.normalize(torch.randn(n, 3, generator=g) * 0.3 - o / 4, dim=-1)
    return o, d


def official_forward(model: TensoRF, o, d, n, u, white):
    """The official TensorBase.forward (dense [R, n] samples) restated with the model's field and head."""
    aabb, step = model.aabb, model.step_size
    vec = torch.where(d == 0, torch.full_like(d, 1e-6), d)
    t_min = torch.minimum((aabb[1] - o) / vec, (aabb[0] - o) / vec).amax(-1).clamp(min=model.near, max=model.far)
    z = t_min[:, None] + step * (torch.arange(n)[None].float() + u[:, None])
    pts = o[:, None] + d[:, None] * z[..., None]
    valid = ~((aabb[0] > pts) | (pts > aabb[1])).any(-1)
    if model.alpha_mask is not None:
        valid[valid.clone()] &= model.alpha_mask.sample(pts[valid]) > 0
    dists = torch.cat([z[:, 1:] - z[:, :-1], torch.zeros_like(z[:, :1])], -1)
    xyz = model.normalize(pts)
    sigma = torch.zeros(z.shape)
    sigma[valid] = F.softplus(model.field.density_feature(xyz[valid]) - 10)
    alpha = 1 - torch.exp(-sigma * dists * 25)
    trans = torch.cumprod(torch.cat([torch.ones(o.shape[0], 1), 1 - alpha + 1e-10], -1), -1)[:, :-1]
    w = alpha * trans
    app = w > 1e-4
    rgb = torch.zeros(*z.shape, 3)
    views = d[:, None].expand(pts.shape)
    rgb[app] = model.render_module(model.field.app_feature(xyz[app]), views[app], xyz[app])
    acc = w.sum(-1)
    out = (w[..., None] * rgb).sum(-2)
    if white:
        out = out + (1 - acc[:, None])
    return out.clamp(0, 1), int(app.sum())


@pytest.mark.parametrize("white", [True, False])
def test_packed_render_equals_the_official_dense_forward(white):
    model = make_model(white_bkgd=white)
    o, d = rays()
    with torch.no_grad():
        got = model.render({"rays_o": o, "rays_d": d}, chunk=40)["rgb"]
        ref, n_app = official_forward(model, o, d, model.n_samples_eval, torch.zeros(len(o)), white)
    assert n_app > 100  # the colour branch is exercised
    torch.testing.assert_close(got, ref, rtol=0, atol=2e-5)
    # training: one offset per ray, then (non-white) white compositing of the batch with probability 1/2
    model.train()
    for seed in range(3):
        torch.manual_seed(seed)
        out = model({"rays_o": o, "rays_d": d})
        torch.manual_seed(seed)
        u = torch.rand(len(o), 1)[:, 0]
        white_now = white or bool(torch.rand((1,)) < 0.5)
        with torch.no_grad():
            ref, _ = official_forward(model, o, d, model.n_samples_train, u, white_now)
        torch.testing.assert_close(out["rgb"].detach(), ref, rtol=0, atol=2e-5)


def test_gradients_reach_every_parameter_group():
    model = make_model()
    o, d = rays()
    out = model({"rays_o": o, "rays_d": d})
    terms = model.losses(out, {"rgb": torch.rand(len(o), 3)}, 0)
    assert set(terms) == {"mse", "ortho", "l1", "tv_density", "tv_app"}
    sum(terms.values()).backward()
    for group in model.param_groups():
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in group["params"]), group["name"]


def test_loss_weights_follow_the_schedule():
    model = make_model()
    assert model.l1_weight(3) == 1e-3 and model.l1_weight(4) == 5e-4  # switch after the first mask update
    out = {"rgb": torch.zeros(2, 3)}
    batch = {"rgb": torch.ones(2, 3)}
    t0, t9 = model.losses(out, batch, 0), model.losses(out, batch, 9)
    ratio = float(t9["tv_density"].detach() / t0["tv_density"].detach())
    assert ratio == pytest.approx(0.9**9, rel=1e-5)  # w_tv(u) = w_tv * decay^(u + 1)
    assert float(t0["tv_density"].detach()) == pytest.approx(
        0.1 * 0.9 * float(model.field.tv_density().detach()), rel=1e-6
    )


class FakeBank:
    def __init__(self, o, d, positions=None):
        self.o, self.d = o, d
        self.positions = torch.arange(len(o)) if positions is None else positions

    def __len__(self):
        return len(self.positions)

    def chunks(self, chunk):
        for i in range(0, len(self), chunk):
            p = self.positions[i : i + chunk]
            yield {"rays_o": self.o[p], "rays_d": self.d[p]}

    def restrict(self, idx):
        return FakeBank(self.o, self.d, self.positions[idx])


def test_hooks_mask_shrink_filter_and_upsample_in_the_official_order():
    model = make_model()
    o, d = rays(400, seed=4)
    sampler = SimpleNamespace(bank=FakeBank(o, d))
    sampler.set_bank = lambda bank: setattr(sampler, "bank", bank)
    optimizer = torch.optim.Adam(model.param_groups())
    trainer = SimpleNamespace(sampler=sampler, optimizers={"main": optimizer})
    (callback,) = model.callbacks()
    assert model.reso_cur == model.field.grid_size
    assert model.before_step(0) is False and model.before_step(2) is False
    assert model.before_step(3) == "reset"  # after iteration 2 (upsamp_list [2, 5]): first upsampling
    assert model.reso_cur == model.field.grid_size and model.reso_cur != [12, 12, 12]
    out = model({"rays_o": o[:64], "rays_d": d[:64]})
    sum(model.losses(out, {"rgb": torch.rand(64, 3)}, 2).values()).backward()
    optimizer = torch.optim.Adam(model.param_groups())  # the upsampling's rebuild
    trainer.optimizers["main"] = optimizer
    optimizer.step()
    callback(trainer, 2)
    assert model.alpha_mask is None
    box_before = model.aabb.clone()
    p = torch.tensor([[0.3, -0.2, 0.1], [0.25, -0.1, 0.2]])
    sigma_before = model.density(model.normalize(p))
    callback(trainer, 3)  # first alpha-mask update: shrink
    assert model.alpha_mask is not None
    assert (model.aabb[0] >= box_before[0]).all() and (model.aabb[1] <= box_before[1]).all()
    assert not torch.equal(model.aabb, box_before)
    torch.testing.assert_close(model.density(model.normalize(p)), sigma_before, rtol=1e-4, atol=1e-6)
    # the optimizer now steps the cropped grids (fresh state for them, the network's state kept)
    assert [g["params"] for g in optimizer.param_groups] == [g["params"] for g in model.param_groups()]
    assert model.field.density_plane[0] not in optimizer.state and model.field.basis_mat.weight in optimizer.state
    out = model({"rays_o": o[:64], "rays_d": d[:64]})
    sum(model.losses(out, {"rgb": torch.rand(64, 3)}, 4).values()).backward()
    optimizer.step()
    assert model.before_step(4) is False
    assert model.before_step(6) == "reset"
    n_before = len(sampler.bank)
    callback(trainer, 6)  # second update: ray filtering
    assert 0 < len(sampler.bank) < n_before
    kept = torch.zeros(len(o), dtype=torch.bool)
    kept[sampler.bank.positions] = True
    torch.testing.assert_close(kept, official_filter(model, o, d))


def official_filter(model: TensoRF, o, d, n=256):
    """Official filtering_rays: n dense points from the clamped box entry, any alpha-mask value > 0."""
    aabb = model.aabb
    vec = torch.where(d == 0, torch.full_like(d, 1e-6), d)
    t_min = torch.minimum((aabb[1] - o) / vec, (aabb[0] - o) / vec).amax(-1).clamp(min=model.near, max=model.far)
    z = t_min[:, None] + model.step_size * torch.arange(n)[None].float()
    pts = o[:, None] + d[:, None] * z[..., None]
    return (model.alpha_mask.sample(pts.view(-1, 3)).view(len(o), n) > 0).any(-1)


def test_checkpoint_state_restores_grids_box_and_mask():
    model = make_model()
    model.before_step(3)
    trainer = SimpleNamespace(sampler=None)
    model.callbacks()[0](trainer, 3)
    state = model.state_dict()
    fresh = make_model()
    torch.manual_seed(9)
    fresh.load_state_dict(state)
    assert fresh.field.grid_size == model.field.grid_size and torch.equal(fresh.aabb, model.aabb)
    assert fresh.reso_cur == model.reso_cur and fresh.step_size == model.step_size
    assert torch.equal(fresh.alpha_mask.volume, model.alpha_mask.volume)
    o, d = rays()
    a = model.render({"rays_o": o, "rays_d": d})["rgb"]
    b = fresh.render({"rays_o": o, "rays_d": d})["rgb"]
    assert torch.equal(a, b)


def test_dense_alpha_uses_the_step_size_as_official_get_dense_alpha():
    """official getDenseAlpha: compute_alpha(xyz, self.stepSize) = 1 - exp(-softplus(f(x) + shift) * stepSize)."""
    model = make_model()
    alpha, pts = model.dense_alpha([5, 6, 7])
    assert alpha.shape == (7, 6, 5) and pts.shape == (7, 6, 5, 3)
    sigma = torch.nn.functional.softplus(model.field.density_feature(model.normalize(pts.reshape(-1, 3))) - 10.0)
    torch.testing.assert_close(alpha.reshape(-1), 1 - torch.exp(-sigma * model.step_size))
