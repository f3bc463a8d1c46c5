"""PixelNeRF (Yu et al., CVPR 2021), the category-specific baseline of SparseFusion's Tables 2-4 and Figure 8.

Design of the official code (sxyu/pixel-nerf, ``conf/resnet_fine_mv.conf``), in this package's conventions (OpenCV
cameras, pixel centres at u + 0.5, masked crops with a black background):

1. Encoder (``SpatialEncoder``, num_layers 4): timm ResNet (``features_only``) maps of the stem (conv1 -> bn -> relu,
   H/2) and layer1..layer3, each bilinearly resized to the stem's H/2 x W/2 and concatenated: ResNet34 / ResNet18
   give 64 + 64 + 128 + 256 = 512 channels per context pixel.
2. Per query point x and context view v (c2w_v = [R_v | t_v], K_v): the projection uv_v = (K_v R_v^T (x - t_v))_xy / z
   indexes the feature map bilinearly (border padding); the MLP input is gamma(R_v^T x) ++ R_v^T d: the point in the
   view's axes about the object centre (the world origin; official ``normalize_z``) with the positional encoding
   gamma(p) = [sin(w_k p), cos(w_k p), p], w_k = 1.5 2^k, k < 6 (official ``code``: 6 frequencies, freq_factor 1.5,
   include_input), and the unit ray direction in the view's axes, not encoded (official ``use_code_viewdirs false``)
   -> 39 + 3 = 42 inputs.
3. ``ResnetFC``: h = W_in x; for the first ``combine_layer`` (3) of ``n_blocks`` (5) residual blocks
   h <- block_k(h + W_z,k f_v) per view, then h <- mean over views (permutation invariant), then the remaining
   blocks; out = W_out relu(h) -> rgb = sigmoid(out_0:3), sigma = relu(out_3). Width ``d_hidden`` (512).
4. Rendering (official ``NeRFRenderer``, black background): ``n_coarse`` (64) stratified samples in [near, far]
   (camera distance to the object centre -/+ ``depth_radius``) through the coarse network; the fine network sees the
   coarse samples + ``n_importance`` (16) inverse-CDF samples of the coarse weights + ``n_depth`` (16) samples
   N(D_c, depth_std^2) clamped to [near, far] around the coarse depth D_c = sum_i w_i t_i (official n_fine 32 =
   16 + 16). Sample positions carry no gradient. alpha_i = 1 - exp(-sigma_i delta_i), delta_last = far - t_last.
5. Training: per step 1..3 context views (one count for the whole batch) of ``objects`` (4) random sequences and
   ``rays`` (128) random pixels of each sequence's frames (any frame, as the official sampler);
   loss = MSE(coarse) + MSE(fine); Adam lr 1e-4, betas (0.9, 0.999). 300k steps per category (SparseFusion paper).

Differences to the official code: ImageNet mean / std input normalisation (official: [-1, 1]); feature maps resized
and indexed with ``align_corners=False`` (cell centres on the pixel centres they cover; official ``True`` with its
own index scaling); the depth samples carry no gradient (official: they keep the coarse depth's); the feature
projections W_z,k are applied to the maps before the bilinear sampling, which is the same function (bilinear weights
sum to 1) at a fraction of the cost. Rendering draws its random samples (stratified jitter, importance and depth
samples; random at test time too, as the official renderer) from a given generator: per step in training, per scene
in evaluation, so both are reproducible.

Encoder weights: the ImageNet state dict named by ``$SF_<ENCODER>_WEIGHTS`` (``SF_RESNET34_WEIGHTS`` for the paper
profile, ``SF_RESNET18_WEIGHTS`` for resnet18), else random initialisation ("trained from scratch"); nothing is
downloaded. ``SpatialEncoder.weights_label`` names the source; it is kept in the checkpoints.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common.cameras import rays_from_pixels
from common.engine.checkpoint import latest_checkpoint
from common.engine.run_dir import RunDir
from common.engine.trainer import Trainer, seed_everything
from common.render import (
    composite,
    expected_depth,
    intervals_from_t,
    pdf_samples,
    points_from_t,
    stratified_samples,
    weights_from_density,
)
from sparsefusion.data import frame_tensor, load_category
from sparsefusion.eft import gather_features, imagenet_trunk
from sparsefusion.geometry import embedding_dim, grid_rays, harmonic_embedding, project

METHOD = "pixelnerf"


def weights_env(name: str) -> str:
    """Environment variable naming the ImageNet state dict of timm model ``name``: resnet34 -> SF_RESNET34_WEIGHTS."""
    return f"SF_{name.upper()}_WEIGHTS"


class SpatialEncoder(nn.Module):
    """images [B, 3, H, W] in [0, 1] -> feature maps [B, out_channels, H/2, W/2] (see the module doc, 1.)."""

    def __init__(self, name: str = "resnet34"):
        super().__init__()
        self.trunk, self.weights_label = imagenet_trunk(name, weights_env(name))
        self.out_channels = sum(self.trunk.feature_info.channels())
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: Tensor) -> Tensor:
        maps = self.trunk((images - self.mean) / self.std)
        size = maps[0].shape[-2:]
        return torch.cat([F.interpolate(m, size=size, mode="bilinear", align_corners=False) for m in maps], dim=1)


def sample_view_features(maps: Tensor, points: Tensor, K: Tensor, c2w: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear samples of every view's map where the points project.

    maps [B V, C, h, w] (maps of H x W images, ``size`` = (H, W)); points [B, N, 3] (world); K [B, V, 3, 3];
    c2w [B, V, 4, 4] -> [B, V, N, C]. uv_v = (K_v R_v^T (x - t_v))_xy / z; border padding outside the image.
    """
    b, v = K.shape[:2]
    uv, _ = project(points[:, None], K, c2w)  # [B, V, N, 2]
    return gather_features(maps, uv.flatten(0, 1), size[0], size[1]).unflatten(0, (b, v))


