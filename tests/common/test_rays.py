from __future__ import annotations

import numpy as np
import pytest
import torch

from common.cameras import get_rays, intrinsics_matrix, look_at, project_points
from common.data.scene import SceneData
from common.rays import RaySampler, image_rays, rays_from_scene

H, W = 4, 5


def tiny_scene(with_depth: bool = True, with_mask: bool = True) -> SceneData:
    rng = np.random.default_rng(0)
    c2w = np.stack([look_at(np.array([3.0, 0.5, 1.0]), np.zeros(3)), look_at(np.array([-1.0, 2.5, 0.5]), np.zeros(3))])
    K = np.stack([intrinsics_matrix(6.0, 6.5, 2.4, 2.1), intrinsics_matrix(5.0, 5.0, 2.5, 2.0)])
    return SceneData(
        images=rng.random((2, H, W, 3)).astype(np.float32),
        K=K.astype(np.float32),
        c2w=c2w.astype(np.float32),
        height=H,
        width=W,
        splits={"train": [0, 1], "test": [1]},
        near=0.5,
        far=6.0,
        bbox=np.array([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]], dtype=np.float32),
        depth=(1.0 + rng.random((2, H, W))).astype(np.float32) if with_depth else None,
        masks=rng.random((2, H, W)) > 0.5 if with_mask else None,
    )


def test_rayset_matches_get_rays_and_scene_arrays():
    scene = tiny_scene()
    rs = rays_from_scene(scene, [1, 0])
    assert len(rs) == 2 * H * W
    for k, i in enumerate([1, 0]):
        o, d = get_rays(torch.tensor(scene.K[i]), torch.tensor(scene.c2w[i]), H, W)
        sl = slice(k * H * W, (k + 1) * H * W)
        torch.testing.assert_close(rs.origins[sl], o.reshape(-1, 3))
        torch.testing.assert_close(rs.directions[sl], d.reshape(-1, 3))
        torch.testing.assert_close(rs.rgb[sl], torch.tensor(scene.images[i]).reshape(-1, 3))
        assert rs.image_index[sl].tolist() == [i] * (H * W)
        torch.testing.assert_close(rs.mask[sl], torch.tensor(scene.masks[i]).reshape(-1).float())
        for v in range(H):
            for u in range(W):
                assert rs.pixel[sl][v * W + u].tolist() == [u, v]
    for name in ("origins", "directions", "viewdirs", "rgb", "depth", "mask"):
        assert getattr(rs, name).dtype == torch.float32
    assert rs.image_index.dtype == rs.pixel.dtype == torch.int64
    torch.testing.assert_close(rs.directions.norm(dim=-1), torch.ones(len(rs)))
    torch.testing.assert_close(rs.viewdirs, rs.directions)


