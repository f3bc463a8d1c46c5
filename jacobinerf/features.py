"""Per-pixel feature sources for MI-shaping (the surrogate of mutual information). Never labels.

Every source maps images [N, H, W, 3] float in [0, 1] to L2-normalised features [N, H, W, D] and has a ``name``
written into every result it affects.

* ``dino`` -- DINO ViT-S/8 through timm (``vit_small_patch8_224``), as the official extractor
  (ShirAmir/dino-vit-features ``extractor.py --model dino_vits8``): the patch-embedding stride set to 4, the
  *key* facet of the last block (layer 11) read from its qkv projection, CLS token removed -> 384-d (6 heads x 64)
  on the (load_size / 4)-grid, resized bilinearly to the image size. Weights come only from a local file:
  ``$JACOBINERF_DINO_WEIGHTS`` (the official ``dino_deitsmall8_pretrain.pth`` or a timm state dict), else the timm /
  Hugging Face cache (offline). Nothing is downloaded; without weights a one-line error names the file.
* ``selfsup`` -- the offline default: a small fully convolutional network trained on the scene's own training images
  by dense DINO-style self-distillation (``train_selfsup``): two photometrically augmented, shifted crops of one
  image; the student's per-pixel prototype distribution (temperature 0.1) is trained to match the EMA teacher's
  centred, sharpened one (temperature 0.04) at the same scene pixels; teacher = EMA of the student (0.996),
  centre = EMA (0.9) of the teacher's mean output. The features are the backbone's per-pixel descriptors.
  Its inputs are images only (tests check that labels cannot change them).

``pca_reduce`` reduces features to ``dim`` channels with a PCA fitted on all pixels (the official optional PCA).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common.compat import import_timm

DINO_ENV = "JACOBINERF_DINO_WEIGHTS"
DINO_ARCH = "vit_small_patch8_224"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SELFSUP_VERSION = "dense-cnn-w24-crop24-batch8"  # part of the cache key of fitted encoders


# ------------------------------------------------------------------------------------------------ DINO
def dino_vits8(weights: str | Path | None = None, random_init: bool = False) -> nn.Module:
    """timm ViT-S/8 with DINO weights from a local file (module doc); ``random_init`` for tests only."""
    timm = import_timm()
    model = timm.create_model(DINO_ARCH, pretrained=False, num_classes=0, dynamic_img_size=True)
    if random_init:
        return model.eval()
    path = weights or os.environ.get(DINO_ENV)
    if path:
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = state.get("state_dict", state.get("teacher", state)) if isinstance(state, dict) else state
        state = {k.removeprefix("module.").removeprefix("backbone."): v for k, v in state.items()}
        from timm.models.vision_transformer import checkpoint_filter_fn

        state = checkpoint_filter_fn(state, model)
        missing, _ = model.load_state_dict(state, strict=False)
        if [k for k in missing if not k.startswith("head")]:
            raise RuntimeError(f"{path}: not a DINO ViT-S/8 state dict (missing {missing[:3]} ...)")
        return model.eval()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        return timm.create_model(f"{DINO_ARCH}.dino", pretrained=True, num_classes=0, dynamic_img_size=True).eval()
    except Exception as exc:  # noqa: BLE001 - any failure means: no local weights
        raise FileNotFoundError(
            f"DINO ViT-S/8 weights not found: put dino_deitsmall8_pretrain.pth somewhere and set {DINO_ENV}=<path> "
            f"(or use features.source=selfsup) [{type(exc).__name__}]"
        ) from None


@torch.no_grad()
def dino_key_features(
    model: nn.Module, images: Tensor, load_size: int = 360, stride: int = 4, layer: int = 11, batch: int = 1
) -> Tensor:
    """Key-facet features [N, H, W, 384] (L2-normalised) of images [N, H, W, 3] in [0, 1] (module doc).

    The shorter image side is resized to ``load_size`` (official 360; sides rounded to multiples of 8, as 360 x 480 of
    the official 640 x 480 input), the patch stride set to ``stride``.
    """
    n, H, W, _ = images.shape
    scale = load_size / min(H, W)
    size = (max(8, round(H * scale / 8) * 8), max(8, round(W * scale / 8) * 8))  # timm needs multiples of 8
    model.patch_embed.proj.stride = (stride, stride)
    keys: list[Tensor] = []
    block = model.blocks[layer]
    hook = block.attn.qkv.register_forward_hook(lambda m, i, o: keys.append(o))
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    outs = []
    try:
        for b0 in range(0, n, batch):
            x = images[b0 : b0 + batch].permute(0, 3, 1, 2).float()
            x = (F.interpolate(x, size=size, mode="bilinear", align_corners=False) - mean) / std
            keys.clear()
            model.forward_features(x)
            qkv = keys[-1]  # [B, 1 + h w, 3 dim]
            dim = qkv.shape[-1] // 3
            gh = (size[0] - 8) // stride + 1
            gw = (size[1] - 8) // stride + 1
            k = qkv[:, -gh * gw :, dim : 2 * dim].reshape(-1, gh, gw, dim).permute(0, 3, 1, 2)
            k = F.interpolate(k, size=(H, W), mode="bilinear", align_corners=False)
            outs.append(F.normalize(k.permute(0, 2, 3, 1), dim=-1))
    finally:
        hook.remove()
        model.patch_embed.proj.stride = (8, 8)
    return torch.cat(outs)


# ------------------------------------------------------------------------------- self-supervised CNN
class DenseEncoder(nn.Module):
    """Fully convolutional per-pixel descriptor network: 3x3 convs with dilations 1, 2, 4, 8, 1 (convolutional receptive
    field 33 px; GroupNorm adds per-image statistics) and GELU; forward(x [B, 3, H, W]) -> [B, D, H, W]."""

    def __init__(self, width: int = 24, dim: int = 32):
        super().__init__()
        layers, c = [], 3
        for d in (1, 2, 4, 8, 1):
            layers += [nn.Conv2d(c, width, 3, padding=d, dilation=d), nn.GroupNorm(8, width), nn.GELU()]
            c = width
        layers.append(nn.Conv2d(width, dim, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def _augment(x: Tensor, gen: torch.Generator) -> Tensor:
    """Photometric augmentation of crops [B, 3, h, w]: per-crop brightness, contrast, saturation jitter and noise."""
    b = x.shape[0]

    def u(lo, hi):
        return lo + (hi - lo) * torch.rand(b, 1, 1, 1, generator=gen)

    grey = x.mean(1, keepdim=True)
    x = grey + (x - grey) * u(0.6, 1.4)
    mean = x.mean((1, 2, 3), keepdim=True)
    x = mean + (x - mean) * u(0.7, 1.3) + u(-0.15, 0.15)
    return (x + 0.02 * torch.randn(x.shape, generator=gen)).clamp(0, 1)


def train_selfsup(
    images: Tensor,
    iters: int = 400,
    crop: int = 24,
    batch: int = 8,
    dim: int = 32,
    prototypes: int = 64,
    seed: int = 0,
    lr: float = 2e-3,
) -> DenseEncoder:
    """Train a ``DenseEncoder`` on images [N, H, W, 3] by dense self-distillation (module doc); deterministic given
    ``seed``. Crops of ``crop`` px with a random relative shift of up to crop / 4 between the two views."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    student = DenseEncoder(dim=dim)
    head_s = nn.Conv2d(dim, prototypes, 1)
    teacher, head_t = DenseEncoder(dim=dim), nn.Conv2d(dim, prototypes, 1)
    teacher.load_state_dict(student.state_dict())
    head_t.load_state_dict(head_s.state_dict())
    for p in (*teacher.parameters(), *head_t.parameters()):
        p.requires_grad_(False)
    opt = torch.optim.Adam([*student.parameters(), *head_s.parameters()], lr=lr)
    center = torch.zeros(1, prototypes, 1, 1)
    x_all = images.permute(0, 3, 1, 2).float()
    n, _, H, W = x_all.shape
    crop = min(crop, 4 * min(H, W) // 5)
    shift = max(1, crop // 4)
    big = crop + shift
    for _ in range(iters):
        idx = torch.randint(0, n, (batch,), generator=gen)
        ys = torch.randint(0, H - big + 1, (batch,), generator=gen)
        xs = torch.randint(0, W - big + 1, (batch,), generator=gen)
        dy, dx = (int(v) for v in torch.randint(0, shift + 1, (2,), generator=gen))
        win = torch.stack([x_all[i, :, y : y + big, x : x + big] for i, y, x in zip(idx, ys, xs, strict=True)])
        a = _augment(win[:, :, :crop, :crop], gen)
        b = _augment(win[:, :, dy : dy + crop, dx : dx + crop], gen)
        # scene pixel (y, x) of the window is a[y, x] and b[y - dy, x - dx]: compare on the overlap
        sa, sb = head_s(F.normalize(student(a), dim=1)), head_s(F.normalize(student(b), dim=1))
        with torch.no_grad():
            ta, tb = head_t(F.normalize(teacher(a), dim=1)), head_t(F.normalize(teacher(b), dim=1))
        ov_a = (slice(None), slice(None), slice(dy, crop), slice(dx, crop))
        ov_b = (slice(None), slice(None), slice(0, crop - dy), slice(0, crop - dx))
        loss = 0.0
        for s_out, t_out in ((sa[ov_a], tb[ov_b]), (sb[ov_b], ta[ov_a])):
            target = F.softmax((t_out - center) / 0.04, dim=1)
            loss = loss + -(target * F.log_softmax(s_out / 0.1, dim=1)).sum(1).mean() / 2
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            for pt, ps in zip(
                (*teacher.parameters(), *head_t.parameters()),
                (*student.parameters(), *head_s.parameters()),
                strict=True,
            ):
                pt.mul_(0.996).add_(ps.detach(), alpha=0.004)
            center.mul_(0.9).add_(torch.cat([ta, tb]).mean((0, 2, 3), keepdim=True), alpha=0.1)
    return teacher.eval()


@torch.no_grad()
def encoder_features(encoder: DenseEncoder, images: Tensor, batch: int = 8) -> Tensor:
    """L2-normalised descriptors [N, H, W, D] of images [N, H, W, 3]."""
    outs = []
    for b0 in range(0, images.shape[0], batch):
        x = images[b0 : b0 + batch].permute(0, 3, 1, 2).float()
        outs.append(F.normalize(encoder(x), dim=1).permute(0, 2, 3, 1))
    return torch.cat(outs)


def pca_reduce(features: Tensor, dim: int, fit_on: Tensor | None = None) -> Tensor:
    """Project features [..., D] onto the top ``dim`` principal components (of ``fit_on`` [M, D], default all
    pixels), then L2-normalise. D <= dim: returned unchanged."""
    D = features.shape[-1]
    if D <= dim:
        return features
    x = (fit_on if fit_on is not None else features.reshape(-1, D)).double()
    mean = x.mean(0)
    _, _, v = torch.linalg.svd(x - mean, full_matrices=False)
    out = (features.double() - mean) @ v[:dim].T
    return F.normalize(out.float(), dim=-1)


# ------------------------------------------------------------------------------------------- sources
class FeatureSource:
    """fit(train_images) then __call__(images) -> features [N, H, W, D]; ``name`` for the results."""

    name = "none"

    def fit(self, images: Tensor) -> FeatureSource:
        return self

    def __call__(self, images: Tensor) -> Tensor:
        raise NotImplementedError


class SelfSupSource(FeatureSource):
    """The offline default: ``train_selfsup`` on the training images (module doc)."""

    def __init__(self, iters: int = 400, dim: int = 32, seed: int = 0):
        self.iters, self.dim, self.seed = int(iters), int(dim), int(seed)
        self.encoder: DenseEncoder | None = None
        self.name = f"selfsup-cnn (dense self-distillation on the scene's training images, {self.iters} it)"

    def fit(self, images: Tensor) -> SelfSupSource:
        self.encoder = train_selfsup(images, iters=self.iters, dim=self.dim, seed=self.seed)
        return self

    def __call__(self, images: Tensor) -> Tensor:
        if self.encoder is None:
            raise RuntimeError("SelfSupSource: call fit(train_images) first")
        return encoder_features(self.encoder, images)


class DinoSource(FeatureSource):
    """DINO ViT-S/8 key features (module doc), PCA-reduced to ``dim`` channels fitted on the training images."""

    def __init__(self, dim: int = 64, load_size: int = 360, weights: str | None = None, random_init: bool = False):
        self.dim, self.load_size = int(dim), int(load_size)
        self.model = dino_vits8(weights, random_init=random_init)
        self.basis: Tensor | None = None
        self.name = "dino-vits8 (key, layer 11, stride 4" + (", RANDOM weights)" if random_init else ")")

    def _raw(self, images: Tensor) -> Tensor:
        return dino_key_features(self.model, images, load_size=self.load_size)

    def fit(self, images: Tensor) -> DinoSource:
        raw = self._raw(images).reshape(-1, 384)
        gen = torch.Generator().manual_seed(0)
        self.basis = raw[torch.randperm(raw.shape[0], generator=gen)[:20000]]
        return self

    def __call__(self, images: Tensor) -> Tensor:
        return pca_reduce(self._raw(images), self.dim, fit_on=self.basis)


def make_source(cfg: dict, seed: int = 0) -> FeatureSource:
    """The source named by the ``features:`` config: source selfsup | dino."""
    name = cfg["source"]
    if name == "selfsup":
        return SelfSupSource(iters=cfg["selfsup_iters"], dim=cfg["dim"], seed=seed)
    if name == "dino":
        return DinoSource(dim=cfg["dim"], load_size=cfg["dino_load_size"], weights=cfg.get("dino_weights"))
    raise ValueError(f"features.source: unknown source {name!r}; expected selfsup or dino")