def view_inputs(points: Tensor, directions: Tensor, c2w: Tensor, n_freqs: int, freq_factor: float) -> Tensor:
    """MLP inputs gamma(R_v^T x) ++ R_v^T d: points / directions [B, N, 3], c2w [B, V, 4, 4] -> [B, V, N, 42]
    (6 frequencies). The point keeps the world origin (object centre) as its origin (official ``normalize_z``)."""
    R = c2w[..., :3, :3]
    xyz = torch.einsum("bvji,bnj->bvni", R, points)
    dirs = torch.einsum("bvji,bnj->bvni", R, directions)
    return torch.cat([harmonic_embedding(xyz, n_freqs, omega0=freq_factor), dirs], dim=-1)


def input_dim(n_freqs: int) -> int:
    return embedding_dim(3, n_freqs) + 3


def kaiming_linear(d_in: int, d_out: int, zero: bool = False) -> nn.Linear:
    """Linear layer with the official initialisation: zero bias, weights N(0, 2 / d_in) (or zeros)."""
    layer = nn.Linear(d_in, d_out)
    nn.init.zeros_(layer.bias)
    if zero:
        nn.init.zeros_(layer.weight)
    else:
        nn.init.kaiming_normal_(layer.weight, a=0, mode="fan_in")
    return layer


class ResnetBlockFC(nn.Module):
    """x + W_1 relu(W_0 relu(x)), W_1 initialised to zero (each block starts as the identity)."""

    def __init__(self, width: int):
        super().__init__()
        self.fc_0 = kaiming_linear(width, width)
        self.fc_1 = kaiming_linear(width, width, zero=True)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.fc_1(F.relu(self.fc_0(F.relu(x))))


