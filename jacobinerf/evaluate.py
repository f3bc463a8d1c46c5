"""Label propagation and baselines on one finished run (the numbers behind Tables 1-5 and Figures 6-7).

    python -m jacobinerf.evaluate RUN_DIR [--labels semantic|instance] [--out FILE]

Loads the run's config, scene, the shaped model (``RUN_DIR``) and the plain NeRF (``RUN_DIR/pretrain``), then, with
the labelled view = ``propagation.source_view``-th training view and the test views evenly spread over the test
split (``propagation.max_test_views``):
  sparse (one random click per class seen in the labelled view, seeded): J-NeRF 2D / 3D, NeRF 2D (no shaping),
      S-NeRF, DINO-2D, DINO-NeRF; the sigma sweep of J-NeRF 2D (Figure 7);
  dense (every labelled pixel of the view): adaptive gradient selection, then argmax of the mean responses
      (J-NeRF 2D / 3D "argmax") and the aggregation MLP on them (J-NeRF 2D / 3D +), S-NeRF, DINO-2D, DINO-NeRF;
      label densities (Figure 6): the same with a random fraction of each class's labelled pixels;
  multi-view dense (Table 3 right): 1, 2, 3 labelled training views (spread over the train split).
Metrics per test view over the classes seen in the labelled view(s) (other labels and void ignored): mIoU (mean over
classes present in the view's prediction or ground truth), average class accuracy, total accuracy; scene scores =
mean over test views. Per-view scores and the distance of each test camera to the labelled one are kept (Table 3
left splits them). Written to ``RUN_DIR/propagation-<labels>.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from common.config import Config
from common.data.io import atomic_write_bytes
from common.engine.checkpoint import load_latest_good
from common.rays import RayBank, view_ray_dict
from jacobinerf import baselines
from jacobinerf.family import JacobiNeRF, bank_images, fitted_source, load_data
from jacobinerf.propagation import (
    ViewCache,
    adaptive_selection,
    cache_rays,
    postprocess,
    responses,
    sparse_clicks,
    train_aggregator,
    view_jacobians,
)

SIGMAS = (0.01, 0.03, 0.1, 0.3, 1.0)
DENSITIES = (0.001, 0.01, 0.1, 1.0)


def seg_scores(pred: np.ndarray, gt: np.ndarray, classes: list[int]) -> dict[str, float]:
    """mIoU, avg (class) accuracy and total accuracy of class ids pred / gt over ``classes`` (others ignored)."""
    cls = np.asarray(classes)
    valid = np.isin(gt, cls)
    g, p = gt[valid], pred[valid]
    ious, accs = [], []
    for c in cls:
        inter = np.sum((g == c) & (p == c))
        union = np.sum((g == c) | (p == c))
        if union > 0:
            ious.append(inter / union)
        if np.any(g == c):
            accs.append(inter / np.sum(g == c))
    return {
        "miou": float(np.mean(ious)) if ious else float("nan"),
        "avg_acc": float(np.mean(accs)) if accs else float("nan"),
        "total_acc": float(np.mean(g == p)) if g.size else float("nan"),
    }


def load_model(path: Path, cfg: Config, near: float, far: float) -> JacobiNeRF:
    found = load_latest_good(path)
    if found is None:
        raise FileNotFoundError(f"{path}: no checkpoint; train the run first (python -m jacobinerf.train)")
    model = JacobiNeRF(cfg.model.to_dict(), near, far)
    model.load_state_dict(found[1]["model"])
    return model.eval()


def label_maps(scene, kind: str) -> np.ndarray:
    """int [N, H, W] labels with void = -1 (instances: id 0 = unannotated -> -1)."""
    if kind == "semantic":
        return np.asarray(scene.semantics).astype(np.int64)
    inst = np.asarray(scene.instances).astype(np.int64).copy()
    inst[inst <= 0] = -1
    return inst


class SceneEval:
    """Everything of one run that the propagation methods share (caches of the labelled and test views)."""

    def __init__(self, run: Path, kind: str):
        self.run, self.kind = run, kind
        self.cfg = Config.load(run / "config.yaml")
        self.scene, self.source = load_data(self.cfg)
        s = self.scene
        self.p = self.cfg.propagation
        self.labels = label_maps(s, kind)
        self.H, self.W = s.height, s.width
        self.train_views = s.split("train")
        test = s.split("test")
        n = self.p.max_test_views or len(test)
        self.test_views = [test[i] for i in np.linspace(0, len(test) - 1, min(n, len(test))).round().astype(int)]
        self.src = self.train_views[int(self.p.source_view)]
        self.jnerf = load_model(run, self.cfg, s.near, s.far)
        self.nerf = load_model(run / "pretrain", self.cfg, s.near, s.far)
        self.caches: dict[tuple[str, int], ViewCache] = {}
        bank = RayBank(s, "train")
        self.source_features = fitted_source(self.cfg, s, bank_images(bank))
        self.feature_name = self.source_features.name
        self.train_bank = bank

    def cache(self, which: str, view: int) -> ViewCache:
        key = (which, view)
        if key not in self.caches:
            model = self.jnerf if which == "jnerf" else self.nerf
            self.caches[key] = cache_rays(model, view_ray_dict(self.scene, view), trunk=which == "nerf")
        return self.caches[key]

    def image_features(self, view: int) -> torch.Tensor:
        image = torch.as_tensor(np.asarray(self.scene.load_image(view), dtype=np.float32))[None]
        return self.source_features(image)[0].reshape(self.H * self.W, -1)

    # ---------------------------------------------------------------------------- J-NeRF
    def predict_responses(self, which: str, deltas: torch.Tensor, view: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Post-processed (2D [K, H, W], 3D [K, H, W]) responses of ``view`` to deltas [K, 3, C] (or a list of such
        sets, averaged)."""
        model = self.jnerf if which == "jnerf" else self.nerf
        sets = deltas if isinstance(deltas, list) else [deltas]
        r2 = r3 = 0
        for d in sets:
            a, b = responses(model.rgb_layer, self.cache(which, view), d)
            r2, r3 = r2 + a, r3 + b
        shape = (-1, self.H, self.W)
        return postprocess((r2 / len(sets)).view(shape)), postprocess((r3 / len(sets)).view(shape))

    def scores(self, preds: dict[int, np.ndarray], classes: list[int]) -> dict:
        per_view = {int(v): seg_scores(preds[v].reshape(self.H, self.W), self.labels[v], classes) for v in preds}
        mean = {m: float(np.nanmean([pv[m] for pv in per_view.values()])) for m in ("miou", "avg_acc", "total_acc")}
        return {"mean": mean, "per_view": per_view}

    def run_sparse(self, gen: np.random.Generator, t: float) -> dict:
        lab = self.labels[self.src]
        classes = sorted(int(c) for c in np.unique(lab) if c >= 0)
        clicks = sparse_clicks(lab, classes, gen)
        out: dict = {"classes": classes, "clicks": clicks}
        cls = np.asarray(classes)
        jac = {w: view_jacobians(self.cache(w, self.src))[clicks] for w in ("jnerf", "nerf")}
        preds: dict[str, dict[int, np.ndarray]] = {m: {} for m in ("j_nerf_2d", "j_nerf_3d", "nerf_2d")}
        for v in self.test_views:
            r2, r3 = self.predict_responses("jnerf", t * jac["jnerf"], v)
            preds["j_nerf_2d"][v] = cls[r2.argmax(0).numpy()]
            preds["j_nerf_3d"][v] = cls[r3.argmax(0).numpy()]
            n2, _ = self.predict_responses("nerf", t * jac["nerf"], v)
            preds["nerf_2d"][v] = cls[n2.argmax(0).numpy()]
        out.update({m: self.scores(p, classes) for m, p in preds.items()})
        out.update(self.run_baselines([self.src], [np.asarray(clicks)], classes))
        return out

    def sigma_sweep(self, gen_seed: int) -> dict:
        lab = self.labels[self.src]
        classes = sorted(int(c) for c in np.unique(lab) if c >= 0)
        clicks = sparse_clicks(lab, classes, np.random.default_rng(gen_seed))
        jac = view_jacobians(self.cache("jnerf", self.src))[clicks]
        out = {}
        for t in SIGMAS:
            preds = {
                v: np.asarray(classes)[self.predict_responses("jnerf", t * jac, v)[0].argmax(0).numpy()]
                for v in self.test_views
            }
            out[str(t)] = self.scores(preds, classes)["mean"]
        return out

    def run_dense(
        self, views: list[int], gen: np.random.Generator, t: float, density: float = 1.0, baselines_too: bool = True
    ) -> dict:
        """Dense propagation from the labelled ``views`` (stacked along the image height, see module doc)."""
        lab = np.concatenate([self.labels[v] for v in views], 0)  # [n H, W]
        classes = sorted(int(c) for c in np.unique(lab) if c >= 0)
        flat = lab.reshape(-1)
        pixels = np.flatnonzero(flat >= 0)
        if density < 1.0:
            keep = [
                gen.choice(pixels[flat[pixels] == c], max(1, int(round(density * np.sum(flat == c)))), replace=False)
                for c in classes
            ]
            pixels = np.sort(np.concatenate(keep))
        caches = [self.cache("jnerf", v) for v in views]
        stacked = ViewCache(
            *(torch.cat([getattr(c, f) for c in caches]) for f in ("h", "weights", "logits", "rgb")),
            None,
            caches[0].background,
        )
        jac = view_jacobians(stacked)
        layer = self.jnerf.rgb_layer
        selected, gains = adaptive_selection(
            layer, stacked, jac, lab, classes, t, int(self.p.dense_rounds), int(self.p.dense_candidates), gen, pixels
        )
        if not selected:
            return {"error": "adaptive selection kept no combination"}
        deltas = [t * jac[c] for c in selected]
        cls = np.asarray(classes)
        targets = torch.full((len(flat),), -1, dtype=torch.long)
        lut = {c: i for i, c in enumerate(classes)}
        targets[pixels] = torch.as_tensor([lut[int(flat[p])] for p in pixels])
        # aggregation MLP on the labelled views' responses
        src2, src3 = [], []
        for d in deltas:
            a, b = responses(layer, stacked, d)
            src2.append(a)
            src3.append(b)
        shape = (-1, lab.shape[0], lab.shape[1])
        feats = {
            "2d": postprocess((sum(src2) / len(src2)).view(shape)).flatten(1).T,
            "3d": postprocess((sum(src3) / len(src3)).view(shape)).flatten(1).T,
        }
        aggs = {k: train_aggregator(x, targets, int(self.p.agg_iters), seed=int(self.p.seed)) for k, x in feats.items()}
        preds: dict[str, dict[int, np.ndarray]] = {
            m: {} for m in ("j_nerf_2d_argmax", "j_nerf_3d_argmax", "j_nerf_2d", "j_nerf_3d")
        }
        for v in self.test_views:
            r2, r3 = self.predict_responses("jnerf", deltas, v)
            preds["j_nerf_2d_argmax"][v] = cls[r2.argmax(0).numpy()]
            preds["j_nerf_3d_argmax"][v] = cls[r3.argmax(0).numpy()]
            with torch.no_grad():
                preds["j_nerf_2d"][v] = cls[aggs["2d"](r2.flatten(1).T).argmax(1).numpy()]
                preds["j_nerf_3d"][v] = cls[aggs["3d"](r3.flatten(1).T).argmax(1).numpy()]
        out: dict = {"classes": classes, "selection_miou": gains, "labelled_pixels": int(len(pixels))}
        out.update({m: self.scores(p, classes) for m, p in preds.items()})
        if baselines_too:
            per_view = [
                pixels[(pixels >= k * self.H * self.W) & (pixels < (k + 1) * self.H * self.W)] - k * self.H * self.W
                for k in range(len(views))
            ]
            out.update(self.run_baselines(views, per_view, classes))
        return out

    # -------------------------------------------------------------------------- baselines
    def run_baselines(self, views: list[int], pixels: list[np.ndarray], classes: list[int]) -> dict:
        """S-NeRF, DINO-2D, DINO-NeRF from the labelled pixels (flat indices per view)."""
        lut = {c: i for i, c in enumerate(classes)}
        cls = np.asarray(classes)
        caches = [self.cache("nerf", v) for v in views]
        trunk = torch.cat([c.trunk[p] for c, p in zip(caches, pixels, strict=True)])
        weights = torch.cat([c.weights[p] for c, p in zip(caches, pixels, strict=True)])
        y = torch.as_tensor(
            [lut[int(self.labels[v].reshape(-1)[q])] for v, p in zip(views, pixels, strict=True) for q in p]
        )
        labelled = ViewCache(None, weights, None, None, trunk, None)
        iters, seed = int(self.p.head_iters), int(self.p.seed)
        sem = baselines.train_semantic_head(labelled, y, len(classes), iters, seed)
        # DINO-NeRF: distil the 2D features of random training pixels
        gen = torch.Generator().manual_seed(seed)
        ids = torch.randperm(len(self.train_bank), generator=gen)[:4096]
        rays = self.train_bank.gather(ids)
        train_cache = cache_rays(self.nerf, rays, trunk=True)
        feat_maps = self.source_features(bank_images(self.train_bank))
        k = ids // (self.H * self.W)
        rem = ids % (self.H * self.W)
        target = feat_maps[k, rem // self.W, rem % self.W]
        field = baselines.train_feature_head(train_cache, target, iters, seed)
        lab_field = torch.cat([baselines.head_output(field, c)[p] for c, p in zip(caches, pixels, strict=True)])
        lab_2d = torch.cat([self.image_features(v)[p] for v, p in zip(views, pixels, strict=True)])
        preds: dict[str, dict[int, np.ndarray]] = {"s_nerf": {}, "dino_2d": {}, "dino_nerf": {}}
        for v in self.test_views:
            c = self.cache("nerf", v)
            preds["s_nerf"][v] = cls[baselines.head_output(sem, c).argmax(1).numpy()]
            preds["dino_2d"][v] = cls[baselines.nearest_label(self.image_features(v), lab_2d, y).numpy()]
            preds["dino_nerf"][v] = cls[baselines.nearest_label(baselines.head_output(field, c), lab_field, y).numpy()]
        return {m: self.scores(p, classes) for m, p in preds.items()}

    def camera_distance(self, view: int) -> float:
        c2w = np.asarray(self.scene.c2w)
        return float(np.linalg.norm(c2w[view, :3, 3] - c2w[self.src, :3, 3]))


def psnr_of(model: JacobiNeRF, scene, views: list[int]) -> float:
    from common.engine.experiment import render_view
    from common.metrics import psnr

    return float(np.mean([psnr(render_view(model, scene, v, "cpu", 4096), scene.load_image(v)) for v in views]))


def evaluate_run(run: Path, kind: str = "semantic", full: bool = True) -> dict:
    """All propagation results of one run (module doc); ``full`` False: sparse + dense only."""
    t0 = time.time()
    ev = SceneEval(run, kind)
    t = float(ev.p.t)
    seed = int(ev.p.seed)
    result: dict = {
        "run": str(run),
        "labels": kind,
        "data_source": ev.source,
        "feature_source": ev.feature_name,
        "source_view": int(ev.src),
        "test_views": [int(v) for v in ev.test_views],
        "camera_distance": {int(v): ev.camera_distance(v) for v in ev.test_views},
        "t": t,
    }
    result["sparse"] = ev.run_sparse(np.random.default_rng(seed), t)
    result["dense"] = ev.run_dense([ev.src], np.random.default_rng(seed), t)
    if full:
        result["psnr"] = {
            "nerf": psnr_of(ev.nerf, ev.scene, ev.test_views),
            "j_nerf": psnr_of(ev.jnerf, ev.scene, ev.test_views),
        }
        result["sigma_sweep"] = ev.sigma_sweep(seed)
        result["density"] = {
            str(d): ev.run_dense([ev.src], np.random.default_rng(seed), t, density=d, baselines_too=False)
            for d in DENSITIES
        }
        n = len(ev.train_views)
        result["multiview"] = {}
        for count in (1, 2, 3):
            views = [ev.train_views[(int(ev.p.source_view) + k * n // 3) % n] for k in range(count)]
            result["multiview"][str(count)] = ev.run_dense(views, np.random.default_rng(seed), t)
    result["wall_s"] = time.time() - t0
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jacobinerf.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--labels", choices=("semantic", "instance"), default="semantic")
    parser.add_argument("--quick", action="store_true", help="sparse and dense only")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    result = evaluate_run(args.run, args.labels, full=not args.quick)
    path = args.run / f"propagation-{args.labels}.json"
    atomic_write_bytes(path, (json.dumps(result, indent=1, default=float) + "\n").encode())
    print(
        f"{path}: sparse J-NeRF 3D mIoU {result['sparse']['j_nerf_3d']['mean']['miou']:.3f}, "
        f"dense J-NeRF+ 3D mIoU {result['dense'].get('j_nerf_3d', {}).get('mean', {}).get('miou', float('nan')):.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
