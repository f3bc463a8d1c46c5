"""PixelNeRF: feature sampling at the projection, view pooling, ResnetFC wiring, exact resume, encoder weight source."""

import numpy as np
import pytest
import torch

from common.compat import import_timm
from common.engine.trainer import Trainer
from sparsefusion.eft import gather_features
from sparsefusion.geometry import look_at
from sparsefusion.pixelnerf import (
    PixelNeRF,
    RaySampler,
    ResnetFC,
    SpatialEncoder,
    input_dim,
    sample_view_features,
    view_inputs,
    weights_env,
)

ENV = weights_env("resnet18")
CFG = {
    "encoder": "resnet18", "d_hidden": 16, "n_blocks": 3, "combine_layer": 2, "n_freqs": 6, "freq_factor": 1.5,
    "n_coarse": 4, "n_importance": 2, "n_depth": 2, "depth_std": 0.01, "depth_radius": 1.5, "render_res": 8,
    "chunk": 64, "image_size": 32, "seed": 0, "train": {"lr": 1e-3},
}  # fmt: skip


@pytest.fixture(autouse=True)
def no_weights_file(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)


def cameras(n=3):
    ang = torch.linspace(0, 2.0, n)
    centres = torch.stack([3 * ang.cos(), 3 * ang.sin(), torch.full((n,), 0.8)], -1)
    c2w = look_at(centres, torch.zeros(3), torch.tensor([0.0, 0, 1]))
    K = torch.tensor([[40.0, 0, 16], [0, 40.0, 16], [0, 0, 1]]).expand(n, 3, 3)
    return K, c2w


def randomised(model: torch.nn.Module) -> torch.nn.Module:
    """Random residual-branch weights (the official init sets them to zero), float64, eval mode."""
    torch.manual_seed(1)
    for name, p in model.named_parameters():
        if "fc_1" in name:
            torch.nn.init.normal_(p, std=0.3)
    return model.double().eval()


def test_feature_of_a_point_is_the_encoder_map_at_its_projection():
    torch.manual_seed(0)
    enc = SpatialEncoder("resnet18").eval()
    with torch.no_grad():
        maps = enc(torch.rand(1, 3, 32, 32))
    assert maps.shape == (1, 512, 16, 16)  # 64 + 64 + 128 + 256 channels at H/2
    K, c2w = cameras(1)
    i, j = 9, 5  # map cell (row 9, column 5) covers image pixels 10-11 x 18-19: its centre is (u, v) = (11, 19)
    x_cam = 2.5 * torch.linalg.inv(K[0]) @ torch.tensor([11.0, 19.0, 1.0])
    x = c2w[0, :3, :3] @ x_cam + c2w[0, :3, 3]
    f = sample_view_features(maps, x[None, None], K[None], c2w[None], (32, 32))
    assert f.shape == (1, 1, 1, 512)
    torch.testing.assert_close(f[0, 0, 0], maps[0, :, i, j])
    d = torch.nn.functional.normalize(x - c2w[0, :3, 3], dim=0)
    inputs = view_inputs(x[None, None], d[None, None], c2w[None], 6, 1.5)[0, 0, 0]
    assert inputs.shape == (input_dim(6),) == (42,)
    R = c2w[0, :3, :3]
    torch.testing.assert_close(inputs[36:39], R.T @ x)  # the point in the view's axes about the object centre
    torch.testing.assert_close(inputs[39:], R.T @ d)  # the ray direction in the view's axes: (0, 0, 1) at the centre
    torch.testing.assert_close(inputs[[0, 18]], torch.stack([(1.5 * R.T @ x)[0].sin(), (1.5 * R.T @ x)[0].cos()]))


def test_view_pooling_is_permutation_invariant_and_a_repeated_view_counts_once():
    torch.manual_seed(0)
    model = randomised(PixelNeRF(CFG))
    K, c2w = cameras(3)
    images = torch.rand(1, 3, 3, 32, 32, dtype=torch.float64)
    K, c2w = K[None].double(), c2w[None].double()
    pts = 0.5 * torch.randn(1, 20, 3, dtype=torch.float64)
    dirs = torch.nn.functional.normalize(torch.randn(1, 20, 3, dtype=torch.float64), dim=-1)
    with torch.no_grad():

        def query(idx):
            ctx = model.context(images[:, idx], K[:, idx], c2w[:, idx])
            return model.query("fine", ctx, pts, dirs)

        rgb, sigma = query([0, 1, 2])
        rgb_p, sigma_p = query([2, 0, 1])
        torch.testing.assert_close(rgb_p, rgb)
        torch.testing.assert_close(sigma_p, sigma)
        one, twice = query([1]), query([1, 1])  # mean of two equal activations is that activation
        assert torch.equal(one[0], twice[0]) and torch.equal(one[1], twice[1])
        assert not torch.allclose(query([0])[0], one[0])  # the views do differ
        o = 3 * torch.nn.functional.normalize(torch.randn(1, 6, 3, dtype=torch.float64), dim=-1)
        d = torch.nn.functional.normalize(-o + 0.1 * torch.randn_like(o), dim=-1)
        ctx, ctx_p = (model.context(images[:, idx], K[:, idx], c2w[:, idx]) for idx in ([0, 1, 2], [1, 2, 0]))
        out = model.render_rays(ctx, o, d, torch.Generator().manual_seed(3))
        out_p = model.render_rays(ctx_p, o, d, torch.Generator().manual_seed(3))
    torch.testing.assert_close(out_p["rgb"], out["rgb"])
    assert out["rgb"].shape == out["rgb_coarse"].shape == (1, 6, 3)