class ResnetFC(nn.Module):
    """PixelNeRF's MLP with view pooling (module doc, 3.).

    ``lin_z`` holds the ``combine_layer`` feature projections W_z,k stacked: Linear(d_latent, combine_layer d_hidden).
    forward(x [..., V, N, d_in], z [..., V, N, combine_layer d_hidden] = lin_z(f)) -> [..., N, 4].
    """

    def __init__(self, d_in: int, d_latent: int, d_hidden: int = 512, n_blocks: int = 5, combine_layer: int = 3):
        super().__init__()
        if not 1 <= combine_layer <= n_blocks:
            raise ValueError(f"combine_layer must lie in [1, n_blocks={n_blocks}], got {combine_layer}")
        self.d_hidden, self.combine_layer = d_hidden, combine_layer
        self.lin_in = kaiming_linear(d_in, d_hidden)
        self.lin_z = kaiming_linear(d_latent, combine_layer * d_hidden)
        self.blocks = nn.ModuleList(ResnetBlockFC(d_hidden) for _ in range(n_blocks))
        self.lin_out = kaiming_linear(d_hidden, 4)

    def project_maps(self, maps: Tensor) -> Tensor:
        """lin_z as a 1x1 convolution on feature maps: [M, d_latent, h, w] -> [M, combine_layer d_hidden, h, w]."""
        return F.conv2d(maps, self.lin_z.weight[:, :, None, None], self.lin_z.bias)

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        h = self.lin_in(x)
        for block, zk in zip(self.blocks[: self.combine_layer], z.split(self.d_hidden, dim=-1)):
            h = block(h + zk)
        h = h.mean(dim=-3)
        for block in self.blocks[self.combine_layer :]:
            h = block(h)
        return self.lin_out(F.relu(h))


def depth_bounds(origins: Tensor, radius: float) -> tuple[Tensor, Tensor]:
    """Ray range [near, far] along unit directions: camera distance to the object centre -/+ radius, [...]."""
    d = origins.norm(dim=-1)
    return (d - radius).clamp(min=1e-2), d + radius


