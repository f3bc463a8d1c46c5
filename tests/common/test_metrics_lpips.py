"""LPIPS: torchvision layouts, weight discovery, the squeeze fallback and its label, invariants, and agreement
with the official lpips package.

Trunks use random weights saved under torchvision's checkpoint file names (or as a full official-layout state
dict); heads are the real v0.1 files. The realdata tests use the real LPIPS-squeeze network in ../shared/data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from common.metrics import LPIPSNet, MetricUnavailable, choose_lpips, load_lpips, lpips, lpips_label, lpips_metric_name
from common.metrics.lpips import (
    BACKBONE_ENV,
    BACKBONE_FILES,
    HEADS_ENV,
    SHARED_DATA_ENV,
    SHARED_HEADS_DIR,
    SHARED_SQUEEZE_DIR,
    SQUEEZE_ENV,
    SQUEEZE_FILE,
    TAPS,
    Trunk,
    find_heads,
)

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
# torchvision squeezenet1_1().features: (index, squeeze, expand1x1, expand3x3 channels, input channels) of each fire.
FIRES = [
    (3, 16, 64, 64, 64), (4, 16, 64, 64, 128), (6, 32, 128, 128, 128), (7, 32, 128, 128, 256),
    (9, 48, 192, 192, 256), (10, 48, 192, 192, 384), (11, 64, 256, 256, 384), (12, 64, 256, 256, 512),
]  # fmt: skip
SQUEEZE_LAYOUT = [("features.0.weight", (64, 3, 3, 3)), ("features.0.bias", (64,))] + [
    item
    for i, s, e1, e3, c in FIRES
    for item in (
        (f"features.{i}.squeeze.weight", (s, c, 1, 1)),
        (f"features.{i}.squeeze.bias", (s,)),
        (f"features.{i}.expand1x1.weight", (e1, s, 1, 1)),
        (f"features.{i}.expand1x1.bias", (e1,)),
        (f"features.{i}.expand3x3.weight", (e3, s, 3, 3)),
        (f"features.{i}.expand3x3.bias", (e3,)),
    )  # fmt: skip
]
HEAD_CHANNELS = {
    "alex": [64, 192, 384, 256, 256],
    "vgg": [64, 128, 256, 512, 512],
    "squeeze": [64, 128, 256, 384, 384, 512, 512],
}
SQUEEZE_LABEL = "LPIPS-squeeze; the paper reports LPIPS-alex"


def random_checkpoint(folder: Path, net: str, seed: int = 0) -> Path:
    """A torchvision-style checkpoint (features + classifier keys) with random weights."""
    torch.manual_seed(seed)
    state = {f"features.{k}": v for k, v in Trunk(net).features.state_dict().items()}
    state["classifier.1.weight"] = torch.randn(16, 8)
    path = folder / BACKBONE_FILES[net]
    torch.save(state, path)
    return path


def official_trunk_key(key: str, net: str) -> str:
    """``features.N.rest`` -> ``net.sliceK.N.rest``: slice K holds the layers after tap K-1 up to tap K."""
    index = int(key.split(".")[1])
    k = 1 + sum(index > t for t in TAPS[net])
    return f"net.slice{k}.{key.split('.', 1)[1]}"


def random_full_squeeze(folder: Path, seed: int = 0) -> Path:
    """A full ``lpips.LPIPS(net="squeeze").state_dict()``-style file (random trunk, positive random heads)."""
    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    state = {
        official_trunk_key(f"features.{k}", "squeeze"): v for k, v in Trunk("squeeze").features.state_dict().items()
    }
    for k, c in enumerate(HEAD_CHANNELS["squeeze"]):
        state[f"lin{k}.model.1.weight"] = torch.rand(1, c, 1, 1)
        state[f"lins.{k}.model.1.weight"] = state[f"lin{k}.model.1.weight"]
    state["scaling_layer.shift"] = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    state["scaling_layer.scale"] = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
    path = folder / SQUEEZE_FILE
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def ckpt_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("torchvision_ckpts")
    for net in ("alex", "vgg", "squeeze"):
        random_checkpoint(folder, net)
    return folder


@pytest.fixture
def isolated(tmp_path, monkeypatch) -> Path:
    """No LPIPS weights anywhere: empty hub cache, no weight environment variables, empty shared data folder."""
    for var in (BACKBONE_ENV, SQUEEZE_ENV, HEADS_ENV):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setenv(SHARED_DATA_ENV, str(tmp_path / "shared_data"))
    return tmp_path


def image_batch(n: int, h: int = 48, w: int = 48, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.random((n, h // 8, w // 8, 3))
    return np.clip(base.repeat(8, axis=1).repeat(8, axis=2) * 0.8 + 0.1, 0, 1).astype(np.float32)


@pytest.mark.parametrize(("net", "layout"), [("alex", ALEX_LAYOUT), ("vgg", VGG_LAYOUT), ("squeeze", SQUEEZE_LAYOUT)])
def test_trunk_state_dict_is_torchvision_layout(net, layout):
    got = [(k, tuple(v.shape)) for k, v in Trunk(net).state_dict().items()]
    assert got == layout


def test_squeeze_trunk_equals_torchvision_squeezenet():
    tv = torchvision_module()
    ref = tv.models.squeezenet1_1(weights=None).features.eval()
    ours = Trunk("squeeze")
    ours.features.load_state_dict(ref.state_dict())
    x = torch.rand(2, 3, 67, 53)
    expected, h = [], x
    for i, layer in enumerate(ref):  # brute force: run torchvision's layers one by one and keep the taps
        h = layer(h)
        if i in (1, 4, 7, 9, 10, 11, 12):
            expected.append(h.clone())
    got = ours(x)
    assert [tuple(f.shape[:2]) for f in got] == [(2, c) for c in HEAD_CHANNELS["squeeze"]]
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_head_keys_and_shapes_match_official_files():
    for net, channels in HEAD_CHANNELS.items():
        keys = {k: tuple(v.shape) for k, v in LPIPSNet(net).state_dict().items() if k.startswith("lin")}
        expected = {f"lin{k}.model.1.weight": (1, c, 1, 1) for k, c in enumerate(channels)}
        assert keys == expected
        official = torch.load(find_heads(net), map_location="cpu", weights_only=True)
        assert {k: tuple(v.shape) for k, v in official.items() if k.startswith("lin")} == expected


@pytest.mark.parametrize("net", ["alex", "vgg", "squeeze"])
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


def test_missing_backbone_raises_metric_unavailable(isolated):
    x = image_batch(1)[0]
    for net in ("alex", "vgg", "squeeze"):
        with pytest.raises(MetricUnavailable) as info:
            lpips(x, x, net)
        assert BACKBONE_FILES[net] in info.value.reason
        assert str(isolated / "hub" / "checkpoints") in info.value.reason
        assert BACKBONE_ENV in info.value.reason
    assert SQUEEZE_FILE in info.value.reason and SQUEEZE_ENV in info.value.reason
    assert str(isolated / "shared_data" / SHARED_SQUEEZE_DIR.name) in info.value.reason


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


def test_full_state_dict_supplies_trunk_and_heads(tmp_path, ckpt_dir):
    full = random_full_squeeze(tmp_path / "squeeze")
    assert find_heads("squeeze", backbone_file=full) == full
    assert find_heads("squeeze", backbone_file=ckpt_dir / BACKBONE_FILES["squeeze"]) != full  # torchvision: no heads
    model = load_lpips("squeeze", backbone_path=full.parent)
    state = torch.load(full, weights_only=True)
    torch.testing.assert_close(model.trunk.features[12].expand3x3.weight, state["net.slice7.12.expand3x3.weight"])
    torch.testing.assert_close(model.trunk.features[0].bias, state["net.slice1.0.bias"])
    torch.testing.assert_close(model.lin6.model[1].weight, state["lin6.model.1.weight"])


def test_squeeze_found_through_env_dirs_in_order(isolated, ckpt_dir, monkeypatch):
    shared = random_full_squeeze(isolated / "shared_data" / SHARED_SQUEEZE_DIR.name, seed=1)
    assert choose_lpips("squeeze").backbone_file == shared.resolve()
    monkeypatch.setenv(BACKBONE_ENV, str(ckpt_dir))  # torchvision's file comes before the shared data folder
    assert choose_lpips("squeeze").backbone_file == (ckpt_dir / BACKBONE_FILES["squeeze"]).resolve()
    own = random_full_squeeze(isolated / "own", seed=2)
    monkeypatch.setenv(SQUEEZE_ENV, str(own.parent))  # $NF_LPIPS_SQUEEZE_DIR comes first
    choice = choose_lpips("squeeze")
    assert (choice.backbone_file, choice.heads_file) == (own.resolve(), own.resolve())


def test_fallback_to_squeeze_when_the_requested_backbone_is_missing(isolated, ckpt_dir, monkeypatch):
    with pytest.raises(MetricUnavailable, match="LPIPS-squeeze fallback is unavailable too") as info:
        choose_lpips("alex")
    assert BACKBONE_FILES["alex"] in info.value.reason and SQUEEZE_FILE in info.value.reason

    full = random_full_squeeze(isolated / "squeeze")
    monkeypatch.setenv(SQUEEZE_ENV, str(full.parent))
    choice = choose_lpips("alex")
    assert (choice.net_requested, choice.net, choice.backbone_file) == ("alex", "squeeze", full.resolve())
    assert BACKBONE_FILES["alex"] in choice.fallback_reason
    conv = choice.conventions()
    assert conv["label"] == lpips_label(conv) == SQUEEZE_LABEL
    assert (conv["version"], conv["net_requested"], conv["net"]) == ("0.1", "alex", "squeeze")
    assert conv["backbone_file"] == conv["heads_file"] == f"${SQUEEZE_ENV}/{SQUEEZE_FILE}"
    assert choose_lpips("vgg").conventions()["label"] == "LPIPS-squeeze; the paper reports LPIPS-vgg"
    with pytest.raises(MetricUnavailable, match=BACKBONE_FILES["alex"]):
        choose_lpips("alex", fallback=False)

    monkeypatch.setenv(BACKBONE_ENV, str(ckpt_dir))  # the user has the alex backbone: LPIPS-alex, no flag needed
    choice = choose_lpips("alex")
    assert (choice.net, choice.backbone_file, choice.fallback_reason) == (
        "alex",
        (ckpt_dir / BACKBONE_FILES["alex"]).resolve(),
        None,
    )
    conv = choice.conventions()
    assert conv["label"] == "LPIPS-alex" and "fallback_reason" not in conv
    assert conv["heads_file"].endswith("alex.pth")


def test_label_and_metric_name_from_conventions():
    assert lpips_label({"net_requested": "alex", "net": "squeeze"}) == SQUEEZE_LABEL
    assert lpips_metric_name({"net_requested": "alex", "net": "squeeze"}) == "LPIPS-squeeze"
    assert lpips_label({"net_requested": "vgg", "net": "vgg"}) == "LPIPS-vgg"
    assert lpips_label({"net": "alex"}) == "LPIPS-alex"  # reports written before net_requested was recorded
    assert lpips_label({"net_requested": "alex", "missing": "no weights"}) == "LPIPS-alex"
    assert lpips_label({"net_requested": None, "missing": "not requested"}) == "LPIPS"


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


def _declare_torchvision_ops() -> None:
    """On CPU torch with a CUDA torchvision build, declare the missing nms schemas so torchvision imports."""
    if torch.version.cuda is None and not _TORCHVISION_SCHEMAS:
        try:
            torch.ops.torchvision.nms  # noqa: B018
        except (AttributeError, RuntimeError):
            lib = torch.library.Library("torchvision", "DEF")
            for op in ("nms", "qnms"):
                lib.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
            _TORCHVISION_SCHEMAS.append(lib)


def torchvision_module():
    _declare_torchvision_ops()
    try:
        import torchvision
    except Exception as exc:  # any import failure of the optional reference
        pytest.skip(f"torchvision not importable: {type(exc).__name__}: {exc}")
    return torchvision


def official_lpips_module():
    """The official ``lpips`` package; on CPU torch, torchvision's missing nms schemas are declared first."""
    _declare_torchvision_ops()
    try:
        import lpips as official
    except Exception as exc:  # any import failure of the optional reference
        pytest.skip(f"official lpips package not importable: {type(exc).__name__}: {exc}")
    return official


