"""BDF on an official pi-GAN generator (the paper's setting, Figs. 5 and 8): texture transfer between faces.

    PIGAN_CHECKPOINT_DIR=/path/with/generator.pth+ema.pth [PROFILE=quick|smoke|paper] \
        python -m reproduce.nerf_correspondence_faces

The official CelebA ``generator.pth`` / ``ema.pth`` (pi-GAN release) are read through the restricted unpickler
(``nerf_correspondence.official_checkpoint``; EMA weights, as the official renders). BDF is trained against the
frozen generator with the paper's settings (features of layers 4..8, template = mean modulations of 10k latents,
curriculum t: 0 -> 0.6, cycle 0.5, pair 1e-4, Adam; the paper's lr 1e-5 in the paper profile), then the script
renders texture transfer between the template and sampled faces (Fig. 5: F and B) and between sampled faces
(Fig. 8) at the frontal pose with truncation psi 0.7. Without the checkpoint it stops with one line naming the
files. Output: results/nerf_correspondence/faces/real-<profile>/ (smoke: under runs/). No number: the paper has
none and faces have no ground-truth correspondence.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import torch
import yaml

from common.data.io import atomic_write_bytes
from common.engine.trainer import Trainer, seed_everything
from common.results.plots import image_grid
from common.results.provenance import Provenance
from nerf_correspondence import transfer as tr
from nerf_correspondence.bdf import BDF, BDFLossConfig, BDFModel, blend, curriculum_t
from nerf_correspondence.features import paper_feature_layers, sample_point_set
from nerf_correspondence.official_checkpoint import load_official_generator
from nerf_correspondence.pigan import PiGANGenerator
from nerf_correspondence.rendering import camera_origins, camera_rays, render_rays, sample_camera_angles

# profile -> (BDF iterations, NeRFs per step, points per NeRF, point-set ray side, lr, figure resolution)
PROFILES = {"smoke": (2, 2, 64, 8, 1e-3, 16), "quick": (200, 2, 1024, 32, 1e-3, 64),
            "paper": (20000, 10, 8192, 128, 1e-5, 128)}  # fmt: skip
T_MAX, PSI = 0.6, 0.7


def official_generator(ckpt_dir: Path) -> PiGANGenerator:
    cfg = yaml.safe_load(Path("nerf_correspondence/configs/pigan_base.yaml").read_text())["model"]
    gen = PiGANGenerator(cfg)  # the official CelebA sizes (8 x 256, z 256, box 0.24, fov 12)
    gen.load_state_dict(load_official_generator(ckpt_dir / "generator.pth", ckpt_dir / "ema.pth"))
    return gen.requires_grad_(False).eval()


def main() -> int:
    ckpt = os.environ.get("PIGAN_CHECKPOINT_DIR")
    if not ckpt or not all((Path(ckpt) / f).is_file() for f in ("generator.pth", "ema.pth")):
        print("PIGAN_CHECKPOINT_DIR: set it to a folder holding generator.pth and ema.pth of the official pi-GAN "
              "CelebA release (marcoamonteiro/pi-GAN pretrained models)", file=sys.stderr)  # fmt: skip
        return 2
    profile = os.environ.get("PROFILE", "quick")
    if profile not in PROFILES:
        print(f"PROFILE={profile!r}: expected one of {sorted(PROFILES)}", file=sys.stderr)
        return 2
    torch.set_num_threads(int(os.environ.get("NF_TORCH_THREADS", "1")))
    iters, n, m, side, lr, res = PROFILES[profile]
    out = Path(os.environ.get("RESULTS_DIR", "runs/nerf_correspondence/faces_results" if profile == "smoke"
                              else "results/nerf_correspondence/faces")) / f"real-{profile}"  # fmt: skip
    run_root = Path(os.environ.get("RUNS_DIR", "runs/nerf_correspondence/faces")) / profile
    t0 = time.time()
    seed_everything(0)
    gen = official_generator(Path(ckpt))
    siren, c = gen.siren, gen.cfg
    with torch.no_grad():
        g_all, b_all = siren.modulations(torch.randn(10000, c["z_dim"]))
    g0, b0 = g_all.mean(0, keepdim=True), b_all.mean(0, keepdim=True)

    def cams(views, g):
        pitch, yaw = sample_camera_angles(views, "gaussian", c["h_mean"], c["v_mean"], c["h_stddev"], c["v_stddev"], g)
        return camera_rays(camera_origins(pitch, yaw, c["camera_radius"]), side, c["fov"])

    def draw(step):
        z = torch.randn(n, c["z_dim"])
        t = max(curriculum_t(step, T_MAX, iters), 1e-3)
        with torch.no_grad():
            gz, bz = siren.modulations(z)
        gi, bi = blend(g0, gz, t), blend(b0, bz, t)
        inst = sample_point_set(siren, gi, bi, cams, 1, m, c["ray_start"], c["ray_end"], c["num_steps"])
        tmpl = sample_point_set(siren, g0.expand(n, -1), b0.expand(n, -1), cams, 1, m, c["ray_start"], c["ray_end"],
                                c["num_steps"])  # fmt: skip
        return z, inst, tmpl, gi, bi, g0.expand(n, -1), b0.expand(n, -1), t * z

    bdf = BDF(c["z_dim"], 256)
    model = BDFModel(bdf, siren, draw, BDFLossConfig(feature_layers=paper_feature_layers(c["depth"])), lr)
    Trainer(model, lambda step, g: {}, iters=iters, run_dir=run_root, betas=(0.9, 0.999), log_every=max(1, iters // 10),
            checkpoint_every=max(1, iters // 4), seed=0, progress=False).fit(resume=True)  # fmt: skip
    bdf.eval()
    # figures: frontal pose, truncated latents; identity conditions c = T_MAX z (the trained range)
    z = torch.randn(4, c["z_dim"], generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        gz, bz = siren.modulations(z)
    mods = [(g0 + PSI * (gz[k : k + 1] - g0), b0 + PSI * (bz[k : k + 1] - b0)) for k in range(4)]
    conds = [PSI * z[k : k + 1] for k in range(4)]
    origin = camera_origins(torch.tensor([c["v_mean"]]), torch.tensor([c["h_mean"]]), c["camera_radius"])
    _, dirs = camera_rays(origin, res, c["fov"])

    def render(field):
        with torch.no_grad():
            o = render_rays(field, origin, dirs, c["ray_start"], c["ray_end"], c["num_steps"], True, False)
        return o.rgb[0].reshape(res, res, 3).clamp(0, 1).numpy()

    own = [render(tr.nerf(siren, *mk)) for mk in mods]
    template = render(tr.nerf(siren, g0, b0))
    zero = torch.zeros(1, c["z_dim"])
    fig5 = [
        [template] + own,
        [template] + [render(tr.texture_field(siren, bdf, (g0, b0), mods[k], zero, conds[k])) for k in range(4)],
        [template] + [render(tr.texture_field(siren, bdf, mods[k], (g0, b0), conds[k], zero)) for k in range(4)],
    ]
    out.mkdir(parents=True, exist_ok=True)
    image_grid(
        out / "fig5_template_transfer.png",
        fig5,
        ["samples", "template shape, sample texture (F)", "sample shape, template texture (B)"],
        ["template"] + [f"face {k}" for k in range(4)],
        title="BDF with the official pi-GAN CelebA generator",
    )
    fig8 = [[own[a]] + [render(tr.texture_field(siren, bdf, mods[a], mods[b], conds[a], conds[b])) for b in range(4)]
            for a in range(4)]  # fmt: skip
    image_grid(
        out / "fig8_face_transfer.png",
        fig8,
        [f"shape of face {a}" for a in range(4)],
        ["own"] + [f"texture of face {b}" for b in range(4)],
        title="Texture transfer between faces (Fig. 8)",
    )
    prov = Provenance.collect("real", "official pi-GAN CelebA generator (PIGAN_CHECKPOINT_DIR)", profile)
    doc = {"provenance": prov.to_dict(), "figures": ["fig5_template_transfer.png", "fig8_face_transfer.png"],
           "wall_seconds": time.time() - t0, "bdf_iters": iters, "lr": lr, "t_max": T_MAX, "psi": PSI,
           "notes": ["Qualitative only, as the paper: faces have no ground-truth correspondence."]}  # fmt: skip
    atomic_write_bytes(out / "run.json", (json.dumps(doc, indent=2) + "\n").encode())
    print(f"wrote {out} ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
