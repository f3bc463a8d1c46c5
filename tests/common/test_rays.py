from __future__ import annotations

import numpy as np
import pytest
import torch

from common.cameras import get_rays, intrinsics_matrix, look_at, project_points
from common.data.io import read_rgb, write_png
from common.data.scene import SceneData
from common.rays import RayBank, image_rays, view_ray_dict

H, W = 4, 5
ALL_KEYS = {"rays_o", "rays_d", "viewdirs", "dir_norm", "rgb", "view", "pixel"}
OPTIONAL_KEYS = {"depth", "mask", "time", "semantic", "instance"}


def tiny_scene(annotated: bool = True, n: int = 3) -> SceneData:
    """n views of 4x5 pixels; images are 8-bit values / 255 like the loaders' (float32 numpy division)."""
    rng = np.random.default_rng(0)
    eyes = [[3.0, 0.5, 1.0], [-1.0, 2.5, 0.5], [0.7, -2.2, 1.9]][:n]
    c2w = np.stack([look_at(np.array(e), np.zeros(3)) for e in eyes])
    K = np.stack([intrinsics_matrix(6.0 + j, 6.5 - j / 3, 2.4, 2.1 + j / 7) for j in range(n)])
    return SceneData(
        images=rng.integers(0, 256, (n, H, W, 3), dtype=np.uint8).astype(np.float32) / 255.0,
        K=K.astype(np.float32),
        c2w=c2w.astype(np.float32),
        height=H,
        width=W,
        splits={"train": list(range(n)), "test": [1]},
        near=0.5,
        far=6.0,
        bbox=np.array([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]], dtype=np.float32),
        depth=np.where(rng.random((n, H, W)) > 0.2, 1.0 + rng.random((n, H, W)), 0.0).astype(np.float32)
        if annotated
        else None,
        masks=rng.random((n, H, W)) > 0.5 if annotated else None,
        semantics=rng.integers(-1, 7, (n, H, W)).astype(np.int32) if annotated else None,
        instances=rng.integers(-1, 300, (n, H, W)).astype(np.int32) if annotated else None,
        times=np.linspace(0.0, 1.0, n).astype(np.float32) if annotated else None,
    )


def old_rayset(scene: SceneData, views: list[int]) -> dict[str, torch.Tensor]:
    """The former full materialisation: get_rays per view, flattened view-major then row-major."""
    out = {k: [] for k in ("rays_o", "rays_d", "dir_norm", "rgb", "depth")}
    for i in views:
        o, d = get_rays(torch.tensor(scene.K[i]), torch.tensor(scene.c2w[i]), H, W, normalize=False)
        norm = torch.linalg.norm(d, dim=-1).reshape(-1)
        out["rays_o"].append(o.reshape(-1, 3))
        out["rays_d"].append(d.reshape(-1, 3) / norm[:, None])
        out["dir_norm"].append(norm)
        out["rgb"].append(torch.as_tensor(scene.images[i]).reshape(-1, 3))
        out["depth"].append(torch.as_tensor(scene.depth[i]).reshape(-1) * norm)
    return {k: torch.cat(v) for k, v in out.items()}


CAMERA_KEYS = {"rays_o", "rays_d", "dir_norm", "depth"}  # computed from K, c2w: float32 rounding may differ by path


def assert_same_rows(got: torch.Tensor, ref: torch.Tensor, key: str) -> None:
    """Bit-identical for stored values; within float32 rounding for camera-derived ones (matmul order varies by CPU)."""
    if key in CAMERA_KEYS:
        torch.testing.assert_close(got, ref, rtol=1e-6, atol=1e-6, msg=key)
    else:
        assert torch.equal(got, ref), key


def test_gather_matches_the_full_materialisation():
    scene = tiny_scene()
    views = [2, 0, 1]
    bank = RayBank(scene, views)
    assert len(bank) == 3 * H * W and bank.views == views and (bank.height, bank.width) == (H, W)
    got = bank.gather(torch.arange(len(bank)))
    ref = old_rayset(scene, views)
    for key, value in ref.items():
        assert got[key].dtype == torch.float32
        assert_same_rows(got[key], value, key)
    # a shuffled batch gives the same rows
    perm = torch.randperm(len(bank), generator=torch.Generator().manual_seed(0))
    batch = bank.gather(perm)
    for key in ref:
        assert torch.equal(batch[key], got[key][perm]), key
    assert bank.rgb_quantization_error == 0.0


