"""D-NeRF model (s3im.models.dnerf): deformation network, zero canonical, training steps, the real lego sample."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from common.data import load_scene
from common.rays import RayBank, RaySampler
from s3im.models.dnerf.model import DeformationNet, DNeRF, resolve_config

SMALL = {
    "netdepth": 3,
    "netwidth": 32,
    "skips": [1],
    "multires": 4,
    "multires_time": 4,
    "multires_views": 2,
    "n_samples": 8,
    "n_importance": 8,
    "lrate": 5e-3,
}
LEGO = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "dnerf-lego-test-val"


def rays(n: int, time: float) -> dict:
    g = torch.Generator().manual_seed(0)
    d = torch.nn.functional.normalize(torch.randn(n, 3, generator=g) * 0.1 + torch.tensor([0.0, 0.0, -1.0]), dim=-1)
    return {
        "rays_o": torch.tensor([0.0, 0.0, 4.0]).expand(n, 3),
        "rays_d": d,
        "viewdirs": d,
        "time": torch.full((n,), time),
        "rgb": torch.full((n, 3), 0.3),
    }


def test_deformation_net_layout_and_skip():
    net = DeformationNet(depth=8, width=256, multires=10, multires_time=10, skips=(4,))
    assert net.layers[0].in_features == 63 + 21  # PE_10(x) + PE_10(t)
    assert net.layers[5].in_features == 256 + 63  # position encoding re-injected after layer 4
    assert net(torch.zeros(5, 3), torch.zeros(5, 1)).shape == (5, 3)


def test_zero_canonical_and_time_dependence():
    torch.manual_seed(0)
    model = DNeRF(SMALL, 2.0, 6.0).eval()
    pts, views = torch.rand(4, 5, 3), torch.nn.functional.normalize(torch.randn(4, 3), dim=-1)
    _, _, dx0 = model.query(pts, torch.zeros(4), views)
    assert (dx0 == 0).all()
    rgb_a, sig_a, dx = model.query(pts, torch.full((4,), 0.5), views)
    assert dx.abs().sum() > 0
    # the canonical network evaluated at the deformed points gives the same outputs
    rgb_b, sig_b = model.canonical((pts + dx).reshape(-1, 3), views[:, None].expand(4, 5, 3).reshape(-1, 3))
    assert torch.allclose(rgb_a.reshape(-1, 3), rgb_b, atol=1e-6) and torch.allclose(
        sig_a.reshape(-1), sig_b, atol=1e-5
    )


def test_training_reduces_the_loss_and_render_needs_times():
    torch.manual_seed(0)
    model = DNeRF(SMALL, 2.0, 6.0)
    batch = rays(32, 0.3)
    opt = torch.optim.Adam(model.parameters(), 5e-3)
    losses = []
    for step in range(12):
        terms = model.losses(model(batch, step), batch, step)
        assert set(terms) == {"mse", "mse_coarse"}
        loss = sum(terms.values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0]
    out = model.render(batch, chunk=16)
    assert out["rgb"].shape == (32, 3)
    with pytest.raises(ValueError, match="times"):
        model.render({k: v for k, v in batch.items() if k != "time"})
    with pytest.raises(ValueError, match="unknown D-NeRF"):
        resolve_config({"bogus": 1})


@pytest.mark.realdata
def test_real_dnerf_lego_sample_loads_and_trains_a_few_steps():
    if not LEGO.is_dir():
        pytest.skip(f"real D-NeRF lego sample not found at {LEGO}")
    scene = load_scene("dnerf", str(LEGO), splits=("val",), downscale=16)  # the real views at 50 x 50
    assert scene.times is not None and scene.times.min() >= 0 and scene.times.max() <= 1
    assert len(set(scene.times.tolist())) > 1  # an animation: different times
    scene = replace(scene, splits={"train": scene.splits["val"], "test": scene.splits["val"]})
    sampler = RaySampler(RayBank(scene, "train"), 64, mode="image")
    torch.manual_seed(0)
    model = DNeRF(SMALL, scene.near, scene.far)
    opt = torch.optim.Adam(model.parameters(), 5e-3)
    g = torch.Generator().manual_seed(0)
    for step in range(3):
        batch = sampler(step, g)
        assert "time" in batch and batch["time"].unique().numel() == 1  # one image (one time) per batch
        loss = sum(model.losses(model(batch, step), batch, step).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert torch.isfinite(loss)


def _model(seed: int = 0, bbox=((-1.5,) * 3, (1.5,) * 3), density_bias: float = 0.0, **opts) -> DNeRF:
    """The SMALL model (weights from ``seed``) with options; ``density_bias`` is added to sigma_raw."""
    torch.manual_seed(seed)
    model = DNeRF({**SMALL, **opts}, 2.0, 6.0, bbox=bbox)
    with torch.no_grad():
        model.canonical.alpha_linear.bias += density_bias
    return model


def _run(model: DNeRF, batch: dict, train: bool, seed: int = 1) -> tuple[dict, list]:
    """Outputs and the loss gradients of one forward pass (same random draws for every model)."""
    model.train(train)
    model.zero_grad()
    torch.manual_seed(seed)
    out = model(batch, 0)
    sum(model.losses(out, batch, 0).values()).backward()
    return out, [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("train", [True, False])
def test_reuse_coarse_gives_the_official_outputs_and_gradients(train):
    batch = rays(24, 0.4)
    ref, g_ref = _run(_model(), batch, train)
    out, g = _run(_model(reuse_coarse=True), batch, train)
    for key in ("rgb", "rgb_coarse", "depth", "acc", "dx_norm"):
        assert torch.allclose(out[key], ref[key], atol=1e-5), key
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(g, g_ref, strict=True))


@pytest.mark.parametrize("opts", [{}, {"reuse_coarse": True}])
def test_fine_skip_nothing_skipped_equals_the_full_path_and_skipped_rays_are_background(opts):
    batch = rays(24, 0.4)
    dense = {"density_bias": 2.0, **opts}  # every ray has some opacity
    ref, _ = _run(_model(**dense), batch, True)
    coarse_acc = _model(n_importance=0, density_bias=2.0).render(batch)["acc"]  # same weights, coarse pass only
    assert coarse_acc.min() > 1e-3
    out, _ = _run(_model(fine_skip_acc=1e-3, **dense), batch, True)  # threshold below every ray's opacity
    for key in ("rgb", "rgb_coarse", "depth", "acc", "dx_norm"):
        assert torch.allclose(out[key], ref[key], atol=1e-6), key
    # every ray skipped: fine colour = the white background exactly; the coarse pass is untouched
    out, _ = _run(_model(fine_skip_acc=2.0, **dense), batch, True)
    assert (out["rgb"] == 1.0).all() and (out["acc"] == 0).all() and (out["depth"] == 0).all()
    assert torch.allclose(out["rgb_coarse"], ref["rgb_coarse"], atol=1e-6)
    # mixed (deterministic evaluation): skipped rays = background, kept rays = the full path's fine colour
    full = _model(**opts).render(batch)
    coarse_acc = _model(n_importance=0).render(batch)["acc"]
    thr = float(coarse_acc[coarse_acc > 0].median())
    part = _model(fine_skip_acc=thr, **opts).render(batch)
    skipped = coarse_acc <= thr
    assert skipped.any() and (~skipped).any()
    assert (part["rgb"][skipped] == 1.0).all()
    assert torch.allclose(part["rgb"][~skipped], full["rgb"][~skipped], atol=1e-5)


def test_fine_skip_black_background():
    out, _ = _run(_model(white_bkgd=False, fine_skip_acc=2.0), rays(8, 0.4), True)
    assert (out["rgb"] == 0).all()


def test_bbox_mask_a_box_around_everything_changes_nothing_and_an_empty_box_renders_background():
    batch = rays(24, 0.4)
    big = ((-100.0,) * 3, (100.0,) * 3)
    ref, g_ref = _run(_model(bbox=big), batch, True)
    out, g = _run(_model(bbox=big, bbox_mask=True, reuse_coarse=True), batch, True)
    for key in ("rgb", "rgb_coarse", "depth", "acc"):
        assert torch.allclose(out[key], ref[key], atol=1e-5), key
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(g, g_ref, strict=True))
    far_away = ((50.0,) * 3, (60.0,) * 3)  # no sample inside: density 0 everywhere, white
    out = _model(bbox=far_away, bbox_mask=True).render(batch)
    assert torch.allclose(out["rgb"], torch.ones(24, 3)) and (out["acc"] == 0).all()


def test_query_mask_evaluates_only_the_masked_samples():
    model = _model().eval()
    pts, views = torch.rand(4, 5, 3), torch.nn.functional.normalize(torch.randn(4, 3), dim=-1)
    mask = torch.rand(4, 5) > 0.5
    rgb, sig, dx = model.query(pts, torch.full((4,), 0.5), views)
    rgb_m, sig_m, dx_m = model.query(pts, torch.full((4,), 0.5), views, mask)
    assert torch.allclose(rgb_m[mask], rgb[mask], atol=1e-6) and torch.allclose(sig_m[mask], sig[mask], atol=1e-5)
    assert (rgb_m[~mask] == 0).all() and (sig_m[~mask] == 0).all() and (dx_m[~mask] == 0).all()
    with pytest.raises(ValueError, match="bbox"):
        DNeRF({**SMALL, "bbox_mask": True}, 2.0, 6.0)


def test_paper_profile_is_the_official_path_and_quick_turns_the_speed_options_on():
    from common.config import load_config

    paper = resolve_config(load_config("s3im/configs/dnerf_synthetic.yaml", "paper").model.to_dict())
    assert (paper["reuse_coarse"], paper["fine_skip_acc"], paper["bbox_mask"]) == (False, 0.0, False)
    assert (paper["netdepth"], paper["netwidth"], paper["n_samples"], paper["n_importance"]) == (8, 256, 64, 128)
    off = {
        "deform_zero_init": False,
        "deform_anneal_steps": 0,
        "time_curriculum_steps": 0,
    }
    assert {k: paper[k] for k in off} == off  # the short-run training options are off in the paper profile
    quick = resolve_config(load_config("s3im/configs/dnerf_synthetic.yaml", "quick").model.to_dict())
    assert quick["reuse_coarse"] and quick["fine_skip_acc"] > 0 and quick["bbox_mask"]
    assert quick["deform_zero_init"] and quick["deform_anneal_steps"] > 0 and quick["time_curriculum_steps"] > 0


def test_zero_init_starts_every_time_at_the_canonical_scene():
    official = DNeRF(SMALL, 2.0, 6.0)
    assert official.deform.out.weight.abs().sum() > 0  # official: default (random) init
    torch.manual_seed(0)
    model = DNeRF({**SMALL, "deform_zero_init": True}, 2.0, 6.0)
    pts, views = torch.rand(4, 5, 3), torch.nn.functional.normalize(torch.randn(4, 3), dim=-1)
    _, _, dx = model.query(pts, torch.full((4,), 0.7), views)
    assert (dx == 0).all()  # every time starts at the canonical scene
    batch = rays(16, 0.7)
    sum(model.losses(model(batch, 0), batch, 0).values()).backward()
    assert model.deform.out.weight.grad.abs().sum() > 0  # ... and the deformation still learns


def test_time_curriculum_masks_late_rays_then_equals_the_plain_loss():
    torch.manual_seed(0)
    model = DNeRF({**SMALL, "time_curriculum_steps": 100, "time_curriculum_start": 0.2}, 2.0, 6.0)
    plain = DNeRF(SMALL, 2.0, 6.0)
    batch = rays(8, 0.0)
    batch["time"] = torch.tensor([0.0, 0.1, 0.2, 0.3, 0.5, 0.58, 0.9, 1.0])
    g = torch.Generator().manual_seed(1)
    out = {"rgb": torch.rand(8, 3, generator=g), "rgb_coarse": torch.rand(8, 3, generator=g)}
    assert model.time_horizon(0) == pytest.approx(0.2) and model.time_horizon(50) == pytest.approx(0.6)
    assert model.time_horizon(100) is None
    terms = model.losses(out, batch, 50)  # horizon 0.6: the first six rays count
    keep = batch["time"] <= 0.59
    for key, src in (("mse", "rgb"), ("mse_coarse", "rgb_coarse")):
        assert torch.allclose(terms[key], torch.nn.functional.mse_loss(out[src][keep], batch["rgb"][keep]))
    for step in (100, 500):  # after the curriculum: the official loss
        a, b = model.losses(out, batch, step), plain.losses(out, batch, step)
        assert all(torch.equal(a[k], b[k]) for k in b)
    model.eval()  # evaluation losses are never masked
    assert torch.equal(model.losses(out, batch, 0)["mse"], plain.losses(out, batch, 0)["mse"])


def test_deform_anneal_window_and_progress():
    from s3im.models.dnerf.model import band_window

    w = band_window(3, 4, 0.0)
    assert w.shape == (3 * 9,) and (w[:3] == 1).all() and (w[3:] == 0).all()  # only x itself at the start
    assert (band_window(3, 4, 1.0) == 1).all()
    w = band_window(1, 4, 0.375)  # a = 1.5: band 0 on, band 1 half, bands 2, 3 off
    assert torch.allclose(w, torch.tensor([1, 1, 1, 0.5, 0.5, 0, 0, 0, 0.0]), atol=1e-6)
    # progress 1 (or off) equals the plain network; the window reaches the network's input
    torch.manual_seed(0)
    net = DeformationNet(2, 16, 4, 4, ())
    x, t = torch.rand(6, 3), torch.rand(6, 1)
    assert torch.equal(net(x, t, 1.0), net(x, t)) and not torch.allclose(net(x, t, 0.2), net(x, t))
    model = DNeRF({**SMALL, "deform_anneal_steps": 100}, 2.0, 6.0)
    assert model.deform_progress() is None  # no training step seen yet: full bands
    model(rays(4, 0.5), 25)
    assert model.deform_progress() == 0.25
    model(rays(4, 0.5), 100)
    assert model.deform_progress() is None
    assert DNeRF(SMALL, 2.0, 6.0).deform_progress() is None  # off by default
