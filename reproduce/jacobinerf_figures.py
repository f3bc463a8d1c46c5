"""JacobiNeRF Figures 6-8 on the Replica runs of Table 1.

    bash reproduce/jacobinerf_figures.sh

figure6_density.png: dense propagation mIoU (J-NeRF+ 3D and 2D) against the fraction of labelled pixels per class.
figure7_sigma.png: sparse J-NeRF 2D mIoU against the perturbation magnitude t (sigma).
figure8_recolour.png: scene re-colouring and one-click selection: for a click on a test view of each scene, the
rendering after W <- W + t diag(colour) J_click (red, green, blue) and the selected entity (post-processed response
> 0.5), for the plain NeRF and the shaped J-NeRF. figures.json holds the plotted numbers.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import torch

from common.config import Config
from common.data.io import atomic_write_bytes
from common.rays import view_ray_dict
from common.results.plots import image_grid, plot_curves
from jacobinerf.evaluate import DENSITIES, SIGMAS, load_model
from jacobinerf.family import load_data
from jacobinerf.propagation import cache_rays, recolour, responses, select_entity, view_jacobians
from reproduce.jacobinerf_common import DATASETS, mean_of, results_dir, run_path, scene_results, source_of

RECOLOUR_T = 3.0
COLOURS = {"red": (1.0, 0.0, 0.0), "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0)}


def recolour_rows(run, seed: int = 0) -> tuple[list[list[np.ndarray]], list[str]]:
    cfg = Config.load(run / "config.yaml")
    scene, _ = load_data(cfg)
    H, W = scene.height, scene.width
    view = scene.split("test")[0]
    labels = np.asarray(scene.semantics[view])
    gen = np.random.default_rng(seed)
    # click the centre pixel of the largest non-wall / floor / ceiling labelled region would need class names;
    # a seeded random labelled pixel of the most frequent non-void class after the first two keeps it label-free
    ids, counts = np.unique(labels[labels >= 0], return_counts=True)
    target = ids[np.argsort(-counts)][min(2, len(ids) - 1)]
    click = int(gen.choice(np.flatnonzero(labels.reshape(-1) == target)))
    rows, names = [], []
    for which in ("pretrain", ""):
        model = load_model(run / which if which else run, cfg, scene.near, scene.far)
        cache = cache_rays(model, view_ray_dict(scene, view))
        jac = view_jacobians(cache)[click]
        base = cache.rgb.view(H, W, 3).clamp(0, 1).numpy()
        marked = base.copy()
        marked[click // W, click % W] = (1.0, 0.0, 1.0)
        row = [marked]
        for colour in COLOURS.values():
            row.append(recolour(model.rgb_layer, cache, jac, colour, RECOLOUR_T).view(H, W, 3).clamp(0, 1).numpy())
        r2, _ = responses(model.rgb_layer, cache, 0.1 * jac[None])
        row.append(select_entity(r2.view(1, H, W)[0]).float().numpy())
        rows.append(row)
        names.append(f"{run.name}: {'NeRF' if which else 'J-NeRF'}")
    return rows, names


def main(argv: list[str]) -> int:
    started = time.time()
    ds = DATASETS["replica"]
    results = scene_results(ds)
    out = results_dir("figures", ds)
    out.mkdir(parents=True, exist_ok=True)
    tag = " (SYNTHETIC)" if source_of(ds) == "synthetic" else ""
    density = {
        m: [mean_of(results, "density", str(d), m, "mean", "miou") for d in DENSITIES]
        for m in ("j_nerf_3d", "j_nerf_2d")
    }
    sigma = [mean_of(results, "sigma_sweep", str(s), "miou") for s in SIGMAS]
    plot_curves(
        out / "figure6_density.png",
        {
            "label density": {
                k: (list(DENSITIES), [np.nan if v is None else v for v in vals]) for k, vals in density.items()
            }
        },
        ylabel="mIoU",
        xlabel="fraction of labelled pixels per class",
        title="Figure 6" + tag,
        ncols=1,
    )
    plot_curves(
        out / "figure7_sigma.png",
        {"sigma": {"J-NeRF 2D sparse": (list(SIGMAS), [np.nan if v is None else v for v in sigma])}},
        ylabel="mIoU",
        xlabel="perturbation magnitude t",
        title="Figure 7" + tag,
        ncols=1,
    )
    rows, names = [], []
    for scene in [r["scene"] for r in results]:
        r, n = recolour_rows(run_path(ds, scene))
        rows += r
        names += n
    image_grid(
        out / "figure8_recolour.png",
        rows,
        names,
        ["view + click", *(f"+{RECOLOUR_T} {c}" for c in COLOURS), "selection"],
        title="Figure 8" + tag,
    )
    doc = {
        "data_source": source_of(ds),
        "feature_source": sorted({r["feature_source"] for r in results}),
        "scenes": [r["scene"] for r in results],
        "figure6": {"densities": list(DENSITIES), "miou": density},
        "figure7": {"t": list(SIGMAS), "miou": sigma},
        "figure8": {"t": RECOLOUR_T, "colours": COLOURS},
        "wall_time_s": round(time.time() - started, 1),
    }
    atomic_write_bytes(out / "figures.json", (json.dumps(doc, indent=1) + "\n").encode())
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.exit(main(sys.argv[1:]))