def test_resnetfc_shapes_and_feature_only_in_the_first_combine_layer_blocks():
    torch.manual_seed(0)
    net = randomised(ResnetFC(42, 24, d_hidden=8, n_blocks=5, combine_layer=3))
    assert net.lin_z.out_features == 3 * 8
    x = torch.randn(2, 4, 7, 42, dtype=torch.float64)  # [B, V, N, d_in]
    f = torch.randn(2, 4, 7, 24, dtype=torch.float64)
    seen = []
    hooks = [b.register_forward_pre_hook(lambda _, a: seen.append(a[0].shape)) for b in net.blocks]
    out = net(x, net.lin_z(f))
    for h in hooks:
        h.remove()
    assert out.shape == (2, 7, 4)
    assert seen == [(2, 4, 7, 8)] * 3 + [(2, 7, 8)] * 2  # per view in blocks 0-2, pooled over views in blocks 3-4
    h = net.lin_in(x)  # the reference: feature terms W_z,k f added before blocks k < 3 only
    for k in range(3):
        h = net.blocks[k](h + net.lin_z(f)[..., 8 * k : 8 * (k + 1)])
    h = net.blocks[4](net.blocks[3](h.mean(1)))
    torch.testing.assert_close(out, net.lin_out(torch.relu(h)))
    # W_z applied to the feature maps before bilinear sampling equals W_z applied to the sampled features
    maps = torch.randn(3, 24, 6, 6, dtype=torch.float64)
    uv = torch.rand(3, 10, 2, dtype=torch.float64) * 14 - 1  # some points outside the 12 x 12 image (border)
    torch.testing.assert_close(
        gather_features(net.project_maps(maps), uv, 12, 12), net.lin_z(gather_features(maps, uv, 12, 12))
    )


def sequence(n=8):
    rng = np.random.default_rng(0)
    K, c2w = cameras(n)
    return {
        "images": rng.integers(0, 255, (n, 32, 32, 3), dtype=np.uint8),
        "masks": np.ones((n, 32, 32), bool),
        "K": K.numpy().copy(),
        "c2w": c2w.numpy(),
    }


def test_sampler_batch():
    b = RaySampler([sequence(), sequence(10)], objects=2, rays=5, v_min=1, v_max=3)(0, torch.Generator().manual_seed(0))
    v = b["images"].shape[1]
    assert 1 <= v <= 3 and b["images"].shape == (2, v, 3, 32, 32)
    assert b["K"].shape == (2, v, 3, 3) and b["c2w"].shape == (2, v, 4, 4)
    assert b["origins"].shape == b["directions"].shape == b["rgb"].shape == (2, 5, 3)
    torch.testing.assert_close(b["directions"].norm(dim=-1), torch.ones(2, 5))


def test_resumed_training_equals_straight_training(tmp_path):
    seqs = [sequence()]

    def build():
        torch.manual_seed(0)
        return PixelNeRF(CFG)

    def sampler():
        return RaySampler(seqs, objects=2, rays=8)

    straight = build()
    done = Trainer(straight, sampler(), iters=2, run_dir=tmp_path / "a", progress=False, log_every=1).fit()
    assert np.isfinite(done["train"]["loss"]) and {"mse_coarse", "mse_fine", "psnr"} <= set(done["train"])
    part = build()
    Trainer(part, sampler(), iters=1, run_dir=tmp_path / "b", progress=False, log_every=1, checkpoint_every=1).fit()
    resumed = build()
    resumed.encoder.weights_label = "replaced on resume"
    Trainer(resumed, sampler(), iters=2, run_dir=tmp_path / "b", progress=False, log_every=1).fit(resume=True)
    for (k, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k
    assert not torch.equal(build().coarse.lin_in.weight, straight.coarse.lin_in.weight)
    assert resumed.encoder.weights_label == straight.encoder.weights_label  # restored from the checkpoint
    views = resumed.eval().render_views(
        {"images": torch.rand(2, 3, 32, 32), "K": cameras(2)[0], "c2w": cameras(2)[1]},
        *cameras(3), res=8, generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    assert views.shape == (3, 3, 32, 32) and 0 <= views.min() and views.max() <= 1


def test_encoder_names_its_weight_source(tmp_path, monkeypatch):
    assert (
        SpatialEncoder("resnet18").weights_label
        == f"resnet18 trained from scratch (no ImageNet weights file; set ${ENV})"
    )
    torch.manual_seed(0)
    full = import_timm().create_model("resnet18", pretrained=False)  # a torchvision-layout state dict (with fc)
    path = tmp_path / "resnet18-imagenet.pth"
    torch.save(full.state_dict(), path)
    monkeypatch.setenv(ENV, str(path))
    enc = SpatialEncoder("resnet18")
    assert enc.weights_label == f"resnet18 ImageNet weights from ${ENV} (resnet18-imagenet.pth)"
    torch.testing.assert_close(
        enc.trunk.state_dict()["layer3.1.conv2.weight"], full.state_dict()["layer3.1.conv2.weight"]
    )
    monkeypatch.setenv(ENV, str(tmp_path / "absent.pth"))
    with pytest.raises(FileNotFoundError, match=ENV):
        SpatialEncoder("resnet18")
    assert weights_env("resnet34") == "SF_RESNET34_WEIGHTS"
