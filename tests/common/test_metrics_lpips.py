"""LPIPS: torchvision layouts, weight discovery, invariants, and agreement with the official lpips package.

Trunks use random weights saved under torchvision's checkpoint file names; heads are the real v0.1 files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from common.metrics import LPIPSNet, MetricUnavailable, load_lpips, lpips
from common.metrics.lpips import BACKBONE_ENV, BACKBONE_FILES, HEADS_ENV, SHARED_HEADS_DIR, Trunk, find_heads

ALEX_LAYOUT = [
    ("features.0.weight", (64, 3, 11, 11)),
    ("features.0.bias", (64,)),
    ("features.3.weight", (192, 64, 5, 5)),
    ("features.3.bias", (192,)),
    ("features.6.weight", (384, 192, 3, 3)),
    ("features.6.bias", (384,)),
    ("features.8.weight", (256, 384, 3, 3)),
    ("features.8.bias", (256,)),
    ("features.10.weight", (256, 256, 3, 3)),
    ("features.10.bias", (256,)),
]
VGG_CONVS = [
    (0, 64, 3), (2, 64, 64), (5, 128, 64), (7, 128, 128), (10, 256, 128), (12, 256, 256), (14, 256, 256),
    (17, 512, 256), (19, 512, 512), (21, 512, 512), (24, 512, 512), (26, 512, 512), (28, 512, 512),
]  # fmt: skip
VGG_LAYOUT = [
    item for i, o, c in VGG_CONVS for item in ((f"features.{i}.weight", (o, c, 3, 3)), (f"features.{i}.bias", (o,)))
]
HEAD_CHANNELS = {"alex": [64, 192, 384, 256, 256], "vgg": [64, 128, 256, 512, 512]}


def random_checkpoint(folder: Path, net: str, seed: int = 0) -> Path:
    """A torchvision-style checkpoint (features + classifier keys) with random weights."""
    torch.manual_seed(seed)
    state = {f"features.{k}": v for k, v in Trunk(net).features.state_dict().items()}
    state["classifier.1.weight"] = torch.randn(16, 8)
    path = folder / BACKBONE_FILES[net]
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def ckpt_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("torchvision_ckpts")
    for net in ("alex", "vgg"):
        random_checkpoint(folder, net)
    return folder


def image_batch(n: int, h: int = 48, w: int = 48, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.random((n, h // 8, w // 8, 3))
    return np.clip(base.repeat(8, axis=1).repeat(8, axis=2) * 0.8 + 0.1, 0, 1).astype(np.float32)


@pytest.mark.parametrize(("net", "layout"), [("alex", ALEX_LAYOUT), ("vgg", VGG_LAYOUT)])
def test_trunk_state_dict_is_torchvision_layout(net, layout):
    got = [(k, tuple(v.shape)) for k, v in Trunk(net).state_dict().items()]
    assert got == layout


def test_head_keys_and_shapes_match_official_files():
    for net, channels in HEAD_CHANNELS.items():
        keys = {k: tuple(v.shape) for k, v in LPIPSNet(net).state_dict().items() if k.startswith("lin")}
        expected = {f"lin{k}.model.1.weight": (1, c, 1, 1) for k, c in enumerate(channels)}
        assert keys == expected
        official = torch.load(find_heads(net), map_location="cpu", weights_only=True)
        assert {k: tuple(v.shape) for k, v in official.items() if k.startswith("lin")} == expected


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_identical_images_give_zero_and_noise_is_monotone(ckpt_dir, net):
    x = image_batch(1)[0]
    assert lpips(x, x, net, backbone_path=ckpt_dir) == 0.0
    rng = np.random.default_rng(1)
    noise = rng.standard_normal(x.shape).astype(np.float32)
    values = [lpips(np.clip(x + s * noise, 0, 1), x, net, backbone_path=ckpt_dir) for s in (0.02, 0.1, 0.3)]
    assert 0 < values[0] < values[1] < values[2]


def test_batch_equals_single_and_torch_equals_numpy(ckpt_dir):
    x, y = image_batch(3, seed=2), image_batch(3, seed=3)
    batch = lpips(x, y, "alex", backbone_path=ckpt_dir, chunk=2)
    assert isinstance(batch, np.ndarray) and batch.shape == (3,)
    single = [lpips(x[i], y[i], "alex", backbone_path=ckpt_dir) for i in range(3)]
    np.testing.assert_allclose(batch, single, rtol=1e-5)
    as_torch = lpips(torch.from_numpy(x), torch.from_numpy(y), "alex", backbone_path=ckpt_dir)
    assert isinstance(as_torch, torch.Tensor) and as_torch.shape == (3,)
    np.testing.assert_allclose(as_torch.numpy(), batch, rtol=1e-6)


def test_network_is_cached_and_differentiable_as_a_loss(ckpt_dir):
    ckpt = ckpt_dir / BACKBONE_FILES["alex"]
    model = load_lpips("alex", backbone_path=ckpt)
    assert load_lpips("alex", backbone_path=ckpt_dir) is model
    assert not any(p.requires_grad for p in model.parameters())
    x = torch.from_numpy(image_batch(1, seed=4)).permute(0, 3, 1, 2).requires_grad_(True)
    y = torch.from_numpy(image_batch(1, seed=5)).permute(0, 3, 1, 2)
    model(x, y, normalize=True).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_missing_backbone_raises_metric_unavailable(tmp_path, monkeypatch):
    monkeypatch.delenv(BACKBONE_ENV, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    x = image_batch(1)[0]
    for net in ("alex", "vgg"):
        with pytest.raises(MetricUnavailable) as info:
            lpips(x, x, net)
        assert BACKBONE_FILES[net] in info.value.reason
        assert str(tmp_path / "hub" / "checkpoints") in info.value.reason
        assert BACKBONE_ENV in info.value.reason


def test_backbone_found_through_env_and_hub_cache(ckpt_dir, tmp_path, monkeypatch):
    x, y = image_batch(1, seed=6)[0], image_batch(1, seed=7)[0]
    expected = lpips(x, y, "alex", backbone_path=ckpt_dir)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty_hub"))
    monkeypatch.setenv(BACKBONE_ENV, str(ckpt_dir))
    assert lpips(x, y, "alex") == pytest.approx(expected, rel=1e-6)
    monkeypatch.delenv(BACKBONE_ENV)
    hub = tmp_path / "hub"
    (hub / "checkpoints").mkdir(parents=True)
    (hub / "checkpoints" / BACKBONE_FILES["alex"]).write_bytes((ckpt_dir / BACKBONE_FILES["alex"]).read_bytes())
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    assert lpips(x, y, "alex") == pytest.approx(expected, rel=1e-6)


def test_malformed_backbone_or_heads_name_the_file(tmp_path):
    bad = tmp_path / BACKBONE_FILES["alex"]
    torch.save({"features.0.weight": torch.zeros(3, 3)}, bad)
    with pytest.raises(MetricUnavailable, match=r"alexnet-owt-7be5be79\.pth: features\.0\.weight has shape"):
        load_lpips("alex", backbone_path=bad)
    garbage = tmp_path / "heads.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(MetricUnavailable, match=r"heads\.pth: unreadable"):
        load_lpips("alex", backbone_path=random_checkpoint(tmp_path, "alex"), heads_path=garbage)


def test_heads_env_dir_takes_precedence(tmp_path, monkeypatch):
    heads = {f"lin{k}.model.1.weight": torch.ones(1, c, 1, 1) for k, c in enumerate(HEAD_CHANNELS["alex"])}
    torch.save(heads, tmp_path / "alex.pth")
    monkeypatch.setenv(HEADS_ENV, str(tmp_path))
    assert find_heads("alex") == tmp_path / "alex.pth"
    monkeypatch.delenv(HEADS_ENV)
    assert find_heads("alex").name == "alex.pth" and find_heads("alex").parent.name == "v0.1"


@pytest.mark.realdata
def test_shared_heads_equal_package_heads():
    if not SHARED_HEADS_DIR.is_dir():
        pytest.skip(f"real sample data not found at {SHARED_HEADS_DIR}")
    for net in ("alex", "vgg"):
        shared = torch.load(SHARED_HEADS_DIR / "weights" / "v0.1" / f"{net}.pth", map_location="cpu", weights_only=True)
        found = torch.load(find_heads(net), map_location="cpu", weights_only=True)
        for key, value in shared.items():
            torch.testing.assert_close(found[key], value, rtol=0, atol=0)


_TORCHVISION_SCHEMAS = []


def official_lpips_module():
    """The official ``lpips`` package; on CPU torch, torchvision's missing nms schemas are declared first."""
    if torch.version.cuda is None:
        try:
            torch.ops.torchvision.nms  # noqa: B018
        except (AttributeError, RuntimeError):
            lib = torch.library.Library("torchvision", "DEF")
            for op in ("nms", "qnms"):
                lib.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
            _TORCHVISION_SCHEMAS.append(lib)
    try:
        import lpips as official
    except Exception as exc:  # any import failure of the optional reference
        pytest.skip(f"official lpips package not importable: {type(exc).__name__}: {exc}")
    return official


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_matches_official_lpips_package(ckpt_dir, net):
    official = official_lpips_module()
    ref = official.LPIPS(net=net, pnet_rand=True, verbose=False)
    # The official trunk is torchvision's, split into slices that keep its indices: net.sliceK.N.* = features.N.*
    ref_state = ref.state_dict()
    official_trunk = {"features." + k.split(".", 2)[2]: k for k in ref_state if k.startswith("net.slice")}
    layout = ALEX_LAYOUT if net == "alex" else VGG_LAYOUT
    assert sorted((k, tuple(ref_state[v].shape)) for k, v in official_trunk.items()) == sorted(layout)
    trunk = torch.load(ckpt_dir / BACKBONE_FILES[net], weights_only=True)
    ref.load_state_dict({**ref_state, **{v: trunk[k] for k, v in official_trunk.items()}})
    x, y = image_batch(2, 64, 64, seed=8), image_batch(2, 64, 64, seed=9)
    xt, yt = (torch.from_numpy(a).permute(0, 3, 1, 2) for a in (x, y))
    with torch.no_grad():
        expected = ref(xt, yt, normalize=True).flatten().numpy()
    got = lpips(x, y, net, backbone_path=ckpt_dir)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    assert expected.min() > 1e-3


