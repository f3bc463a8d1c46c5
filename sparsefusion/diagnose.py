"""Does the trained VLDM use its EFT condition? x0-prediction errors with and without the condition.

    python -m sparsefusion.diagnose [--profile quick] [--categories hydrant] [--run-root runs/sparsefusion]
                                    [--out results/sparsefusion/vldm_condition] [key=value ...]

For each category: train or load the joint model (as the tables do), take the first dev sequence with 2 seeded
input views (the evaluation protocol), encode the target views z0 = E(x), render the EFT condition y for each
target camera, and for t in ``TIMES`` report the latent x0-prediction MSE from the same z_t with y and with the
null condition (``VLDM.condition_use``), beside the error of the per-channel mean. A VLDM that has learned its
condition predicts x0 far better with y than without it at large t, where z_t holds little of z0; one that has
not gives the two errors alike, and its samples from pure noise are not the object. Writes
``<out>/<source>-<profile>/<category>.json`` with provenance.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from common.results.provenance import Provenance
from sparsefusion.data import load_category
from sparsefusion.evaluate import SceneEvaluation, write_json
from sparsefusion.train import add_cli_arguments, cli_config, data_root, train_category

TIMES = (0.1, 0.3, 0.5, 0.7, 0.9)


def diagnose(model, cfg, seq: dict, n_inputs: int = 2, seed: int = 0) -> list[dict]:
    """``VLDM.condition_use`` rows on the target views of one dev sequence (scene index 0)."""
    ev = SceneEvaluation(model, cfg, seq, 0, n_inputs)
    with torch.no_grad():
        z0 = model.autoencoder.encode(ev.views["images"][ev.target_pos])
    cond = ev.cache()["features"][ev.target_pos]
    return model.vldm.condition_use(z0, cond, list(TIMES), torch.Generator().manual_seed(seed))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sparsefusion.diagnose", description=__doc__.split("\n")[0])
    add_cli_arguments(parser, profile="quick")
    parser.add_argument("--out", type=Path, default=Path("results/sparsefusion/vldm_condition"))
    args = parser.parse_args(argv)
    cfg = cli_config(args)
    root, source = data_root(cfg)
    for category in cfg.data.categories:
        start = time.perf_counter()
        model, _ = train_category(cfg, category, root, args.run_root)
        seq = load_category(root, category, cfg.data.eval_subset, cfg.data.image_size, 1, 1)[0]
        rows = diagnose(model, cfg, seq)
        print(f"{category} ({source}, {args.profile}; latent x0 MSE per t: with the condition / null / mean)")
        for r in rows:
            print(f"  t {r['t']:.1f}: {r['x0_mse_cond']:.4f} / {r['x0_mse_null']:.4f} / {r['x0_mse_mean']:.4f}")
        prov = Provenance.collect(
            source, str(root), args.profile,
            extra={"category": category, "train_steps": cfg.train.iters, "prediction": cfg.vldm.prediction,
                   "wall_time_s": round(time.perf_counter() - start, 1)},
        )  # fmt: skip
        out = args.out / f"{source}-{args.profile}" / f"{category}.json"
        write_json(out, {"rows": rows, "provenance": prov.to_dict()})
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
