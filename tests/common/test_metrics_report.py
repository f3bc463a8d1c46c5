"""evaluate_images: per-image values equal the metric functions, means, conventions, the LPIPS-squeeze fallback
with its label, LPIPS reported missing."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from common.metrics import evaluate_images, lpips, psnr, ssim, write_report
from common.metrics.lpips import (
    BACKBONE_ENV,
    BACKBONE_FILES,
    HEADS_ENV,
    SHARED_DATA_ENV,
    SQUEEZE_ENV,
    SQUEEZE_FILE,
    TAPS,
    Trunk,
)
from common.results.provenance import portable_path


@pytest.fixture(scope="module")
def alex_ckpt(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / BACKBONE_FILES["alex"]
    torch.save({f"features.{k}": v for k, v in Trunk("alex").features.state_dict().items()}, path)
    return path


@pytest.fixture(scope="module")
def squeeze_file(tmp_path_factory) -> Path:
    """A full official-layout LPIPS-squeeze state dict with random weights (trunk keys net.sliceK.N.*)."""
    torch.manual_seed(1)
    state = {}
    for key, value in Trunk("squeeze").features.state_dict().items():
        k = 1 + sum(int(key.split(".")[0]) > t for t in TAPS["squeeze"])
        state[f"net.slice{k}.{key}"] = value
    for k, c in enumerate((64, 128, 256, 384, 384, 512, 512)):
        state[f"lin{k}.model.1.weight"] = torch.rand(1, c, 1, 1)
    path = tmp_path_factory.mktemp("squeeze") / SQUEEZE_FILE
    torch.save(state, path)
    return path


@pytest.fixture
def no_backbone(tmp_path, monkeypatch):
    """No LPIPS trunk anywhere: empty hub cache, no weight folders, an empty shared data folder."""
    for var in (BACKBONE_ENV, SQUEEZE_ENV, HEADS_ENV):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setenv(SHARED_DATA_ENV, str(tmp_path / "shared_data"))


def pairs(sizes: list[tuple[int, int]], seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    gts = [rng.random((h, w, 3)) for h, w in sizes]
    preds = [np.clip(g + 0.05 * (i + 1) * rng.standard_normal(g.shape), 0, 1) for i, g in enumerate(gts)]
    return preds, gts


def test_report_values_means_and_conventions(alex_ckpt, tmp_path):
    preds, gts = pairs([(40, 48), (36, 36), (48, 40)])
    report = evaluate_images(preds, gts, names=["a", "b", "c"], backbone_path=alex_ckpt)
    assert report["missing"] == {}
    rows = report["per_image"]
    assert [r["name"] for r in rows] == ["a", "b", "c"]
    for row, p, g in zip(rows, preds, gts):
        assert row["psnr"] == pytest.approx(psnr(p, g), rel=1e-12)
        assert row["ssim"] == pytest.approx(ssim(p, g), rel=1e-12)
        assert row["lpips"] == pytest.approx(lpips(p, g, backbone_path=alex_ckpt), rel=1e-6)
    for key in ("psnr", "ssim", "lpips"):
        assert report["mean"][key] == pytest.approx(np.mean([r[key] for r in rows]), rel=1e-12)
    conv = report["conventions"]
    assert conv["ssim"] == {
        "window": 11, "sigma": 1.5, "data_range": 1, "k1": 0.01, "k2": 0.03,
        "padding": "valid", "reduction": "per-channel mean",
    }  # fmt: skip
    assert "[0,1]" in conv["psnr"]
    assert conv["lpips"]["version"] == "0.1" and conv["lpips"]["net"] == conv["lpips"]["net_requested"] == "alex"
    assert conv["lpips"]["label"] == "LPIPS-alex" and "fallback_reason" not in conv["lpips"]
    assert conv["lpips"]["backbone_file"] == portable_path(alex_ckpt.resolve()) == f"<outside repo>/{alex_ckpt.name}"
    assert conv["lpips"]["heads_file"].endswith("alex.pth") and not conv["lpips"]["heads_file"].startswith("/")
    out = tmp_path / "metrics" / "test.json"
    write_report(report, out)
    assert json.loads(out.read_text()) == report


def test_missing_lpips_is_none_with_reason_never_a_number(no_backbone, tmp_path):
    preds, gts = pairs([(32, 32), (32, 32)])
    report = evaluate_images(np.stack(preds), np.stack(gts))
    reason = report["missing"]["lpips"]
    assert BACKBONE_FILES["alex"] in reason
    assert report["conventions"]["lpips"] == {"net_requested": "alex", "label": "LPIPS-alex", "missing": reason}
    assert "LPIPS-squeeze fallback is unavailable too" in reason
    assert report["mean"]["lpips"] is None
    assert [r["name"] for r in report["per_image"]] == ["0000", "0001"]
    assert all(r["lpips"] is None for r in report["per_image"])
    assert all(math.isfinite(r["psnr"]) and 0 < r["ssim"] < 1 for r in report["per_image"])
    out = tmp_path / "m.json"
    write_report(report, out)
    assert json.loads(out.read_text())["mean"]["lpips"] is None


def test_squeeze_fallback_is_computed_and_labelled(no_backbone, squeeze_file, alex_ckpt, monkeypatch):
    preds, gts = pairs([(40, 40), (24, 32)])
    report = evaluate_images(preds, gts, squeeze_path=squeeze_file.parent)
    assert report["missing"] == {}
    conv = report["conventions"]["lpips"]
    assert (conv["net_requested"], conv["net"]) == ("alex", "squeeze")
    assert conv["label"] == "LPIPS-squeeze; the paper reports LPIPS-alex"
    assert BACKBONE_FILES["alex"] in conv["fallback_reason"]
    for row, p, g in zip(report["per_image"], preds, gts):
        assert row["lpips"] == pytest.approx(lpips(p, g, "squeeze", backbone_path=squeeze_file), rel=1e-6)
        assert row["lpips"] > 0
    assert report["mean"]["lpips"] == pytest.approx(np.mean([r["lpips"] for r in report["per_image"]]), rel=1e-12)

    monkeypatch.setenv(SQUEEZE_ENV, str(squeeze_file.parent))  # found through the environment as well
    assert evaluate_images(preds, gts)["conventions"]["lpips"]["net"] == "squeeze"
    no_fallback = evaluate_images(preds, gts, lpips_fallback=False)
    assert BACKBONE_FILES["alex"] in no_fallback["missing"]["lpips"] and no_fallback["mean"]["lpips"] is None
    small = evaluate_images(np.zeros((2, 16, 40, 3)), np.ones((2, 16, 40, 3)))  # squeeze needs sides >= 17
    assert "too small for LPIPS-squeeze" in small["missing"]["lpips"] and small["mean"]["lpips"] is None
    assert small["mean"]["psnr"] == 0.0
    monkeypatch.setenv(BACKBONE_ENV, str(alex_ckpt.parent))  # the alex backbone present: LPIPS-alex
    conv = evaluate_images(preds[:1], gts[:1])["conventions"]["lpips"]
    assert (conv["net"], conv["label"]) == ("alex", "LPIPS-alex")


def test_lpips_not_requested_and_identical_images(no_backbone):
    _, gts = pairs([(24, 24)])
    report = evaluate_images([torch.from_numpy(gts[0])], [torch.from_numpy(gts[0])], lpips_net=None)
    assert "not requested" in report["missing"]["lpips"]
    assert report["per_image"][0]["psnr"] == float("inf")
    assert report["mean"]["ssim"] == pytest.approx(1.0)


def test_count_mismatches_raise():
    preds, gts = pairs([(16, 16), (16, 16)])
    with pytest.raises(ValueError, match="expected equal counts"):
        evaluate_images(preds, gts[:1], lpips_net=None)
    with pytest.raises(ValueError, match="one name per image"):
        evaluate_images(preds, gts, names=["x"], lpips_net=None)
