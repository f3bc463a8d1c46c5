"""LPIPS v0.1 (Zhang et al. 2018) with AlexNet, VGG16 or SqueezeNet 1.1 trunks, built in plain torch.

The trunks reproduce torchvision's ``features`` layout, so torchvision's ImageNet checkpoints
(``alexnet-owt-7be5be79.pth``, ``vgg16-397923af.pth``, ``squeezenet1_1-b8a52dc0.pth``) load by their key names
``features.N.*``; a full state dict of the official ``lpips.LPIPS(net=...)`` (trunk keys ``net.sliceK.N.*``,
which keep torchvision's indices N) loads too. The 1x1 linear heads load from the official v0.1 files
(keys ``lin{k}.model.1.weight``, shape [1, C_k, 1, 1]). Nothing is ever downloaded.

For inputs ``x, y`` in [-1, 1], ``[B, 3, H, W]``:
``s = (x - shift) / scale`` (shift [-.030, -.088, -.188], scale [.458, .448, .450]),
``f_k`` = trunk activations at the taps (alex: relu1..relu5; vgg: relu1_2, relu2_2, relu3_3, relu4_3, relu5_3;
squeeze: relu1 and the outputs of fire2, fire4, fire5, fire6, fire7, fire8, as ``lpips.pretrained_networks``),
``u_k = f_k / (||f_k||_channels + 1e-10)``,
``LPIPS = sum_k mean_{h,w} sum_c w_{k,c} (u_k(x) - u_k(y))^2``.

Where the files are looked up:
- trunk (alex, vgg): the ``backbone_path`` argument (file or folder), ``$NF_LPIPS_BACKBONE_DIR/<file>``,
  ``torch.hub.get_dir()/checkpoints/<file>`` (torchvision's own download cache);
- trunk (squeeze): the ``backbone_path`` argument (file, or folder holding one of the files below),
  ``$NF_LPIPS_SQUEEZE_DIR/lpips_v0.1_squeeze_full_state_dict.pt``, torchvision's ``squeezenet1_1-b8a52dc0.pth`` in
  ``$NF_LPIPS_BACKBONE_DIR`` or the hub cache, then ``lpips_v0.1_squeeze_full_state_dict.pt`` in
  ``$NF_SHARED_DATA/lpips-squeeze-weights`` (else ``../shared/data/lpips-squeeze-weights`` relative to the
  repository);
- heads: the ``heads_path`` argument, ``$NF_LPIPS_HEADS_DIR`` (``<net>.pth`` or ``weights/v0.1/<net>.pth``
  inside it), the trunk file itself when it is a full LPIPS state dict, the installed ``lpips`` package's
  ``weights/v0.1/<net>.pth`` (found without importing it), then
  ``../shared/data/lpips-linear-weights/weights/v0.1/<net>.pth`` relative to the repository.

Which network a report uses (:func:`choose_lpips`): the requested one (``alex`` by default, like the papers) when
its files are found, else LPIPS-squeeze when that network is found, labelled as such (:func:`lpips_label`).
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from common.metrics.errors import MetricUnavailable
from common.metrics.inputs import image_pair
from common.results.provenance import portable_path, portable_text

VERSION = "0.1"
NETS = ("alex", "vgg", "squeeze")
BACKBONE_FILES = {
    "alex": "alexnet-owt-7be5be79.pth",
    "vgg": "vgg16-397923af.pth",
    "squeeze": "squeezenet1_1-b8a52dc0.pth",
}
BACKBONE_URLS = {net: f"https://download.pytorch.org/models/{name}" for net, name in BACKBONE_FILES.items()}
# The official lpips.LPIPS(net="squeeze").state_dict(): SqueezeNet 1.1 ImageNet trunk and v0.1 heads in one file.
SQUEEZE_FILE = "lpips_v0.1_squeeze_full_state_dict.pt"
CHANNELS = {
    "alex": (64, 192, 384, 256, 256),
    "vgg": (64, 128, 256, 512, 512),
    "squeeze": (64, 128, 256, 384, 384, 512, 512),
}
# Indices in ``features`` whose outputs are tapped (each one a ReLU or a fire module, whose outputs are ReLUs).
TAPS = {"alex": (1, 4, 7, 9, 11), "vgg": (3, 8, 15, 22, 29), "squeeze": (1, 4, 7, 9, 10, 11, 12)}
# Smallest image side for which every tap has at least one pixel.
MIN_SIZE = {"alex": 31, "vgg": 16, "squeeze": 17}
BACKBONE_ENV = "NF_LPIPS_BACKBONE_DIR"
HEADS_ENV = "NF_LPIPS_HEADS_DIR"
SQUEEZE_ENV = "NF_LPIPS_SQUEEZE_DIR"
SHARED_DATA_ENV = "NF_SHARED_DATA"
SHARED_DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SHARED_HEADS_DIR = SHARED_DATA_DIR / "lpips-linear-weights"
SHARED_SQUEEZE_DIR = SHARED_DATA_DIR / "lpips-squeeze-weights"
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
EPS = 1e-10
_VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)


def _check_net(net: str) -> None:
    if net not in NETS:
        raise ValueError(f"unknown LPIPS net {net!r}; expected one of {NETS}")


def alexnet_features() -> nn.Sequential:
    """torchvision ``alexnet().features[:12]`` (the final max-pool, index 12, holds no weights and is unused)."""
    return nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(64, 192, kernel_size=5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(192, 384, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(384, 256, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(256, 256, kernel_size=3, padding=1),
        nn.ReLU(),
    )


def vgg16_features() -> nn.Sequential:
    """torchvision ``vgg16().features[:30]`` (the final max-pool, index 30, holds no weights and is unused)."""
    layers: list[nn.Module] = []
    c_in = 3
    for v in _VGG16_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(c_in, v, kernel_size=3, padding=1), nn.ReLU()]
            c_in = v
    return nn.Sequential(*layers)


class Fire(nn.Module):
    """SqueezeNet fire module (torchvision key names): ``s = relu(squeeze(x))``,
    ``out = cat([relu(expand1x1(s)), relu(expand3x3(s))], channels)``; [B, C_in, H, W] -> [B, e1 + e3, H, W]."""

    def __init__(self, c_in: int, squeeze: int, expand1x1: int, expand3x3: int):
        super().__init__()
        self.squeeze = nn.Conv2d(c_in, squeeze, kernel_size=1)
        self.expand1x1 = nn.Conv2d(squeeze, expand1x1, kernel_size=1)
        self.expand3x3 = nn.Conv2d(squeeze, expand3x3, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.relu(self.squeeze(x))
        return torch.cat([torch.relu(self.expand1x1(s)), torch.relu(self.expand3x3(s))], dim=1)


def squeezenet1_1_features() -> nn.Sequential:
    """torchvision ``squeezenet1_1().features`` (13 modules; fires at indices 3, 4, 6, 7, 9, 10, 11, 12)."""
    return nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=3, stride=2),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        Fire(64, 16, 64, 64),
        Fire(128, 16, 64, 64),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        Fire(128, 32, 128, 128),
        Fire(256, 32, 128, 128),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        Fire(256, 48, 192, 192),
        Fire(384, 48, 192, 192),
        Fire(384, 64, 256, 256),
        Fire(512, 64, 256, 256),
    )


_FEATURES = {"alex": alexnet_features, "vgg": vgg16_features, "squeeze": squeezenet1_1_features}


class Trunk(nn.Module):
    """ImageNet trunk with torchvision's ``features.N`` keys; ``forward`` returns the tapped activations."""

    def __init__(self, net: str):
        super().__init__()
        _check_net(net)
        self.features = _FEATURES[net]()
        self.taps = TAPS[net]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[B, 3, H, W] -> len(TAPS[net]) tensors [B, C_k, H_k, W_k]."""
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.taps:
                out.append(x)
        return out


class LinearHead(nn.Module):
    """1x1 convolution C -> 1 without bias; ``model.0`` holds the place of the official (eval-time no-op) dropout,
    so the weight key reads ``model.1.weight`` as in the official files."""

    def __init__(self, channels: int):
        super().__init__()
        self.model = nn.Sequential(nn.Identity(), nn.Conv2d(channels, 1, kernel_size=1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def unit_normalize(f: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """``f / (sqrt(sum_c f^2) + eps)`` over the channel axis of [B, C, H, W]."""
    return f / (f.square().sum(dim=1, keepdim=True).sqrt() + eps)


class LPIPSNet(nn.Module):
    """LPIPS v0.1 network; parameters are frozen but gradients flow to the inputs (usable as a loss).

    State-dict keys: ``trunk.features.N.*`` and ``lin{k}.model.1.weight``.
    """

    def __init__(self, net: str = "alex"):
        super().__init__()
        _check_net(net)
        self.net = net
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1), persistent=False)
        self.trunk = Trunk(net)
        for k, c in enumerate(CHANNELS[net]):
            self.add_module(f"lin{k}", LinearHead(c))

    def heads(self) -> list[LinearHead]:
        return [getattr(self, f"lin{k}") for k in range(len(CHANNELS[self.net]))]

    def forward(self, x: torch.Tensor, y: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        """LPIPS distance of [B, 3, H, W] batches in [-1, 1] (in [0, 1] with ``normalize=True``) -> [B]."""
        if normalize:
            x, y = 2 * x - 1, 2 * y - 1
        fx = self.trunk((x - self.shift) / self.scale)
        fy = self.trunk((y - self.shift) / self.scale)
        total = torch.zeros(x.shape[0], device=x.device, dtype=x.dtype)
        for head, a, b in zip(self.heads(), fx, fy):
            total = total + head((unit_normalize(a) - unit_normalize(b)).square()).mean(dim=(1, 2, 3))
        return total


def _squeeze_dirs() -> tuple[list[Path], list[Path]]:
    """Folders that may hold the complete LPIPS-squeeze file: (before, after) torchvision's trunk locations."""
    shared = Path(os.environ[SHARED_DATA_ENV]) / SHARED_SQUEEZE_DIR.name if os.environ.get(SHARED_DATA_ENV) else None
    return [Path(os.environ[SQUEEZE_ENV])] if os.environ.get(SQUEEZE_ENV) else [], [shared or SHARED_SQUEEZE_DIR]