def test_depth_is_distance_along_unit_ray():
    scene = tiny_scene()
    rs = rays_from_scene(scene, "train")
    pts = rs.origins + rs.depth[:, None] * rs.directions
    for i in range(2):
        sel = rs.image_index == i
        uv, z = project_points(
            pts[sel].double(), torch.tensor(scene.K[i]).double(), torch.tensor(scene.c2w[i]).double()
        )
        # the point at that distance has the scene's z-depth and projects back to its pixel centre
        torch.testing.assert_close(z.float(), torch.tensor(scene.depth[i]).reshape(-1), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(uv.float(), rs.pixel[sel].float() + 0.5, rtol=1e-4, atol=1e-4)


def test_optional_fields_absent_and_image_rays():
    scene = tiny_scene(with_depth=False, with_mask=False)
    rs = rays_from_scene(scene, [0])
    assert rs.depth is None and rs.mask is None
    batch = RaySampler(rs, 7)(0, torch.Generator().manual_seed(0))
    assert set(batch) == {"rays_o", "rays_d", "viewdirs", "rgb", "image_index", "pixel"}
    o, d = image_rays(scene, 0)
    assert o.shape == d.shape == (H, W, 3)
    torch.testing.assert_close(d.reshape(-1, 3), rs.directions)
    torch.testing.assert_close(o.reshape(-1, 3), rs.origins)


def test_sampler_deterministic_with_same_seed():
    rs = rays_from_scene(tiny_scene(), [0, 1])
    for mode in ("permutation", "iid"):
        a, b = RaySampler(rs, 6, mode), RaySampler(rs, 6, mode)
        ga, gb = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
        for step in range(10):
            ba, bb = a(step, ga), b(step, gb)
            assert set(ba) == {"rays_o", "rays_d", "viewdirs", "rgb", "image_index", "pixel", "depth", "mask"}
            for key in ba:
                torch.testing.assert_close(ba[key], bb[key])
            assert ba["rgb"].shape == (6, 3)
        c = RaySampler(rs, 6, mode)
        other = [c(s, torch.Generator().manual_seed(6))["pixel"] for s in range(3)]
        assert not all(torch.equal(x, y) for x, y in zip(other, [a(s, ga)["pixel"] for s in range(3)]))


@pytest.mark.parametrize("batch_size", [8, 7, 100])
def test_permutation_covers_every_ray_once_per_epoch(batch_size):
    rs = rays_from_scene(tiny_scene(), [0, 1])
    P = len(rs)
    sampler = RaySampler(rs, batch_size)
    g = torch.Generator().manual_seed(0)
    idx = torch.cat([sampler.next_indices(g) for _ in range(3 * P // batch_size + 2)])
    for epoch in range(3):
        chunk = idx[epoch * P : (epoch + 1) * P]
        assert sorted(chunk.tolist()) == list(range(P))
    assert sampler.epoch >= 2


def test_batch_rows_are_consistent_with_rayset():
    scene = tiny_scene()
    rs = rays_from_scene(scene, [0, 1])
    batch = RaySampler(rs, 9, "iid")(0, torch.Generator().manual_seed(3))
    for k in range(9):
        i, (u, v) = int(batch["image_index"][k]), batch["pixel"][k].tolist()
        torch.testing.assert_close(batch["rgb"][k], torch.tensor(scene.images[i, v, u]))


@pytest.mark.parametrize("mode", ["permutation", "iid"])
def test_state_dict_resumes_same_sequence(mode):
    rs = rays_from_scene(tiny_scene(), [0, 1])
    sampler = RaySampler(rs, 7, mode)
    g = torch.Generator().manual_seed(11)
    for step in range(9):  # crosses an epoch boundary (40 rays)
        sampler(step, g)
    state, g_state = sampler.state_dict(), g.get_state()
    expected = [sampler(step, g)["pixel"] for step in range(9, 20)]
    resumed = RaySampler(rs, 7, mode)
    resumed.load_state_dict(state)
    g2 = torch.Generator()
    g2.set_state(g_state)
    got = [resumed(step, g2)["pixel"] for step in range(9, 20)]
    for x, y in zip(expected, got):
        torch.testing.assert_close(x, y)
    for value in state.values():
        assert value is None or isinstance(value, (int, str, torch.Tensor))
    with pytest.raises(ValueError, match="rays"):
        RaySampler(rays_from_scene(tiny_scene(), [0]), 7, mode).load_state_dict(state)


def test_bad_arguments():
    rs = rays_from_scene(tiny_scene(), [0])
    with pytest.raises(ValueError, match="mode"):
        RaySampler(rs, 4, "sequential")
    with pytest.raises(ValueError, match="batch_size"):
        RaySampler(rs, 0)


def test_subset_keeps_the_selected_rays():
    from common.rays import RaySet

    n = 6
    rs = RaySet(
        origins=torch.arange(n * 3, dtype=torch.float32).reshape(n, 3),
        directions=torch.ones(n, 3),
        viewdirs=torch.ones(n, 3),
        rgb=torch.rand(n, 3),
        image_index=torch.arange(n),
        pixel=torch.zeros(n, 2, dtype=torch.int64),
    )
    sub = rs.subset(torch.tensor([4, 1]))
    assert len(sub) == 2 and sub.depth is None
    assert torch.equal(sub.origins, rs.origins[[4, 1]]) and torch.equal(sub.image_index, torch.tensor([4, 1]))


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
    rs = rays_from_scene(scene, "train")
    raw = rs.directions * rs.dir_norm[:, None]
    torch.testing.assert_close(raw[:, 2], torch.ones(20))  # identity pose: camera z = world z = 1
    _, d = get_rays(K, c2w, 4, 5, normalize=False)
    torch.testing.assert_close(raw, d.reshape(-1, 3))