@pytest.mark.gpu
def test_lpips_on_cuda_matches_cpu(ckpt_dir):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    x, y = image_batch(2, seed=10), image_batch(2, seed=11)
    cpu = lpips(x, y, "vgg", backbone_path=ckpt_dir)
    gpu = lpips(torch.from_numpy(x).cuda(), torch.from_numpy(y).cuda(), "vgg", backbone_path=ckpt_dir)
    assert gpu.device.type == "cuda"
    np.testing.assert_allclose(gpu.cpu().numpy(), cpu, rtol=1e-4)


@pytest.mark.parametrize(("net", "smallest"), [("alex", 31), ("vgg", 16)])
def test_smallest_supported_image_size(ckpt_dir, net, smallest):
    x = image_batch(1, 32, 32, seed=12)[0]
    y = image_batch(1, 32, 32, seed=13)[0]
    assert lpips(x[:smallest, :smallest], y[:smallest, :smallest], net, backbone_path=ckpt_dir) > 0
    with pytest.raises(ValueError, match=f"expected sides >= {smallest}"):
        lpips(x[: smallest - 1], y[: smallest - 1], net, backbone_path=ckpt_dir)
    # Below the limit the trunk itself has no pixel left at the last tap.
    with pytest.raises(RuntimeError):
        small = torch.zeros(1, 3, smallest - 1, smallest - 1)
        load_lpips(net, backbone_path=ckpt_dir)(small, small)