def _backbone_candidates(net: str, backbone_path: str | Path | None) -> list[Path]:
    name = BACKBONE_FILES[net]
    if backbone_path is not None:
        path = Path(backbone_path)
        if not path.is_dir():
            return [path]
        return [path / SQUEEZE_FILE, path / name] if net == "squeeze" else [path / name]
    torchvision = [Path(os.environ[BACKBONE_ENV]) / name] if os.environ.get(BACKBONE_ENV) else []
    torchvision.append(Path(torch.hub.get_dir()) / "checkpoints" / name)
    if net != "squeeze":
        return torchvision
    first, last = _squeeze_dirs()
    return [d / SQUEEZE_FILE for d in first] + torchvision + [d / SQUEEZE_FILE for d in last]


def find_backbone(net: str = "alex", backbone_path: str | Path | None = None) -> Path:
    """Path of the trunk weights for ``net``; MetricUnavailable naming where to put them."""
    _check_net(net)
    candidates = _backbone_candidates(net, backbone_path)
    for path in candidates:
        if path.is_file():
            return path
    name = BACKBONE_FILES[net]
    searched = ", ".join(str(p) for p in candidates)
    if net == "squeeze":
        raise MetricUnavailable(
            f"LPIPS-squeeze weights not found (searched: {searched}); set ${SQUEEZE_ENV} to a folder holding "
            f"{SQUEEZE_FILE}, or put torchvision's {name} in ${BACKBONE_ENV}"
        )
    raise MetricUnavailable(
        f"LPIPS-{net} backbone weights {name} not found (searched: {searched}); put torchvision's ImageNet "
        f"checkpoint {name} (from {BACKBONE_URLS[net]}) in {candidates[-1].parent} or in ${BACKBONE_ENV}"
    )


