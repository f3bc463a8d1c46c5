"""LPIPS v0.1 (Zhang et al. 2018) with AlexNet or VGG16 trunks, built in plain torch.

The trunks reproduce torchvision's ``features`` layout, so torchvision's ImageNet checkpoints
(``alexnet-owt-7be5be79.pth``, ``vgg16-397923af.pth``) load by their key names
``features.N.weight``/``features.N.bias``; the 1x1 linear heads load from the official v0.1 files
(keys ``lin{k}.model.1.weight``, shape [1, C_k, 1, 1]). Nothing is ever downloaded.

For inputs ``x, y`` in [-1, 1], ``[B, 3, H, W]``:
``s = (x - shift) / scale`` (shift [-.030, -.088, -.188], scale [.458, .448, .450]),
``f_k`` = trunk activations at 5 taps (alex: relu1..relu5; vgg: relu1_2, relu2_2, relu3_3, relu4_3, relu5_3),
``u_k = f_k / (||f_k||_channels + 1e-10)``,
``LPIPS = sum_k mean_{h,w} sum_c w_{k,c} (u_k(x) - u_k(y))^2``.

Where the files are looked up:
- trunk: the ``backbone_path`` argument (file or folder), ``$NF_LPIPS_BACKBONE_DIR/<file>``,
  ``torch.hub.get_dir()/checkpoints/<file>`` (torchvision's own download cache);
- heads: the ``heads_path`` argument, ``$NF_LPIPS_HEADS_DIR`` (``<net>.pth`` or ``weights/v0.1/<net>.pth``
  inside it), the installed ``lpips`` package's ``weights/v0.1/<net>.pth`` (found without importing it),
  then ``../shared/data/lpips-linear-weights/weights/v0.1/<net>.pth`` relative to the repository.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from common.metrics.errors import MetricUnavailable
from common.metrics.inputs import image_pair

VERSION = "0.1"
NETS = ("alex", "vgg")
BACKBONE_FILES = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth"}
BACKBONE_URLS = {net: f"https://download.pytorch.org/models/{name}" for net, name in BACKBONE_FILES.items()}
CHANNELS = {"alex": (64, 192, 384, 256, 256), "vgg": (64, 128, 256, 512, 512)}
# Indices in ``features`` whose outputs are tapped (each one a ReLU).
TAPS = {"alex": (1, 4, 7, 9, 11), "vgg": (3, 8, 15, 22, 29)}
# Smallest image side for which every tap has at least one pixel.
MIN_SIZE = {"alex": 31, "vgg": 16}
BACKBONE_ENV = "NF_LPIPS_BACKBONE_DIR"
HEADS_ENV = "NF_LPIPS_HEADS_DIR"
SHARED_HEADS_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "lpips-linear-weights"
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


class Trunk(nn.Module):
    """ImageNet trunk with torchvision's ``features.N`` keys; ``forward`` returns the 5 tapped activations."""

    def __init__(self, net: str):
        super().__init__()
        _check_net(net)
        self.features = alexnet_features() if net == "alex" else vgg16_features()
        self.taps = TAPS[net]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[B, 3, H, W] -> 5 tensors [B, C_k, H_k, W_k]."""
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

    State-dict keys: ``trunk.features.N.{weight,bias}`` and ``lin{k}.model.1.weight``.
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


def find_backbone(net: str = "alex", backbone_path: str | Path | None = None) -> Path:
    """Path of the torchvision ImageNet checkpoint for ``net``; MetricUnavailable naming where to put it."""
    _check_net(net)
    name = BACKBONE_FILES[net]
    if backbone_path is not None:
        candidates = [Path(backbone_path) / name if Path(backbone_path).is_dir() else Path(backbone_path)]
    else:
        candidates = [Path(torch.hub.get_dir()) / "checkpoints" / name]
        if os.environ.get(BACKBONE_ENV):
            candidates.insert(0, Path(os.environ[BACKBONE_ENV]) / name)
    for path in candidates:
        if path.is_file():
            return path
    searched = ", ".join(str(p) for p in candidates)
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


def find_heads(net: str = "alex", heads_path: str | Path | None = None) -> Path:
    """Path of the official v0.1 linear-head file ``<net>.pth``; MetricUnavailable when none is found."""
    _check_net(net)
    rel = Path("weights") / f"v{VERSION}" / f"{net}.pth"
    if heads_path is not None:
        candidates = [Path(heads_path)]
    else:
        candidates = []
        if os.environ.get(HEADS_ENV):
            env_dir = Path(os.environ[HEADS_ENV])
            candidates += [env_dir / f"{net}.pth", env_dir / rel]
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


def _read_state(path: Path, expected: dict[str, torch.Size], what: str) -> dict[str, torch.Tensor]:
    """Load ``path`` and keep the ``expected`` keys, checking that each is present with its shape."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises many types for foreign or corrupt files
        raise MetricUnavailable(f"{path}: unreadable ({type(exc).__name__}); expected {what}") from exc
    if not isinstance(state, dict):
        raise MetricUnavailable(f"{path}: holds a {type(state).__name__}; expected {what} (a state dict)")
    for key, shape in expected.items():
        if key not in state:
            raise MetricUnavailable(f"{path}: key {key} missing; expected {what}")
        if state[key].shape != shape:
            raise MetricUnavailable(
                f"{path}: {key} has shape {list(state[key].shape)}; expected {list(shape)} ({what})"
            )
    return {key: state[key] for key in expected}


def build_lpips(net: str, backbone_file: str | Path, heads_file: str | Path) -> LPIPSNet:
    """LPIPSNet with its trunk from a torchvision checkpoint and heads from an official v0.1 file (CPU, eval)."""
    model = LPIPSNet(net)
    trunk_keys = {k: v.shape for k, v in model.trunk.state_dict().items()}
    head_keys = {k: v.shape for k, v in model.state_dict().items() if k.startswith("lin")}
    trunk = _read_state(Path(backbone_file), trunk_keys, f"torchvision {BACKBONE_FILES[net]} with features.N keys")
    heads = _read_state(Path(heads_file), head_keys, f"LPIPS v{VERSION} {net} heads with lin{{k}}.model.1.weight keys")
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
    backbone_file = find_backbone(net, backbone_path).resolve()
    heads_file = find_heads(net, heads_path).resolve()
    return _cached(net, str(torch.device(device or "cpu")), backbone_file, heads_file)


def lpips_conventions(
    net: str = "alex", backbone_path: str | Path | None = None, heads_path: str | Path | None = None
) -> dict:
    """``{"version", "net", "backbone_file", "heads_file"}`` for reports; MetricUnavailable when a file is missing."""
    return {
        "version": VERSION,
        "net": net,
        "backbone_file": str(find_backbone(net, backbone_path).resolve()),
        "heads_file": str(find_heads(net, heads_path).resolve()),
    }


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
    ``load_lpips(...)`` directly for a differentiable loss. Raises MetricUnavailable when weights are missing.
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