def test_gather_fields_against_a_per_ray_loop():
    scene = tiny_scene()
    bank = RayBank(scene, "train")
    ids = torch.tensor([0, 7, 19, 20, 33, 59, 41])
    batch = bank.gather(ids)
    assert set(batch) == ALL_KEYS | OPTIONAL_KEYS
    for row, r in enumerate(ids.tolist()):
        k, rem = divmod(r, H * W)
        v, u = divmod(rem, W)
        i = scene.splits["train"][k]
        d_cam = np.linalg.inv(scene.K[i].astype(np.float64)) @ np.array([u + 0.5, v + 0.5, 1.0])
        d = scene.c2w[i, :3, :3].astype(np.float64) @ d_cam
        norm = np.linalg.norm(d_cam)
        assert batch["view"][row].item() == i and batch["pixel"][row].tolist() == [u, v]
        np.testing.assert_allclose(batch["rays_o"][row].numpy(), scene.c2w[i, :3, 3], rtol=0, atol=0)
        np.testing.assert_allclose(batch["rays_d"][row].numpy(), d / np.linalg.norm(d), atol=1e-6)
        np.testing.assert_allclose(batch["dir_norm"][row].item(), norm, rtol=1e-6)
        np.testing.assert_allclose(batch["depth"][row].item(), scene.depth[i, v, u] * norm, rtol=1e-6)
        assert torch.equal(batch["rgb"][row], torch.as_tensor(scene.images[i, v, u]))
        assert batch["mask"][row].item() == float(scene.masks[i, v, u])
        assert batch["time"][row].item() == scene.times[i]
        assert batch["semantic"][row].item() == scene.semantics[i, v, u]
        assert batch["instance"][row].item() == scene.instances[i, v, u]
    for key in ("view", "pixel", "semantic", "instance"):
        assert batch[key].dtype == torch.int64
    for key in ("mask", "time", "depth", "rgb"):
        assert batch[key].dtype == torch.float32
    assert batch["viewdirs"] is batch["rays_d"]


def test_compact_storage_dtypes():
    bank = RayBank(tiny_scene(), "train")
    assert bank.images.dtype == torch.uint8 and bank.images.shape == (3, H, W, 3)
    assert bank.K.shape == (3, 3, 3) and bank.c2w.shape == (3, 4, 4) and bank.c2w.dtype == torch.float32
    assert bank.depth.dtype == torch.float32 and bank.mask.dtype == torch.bool
    assert bank.semantic.dtype == torch.int16  # labels -1 .. 6
    assert bank.instance.dtype == torch.int16  # labels -1 .. 299
    assert bank.time.shape == (3,)