class PixelNeRF(nn.Module):
    """Encoder + coarse and fine ``ResnetFC`` on the ``common.engine`` Trainer protocol.

    ``cfg``: the ``pixelnerf`` config section plus "image_size" and "seed". Training: ``forward(batch, step)`` ->
    {"rgb" (fine), "rgb_coarse"} [B, R, 3], ``losses`` -> {"mse_coarse", "mse_fine"} (summed by the trainer),
    ``configure_optimizer`` -> Adam. Evaluation: ``render_views``.
    """

    def __init__(self, cfg: dict):
        super().__init__()
        self.cfg = dict(cfg)
        self.encoder = SpatialEncoder(cfg["encoder"])
        d_in, c = input_dim(cfg["n_freqs"]), self.encoder.out_channels
        args = (d_in, c, cfg["d_hidden"], cfg["n_blocks"], cfg["combine_layer"])
        self.coarse, self.fine = ResnetFC(*args), ResnetFC(*args)

    def configure_optimizer(self, betas, eps) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.cfg["train"]["lr"], betas=betas, eps=eps)

    def extra_checkpoint_state(self) -> dict:
        return {"encoder_weights": self.encoder.weights_label}

    def load_extra_checkpoint_state(self, state: dict) -> None:
        self.encoder.weights_label = state["encoder_weights"]

    def context(self, images: Tensor, K: Tensor, c2w: Tensor) -> dict:
        """Context views images [B, V, 3, H, W], K [B, V, 3, 3], c2w [B, V, 4, 4] -> the coarse / fine networks'
        projected feature maps [B V, combine_layer d_hidden, H/2, W/2] and the cameras."""
        maps = self.encoder(images.flatten(0, 1))
        size = tuple(images.shape[-2:])
        return {"coarse": self.coarse.project_maps(maps), "fine": self.fine.project_maps(maps), "K": K, "c2w": c2w,
                "size": size}  # fmt: skip

    def query(self, net: str, ctx: dict, points: Tensor, directions: Tensor) -> tuple[Tensor, Tensor]:
        """rgb [B, N, 3], sigma [B, N] of network ``net`` ("coarse" | "fine") at points / directions [B, N, 3]."""
        z = sample_view_features(ctx[net], points, ctx["K"], ctx["c2w"], ctx["size"])
        x = view_inputs(points, directions, ctx["c2w"], self.cfg["n_freqs"], self.cfg["freq_factor"])
        out = getattr(self, net)(x, z)
        return torch.sigmoid(out[..., :3]), torch.relu(out[..., 3])

    def composite_pass(self, net: str, ctx: dict, origins: Tensor, directions: Tensor, t: Tensor, far: Tensor):
        """Volume rendering of samples t [B, R, S] -> (colour [B, R, 3] on black, weights [B, R, S])."""
        b, r, s = t.shape
        pts = points_from_t(origins, directions, t).reshape(b, r * s, 3)
        dirs = directions[:, :, None].expand(b, r, s, 3).reshape(b, r * s, 3)
        rgb, sigma = self.query(net, ctx, pts, dirs)
        weights, _, _ = weights_from_density(sigma.reshape(b, r, s), intervals_from_t(t, far))
        return composite(weights, rgb.reshape(b, r, s, 3)), weights

    def render_rays(self, ctx: dict, origins: Tensor, directions: Tensor, generator: torch.Generator) -> dict:
        """Coarse-to-fine rendering (module doc, 4.) of rays origins / unit directions [B, R, 3] (world) ->
        {"rgb": fine colour [B, R, 3], "rgb_coarse": [B, R, 3]}; all sample draws come from ``generator``."""
        cfg = self.cfg
        near, far = depth_bounds(origins, cfg["depth_radius"])
        t_c = stratified_samples(near, far, cfg["n_coarse"], perturb=True, generator=generator)
        rgb_c, w_c = self.composite_pass("coarse", ctx, origins, directions, t_c, far)
        steps = torch.linspace(0, 1, cfg["n_coarse"] + 1, dtype=t_c.dtype, device=t_c.device)
        edges = near[..., None] + (far - near)[..., None] * steps
        t_imp = pdf_samples(edges, w_c, cfg["n_importance"], generator=generator)
        noise = torch.randn((*near.shape, cfg["n_depth"]), generator=generator).to(t_c)
        depth = expected_depth(w_c, t_c).detach()[..., None]
        t_depth = torch.maximum(torch.minimum(depth + cfg["depth_std"] * noise, far[..., None]), near[..., None])
        t_f = torch.sort(torch.cat([t_c, t_imp, t_depth], dim=-1), dim=-1).values
        rgb_f, _ = self.composite_pass("fine", ctx, origins, directions, t_f, far)
        return {"rgb": rgb_f, "rgb_coarse": rgb_c}

    def forward(self, batch: dict, step: int) -> dict:
        ctx = self.context(batch["images"], batch["K"], batch["c2w"])
        return self.render_rays(ctx, batch["origins"], batch["directions"], self._generator(step))

    def losses(self, outputs: dict, batch: dict, step: int) -> dict:
        return {"mse_coarse": F.mse_loss(outputs["rgb_coarse"], batch["rgb"]),
                "mse_fine": F.mse_loss(outputs["rgb"], batch["rgb"])}  # fmt: skip

    def _generator(self, step: int) -> torch.Generator:
        """Per-step generator for the sample draws: a function of (seed, step), so resume is exact."""
        return torch.Generator().manual_seed(int(self.cfg.get("seed", 0)) * 1_000_003 + step)

    @torch.no_grad()
    def render_views(self, inputs: dict, K: Tensor, c2w: Tensor, res: int, generator: torch.Generator) -> Tensor:
        """Target views (K [M, 3, 3], c2w [M, 4, 4]) from the input views (images [V, 3, S, S], K, c2w):
        rendered on a res x res ray grid, bilinearly resized to S x S, clamped -> [M, 3, S, S]."""
        size = int(self.cfg["image_size"])
        ctx = self.context(inputs["images"][None], inputs["K"][None], inputs["c2w"][None])
        o, d = grid_rays(K, c2w, size, size, res)  # [M, res, res, 3]
        o, d = o.reshape(len(K), -1, 3), d.reshape(len(K), -1, 3)
        chunk = int(self.cfg["chunk"])
        views = []
        for m in range(len(K)):
            parts = [
                self.render_rays(ctx, o[m : m + 1, i : i + chunk], d[m : m + 1, i : i + chunk], generator)["rgb"]
                for i in range(0, o.shape[1], chunk)
            ]
            views.append(torch.cat(parts, dim=1)[0].T.reshape(3, res, res))
        out = torch.stack(views)
        if res != size:
            out = F.interpolate(out, size=(size, size), mode="bilinear", align_corners=False)
        return out.clamp(0, 1)