def _package_heads_dir() -> Path | None:
    """The installed ``lpips`` package folder, located without importing it (its import needs torchvision)."""
    spec = importlib.util.find_spec("lpips")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _head_keys(net: str) -> dict[str, torch.Size]:
    return {f"lin{k}.model.1.weight": torch.Size([1, c, 1, 1]) for k, c in enumerate(CHANNELS[net])}


@functools.lru_cache(maxsize=16)
def _holds_heads(path: Path, net: str, mtime_ns: int) -> bool:
    """Whether ``path`` is a full LPIPS state dict holding the ``net`` heads (``mtime_ns`` keys the cache)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch.load raises many types for foreign or corrupt files
        return False
    if not isinstance(state, dict):
        return False
    return all(key in state and state[key].shape == shape for key, shape in _head_keys(net).items())


def find_heads(
    net: str = "alex", heads_path: str | Path | None = None, backbone_file: str | Path | None = None
) -> Path:
    """Path of the official v0.1 linear-head file ``<net>.pth`` (or of ``backbone_file`` when that full LPIPS
    state dict holds the heads); MetricUnavailable when none is found."""
    _check_net(net)
    rel = Path("weights") / f"v{VERSION}" / f"{net}.pth"
    if heads_path is not None:
        candidates = [Path(heads_path)]
    else:
        candidates = []
        if os.environ.get(HEADS_ENV):
            env_dir = Path(os.environ[HEADS_ENV])
            candidates += [env_dir / f"{net}.pth", env_dir / rel]
        if backbone_file is not None:
            trunk = Path(backbone_file)
            if (
                trunk.name != BACKBONE_FILES[net]
                and trunk.is_file()
                and _holds_heads(trunk, net, trunk.stat().st_mtime_ns)
            ):
                candidates.append(trunk)
        package_dir = _package_heads_dir()
        if package_dir is not None:
            candidates.append(package_dir / rel)
        candidates.append(SHARED_HEADS_DIR / rel)
    for path in candidates:
        if path.is_file():
            return path
    searched = ", ".join(str(p) for p in candidates)
    raise MetricUnavailable(
        f"LPIPS v{VERSION} linear heads {rel} not found (searched: {searched}); install the lpips package "
        f"(it ships them) or set ${HEADS_ENV} to a folder holding {net}.pth"
    )


def find_files(
    net: str = "alex", backbone_path: str | Path | None = None, heads_path: str | Path | None = None
) -> tuple[Path, Path]:
    """(trunk file, heads file) of ``net``, resolved; MetricUnavailable when either is missing."""
    backbone = find_backbone(net, backbone_path).resolve()
    return backbone, find_heads(net, heads_path, backbone).resolve()


def _trunk_key(key: str) -> str:
    """``net.sliceK.N.rest`` (official lpips layout) -> ``features.N.rest``; other keys unchanged."""
    return "features." + key.split(".", 2)[2] if key.startswith("net.slice") else key


def _read_state(path: Path, expected: dict[str, torch.Size], what: str) -> dict[str, torch.Tensor]:
    """Load ``path`` and keep the ``expected`` keys (official-lpips trunk keys renamed to torchvision's),
    checking that each is present with its shape."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises many types for foreign or corrupt files
        raise MetricUnavailable(f"{path}: unreadable ({type(exc).__name__}); expected {what}") from exc
    if not isinstance(state, dict):
        raise MetricUnavailable(f"{path}: holds a {type(state).__name__}; expected {what} (a state dict)")
    state = {_trunk_key(k): v for k, v in state.items()}
    for key, shape in expected.items():
        if key not in state:
            raise MetricUnavailable(f"{path}: key {key} missing; expected {what}")
        if state[key].shape != shape:
            raise MetricUnavailable(
                f"{path}: {key} has shape {list(state[key].shape)}; expected {list(shape)} ({what})"
            )
    return {key: state[key] for key in expected}


def build_lpips(net: str, backbone_file: str | Path, heads_file: str | Path) -> LPIPSNet:
    """LPIPSNet with its trunk from a torchvision checkpoint (or a full LPIPS state dict) and heads from an
    official v0.1 file (CPU, eval)."""
    model = LPIPSNet(net)
    trunk_keys = {k: v.shape for k, v in model.trunk.state_dict().items()}
    trunk = _read_state(
        Path(backbone_file), trunk_keys, f"torchvision {BACKBONE_FILES[net]} (features.N keys) or a full LPIPS-{net}"
    )
    heads = _read_state(Path(heads_file), _head_keys(net), f"LPIPS v{VERSION} {net} heads with lin{{k}}.model.1.weight")
    model.trunk.load_state_dict(trunk)
    model.load_state_dict(heads, strict=False)
    model.requires_grad_(False)
    return model.eval()


@functools.lru_cache(maxsize=8)
def _cached(net: str, device: str, backbone_file: Path, heads_file: Path) -> LPIPSNet:
    return build_lpips(net, backbone_file, heads_file).to(device)


def load_lpips(
    net: str = "alex",
    device: torch.device | str | None = None,
    backbone_path: str | Path | None = None,
    heads_path: str | Path | None = None,
) -> LPIPSNet:
    """The LPIPS network for ``net`` on ``device`` (CPU by default), built once per (net, device, files).

    Raises MetricUnavailable when a weight file is missing or malformed.
    """
    backbone_file, heads_file = find_files(net, backbone_path, heads_path)
    return _cached(net, str(torch.device(device or "cpu")), backbone_file, heads_file)


def lpips_metric_name(conventions: Mapping) -> str:
    """``"LPIPS-<net actually used>"`` (``"LPIPS-<net requested>"`` while missing, ``"LPIPS"`` if neither is known)."""
    net = conventions.get("net") or conventions.get("net_requested")
    return f"LPIPS-{net}" if net else "LPIPS"


def lpips_label(conventions: Mapping) -> str:
    """The label to show beside every LPIPS number, from a report's ``conventions["lpips"]``.

    ``"LPIPS-alex"`` when the requested net was used; ``"LPIPS-squeeze; the paper reports LPIPS-alex"`` when
    ``net`` differs from ``net_requested`` (the requested net is the paper's, e.g. ``eval.lpips_net``).
    """
    name = lpips_metric_name(conventions)
    requested = conventions.get("net_requested")
    if conventions.get("net") and requested and requested != conventions["net"]:
        return f"{name}; the paper reports LPIPS-{requested}"
    return name


@dataclass(frozen=True)
class LPIPSChoice:
    """The LPIPS network a report uses: ``net`` (with its files) for the requested ``net_requested``.

    ``fallback_reason`` says why the requested net was not used (None when ``net == net_requested``).
    """

    net_requested: str
    net: str
    backbone_file: Path
    heads_file: Path
    fallback_reason: str | None = None

    def conventions(self) -> dict:
        """``{"version", "net_requested", "net", "label", "backbone_file", "heads_file"[, "fallback_reason"]}``,
        paths in the machine-independent form of :func:`common.results.provenance.portable_path`."""
        out = {
            "version": VERSION,
            "net_requested": self.net_requested,
            "net": self.net,
            "label": lpips_label({"net": self.net, "net_requested": self.net_requested}),
            "backbone_file": portable_path(self.backbone_file),
            "heads_file": portable_path(self.heads_file),
        }
        if self.fallback_reason is not None:
            out["fallback_reason"] = portable_text(self.fallback_reason)
        return out


def choose_lpips(
    net: str = "alex",
    *,
    backbone_path: str | Path | None = None,
    heads_path: str | Path | None = None,
    squeeze_path: str | Path | None = None,
    fallback: bool = True,
) -> LPIPSChoice:
    """The requested ``net`` when its files are found; else (``fallback``, net alex or vgg) LPIPS-squeeze from
    ``squeeze_path`` or the default squeeze locations, to be labelled with :func:`lpips_label`.

    Raises MetricUnavailable (both reasons) when neither is found. Only presence is checked here; a malformed
    file raises when the network is loaded.
    """
    _check_net(net)
    try:
        return LPIPSChoice(net, net, *find_files(net, backbone_path, heads_path))
    except MetricUnavailable as exc:
        if net == "squeeze" or not fallback:
            raise
        try:
            files = find_files("squeeze", squeeze_path)
        except MetricUnavailable as squeeze_exc:
            raise MetricUnavailable(
                f"{exc.reason}; the LPIPS-squeeze fallback is unavailable too: {squeeze_exc.reason}"
            ) from exc
        return LPIPSChoice(net, "squeeze", *files, fallback_reason=exc.reason)


def lpips(
    pred: np.ndarray | torch.Tensor,
    gt: np.ndarray | torch.Tensor,
    net: str = "alex",
    *,
    device: torch.device | str | None = None,
    backbone_path: str | Path | None = None,
    heads_path: str | Path | None = None,
    chunk: int = 8,
) -> float | np.ndarray | torch.Tensor:
    """LPIPS v0.1 of images in [0, 1] (mapped to [-1, 1]); ``[H, W, 3]`` or ``[B, H, W, 3]``, numpy or torch.

    Returns a float for one image; for a batch a 1-D float64 array of per-image values (a torch tensor
    on the input's device when either input is a torch tensor, else numpy). Runs without gradients,
    ``chunk`` images at a time, on ``device`` (default: the torch input's device, else CPU); use
    ``load_lpips(...)`` directly for a differentiable loss. Uses exactly ``net`` (no fallback; see
    :func:`choose_lpips`). Raises MetricUnavailable when weights are missing.
    """
    _check_net(net)
    pair = image_pair(pred, gt, dtype=torch.float32, device=device, channels=3)
    if min(pair.x.shape[-2:]) < MIN_SIZE[net]:
        raise ValueError(
            f"images of size {tuple(pair.x.shape[-2:])} are too small for LPIPS-{net}; "
            f"expected sides >= {MIN_SIZE[net]}"
        )
    model = load_lpips(net, pair.x.device, backbone_path, heads_path)
    with torch.no_grad():
        values = torch.cat(
            [model(pair.x[i : i + chunk], pair.y[i : i + chunk], normalize=True) for i in range(0, len(pair.x), chunk)]
        )
    return pair.output(values.double())