def test_depth_is_distance_along_unit_ray():
    scene = tiny_scene()
    batch = RayBank(scene, "train").gather(torch.arange(3 * H * W))
    pts = batch["rays_o"] + batch["depth"][:, None] * batch["rays_d"]
    for i in range(3):
        sel = (batch["view"] == i) & (batch["depth"] > 0)
        uv, z = project_points(
            pts[sel].double(), torch.tensor(scene.K[i]).double(), torch.tensor(scene.c2w[i]).double()
        )
        # the point at that distance has the scene's z-depth and projects back to its pixel centre
        z_ref = torch.tensor(scene.depth[i]).reshape(-1)[sel[i * H * W : (i + 1) * H * W]]
        torch.testing.assert_close(z.float(), z_ref, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(uv.float(), batch["pixel"][sel].float() + 0.5, rtol=1e-4, atol=1e-4)


def test_rgb_from_8bit_png_is_exact(tmp_path):
    values = np.arange(256, dtype=np.uint8)
    u8 = np.stack([values.reshape(16, 16), values[::-1].reshape(16, 16), np.roll(values, 3).reshape(16, 16)], -1)
    write_png(tmp_path / "a.png", u8)
    image = read_rgb(tmp_path / "a.png")
    scene = SceneData(
        images=image[None],
        K=intrinsics_matrix(10.0, 10.0, 8.0, 8.0)[None].astype(np.float32),
        c2w=np.eye(4, dtype=np.float32)[None],
        height=16,
        width=16,
        splits={"train": [0]},
        near=0.1,
        far=2.0,
        bbox=np.array([[-1, -1, -1], [1, 1, 1]], np.float32),
    )
    bank = RayBank(scene, [0])
    assert torch.equal(bank.images[0], torch.as_tensor(u8))
    assert torch.equal(bank.gather(torch.arange(256))["rgb"], torch.as_tensor(image).reshape(-1, 3))
    assert bank.rgb_quantization_error == 0.0


def test_float_images_are_quantised_unless_stored_as_float():
    scene = tiny_scene()
    scene.images = np.random.default_rng(1).random((3, H, W, 3)).astype(np.float32)
    exact = torch.as_tensor(scene.images).reshape(-1, 3)
    ids = torch.arange(3 * H * W)
    bank = RayBank(scene, "train")
    rgb = bank.gather(ids)["rgb"]
    assert torch.equal(rgb, torch.round(exact * 255) / 255)
    err = (rgb - exact).abs().max().item()
    assert 0 < err <= 0.5 / 255 + 1e-7 and bank.rgb_quantization_error == pytest.approx(err)
    float_bank = RayBank(scene, "train", dtype=torch.float32)
    assert torch.equal(float_bank.gather(ids)["rgb"], exact) and float_bank.rgb_quantization_error == 0.0
    half = RayBank(scene, "train", dtype=torch.float16).gather(ids)["rgb"]
    assert torch.equal(half, exact.half().float())


def test_restrict_keeps_selected_rays_in_order():
    bank = RayBank(tiny_scene(), "train")
    full = bank.gather(torch.arange(len(bank)))
    keep = torch.tensor([41, 3, 17, 59, 0, 22])
    sub = bank.restrict(keep)
    assert len(sub) == 6 and sub.restricted and not bank.restricted and len(bank) == 60
    assert sub.images is bank.images  # same storage
    got = sub.gather(torch.arange(6))
    for key in full:
        assert torch.equal(got[key], full[key][keep]), key
    subsub = sub.restrict(torch.tensor([5, 1]))  # positions in the restricted list
    assert torch.equal(subsub.gather(torch.arange(2))["pixel"], full["pixel"][keep[[5, 1]]])
    mask = torch.zeros(60, dtype=torch.bool)
    mask[[4, 9]] = True
    assert torch.equal(bank.restrict(mask).gather(torch.arange(2))["rgb"], full["rgb"][[4, 9]])
    with pytest.raises(ValueError, match="restrict"):
        bank.restrict(torch.tensor([60]))
    with pytest.raises(ValueError, match="restrict"):
        sub.restrict(torch.tensor([-1]))


@pytest.mark.parametrize("chunk", [1, 7, 60, 1000])
def test_chunks_cover_every_ray_once(chunk):
    bank = RayBank(tiny_scene(), "train")
    for b in (bank, bank.restrict(torch.tensor([5, 50, 2, 33, 34]))):
        parts = list(b.chunks(chunk))
        assert len(parts) == -(-len(b) // chunk)
        ref = b.gather(torch.arange(len(b)))
        for key in ref:
            assert torch.equal(torch.cat([p[key] for p in parts]), ref[key]), key
    ids = torch.cat([p["view"] * H * W + p["pixel"][:, 1] * W + p["pixel"][:, 0] for p in bank.chunks(chunk)])
    assert ids.tolist() == list(range(len(bank)))
    with pytest.raises(ValueError, match="chunk"):
        next(bank.chunks(0))


def test_view_ray_dict_equals_gather_of_that_view():
    scene = tiny_scene()
    bank = RayBank(scene, [0, 1, 2])
    for i in range(3):
        one = view_ray_dict(scene, i)
        ref = bank.gather(torch.arange(i * H * W, (i + 1) * H * W))
        assert set(one) == set(ref) == ALL_KEYS | OPTIONAL_KEYS
        for key in ref:
            assert torch.equal(one[key], ref[key]), key


def test_optional_fields_absent_and_image_rays():
    scene = tiny_scene(annotated=False)
    bank = RayBank(scene, [1])
    batch = bank.gather(torch.arange(H * W))
    assert set(batch) == ALL_KEYS and bank.depth is None and bank.mask is None and bank.time is None
    o, d = image_rays(scene, 1)
    assert o.shape == d.shape == (H, W, 3)
    assert_same_rows(d.reshape(-1, 3), batch["rays_d"], "rays_d")
    assert_same_rows(o.reshape(-1, 3), batch["rays_o"], "rays_o")
    _, d_unit = get_rays(torch.tensor(scene.K[1]), torch.tensor(scene.c2w[1]), H, W)
    torch.testing.assert_close(d, d_unit)


def test_lazy_scene_matches_in_memory_scene_and_label_widths():
    scene = tiny_scene()
    images = scene.images
    scene.instances = scene.instances.copy()
    scene.instances[0, 0, 0] = 70000  # does not fit int16
    lazy = SceneData(**{**scene.__dict__, "images": None, "image_loader": lambda i: images[i]})
    a, b = RayBank(scene, [2, 1]), RayBank(lazy, [2, 1])
    assert a.instance.dtype == b.instance.dtype == torch.int32 and a.semantic.dtype == torch.int16
    ga, gb = a.gather(torch.arange(len(a))), b.gather(torch.arange(len(b)))
    for key in ga:
        assert torch.equal(ga[key], gb[key]), key
    assert RayBank(scene, [0]).gather(torch.tensor([0]))["instance"].item() == 70000


def test_dir_norm_gives_the_camera_z_one_directions():
    K = torch.tensor([[4.0, 0, 2.5], [0, 4.0, 2.0], [0, 0, 1]])
    c2w = torch.eye(4)
    scene = SceneData(
        images=np.zeros((1, 4, 5, 3), np.float32),
        K=K[None].numpy(),
        c2w=c2w[None].numpy(),
        height=4,
        width=5,
        splits={"train": [0]},
        near=0.1,
        far=5.0,
        bbox=np.array([[-1, -1, -1], [1, 1, 1]], np.float32),
    )
    batch = RayBank(scene, "train").gather(torch.arange(20))
    raw = batch["rays_d"] * batch["dir_norm"][:, None]
    torch.testing.assert_close(raw[:, 2], torch.ones(20))  # identity pose: camera z = world z = 1
    _, d = get_rays(K, c2w, 4, 5, normalize=False)
    torch.testing.assert_close(raw, d.reshape(-1, 3))


def test_to_keeps_rays_and_restriction():
    bank = RayBank(tiny_scene(), "train").restrict(torch.tensor([3, 1]))
    moved = bank.to("cpu")
    assert len(moved) == 2 and moved.device == torch.device("cpu")
    a, b = bank.gather(torch.arange(2)), moved.gather(torch.arange(2))
    assert all(torch.equal(a[k], b[k]) for k in a)
    n = 3 * H * W
    # images u8, K, c2w, depth f32, mask bool, semantic/instance int16, time, restricted ids int32, K^-1, R, views
    expected = 3 * n + 3 * 9 * 4 + 3 * 16 * 4 + 4 * n + n + 2 * n + 2 * n + 3 * 4 + 2 * 4 + 2 * 3 * 9 * 4 + 3 * 8
    assert bank.nbytes == expected


def test_bad_arguments():
    scene = tiny_scene()
    with pytest.raises(ValueError, match="no view"):
        RayBank(scene, [])
    with pytest.raises(ValueError, match="dtype"):
        RayBank(scene, [0], dtype=torch.int32)
    scene.images = np.zeros((3, H, W + 1, 3), np.float32)
    with pytest.raises(ValueError, match="shape"):
        RayBank(scene, [0])