class RaySampler:
    """sampler(step, generator) -> one PixelNeRF training batch from prepared sequences (``sparsefusion.data``).

    V ~ U{v_min .. v_max} (shared by the batch); per object (``objects`` sequences drawn with replacement) V distinct
    context frames and ``rays`` random (frame, pixel) pairs over all its frames. Returns images [B, V, 3, S, S] in
    [0, 1], K [B, V, 3, 3], c2w [B, V, 4, 4], origins / unit directions [B, R, 3] and target rgb [B, R, 3]. All
    random numbers come from ``generator`` (checkpointed by the trainer), so a resumed run draws the same.
    """

    def __init__(self, sequences: list[dict], objects: int, rays: int, v_min: int = 1, v_max: int = 3):
        self.sequences, self.objects, self.rays, self.v_min, self.v_max = sequences, objects, rays, v_min, v_max

    def __call__(self, step: int, generator: torch.Generator) -> dict:
        v = int(torch.randint(self.v_min, self.v_max + 1, (1,), generator=generator))
        picks = torch.randint(len(self.sequences), (self.objects,), generator=generator).tolist()
        parts = [self.object_rays(self.sequences[i], v, generator) for i in picks]
        return {k: torch.stack([p[k] for p in parts]) for k in parts[0]}

    def object_rays(self, seq: dict, v: int, generator: torch.Generator) -> dict:
        n, s = seq["images"].shape[:2]
        ctx = torch.randperm(n, generator=generator)[:v].numpy()
        frame = torch.randint(n, (self.rays,), generator=generator)
        pix = torch.randint(s * s, (self.rays,), generator=generator)
        K, c2w = torch.from_numpy(seq["K"]), torch.from_numpy(seq["c2w"])
        o, d = rays_from_pixels(K[frame], c2w[frame], pix % s, pix // s)
        rgb = seq["images"][frame.numpy(), (pix // s).numpy(), (pix % s).numpy()]
        return {
            "images": frame_tensor(seq["images"][ctx]),
            "K": K[ctx],
            "c2w": c2w[ctx],
            "origins": o,
            "directions": d,
            "rgb": torch.from_numpy(np.asarray(rgb)).float() / 255,
        }


def model_config(cfg) -> dict:
    """The plain dict PixelNeRF reads: the ``pixelnerf`` section + image size + seed."""
    return {**cfg.pixelnerf.to_dict(), "image_size": cfg.data.image_size, "seed": cfg.experiment.seed}


def train_pixelnerf(cfg, category: str, root: Path, run_root: Path, progress: bool = False):
    """Train (or resume, or load when finished) the category's PixelNeRF in
    ``<run-root>/<profile>/<category>-pixelnerf`` (beside the joint EFT + VLDM run); returns (model in eval mode,
    run directory)."""
    run_dir = run_root / cfg.profile / f"{category}-{METHOD}"
    seed = cfg.experiment.seed
    seed_everything(seed)
    model = PixelNeRF(model_config(cfg))
    t = cfg.pixelnerf.train
    sequences = load_category(root, category, cfg.data.train_subset, cfg.data.image_size, cfg.data.max_train_sequences)
    resume = latest_checkpoint(run_dir / "checkpoints") is not None
    config = {"category": category, **model_config(cfg), "encoder_weights": model.encoder.weights_label}
    # a resumed run keeps the config.yaml of its first start (the encoder weights it was initialised with)
    trainer = Trainer(
        model,
        RaySampler(sequences, t.objects, t.rays, t.v_min, t.v_max),
        iters=t.iters,
        run_dir=run_dir if resume else RunDir(run_dir, config=config, seed=seed),
        betas=(0.9, 0.999),
        checkpoint_every=t.checkpoint_every,
        log_every=t.log_every,
        seed=seed,
        progress=progress,
    )
    trainer.fit(resume=resume)
    model.eval()
    return model, run_dir
