"""Epipolar Feature Transformer (EFT): GPNR-style colour and feature prediction for query rays.

For a query ray r (origin o, unit direction d) and context views C = {(I_v, K_v, c2w_v)}:

1. Image encoder: a ResNet18-like trunk from timm (``features_only``: conv1 act, layer1, layer2, layer3 =
   64 + 64 + 128 + 256 channels), every map bilinearly resized to the conv1 resolution (H/2) and
   concatenated with the image itself -> 515 channels per context pixel.
2. ``n_points`` (20) points x_p = o + z_p d, z_p evenly spaced in [near, far], are projected into every
   context view (pinhole projection), and the 515-d features are bilinearly sampled there (border padding).
3. Encodings (everything in the query camera's frame): Plücker (d, o x d) of the query ray and of the
   context ray through x_p (from camera centre c_v), each with a 6-frequency harmonic embedding (78-d);
   the query depth z_p with the same embedding (13-d).
4. T1: per (ray, point), a transformer over the V context views of [ref Plücker, depth, feature] -> 256.
   T2: per (ray, view), a transformer over the points of [query Plücker, ref Plücker, depth, T1]; softmax
   of a linear score over points -> weighted sum. T3: per ray, a transformer over the views of
   [query Plücker, ref Plücker at the middle depth, T2]; softmax over views -> weighted sum f [R, 256].
5. Heads: colour sigmoid(Linear(f)) [R, 3] and feature Linear(f) [R, feature_dim] (256 in the paper); the
   feature map rendered at latent resolution conditions the VLDM.

Each transformer stage is ``layers`` (4) encoder layers of width ``hidden`` (256), one head, feed-forward
``hidden``, dropout 0.1, GELU input projection.

T1's feature projection (a 1x1 convolution of the 515-channel maps) is applied to each trunk map at its own
resolution before the bilinear resize to H/2 (``project_maps``): the same function (both are linear), less work.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common.compat import import_timm
from sparsefusion.geometry import embedding_dim, grid_rays, harmonic_embedding, plucker, project, relative_to

ENCODER_WEIGHTS_ENV = "SF_RESNET18_WEIGHTS"


def imagenet_trunk(name: str, env: str, path: str | None = None) -> tuple[nn.Module, str]:
    """(timm ``name`` trunk with ``features_only`` maps 0..3, label naming its weights).

    Weights: the ImageNet state dict at ``path``, else at ``$env``, else random initialisation ("trained from
    scratch"); nothing is downloaded. A missing file or a state dict of another architecture is an error naming it.
    """
    trunk = import_timm().create_model(name, pretrained=False, features_only=True, out_indices=(0, 1, 2, 3))
    source = path or os.environ.get(env)
    if not source:
        return trunk, f"{name} trained from scratch (no ImageNet weights file; set ${env})"
    where = f"{source}" if path else f"{source} (${env})"
    if not Path(source).is_file():
        raise FileNotFoundError(f"{where}: ImageNet {name} weights not found; expected a state dict file")
    missing, _ = trunk.load_state_dict(torch.load(source, map_location="cpu", weights_only=True), strict=False)
    if missing:
        raise ValueError(f"{where}: not a {name} state dict (missing {missing[:3]})")
    origin = Path(source).name if path else f"${env} ({Path(source).name})"
    return trunk, f"{name} ImageNet weights from {origin}"


class ImageEncoder(nn.Module):
    """timm trunk (``features_only``) -> [B, C_sum + 3, H/2, W/2]; ``weights_label`` names where the weights came from.

    Weights (`imagenet_trunk`): the file ``weights``, else ``$SF_RESNET18_WEIGHTS`` (a timm/torchvision resnet18
    state dict, ImageNet), else random initialisation ("trained from scratch"). Inputs in [0, 1] are normalised
    with the ImageNet mean / std.
    """

    def __init__(self, name: str = "resnet18", weights: str | None = None):
        super().__init__()
        self.trunk, self.weights_label = imagenet_trunk(name, ENCODER_WEIGHTS_ENV, weights)
        self.out_channels = sum(self.trunk.feature_info.channels()) + 3
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)

    def maps(self, images: Tensor) -> list[Tensor]:
        """images [B, 3, H, W] in [0, 1] -> [conv1 [B, 64, H/2, W/2], layer1 .. layer3 (own sizes), RGB at H/2]."""
        maps = self.trunk((images - self.mean) / self.std)
        rgb = F.interpolate(images, size=maps[0].shape[-2:], mode="bilinear", align_corners=False)
        return [*maps, rgb]

    def forward(self, images: Tensor) -> Tensor:
        """images [B, 3, H, W] in [0, 1] -> [B, out_channels, H/2, W/2] (every map bilinearly resized to H/2)."""
        maps = self.maps(images)
        size = maps[0].shape[-2:]
        return torch.cat([resize(m, size) for m in maps], dim=1)


def resize(x: Tensor, size) -> Tensor:
    """Bilinear resize [B, C, h, w] -> [B, C, *size] (align_corners False); the identity at the same size."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def project_maps(maps: list[Tensor], weight: Tensor) -> Tensor:
    """1x1 convolution of the channel concatenation of ``maps`` resized to the first map's size, computed per map.

    maps [B, C_i, h_i, w_i]; weight [O, sum C_i, 1, 1] -> [B, O, h_0, w_0]. A 1x1 convolution and a bilinear resize
    commute (both linear, one over channels, one over pixels), so each map is projected at its own resolution and
    then resized: conv(cat(resize(m_i))) with far less work on the low-resolution, wide maps.
    """
    size = maps[0].shape[-2:]
    parts = weight.split([m.shape[1] for m in maps], dim=1)
    return sum(resize(F.conv2d(m, w), size) for m, w in zip(maps, parts))


def transformer(hidden: int, layers: int, dropout: float) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(hidden, 1, hidden, dropout=dropout, batch_first=True)
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


def sample_points(origins: Tensor, directions: Tensor, near: Tensor, far: Tensor, n: int) -> tuple[Tensor, Tensor]:
    """Points along rays: origins / directions [B, R, 3], near / far [B] -> (points [B, R, n, 3], z [B, n])."""
    steps = torch.linspace(0, 1, n, dtype=origins.dtype, device=origins.device)
    z = near[:, None] + (far - near)[:, None] * steps
    return origins[:, :, None] + z[:, None, :, None] * directions[:, :, None], z


def gather_features(feats: Tensor, uv: Tensor, height: int, width: int) -> Tensor:
    """Bilinear samples of feature maps at pixel positions.

    feats [N, C, h, w] (maps of images of H x W pixels, any resolution); uv [N, Q, 2] pixel coordinates of
    the H x W image -> [N, Q, C]. Border padding outside the image (as the official grid_sample).
    """
    grid = torch.stack([2 * uv[..., 0] / width - 1, 2 * uv[..., 1] / height - 1], dim=-1)
    out = F.grid_sample(feats, grid[:, :, None], mode="bilinear", padding_mode="border", align_corners=False)
    return out[..., 0].transpose(1, 2)


class EFT(nn.Module):
    """forward(origins, directions, near, far, images, K, c2w) -> {"rgb" [B, R, 3], "features" [B, R, F]}.

    origins / directions [B, R, 3] (unit directions) in the query camera frame; near / far [B]; context
    images [B, V, 3, H, W] in [0, 1], K [B, V, 3, 3], c2w [B, V, 4, 4] in the same frame.
    """

    def __init__(
        self,
        hidden: int = 256,
        layers: int = 4,
        n_points: int = 20,
        feature_dim: int = 256,
        n_freqs: int = 6,
        dropout: float = 0.1,
        encoder: str = "resnet18",
        encoder_weights: str | None = None,
    ):
        super().__init__()
        self.n_points, self.n_freqs, self.feature_dim = n_points, n_freqs, feature_dim
        self.encoder = ImageEncoder(encoder, encoder_weights)
        ray_dim, depth_dim = embedding_dim(6, n_freqs), embedding_dim(1, n_freqs)
        # T1's input projection, split by input: W [ref, depth, feature] = W_r ref + W_d depth + W_f feature; the
        # feature part is a 1x1 convolution applied to the maps before the (linear) bilinear sampling
        # T2 / T3 input projections are split the same way (query part per ray, shared [ref, depth] part);
        # in_rays holds the [ref, depth] parts of T1 and T2 side by side
        self.hidden = hidden
        self.in1_features = nn.Conv2d(self.encoder.out_channels, hidden, 1, bias=False)
        self.in_rays = nn.Linear(ray_dim + depth_dim, 2 * hidden)
        self.t1 = transformer(hidden, layers, dropout)
        self.in2_query = nn.Linear(ray_dim, hidden, bias=False)
        self.in2_t1 = nn.Linear(hidden, hidden, bias=False)
        self.t2 = transformer(hidden, layers, dropout)
        self.score2 = nn.Linear(hidden, 1)
        self.in3 = nn.Sequential(nn.Linear(2 * ray_dim + hidden, hidden), nn.GELU())
        self.t3 = transformer(hidden, layers, dropout)
        self.score3 = nn.Linear(hidden, 1)
        self.rgb_head = nn.Linear(hidden, 3)
        self.feature_head = nn.Linear(hidden, feature_dim)

    def encode(self, images: Tensor) -> Tensor:
        """images [B, V, 3, H, W] -> projected feature maps W_f F(I) [B, V, hidden, H/2, W/2] (once per context)."""
        b, v = images.shape[:2]
        return project_maps(self.encoder.maps(images.flatten(0, 1)), self.in1_features.weight).unflatten(0, (b, v))

    def epipolar_samples(self, origins, directions, near, far, K, c2w):
        """Query-ray points and their projections into the context views.

        Returns points [B, R, P, 3], z [B, P], uv [B, V, R*P, 2], depth in each context camera [B, V, R*P].
        """
        pts, z = sample_points(origins, directions, near, far, self.n_points)
        b, r, p, _ = pts.shape
        flat = pts.reshape(b, 1, r * p, 3).expand(b, K.shape[1], r * p, 3)
        uv, zc = project(flat, K, c2w)
        return pts, z, uv, zc

    def forward(self, origins, directions, near, far, images, K, c2w, feats: Tensor | None = None) -> dict:
        b, r, _ = origins.shape
        v, h, w = images.shape[1], images.shape[-2], images.shape[-1]
        p = self.n_points
        feats = self.encode(images) if feats is None else feats
        pts, z, uv, _ = self.epipolar_samples(origins, directions, near, far, K, c2w)
        f = gather_features(feats.flatten(0, 1), uv.flatten(0, 1), h, w)  # [B V, R P, hidden]
        f = f.reshape(b, v, r, p, -1).permute(0, 2, 3, 1, 4)  # [B, R, P, V, C]
        centres = c2w[:, :, :3, 3]  # [B, V, 3]
        ref_dirs = pts[:, :, :, None] - centres[:, None, None]  # [B, R, P, V, 3]
        ref = harmonic_embedding(plucker(centres[:, None, None].expand_as(ref_dirs), ref_dirs), self.n_freqs)
        depth = harmonic_embedding(z[:, None, :, None, None].expand(b, r, p, v, 1), self.n_freqs)
        query = harmonic_embedding(plucker(origins, directions), self.n_freqs)  # [B, R, 78]
        ray1, ray2 = self.in_rays(torch.cat([ref, depth], -1)).split(self.hidden, dim=-1)
        x1 = self.t1(F.gelu(ray1 + f).reshape(b * r * p, v, -1)).reshape(b, r, p, v, -1)
        x2 = F.gelu(ray2 + self.in2_t1(x1) + self.in2_query(query)[:, :, None, None])
        x2 = self.t2(x2.permute(0, 1, 3, 2, 4).reshape(b * r * v, p, -1))
        x2 = (torch.softmax(self.score2(x2), dim=1) * x2).sum(1).reshape(b, r, v, -1)
        mid = ref[:, :, p // 2]  # [B, R, V, 78]
        q = query[:, :, None].expand(b, r, v, query.shape[-1])
        x3 = self.t3(self.in3(torch.cat([q, mid, x2], -1)).reshape(b * r, v, -1))
        f3 = (torch.softmax(self.score3(x3), dim=1) * x3).sum(1).reshape(b, r, -1)
        return {"rgb": torch.sigmoid(self.rgb_head(f3)), "features": self.feature_head(f3)}

    def render_grid(self, query_c2w, query_K, size, res, near, far, images, K, c2w, chunk: int = 4096) -> dict:
        """Render a res x res grid for query cameras, in their own frame.

        query_c2w [B, 4, 4], query_K [B, 3, 3] of an image of ``size`` (H, W); context cameras in world frame.
        Returns {"rgb": [B, 3, res, res], "features": [B, F, res, res]}.
        """
        b = query_c2w.shape[0]
        eye = torch.eye(4, dtype=query_c2w.dtype, device=query_c2w.device).expand(b, 4, 4)
        o, d = grid_rays(query_K, eye, size[0], size[1], res)
        rel = relative_to(c2w, query_c2w)
        feats = self.encode(images)
        o, d = o.reshape(b, -1, 3), d.reshape(b, -1, 3)
        outs = [
            self(o[:, i : i + chunk], d[:, i : i + chunk], near, far, images, K, rel, feats)
            for i in range(0, o.shape[1], chunk)
        ]
        rgb = torch.cat([x["rgb"] for x in outs], 1)
        feat = torch.cat([x["features"] for x in outs], 1)
        return {
            "rgb": rgb.transpose(1, 2).reshape(b, 3, res, res),
            "features": feat.transpose(1, 2).reshape(b, -1, res, res),
        }