def structured_pairs() -> list[tuple[np.ndarray, np.ndarray]]:
    """Image pairs in [0, 1]: uniform noise, a photograph against its noisy / shifted / blurred versions."""
    from skimage import data, filters, transform

    rng = np.random.default_rng(123)
    photo = transform.resize(data.astronaut(), (96, 80), anti_aliasing=True).astype(np.float32)
    noisy = np.clip(photo + 0.1 * rng.standard_normal(photo.shape), 0, 1).astype(np.float32)
    blurred = filters.gaussian(photo, sigma=2, channel_axis=-1).astype(np.float32)
    return [
        (rng.random((64, 64, 3), dtype=np.float32), rng.random((64, 64, 3), dtype=np.float32)),
        (photo, noisy),
        (photo, np.roll(photo, 3, axis=1)),
        (photo, blurred),
        (photo[:40, :33], photo[5:45, 7:40]),
    ]


def official_distance(ref, x: np.ndarray, y: np.ndarray) -> float:
    xt, yt = (torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None] for a in (x, y))
    with torch.no_grad():
        return float(ref(xt, yt, normalize=True).flatten()[0])


@pytest.mark.realdata
def test_real_squeeze_matches_official_lpips_package(isolated, monkeypatch):
    full = SHARED_SQUEEZE_DIR / SQUEEZE_FILE
    if not full.is_file():
        pytest.skip(f"real sample data not found at {SHARED_SQUEEZE_DIR}")
    official = official_lpips_module()
    ref = official.LPIPS(net="squeeze", pnet_rand=True, verbose=False).eval()
    ref.load_state_dict(torch.load(full, map_location="cpu", weights_only=True))
    monkeypatch.delenv(SHARED_DATA_ENV)  # the default location, relative to the repository
    choice = choose_lpips("alex")
    assert (choice.net, choice.backbone_file, choice.heads_file) == ("squeeze", full.resolve(), full.resolve())
    assert choice.conventions()["backbone_file"] == f"../shared/data/{SHARED_SQUEEZE_DIR.name}/{SQUEEZE_FILE}"
    trunk_only = SHARED_SQUEEZE_DIR / "squeezenet1_1_imagenet1k_v1_features_only.pth"
    for x, y in structured_pairs():
        expected = official_distance(ref, x, y)
        assert expected > 1e-3
        assert lpips(x, y, "squeeze") == pytest.approx(expected, abs=1e-6)
        if trunk_only.is_file():  # torchvision-layout trunk with the package's heads: the same network
            assert lpips(x, y, "squeeze", backbone_path=trunk_only) == pytest.approx(expected, abs=1e-6)
    # torchmetrics documents 0.1008 for LPIPS-squeeze on these pairs (seed 123, torch.rand(10, 3, 100, 100) * 2 - 1)
    torch.manual_seed(123)
    a, b = (torch.rand(10, 3, 100, 100) * 2 - 1 for _ in range(2))
    got = lpips(((a + 1) / 2).permute(0, 2, 3, 1), ((b + 1) / 2).permute(0, 2, 3, 1), "squeeze")
    assert float(got.mean()) == pytest.approx(0.1008, abs=5e-5)


@pytest.mark.parametrize("net", ["alex", "vgg", "squeeze"])
def test_matches_official_lpips_package(ckpt_dir, net):
    official = official_lpips_module()
    ref = official.LPIPS(net=net, pnet_rand=True, verbose=False)
    # The official trunk is torchvision's, split into slices that keep its indices: net.sliceK.N.* = features.N.*
    ref_state = ref.state_dict()
    official_trunk = {"features." + k.split(".", 2)[2]: k for k in ref_state if k.startswith("net.slice")}
    layout = {"alex": ALEX_LAYOUT, "vgg": VGG_LAYOUT, "squeeze": SQUEEZE_LAYOUT}[net]
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


@pytest.mark.parametrize(("net", "smallest"), [("alex", 31), ("vgg", 16), ("squeeze", 17)])
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
