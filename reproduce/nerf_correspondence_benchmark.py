"""Ground-truth correspondence benchmark of BDF on the synthetic deformable shape family (ours; the paper has
no numbers), plus the transfer and ablation figures.

    PROFILE=quick|smoke python -m reproduce.nerf_correspondence_benchmark     (or the .sh wrapper)

Steps (everything synthetic, labelled so): (1) the shape family (``common.data.synthetic`` kind ``shapes``:
template + deformed instances, vertex k corresponds across instances); (2) a generator with the pi-GAN
interface (mapping network + FiLM-SIREN + colour branch) fitted to it (``nerf_correspondence.shape_family``);
(3) BDF trained against that frozen generator through ``common.engine.Trainer`` (run dirs with checkpoints,
resumable) in five settings: full, no cycle, no pair, no curriculum, feature loss only; (4) on every ordered
pair of instances, the mean correspondence error (% of object size) and PCK@5 % / 10 % of identity, generator-
feature nearest neighbour and each BDF setting, the self-reconstruction error |B(F(x)) - x| and the part-label
transfer accuracy; (5) figures: texture / segmentation / deformation transfer, Fig. 6 (self-reconstruction:
feature loss only vs + cycle, with error maps) and Fig. 7 (without vs with the pair loss).

Output: results/nerf_correspondence/benchmark/synthetic-<profile>/ (table.md, table.json, *.png); the smoke
profile writes under runs/ instead. Runs and the fitted generator: runs/nerf_correspondence/benchmark/<profile>/.
Environment: PROFILE (quick), RESULTS_DIR, RUNS_DIR.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.spatial import cKDTree

from common.data.io import atomic_write_bytes
from common.data.synthetic import ensure_dataset
from common.engine.trainer import Trainer, seed_everything
from common.results.plots import image_grid
from common.results.provenance import Provenance
from nerf_correspondence import correspondence_eval as ce
from nerf_correspondence import transfer as tr
from nerf_correspondence.bdf import BDF, BDFLossConfig, BDFModel, blend, curriculum_t
from nerf_correspondence.features import (
    PointSet,
    paper_feature_layers,
    sample_point_set,
    similarity_maps,
    surface_features,
)
from nerf_correspondence.rendering import render_rays
from nerf_correspondence.shape_family import (
    FAR,
    NEAR,
    BoxedFiLMSiren,
    circle_rays,
    family_cameras,
    fit_shape_generator,
    load_family,
    occupancy_iou,
)
from nerf_correspondence.siren import FiLMSiren


@dataclass(frozen=True)
class Profile:
    scenes: int  # deformed instances (plus the template mesh as one more member)
    fit_iters: int
    fit_points: int
    z_dim: int
    width: int
    depth: int
    bdf_iters: int
    bdf_nerfs: int  # NeRFs per BDF step
    bdf_points: int  # points per NeRF per step
    bdf_width: int
    point_res: int  # rays per side of the views the point sets come from
    num_steps: int
    lr: float
    eval_vertices: int
    figure_res: int
    data_res: int  # render size of the generated family (only its correspondence.npz is used here)


PROFILES = {
    "quick": Profile(8, 1000, 1536, 32, 64, 6, 400, 4, 512, 128, 20, 16, 1e-3, 800, 48, 32),
    "smoke": Profile(2, 20, 256, 8, 16, 3, 4, 2, 64, 16, 6, 6, 1e-3, 50, 12, 24),
    # the paper's BDF settings (lr 1e-5, 10 NeRFs per batch, width 256) on a GPU; generator as quick but larger
    "paper": Profile(8, 20000, 8192, 256, 256, 8, 20000, 10, 8192, 256, 64, 24, 1e-5, 2503, 128, 64),
}
T_MAX = 1.0  # the ground truth is known at the fitted instances (t = 1); the paper's faces use 0.6
T_LEVELS = 5  # the curriculum's t is rounded up to multiples of T_MAX / T_LEVELS (point pools cached per level)
BOX_SIDE = 2.6
VARIANTS = {  # name -> (lambda_cycle, lambda_pair, curriculum)
    "full": (0.5, 1e-4, True),
    "no_cycle": (0.0, 1e-4, True),
    "no_pair": (0.5, 0.0, True),
    "no_curriculum": (0.5, 1e-4, False),
    "feature_only": (0.0, 0.0, True),
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def fitted_generator(prof: Profile, instances, run_root: Path, seed: int):
    """Fit (or reload from run_root/generator.pt) the family generator; returns (siren, latents, info)."""
    path = run_root / "generator.pt"
    siren = BoxedFiLMSiren(prof.z_dim, prof.width, prof.depth, max(prof.width, prof.z_dim), BOX_SIDE)
    if path.is_file():
        state = torch.load(path, map_location="cpu", weights_only=True)
        siren.load_state_dict(state["siren"])
        return siren.requires_grad_(False), state["latents"], state["info"]
    t0 = time.time()
    siren, latents, history = fit_shape_generator(
        instances, prof.z_dim, prof.width, prof.depth, max(prof.width, prof.z_dim), BOX_SIDE, prof.fit_iters,
        prof.fit_points, 2e-4 if prof.fit_iters > 5000 else 1e-3, seed, log=log,
    )  # fmt: skip
    iou = occupancy_iou(siren, latents, instances, BOX_SIDE)
    info = {"fit_seconds": time.time() - t0, "history": history, "occupancy_iou": iou}
    import io

    buf = io.BytesIO()
    torch.save({"siren": siren.state_dict(), "latents": latents, "info": info}, buf)
    atomic_write_bytes(path, buf.getvalue())
    return siren, latents, info


def train_bdf(name: str, prof: Profile, siren: FiLMSiren, latents: torch.Tensor, layers, run_root: Path, seed: int):
    """Train one BDF setting through the driver's Trainer (resumable); returns (bdf, seconds)."""
    cyc, pair, curriculum = VARIANTS[name]
    seed_everything(seed)
    gamma_all, beta_all = siren.modulations(latents)
    g0, b0 = gamma_all.mean(0, keepdim=True), beta_all.mean(0, keepdim=True)  # the template: mean modulations
    cams = lambda n, g: family_cameras(n, g, prof.point_res)  # noqa: E731
    pool = sample_point_set(siren, g0, b0, cams, 8, 8 * prof.bdf_points, NEAR, FAR, prof.num_steps)
    n, m = prof.bdf_nerfs, prof.bdf_points
    ramp = int(0.6 * prof.bdf_iters) if curriculum else 0
    pools: dict[tuple[int, float], PointSet] = {}

    def instance_pool(k: int, t: float) -> PointSet:
        """Point pool of NeRF k at blend t (4 views, 4 m points), computed on first use and kept."""
        if (k, t) not in pools:
            gk, bk = blend(g0, gamma_all[k : k + 1], t), blend(b0, beta_all[k : k + 1], t)
            pools[(k, t)] = sample_point_set(siren, gk, bk, cams, 4, 4 * m, NEAR, FAR, prof.num_steps)
        return pools[(k, t)]

    def pick(ps: PointSet, rows: int) -> PointSet:
        i = torch.randint(0, ps.points.shape[1], (rows, m))
        return PointSet(ps.points[0][i], ps.dirs[0][i], ps.transmittance[0][i])

    def draw(step):
        idx = torch.randint(0, len(latents), (n,))
        t = math.ceil(curriculum_t(step, T_MAX, ramp) * T_LEVELS - 1e-9) / T_LEVELS * T_MAX if ramp else T_MAX
        t = max(t, T_MAX / T_LEVELS)
        gi, bi = blend(g0, gamma_all[idx], t), blend(b0, beta_all[idx], t)
        parts = [pick(instance_pool(int(k), t), 1) for k in idx]
        inst = PointSet(*(torch.cat([getattr(p, f) for p in parts]) for f in ("points", "dirs", "transmittance")))
        return None, inst, pick(pool, n), gi, bi, g0.expand(n, -1), b0.expand(n, -1), t * latents[idx]

    bdf = BDF(latents.shape[1], prof.bdf_width)
    model = BDFModel(bdf, siren, draw, BDFLossConfig(cyc, pair, tuple(layers)), prof.lr)
    trainer = Trainer(model, lambda step, g: {}, iters=prof.bdf_iters, run_dir=run_root / name, betas=(0.9, 0.999),
                      log_every=max(1, prof.bdf_iters // 8), checkpoint_every=max(1, prof.bdf_iters // 4),
                      seed=seed, progress=False)  # fmt: skip
    t0 = time.time()
    trainer.fit(resume=True)
    return bdf.eval(), time.time() - t0


def evaluate(instances, siren, latents, layers, bdfs: dict, n_vertices: int, seed: int) -> dict:
    """Metrics per method over every ordered pair of instances (see nerf_correspondence.correspondence_eval)."""
    rng = np.random.default_rng(seed)
    mods = [siren.modulations(latents[k : k + 1]) for k in range(len(instances))]
    feats = [ce.vertex_features(siren, layers, *mods[k], inst.vertices) for k, inst in enumerate(instances)]
    conds = [latents[k : k + 1] for k in range(len(instances))]
    errs: dict[str, list] = {"identity": [], "feature_nn": [], **{f"bdf_{k}": [] for k in bdfs}}
    cyc: dict[str, list] = {k: [] for k in bdfs}
    labels: dict[str, list] = {k: [] for k in bdfs}
    for a, ia in enumerate(instances):
        sub = rng.choice(len(ia.vertices), min(n_vertices, len(ia.vertices)), replace=False)
        va = ia.vertices[sub]
        for k, bdf in bdfs.items():
            cyc[k].append(ce.cycle_error(bdf, conds[a], va))
        for b, ib in enumerate(instances):
            if a == b:
                continue
            vb = ib.vertices[sub]
            errs["identity"].append(ce.correspondence_errors(va, vb))
            errs["feature_nn"].append(ce.correspondence_errors(ce.feature_nn(feats[a][sub], feats[b], ib.vertices), vb))
            for k, bdf in bdfs.items():
                errs[f"bdf_{k}"].append(ce.correspondence_errors(ce.bdf_prediction(bdf, conds[a], conds[b], va), vb))
                labels[k].append(tr.label_accuracy(bdf, conds[a], conds[b], va, ia.labels[sub], ib.vertices, ib.labels))
    rows = {k: ce.summarize(np.concatenate(v)) for k, v in errs.items()}
    for k in bdfs:
        rows[f"bdf_{k}"]["cycle_error_pct"] = float(100 * np.concatenate(cyc[k]).mean())
        rows[f"bdf_{k}"]["label_transfer_acc"] = float(100 * np.mean(labels[k]))
    ident = [float((ib.labels[cKDTree(ib.vertices).query(ia.vertices)[1]] == ia.labels).mean())
             for ia in instances for ib in instances if ia is not ib]  # fmt: skip
    rows["identity"]["label_transfer_acc"] = float(100 * np.mean(ident))
    return rows


def render(field, origin: torch.Tensor, res: int, num_steps: int) -> np.ndarray:
    with torch.no_grad():
        out = render_rays(field, origin, circle_rays(origin, res), NEAR, FAR, num_steps, True, False, 0.0, True)
    return out.rgb[0].reshape(res, res, 3).clamp(0, 1).numpy()


def mark(img: np.ndarray, pixel: int, colour, res: int) -> np.ndarray:
    """``img`` [res, res, 3] with a 3 x 3 square of ``colour`` centred on flat pixel index ``pixel``."""
    out = img.copy()
    y, x = divmod(int(pixel), res)
    out[max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2] = colour
    return out


def heat_overlay(render_b: np.ndarray, sim: np.ndarray, res: int) -> np.ndarray:
    """B's render dimmed, with the similarity map [R] (NaN = background) in the jet colours over its pixels."""
    from matplotlib import colormaps

    valid = ~np.isnan(sim)
    lo, hi = np.nanmin(sim), np.nanmax(sim)
    heat = colormaps["jet"](np.nan_to_num((sim - lo) / max(hi - lo, 1e-8)))[:, :3].reshape(res, res, 3)
    return np.where(valid.reshape(res, res, 1), heat, 0.35 * render_b)


def figure1(out: Path, instances, siren, latents, layers, a: int, b: int, prof: Profile, seed: int) -> dict:
    """Paper Fig. 1 on the family: two keypoints on instance a, their generator-feature similarity over b's
    pixels; the ground-truth corresponding point (the same vertex on b) is marked white where visible, and the
    distance of the heat map's maximum to it is reported (% of b's size)."""
    res, steps = prof.figure_res, max(prof.num_steps, 16)
    origin = torch.tensor([[2.8, -2.0, 2.0]]) * (4.0 / np.linalg.norm([2.8, -2.0, 2.0]))
    dirs = circle_rays(origin, res)
    fa, pa, oa = surface_features(siren, *siren.modulations(latents[a : a + 1]), origin, dirs, NEAR, FAR, steps, layers)
    fb, pb, ob = surface_features(siren, *siren.modulations(latents[b : b + 1]), origin, dirs, NEAR, FAR, steps, layers)
    ra = render(tr.nerf(siren, *siren.modulations(latents[a : a + 1])), origin, res, steps)
    rb = render(tr.nerf(siren, *siren.modulations(latents[b : b + 1])), origin, res, steps)
    opaque_a = torch.nonzero(oa >= 0.5)[:, 0].numpy()
    keys = np.random.default_rng(seed).choice(opaque_a, 2, replace=False)
    sims = similarity_maps(fa[keys], fb, ob).numpy()
    size_b = ce.object_size(instances[b].vertices)
    colours = [(1.0, 0.2, 0.2), (0.2, 0.4, 1.0)]
    row_a, heat_cols, errors = ra, [], []
    opaque_b = (ob >= 0.5).numpy()
    for i, key in enumerate(keys):
        row_a = mark(row_a, key, colours[i], res)
        vertex = int(cKDTree(instances[a].vertices).query(pa[key].numpy())[1])
        target = instances[b].vertices[vertex]
        best = int(np.nanargmax(sims[i]))
        errors.append(float(100 * np.linalg.norm(pb[best].numpy() - target) / size_b))
        gt_pixel = int(np.argmin(np.where(opaque_b, np.linalg.norm(pb.numpy() - target, axis=-1), np.inf)))
        heat = mark(heat_overlay(rb, sims[i], res), best, colours[i], res)
        heat_cols.append(mark(heat, gt_pixel, (1.0, 1.0, 1.0), res))
    image_grid(out / "fig1_feature_similarity.png", [[row_a, rb, *heat_cols]], None,
               [f"{instances[a].name} + 2 keypoints", instances[b].name]
               + [f"key {i + 1}: max {e:.0f} % off" for i, e in enumerate(errors)],
               title="Generator-feature similarity (paper Fig. 1 setting; synthetic family generator)\n"
                     "white: the ground-truth match; coloured: the maximum (its distance, % of the size)")  # fmt: skip
    return {"keypoint_max_error_pct": errors}


def figures(out: Path, instances, siren, latents, bdfs: dict, prof: Profile) -> list[str]:
    """Transfer and ablation figures (PNG) into ``out``; returns their file names."""
    res, steps = prof.figure_res, max(prof.num_steps, 16)
    origin = torch.tensor([[2.8, -2.0, 2.0]]) * (4.0 / np.linalg.norm([2.8, -2.0, 2.0]))
    mods = [siren.modulations(latents[k : k + 1]) for k in range(len(latents))]
    g_all, b_all = siren.modulations(latents)
    mod0 = (g_all.mean(0, keepdim=True), b_all.mean(0, keepdim=True))
    conds = [latents[k : k + 1] for k in range(len(latents))]
    full = bdfs["full"]
    show = list(range(min(4, len(instances))))
    own = [render(tr.nerf(siren, *mods[k]), origin, res, steps) for k in show]
    written = []
    # texture transfer: row a, column b = a's shape with b's texture
    rows = [[own[i]] + [render(tr.texture_field(siren, full, mods[a], mods[b], conds[a], conds[b]), origin, res, steps)
                        for b in show] for i, a in enumerate(show)]  # fmt: skip
    image_grid(out / "texture_transfer.png", rows, [f"shape {instances[a].name}" for a in show],
               ["own render"] + [f"texture of {instances[b].name}" for b in show],
               title="Texture transfer through BDF: B(F(x, c_a), c_b) (synthetic shape family)")  # fmt: skip
    written.append("texture_transfer.png")
    # segmentation transfer: labels of the first instance onto the others, beside their own labels
    src = show[0]
    seg = [[render(tr.label_field(siren, full, mods[a], conds[a], None, instances[a].vertices, instances[a].labels),
                   origin, res, steps),
            render(tr.label_field(siren, full, mods[a], conds[a], conds[src], instances[src].vertices,
                                  instances[src].labels), origin, res, steps)] for a in show]  # fmt: skip
    image_grid(out / "segmentation_transfer.png", seg, [instances[a].name for a in show],
               ["ground-truth part labels", f"labels transferred from {instances[src].name}"],
               title="Segmentation transfer through BDF (synthetic shape family)")  # fmt: skip
    written.append("segmentation_transfer.png")
    # deformation transfer: the template (mean modulations) warped onto each instance's shape through F
    template = render(tr.nerf(siren, *mod0), origin, res, steps)
    deform = [[template, own[i], render(tr.deformation_field(siren, full, mod0, conds[a]), origin, res, steps)]
              for i, a in enumerate(show)]  # fmt: skip
    image_grid(out / "deformation_transfer.png", deform, [instances[a].name for a in show],
               ["template N_0", "instance", "template deformed by F to the instance"],
               title="Deformation transfer: sigma_0, c_0 at F(x, c_a) (synthetic shape family)")  # fmt: skip
    written.append("deformation_transfer.png")
    # Fig. 6: self-reconstruction B(F(x)), feature loss only vs + cycle, with |error| maps
    rows6 = []
    for i, a in enumerate(show[:3]):
        rec = {k: render(tr.self_reconstruction_field(siren, bdfs[k], mods[a], conds[a]), origin, res, steps)
               for k in ("feature_only", "no_pair")}  # fmt: skip
        rows6.append([own[i]] + [img for k in rec for img in (rec[k], np.abs(rec[k] - own[i]).mean(-1) * 4)])
    image_grid(out / "fig6_cycle_ablation.png", rows6, [instances[a].name for a in show[:3]],
               ["input", "feature loss only", "|error| x4", "+ cycle loss", "|error| x4"],
               title="Self-reconstruction through B(F(x)) (paper Fig. 6 setting; synthetic)")  # fmt: skip
    written.append("fig6_cycle_ablation.png")
    # Fig. 7: without vs with the pair loss: B (template -> instance) and F (instance -> template) textures
    rows7 = []
    for k in ("no_pair", "full"):
        b_row = [render(tr.texture_field(siren, bdfs[k], mods[a], mod0, conds[a], conds[a] * 0), origin, res, steps)
                 for a in show]  # fmt: skip
        f_row = [render(tr.deformation_field(siren, bdfs[k], mod0, conds[a]), origin, res, steps) for a in show]
        rows7 += [b_row, f_row]
    image_grid(out / "fig7_pair_ablation.png", rows7,
               ["no pair: template texture on instance", "no pair: template warped by F", "with pair: template texture",
                "with pair: template warped by F"], [instances[a].name for a in show],
               title="Without vs with the pair loss (paper Fig. 7 setting; synthetic)")  # fmt: skip
    written.append("fig7_pair_ablation.png")
    return written


MARGIN = 0.1  # percentage points: smaller differences count as no effect


def lower(rows: dict, a: str, b: str, metric: str, text: str) -> dict:
    """Claim "a is lower than b in metric" (holds when lower by more than `MARGIN` points)."""
    va, vb = rows[a][metric], rows[b][metric]
    return {"text": text, "holds": bool(va < vb - MARGIN), "detail": f"{va:.2f} vs {vb:.2f}; margin {MARGIN} points"}


def markdown(doc: dict) -> str:
    p = doc["provenance"]
    lines = [
        "# NeRF correspondence: ground-truth benchmark on the synthetic shape family",
        "",
        f"**Data: SYNTHETIC** ({p['dataset']}); profile {p['profile']}; {p['device']}; commit {p['git_commit']}; "
        f"{p['date']}.",
        "",
        "The paper reports no quantitative correspondence numbers (its results are qualitative, Figs. 5-8): this "
        "table is ours alone, with no paper column.",
        "",
        "| method | mean error (% of size) ↓ | PCK@5% ↑ | PCK@10% ↑ | self-recon. error (%) ↓ "
        "| part-label transfer acc. (%) ↑ |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in doc["rows"].items():
        cells = [r.get(k) for k in ("mean_error_pct", "pck5", "pck10", "cycle_error_pct", "label_transfer_acc")]
        lines.append(f"| {doc['labels'][name]} | " + " | ".join("—" if v is None else f"{v:.2f}" for v in cells) + " |")
    lines += ["", "## Checks", ""]
    lines += [f"- {'✓' if c['holds'] else '✗'} {c['text']} ({c['detail']})" for c in doc["claims"]]
    lines += ["", "## Notes", ""] + [f"- {n}" for n in doc["notes"]] + [""]
    return "\n".join(lines)


def main() -> int:
    profile = os.environ.get("PROFILE", "quick")
    if profile not in PROFILES:
        print(f"PROFILE={profile!r}: expected one of {sorted(PROFILES)}", file=sys.stderr)
        return 2
    torch.set_num_threads(int(os.environ.get("NF_TORCH_THREADS", "1")))
    prof, seed = PROFILES[profile], 0
    default_out = ("runs/nerf_correspondence/benchmark_results" if profile == "smoke"
                   else "results/nerf_correspondence/benchmark")  # fmt: skip
    out = Path(os.environ.get("RESULTS_DIR", default_out)) / f"synthetic-{profile}"
    run_root = Path(os.environ.get("RUNS_DIR", "runs/nerf_correspondence/benchmark")) / profile
    t_start = time.time()
    root = ensure_dataset("shapes", scenes=prof.scenes, res=prof.data_res)
    instances = load_family(root)
    log(f"shape family: {len(instances)} members, {len(instances[0].vertices)} vertices ({root.name})")
    siren, latents, info = fitted_generator(prof, instances, run_root, seed)
    log(f"generator fitted: occupancy IoU {np.mean(info['occupancy_iou']):.3f}")
    layers = paper_feature_layers(prof.depth, start=prof.depth // 2)
    bdfs, seconds = {}, {}
    for name in VARIANTS:
        bdfs[name], seconds[name] = train_bdf(name, prof, siren, latents, layers, run_root, seed)
        log(f"BDF {name}: {seconds[name]:.0f} s")
    rows = evaluate(instances, siren, latents, layers, bdfs, prof.eval_vertices, seed)
    out.mkdir(parents=True, exist_ok=True)
    pngs = figures(out, instances, siren, latents, bdfs, prof)
    fig1 = figure1(out, instances, siren, latents, layers, 0, 1, prof, seed)
    pngs.append("fig1_feature_similarity.png")
    labels = {"identity": "identity (p = x)", "feature_nn": "generator-feature nearest neighbour",
              **{f"bdf_{k}": f"BDF ({k.replace('_', ' ')})" for k in VARIANTS}}  # fmt: skip
    claims = [
        lower(rows, "bdf_full", "identity", "mean_error_pct",
              "BDF (full) has a lower mean error than the identity mapping"),
        lower(rows, "bdf_full", "feature_nn", "mean_error_pct",
              "BDF (full) has a lower mean error than generator-feature nearest neighbour"),
        lower(rows, "bdf_full", "bdf_no_cycle", "cycle_error_pct",
              "the cycle loss lowers the self-reconstruction error (paper Fig. 6: full vs no cycle)"),
        lower(rows, "bdf_full", "bdf_no_pair", "mean_error_pct",
              "the pair loss lowers the correspondence error (paper Fig. 7: full vs no pair)"),
        lower(rows, "bdf_full", "bdf_no_curriculum", "mean_error_pct",
              "the curriculum lowers the correspondence error (full vs no curriculum)"),
    ]  # fmt: skip
    prov = Provenance.collect("synthetic", f"common.data.synthetic shapes ({root.name}), {len(instances)} members",
                              profile, extra={"seed": seed})  # fmt: skip
    doc = {
        "schema": 1,
        "paper": "nerf_correspondence",
        "provenance": prov.to_dict(),
        "rows": rows,
        "labels": labels,
        "claims": claims,
        "generator": {
            "occupancy_iou": info["occupancy_iou"],
            "fit_seconds": info["fit_seconds"],
            "feature_layers": list(layers),
            "profile": prof.__dict__,
        },
        "figure1": fig1,
        "bdf_seconds": seconds,
        "wall_seconds": time.time() - t_start,
        "figures": pngs,
        "notes": [
            "Ours alone: the paper has no quantitative table; there is no paper number to compare with.",
            "Synthetic data: a procedural deformable bunny family (anisotropic scale, smooth displacement, twist, "
            "bend) with known vertex correspondences; numbers say nothing about CelebA/Cats.",
            "Generator: the pi-GAN interface (mapping network, FiLM-SIREN, colour branch) fitted as an auto-decoder "
            "with 3D occupancy + colour supervision, density zero outside its 2.6-wide box, not adversarially "
            "(the quick budget has no room for GAN "
            f"training); occupancy IoU per instance {', '.join(f'{v:.2f}' for v in info['occupancy_iou'])}.",
            f"Features: FiLM layers {list(layers)} (the last is the colour layer after the view direction), "
            "density weight T(t_x); template = mean modulations of the fitted instances.",
            f"Curriculum: t rises to {T_MAX} over the first 60% of the iterations in {T_LEVELS} levels (rounded up; "
            "point pools of 4 views per NeRF and level are rendered once and re-sampled every step, to fit the CPU "
            "budget); the paper's faces use t_max 0.6, here the ground truth is known at the fitted instances "
            "(t = 1); 'no curriculum' uses t = 1 throughout.",
            "Errors: |prediction - ground truth| / bounding-box diagonal of the target instance, over "
            f"{prof.eval_vertices} vertices per ordered pair of members; feature NN searches the target's "
            "ground-truth vertices (favouring it).",
            f"Wall time {time.time() - t_start:.0f} s on this machine (shared).",
        ],
    }
    atomic_write_bytes(out / "table.json", (json.dumps(doc, indent=2) + "\n").encode())
    atomic_write_bytes(out / "table.md", markdown(doc).encode())
    log(f"wrote {out}/table.md ({time.time() - t_start:.0f} s)")
    print(markdown(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
