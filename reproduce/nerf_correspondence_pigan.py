"""pi-GAN training runs of the nerf_correspondence package (the generator BDF builds on), with samples and curves.

    [CELEBA_ROOT=../shared/data/celeba-128-pigan-eval-subset/CelebA_real_images_128] [PROFILE=quick|smoke|paper] \
        python -m reproduce.nerf_correspondence_pigan

CELEBA_ROOT (a folder of face images) selects the real data (preset pigan_celeba.yaml; default profile paper);
without it the synthetic shape family's renders are the training images (preset pigan_shapes.yaml; default
profile quick). Runs go through ``python -m nerf_correspondence.train`` (resumable, run dir under
runs/nerf_correspondence/pigan/); the script writes results/nerf_correspondence/pigan/<source>-<profile>/:
table.md / table.json (pixel-space SWD of the trained and of the initial generator, provenance; the paper
reports no pi-GAN number of its own: it uses the official pretrained checkpoints), samples.png (16 samples,
truncation psi) and losses.png (D / G losses over the iterations). PROFILE=smoke writes under runs/.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

from common.data.io import atomic_write_bytes
from common.results.plots import plot_curves
from common.results.provenance import Provenance
from nerf_correspondence.train import main as train_main


def main() -> int:
    root = os.environ.get("CELEBA_ROOT")
    source = "real" if root else "synthetic"
    profile = os.environ.get("PROFILE", "paper" if root else "quick")
    preset = "pigan_celeba" if root else "pigan_shapes"
    stem = f"{'celeba' if root else 'shapes'}-{profile}"
    runs = Path(os.environ.get("RUNS_DIR", "runs/nerf_correspondence/pigan")) / stem
    smoke = profile == "smoke"
    default_out = "runs/nerf_correspondence/pigan_results" if smoke else "results/nerf_correspondence/pigan"
    out = Path(os.environ.get("RESULTS_DIR", default_out)) / f"{source}-{profile}"
    args = ["--config", f"nerf_correspondence/configs/{preset}.yaml", "--profile", profile, "--run-dir", str(runs),
            "--device", os.environ.get("DEVICE", "auto"), "train.progress=false"]  # fmt: skip
    if root:
        args.append(f"data.root={root}")
    if (runs / "checkpoints").is_dir():
        args.append("--resume")
    t0 = time.time()
    rc = train_main(args)
    if rc != 0:
        return rc
    wall = time.time() - t0
    report = json.loads((runs / "test_metrics.json").read_text())
    steps, d_loss, g_loss = [], [], []
    for line in (runs / "metrics.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec.get("split") == "train" and "d_loss" in rec["values"]:
            steps.append(rec["step"])
            d_loss.append(rec["values"]["d_loss"])
            g_loss.append(rec["values"]["g_loss"])
    out.mkdir(parents=True, exist_ok=True)
    plot_curves(out / "losses.png", {preset: {"discriminator": (steps, d_loss), "generator": (steps, g_loss)}},
                ylabel="loss", title=f"pi-GAN losses ({source} data, {profile} profile)")  # fmt: skip
    shutil.copyfile(runs / "renders" / "samples.png", out / "samples.png")
    m = report["mean"]
    claim = {"text": "training moves the samples toward the data (pixel SWD below the initial generator's)",
             "holds": m["swd"] < m["swd_initial_generator"],
             "detail": f"{m['swd']:.4f} vs {m['swd_initial_generator']:.4f}"}  # fmt: skip
    prov = Provenance.collect(source, root or "common.data.synthetic shapes (training renders)", profile)
    doc = {"schema": 1, "paper": "nerf_correspondence", "provenance": prov.to_dict(), "metrics": m,
           "images": report["images"], "claims": [claim], "wall_seconds_this_call": wall,
           "notes": [report["note"], "The paper uses the official pretrained pi-GAN checkpoints and reports no number "
                     "for the generator; there is no paper value to compare with."]}  # fmt: skip
    atomic_write_bytes(out / "table.json", (json.dumps(doc, indent=2) + "\n").encode())
    md = [
        f"# pi-GAN ({preset}, {profile} profile)",
        "",
        f"**Data: {source.upper()}** ({prov.dataset}, {report['images']} images/scenes); {prov.device}; "
        f"commit {prov.git_commit}; {prov.date}.",
        "",
        "| generator | pixel SWD to the training images ↓ |",
        "|---|---|",
        f"| trained (EMA) | {m['swd']:.4f} |",
        f"| initial (same seed) | {m['swd_initial_generator']:.4f} |",
        "",
        f"- {'✓' if claim['holds'] else '✗'} {claim['text']} ({claim['detail']})",
        "",
        *[f"- {n}" for n in doc["notes"]],
        f"- Wall time of this call: {wall:.0f} s (shared 2-core machine).",
        "",
    ]
    atomic_write_bytes(out / "table.md", "\n".join(md).encode())
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
