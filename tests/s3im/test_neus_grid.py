"""Grid-encoded NeuS SDF (s3im.models.neus.grid_encoding + ``model.sdf_encoding: grid``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.interpolate import RegularGridInterpolator

from s3im.models.neus.grid_encoding import MultiResDenseGrid, level_resolutions
from s3im.models.neus.model import NeuS, resolve_config
from s3im.models.neus.network import SDFNetwork

GRID = {
    "sdf_encoding": "grid",
    "grid_levels": 2,
    "grid_min_res": 4,
    "grid_max_res": 8,
    "grid_features": 2,
    "sdf_hidden": 32,
    "sdf_layers": 1,
    "skip_in": [],
    "multires": 0,
    "d_feature": 8,
    "color_hidden": 16,
    "color_layers": 2,
    "n_samples": 16,
    "n_importance": 16,
    "up_sample_steps": 2,
    "mask_weight": 0.0,
}


def random_grid(levels=3, features=2, lo=3, hi=9, seed=0) -> MultiResDenseGrid:
    grid = MultiResDenseGrid(levels, features, lo, hi, init_std=1.0, generator=torch.Generator().manual_seed(seed))
    return grid.double()


def test_lookup_matches_scipy_trilinear_interpolation():
    grid = random_grid()
    x = torch.rand(200, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 2.0 - 1.0
    x[:4] = torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0], [1.0, -1.0, 0.3], [0.0, 0.0, 0.0]])
    out = grid(x).detach().numpy()  # [N, L F], level-major
    table = grid.table.detach().numpy()
    offset = 0
    for level, r in enumerate(grid.resolutions):
        axis = np.linspace(-1.0, 1.0, r)
        for f in range(grid.n_features):
            values = table[f, offset : offset + r**3].reshape(r, r, r)
            ref = RegularGridInterpolator((axis, axis, axis), values)(x.numpy())
            assert np.allclose(out[:, level * grid.n_features + f], ref, atol=1e-10)
        offset += r**3
    # outside the cube: the clamped boundary value
    assert torch.allclose(
        grid(torch.tensor([[1.5, 0.2, -3.0]], dtype=torch.float64)), grid(x.new_tensor([[1, 0.2, -1]]))
    )


def test_level_resolutions_are_geometric_and_validated():
    assert level_resolutions(4, 16, 128) == [16, 32, 64, 128]
    assert level_resolutions(1, 16, 128) == [16]
    with pytest.raises(ValueError, match="grid levels"):
        level_resolutions(2, 1, 8)


def test_lookup_jacobian_and_autograd_match_finite_differences():
    grid = random_grid(levels=2, lo=2, hi=3)
    x = torch.rand(30, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) * 1.8 - 0.9
    _, jac = grid.lookup(x, jacobian=True)  # [3, N, L F]
    eps = 1e-6
    for k in range(3):
        e = torch.zeros(3, dtype=torch.float64)
        e[k] = eps
        fd = (grid(x + e) - grid(x - e)) / (2 * eps)
        assert torch.allclose(jac[k], fd, atol=1e-6)

    # first and second order w.r.t. x and the table through the custom gather
    def lookup(p: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(grid, {"table": table}, (p,))

    args = (x[:5].clone().requires_grad_(True), grid.table.detach().clone().requires_grad_(True))
    assert torch.autograd.gradcheck(lookup, args)
    assert torch.autograd.gradgradcheck(lambda p, t: lookup(p, t) ** 2, args)


def grid_sdf(inside_outside=False, multires=0, skip=()) -> SDFNetwork:
    torch.manual_seed(0)
    grid = random_grid(levels=2, lo=4, hi=8)
    return SDFNetwork(
        d_feature=4, d_hidden=32, n_layers=2, skip_in=skip, multires=multires, grid=grid, inside_outside=inside_outside
    ).double()


@pytest.mark.parametrize("multires,skip", [(0, ()), (2, (1,))])
def test_analytic_gradient_and_eikonal_gradient_match_finite_differences(multires, skip):
    net = grid_sdf(multires=multires, skip=skip)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))
    x = torch.rand(20, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) * 1.8 - 0.9
    sdf, _, grad = net.sdf_and_gradient(x)
    eps = 1e-6
    for k in range(3):
        e = torch.zeros(3, dtype=torch.float64)
        e[k] = eps
        fd = (net.sdf(x + e) - net.sdf(x - e))[:, 0] / (2 * eps)
        assert torch.allclose(grad[:, k], fd, atol=1e-6)

    # d eikonal / d table (the second-order term) against finite differences of the eikonal loss
    def eikonal() -> torch.Tensor:
        return ((net.sdf_and_gradient(x)[2].norm(dim=-1) - 1.0) ** 2).mean()

    (g_table,) = torch.autograd.grad(eikonal(), net.grid.table)
    idx = g_table.abs().flatten().topk(3).indices
    for i in idx.tolist():
        f, j = divmod(i, g_table.shape[1])
        with torch.no_grad():
            net.grid.table[f, j] += 1e-6
            up = eikonal()
            net.grid.table[f, j] -= 2e-6
            down = eikonal()
            net.grid.table[f, j] += 1e-6
        assert float(g_table[f, j]) == pytest.approx(float(up - down) / 2e-6, rel=1e-5, abs=1e-9)


def test_numerical_gradient_is_central_differences():
    net = grid_sdf()
    net.gradient, net.fd_eps = "numerical", 1e-3
    x = torch.rand(10, 3, dtype=torch.float64) * 1.8 - 0.9
    _, _, grad = net.sdf_and_gradient(x)
    e = torch.eye(3, dtype=torch.float64) * 1e-3
    fd = torch.stack([(net.sdf(x + e[k]) - net.sdf(x - e[k]))[:, 0] / 2e-3 for k in range(3)], -1)
    assert torch.allclose(grad, fd, atol=1e-10)


@pytest.mark.parametrize("inside_outside", [False, True])
def test_initial_grid_sdf_is_the_geometric_init_sphere(inside_outside):
    torch.manual_seed(0)
    model = NeuS({**GRID, "inside_outside": inside_outside, "bias": 0.5, "sdf_hidden": 256, "grid_max_res": 32})
    net = model.sdf_network
    dirs = torch.nn.functional.normalize(torch.randn(300, 3), dim=-1)
    sign = -1.0 if inside_outside else 1.0
    # the grid features are ignored at init (zero first-layer weights on them): the MLP's geometric init on xyz
    x = dirs * torch.rand(300, 1) * 0.9
    with torch.no_grad():
        before = net.sdf(x)
        net.grid.table.normal_()
        assert torch.equal(net.sdf(x), before)
    # approximately |x| - 0.5 (softplus, not ReLU), sign flipped with inside_outside
    with torch.no_grad():
        means = [float(sign * net.sdf(dirs * r).mean()) for r in (0.2, 0.5, 0.8)]
        err = (sign * net.sdf(x)[:, 0] - (x.norm(dim=-1) - 0.5)).abs()
    assert abs(means[1]) < 0.05 and means[0] < -0.1 and means[2] > 0.2 and float(err.mean()) < 0.1
    _, _, grad = net.sdf_and_gradient(dirs * 0.7)
    assert abs(float((grad.detach() * dirs).sum(-1).mean()) - sign) < 0.15


def test_grid_model_learns_and_has_its_own_param_group():
    torch.manual_seed(0)
    model = NeuS({**GRID, "lrate": 1e-2, "grid_lrate": 1e-2})
    groups = {g["name"]: g for g in model.param_groups()}
    assert set(groups) == {"neus", "grid"} and groups["grid"]["params"] == [model.sdf_network.grid.table]
    assert sum(len(g["params"]) for g in groups.values()) == len(list(model.parameters()))
    o = torch.tensor([0.0, 0.0, -2.5]).expand(64, 3)
    d = torch.nn.functional.normalize(torch.randn(64, 3) * 0.2 + torch.tensor([0.0, 0.0, 1.0]), dim=-1)
    batch = {"rays_o": o, "rays_d": d, "rgb": torch.full((64, 3), 0.8)}
    opt = torch.optim.Adam(model.param_groups())
    losses = []
    for step in range(15):
        terms = model.losses(model(batch, step), batch, step)
        loss = sum(terms.values())
        losses.append(float(loss.detach()))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < 0.5 * losses[0]
    model.eval()
    rendered = model.render(batch, chunk=16)
    assert torch.allclose(rendered["rgb"], model(batch, None)["rgb"].detach(), atol=1e-5)


def test_config_errors_are_one_clear_line():
    with pytest.raises(ValueError, match=r"sdf_encoding must be one of \('pe', 'grid'\), got 'hash'"):
        resolve_config({"sdf_encoding": "hash"})
    with pytest.raises(ValueError, match="sdf_gradient must be one of"):
        resolve_config({"sdf_gradient": "autograd"})


def test_inv_s_floor_schedule_is_geometric_and_off_by_default():
    from s3im.models.neus.model import inv_s_floor

    assert resolve_config({})["inv_s_floor"] == [] and inv_s_floor([], 100, 5) == 0.0
    assert inv_s_floor([20, 320], 100, 0) == pytest.approx(20.0)
    assert inv_s_floor([20, 320], 100, 50) == pytest.approx(80.0)  # 20 * 16^0.5
    assert inv_s_floor([20, 320], 100, 100) == pytest.approx(320.0)
    assert inv_s_floor([20, 320], 100, 500) == pytest.approx(320.0)
    assert inv_s_floor([20, 320], 100, None) == pytest.approx(320.0)  # evaluation: the end value
    assert inv_s_floor([20, 320], 0, 3) == pytest.approx(320.0)  # no rise: a constant floor


def test_inv_s_floor_clamps_the_rendering_sharpness(monkeypatch):
    import s3im.models.neus.model as neus_model

    seen = []
    real = neus_model.sdf_alpha

    def spy(sdf, grad, dirs, dists, inv_s, ratio):
        seen.append(float(inv_s.detach()))
        return real(sdf, grad, dirs, dists, inv_s, ratio)

    monkeypatch.setattr(neus_model, "sdf_alpha", spy)
    torch.manual_seed(0)
    model = NeuS({**GRID, "inv_s_floor": [50, 400], "inv_s_floor_steps": 10})  # learned inv_s = exp(3) = 20
    o = torch.zeros(8, 3)
    d = torch.nn.functional.normalize(torch.randn(8, 3), dim=-1)
    out = model({"rays_o": o, "rays_d": d}, 5)
    assert float(seen[-1]) == pytest.approx(50.0 * 8.0**0.5, rel=1e-5)
    out["rgb"].sum().backward()
    assert float(model.deviation_network.variance.grad) == 0.0  # clamped: the learned value gets no gradient
    model({"rays_o": o, "rays_d": d}, None)
    assert float(seen[-1]) == pytest.approx(400.0)
    with torch.no_grad():
        model.deviation_network.variance.fill_(0.7)  # learned inv_s = exp(7) = 1097 > the floor: unchanged
    model({"rays_o": o, "rays_d": d}, None)
    assert float(seen[-1]) == pytest.approx(float(np.exp(7.0)), rel=1e-5)


@pytest.mark.parametrize(
    "bad", [{"inv_s_floor": [20]}, {"inv_s_floor": [300, 20]}, {"inv_s_floor": [0, 20]}, {"inv_s_floor": "20"}]
)
def test_inv_s_floor_config_errors_are_one_line(bad):
    with pytest.raises(ValueError, match=r"^NeuS inv_s_floor (must be|needs) [^\n]*$"):
        resolve_config(bad)


def test_coarse_to_fine_schedule_and_masked_levels_get_no_gradient():
    from s3im.models.neus.model import active_levels

    assert active_levels([], 4, 10) is None and active_levels([2, 100], 4, None) is None
    assert [active_levels([2, 100], 4, s) for s in (0, 99, 100, 199, 200, 10_000)] == [2, 2, 3, 3, 4, 4]
    grid = random_grid(levels=3, features=2)
    x = torch.rand(50, 3) * 2 - 1
    full, jac_full = grid.lookup(x, jacobian=True)
    grid.active_levels = 1
    feat, jac = grid.lookup(x, jacobian=True)
    assert torch.equal(feat[:, :2], full[:, :2]) and not feat[:, 2:].any() and not jac[..., 2:].any()
    assert torch.equal(jac[..., :2], jac_full[..., :2])
    feat.sum().backward()
    fine = grid.table.grad[:, grid.resolutions[0] ** 3 :]
    assert grid.table.grad[:, : grid.resolutions[0] ** 3].abs().sum() > 0 and not fine.any()


def test_coarse_to_fine_follows_the_training_step_and_evaluation_uses_all_levels():
    model = NeuS({**GRID, "grid_coarse_to_fine": [1, 3]})
    batch = {"rays_o": torch.zeros(4, 3), "rays_d": torch.nn.functional.normalize(torch.randn(4, 3), dim=-1)}
    model(batch, 2)
    assert model.sdf_network.grid.active_levels == 1
    model(batch, 3)
    assert model.sdf_network.grid.active_levels == 2
    model(batch, 2)
    model.sdf(torch.zeros(3, 3))  # the mesh: all levels
    assert model.sdf_network.grid.active_levels is None
    model(batch, 2)
    model.render(batch)
    assert model.sdf_network.grid.active_levels is None


@pytest.mark.parametrize("bad", [[2], [0, 100], [2, 0], "2,100"])
def test_coarse_to_fine_config_errors_are_one_line(bad):
    with pytest.raises(ValueError, match=r"^NeuS grid_coarse_to_fine must be \[\] \(off\) or [^\n]*$"):
        resolve_config({"grid_coarse_to_fine": bad})


def test_grid_box_maps_its_corners_to_the_table_and_scales_the_jacobian():
    box = ([-0.5, -0.25, 0.0], [0.5, 0.75, 0.25])
    grid = MultiResDenseGrid(2, 2, 3, 5, init_std=1.0, generator=torch.Generator().manual_seed(3), box=box).double()
    ref = random_grid(levels=2, features=2, lo=3, hi=5, seed=3)  # same table on [-1, 1]^3
    assert torch.equal(grid.table, ref.table)
    x = torch.rand(40, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    lo, hi = torch.tensor(box[0], dtype=torch.float64), torch.tensor(box[1], dtype=torch.float64)
    xb = lo + (hi - lo) * x  # points of the box
    xc = 2.0 * x - 1.0  # the same points of the unit cube
    f, jac = grid.lookup(xb, jacobian=True)
    f_ref, jac_ref = ref.lookup(xc, jacobian=True)
    assert torch.allclose(f, f_ref, atol=1e-12)
    assert torch.allclose(jac, jac_ref * (2.0 / (hi - lo))[:, None, None], atol=1e-10)  # d xc / d xb = 2 / size
    assert grid.finest_cell == pytest.approx(1.0 / 4)  # largest edge 1.0 over R_max - 1 = 4 cells


def test_grid_box_config_default_validation_and_scene_resolution():
    from s3im.models.neus.family import grid_box_of, model_config

    assert resolve_config({})["grid_box"] is None
    assert NeuS(GRID).sdf_network.grid.box == ((-1.0,) * 3, (1.0,) * 3)
    model = NeuS({**GRID, "grid_box": [[-0.5, -0.5, -0.25], [0.5, 0.5, 0.25]]})
    assert model.sdf_network.grid.box == ((-0.5, -0.5, -0.25), (0.5, 0.5, 0.25))
    for bad in ([[0, 0, 0], [1, 1]], [[0, 0, 0], [1, 0, 1]], "room", [1, 2]):
        with pytest.raises(ValueError, match=r"^NeuS grid_box [^\n]*$"):
            resolve_config({"grid_box": bad})
    with pytest.raises(ValueError, match="must be resolved"):
        NeuS({**GRID, "grid_box": "scene"})  # the family resolves 'scene'

    class Scene:
        bbox = np.array([[-0.6, -0.5, -1.3], [0.6, 0.5, 0.3]], dtype=np.float32)

    assert np.allclose(grid_box_of(Scene()), [[-0.6, -0.5, -1.0], [0.6, 0.5, 0.3]])  # clipped to [-1, 1]^3

    class Cfg:
        class model:
            @staticmethod
            def to_dict():
                return {"name": "neus", "normalize": "sphere", "grid_box": "scene"}

    assert model_config(Cfg(), Scene())["grid_box"] == grid_box_of(Scene())
    with pytest.raises(ValueError, match="needs the scene"):
        model_config(Cfg())


@pytest.mark.parametrize("mode", ["input", "detach", "none"])
def test_color_normal_modes_route_the_colour_gradient(mode):
    assert resolve_config({})["color_normal"] == "input"  # official: the normal is a colour input
    torch.manual_seed(0)
    model = NeuS({**GRID, "color_normal": mode})
    with torch.no_grad():
        model.sdf_network.lin0.weight_v.normal_(0.0, 0.5)  # the grid features reach the SDF
    seen = []
    real = model.color_network.forward

    def spy(points, normals, view_dirs, feature, **kw):
        seen.append(normals)
        return real(points, normals, view_dirs, feature, **kw)

    model.color_network.forward = spy
    batch = {"rays_o": torch.zeros(8, 3), "rays_d": torch.nn.functional.normalize(torch.randn(8, 3), dim=-1)}
    model(batch, 1)["rgb"].sum().backward()
    normals = seen[-1]
    assert (not normals.any()) == (mode == "none")
    assert normals.requires_grad == (mode == "input")
    # (the colour still reaches the geometry through alpha and the shared feature in every mode)
    assert model.sdf_network.grid.table.grad.abs().sum() > 0


def test_color_normal_config_error_is_one_line():
    with pytest.raises(ValueError, match=r"^NeuS color_normal must be one of \('input', 'detach', 'none'\)[^\n]*$"):
        resolve_config({"color_normal": "off"})


def test_colour_network_takes_a_per_ray_view_encoding():
    from s3im.models.neus.network import ColorNetwork

    torch.manual_seed(0)
    net = ColorNetwork(d_feature=8, d_hidden=16, n_layers=2, multires_view=4)
    p, n, f = torch.randn(10, 3), torch.randn(10, 3), torch.randn(10, 8)
    d = torch.nn.functional.normalize(torch.randn(10, 3), dim=-1)
    ref = net(p, n, d, f)
    assert torch.equal(net(p, n, net.encode_view(d), f, view_encoded=True), ref)
    assert torch.equal(ColorNetwork(8, 16, 2, multires_view=0).encode_view(d), d)
