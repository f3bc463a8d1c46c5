"""S3IM paper Table 10: MSE vs MSE + SSIM on local patches vs MSE + S3IM (nonlocal), DVGO on Truck.

    python -m reproduce.s3im_table10         (environment: TNT_ROOT, PROFILE, DEVICE, JOBS, ...; see reproduce.table)

"MSE + SSIM" trains on batches of real square image patches (the core sampler's ``patch`` mode; the paper:
64 x 64 patches, kernel and stride 4) with the same SSIM term as S3IM but without the random shuffles:
S3IM's first repeat keeps the batch order, so ``repeat_time=1`` over a batch laid out patch by patch,
row-major, with ``patch_height`` = the patch side, is exactly the local SSIM of that patch. The quick
profile's 2304-ray batch is one 48 x 48 patch. Two seeds per setting.
Writes results/s3im/table10_local_ssim/<source>-<profile>/: table.md / table.json, renders.png.
"""

from __future__ import annotations

import sys

from reproduce.table import TNT, ClaimSpec, TableSpec, run_table


def local_ssim(patch: int) -> list[str]:
    """Overrides for MSE + SSIM over real ``patch`` x ``patch`` image patches (one patch per batch)."""
    return [
        "s3im.weight=1.0",
        "s3im.repeat_time=1",
        f"s3im.patch_height={patch}",
        "model.ray_sampler=patch",
        f"train.patch_size={patch}",
        f"train.batch_size={patch * patch}",
    ]


def spec_for(profile_patch: int) -> TableSpec:
    return TableSpec(
        paper="s3im",
        table_id="table10",
        stem="table10_local_ssim",
        module="s3im.train",
        preset="s3im/configs/dvgo_tnt.yaml",
        scenes=["Truck"],
        settings={"mse": ["s3im.weight=0.0"], "mse_ssim": local_ssim(profile_patch), "mse_s3im": ["s3im.weight=1.0"]},
        data=TNT,
        column=lambda scene: "truck",
        seeds=(0, 1),
        mean_column=False,
        claims=[
            ClaimSpec("mse_s3im", "mse", "psnr"),
            ClaimSpec("mse", "mse_ssim", "psnr"),
            ClaimSpec("mse_s3im", "mse_ssim", "psnr"),
        ],
        notes=[
            "The paper's claim: nonlocal S3IM improves over MSE while SSIM on local patches hurts.",
            f"mse_ssim: one square patch of real pixels per batch ({profile_patch} x {profile_patch} = this "
            "profile's batch size; 64 x 64 in the paper profile), SSIM kernel and stride 4 inside it; mse and "
            "mse_s3im draw their rays over all training pixels.",
        ],
        title="DVGO, Truck: local SSIM vs S3IM",
        minutes_per_run=5.0,
    )


def main(argv: list[str]) -> int:
    import os

    from common.config import load_config

    profile = os.environ.get("PROFILE") or ("paper" if os.environ.get("TNT_ROOT") else "quick")
    batch = load_config("s3im/configs/dvgo_tnt.yaml", profile, None, []).train.batch_size
    return run_table(spec_for(int(round(batch**0.5))), argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
