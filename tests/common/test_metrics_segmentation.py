"""Segmentation metrics against brute-force loops over pixels and classes, and a hand-computed fixture."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from common.metrics import (
    confusion_matrix,
    mean_class_accuracy,
    miou,
    miou_from_confusion,
    per_class_iou,
    pixel_accuracy,
)


def brute_confusion(pred, gt, k, ignore):
    cm = np.zeros((k, k), dtype=np.int64)
    for p, g in zip(pred.ravel().tolist(), gt.ravel().tolist()):
        if g != ignore:
            cm[g, p] += 1
    return cm


def brute_iou(pred, gt, c, ignore):
    inter = union = 0
    for p, g in zip(pred.ravel().tolist(), gt.ravel().tolist()):
        if g == ignore:
            continue
        inter += p == c and g == c
        union += p == c or g == c
    return inter / union if union else math.nan


def random_maps(seed, k=6, shape=(2, 13, 17), absent=(4,)):
    rng = np.random.default_rng(seed)
    gt = rng.integers(0, k, size=shape)
    gt[np.isin(gt, absent)] = 0
    gt[rng.random(shape) < 0.1] = -1
    pred = np.where(rng.random(shape) < 0.6, np.maximum(gt, 0), rng.integers(0, k, size=shape))
    return pred, gt


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_against_brute_force(seed):
    k = 6
    pred, gt = random_maps(seed, k)
    cm = confusion_matrix(pred, gt, k)
    np.testing.assert_array_equal(cm, brute_confusion(pred, gt, k, -1))
    ious = np.array([brute_iou(pred, gt, c, -1) for c in range(k)])
    np.testing.assert_allclose(per_class_iou(pred, gt, k), ious, equal_nan=True)
    present = sorted(set(gt[gt >= 0].tolist()))
    assert 4 not in present
    assert miou(pred, gt, k) == pytest.approx(np.mean(ious[present]))
    assert miou(pred, gt, k, classes=[1, 2]) == pytest.approx(np.mean(ious[[1, 2]]))
    valid = gt != -1
    assert pixel_accuracy(pred, gt) == pytest.approx(sum(pred[valid] == gt[valid]) / valid.sum())
    recalls = [sum((pred[valid] == c) & (gt[valid] == c)) / sum(gt[valid] == c) for c in present]
    assert mean_class_accuracy(pred, gt, k) == pytest.approx(np.mean(recalls))


def test_hand_computed_fixture_and_torch_input():
    gt = torch.tensor([[0, 0, 1, 1], [2, 2, -1, 1]])
    pred = torch.tensor([[0, 1, 1, 1], [2, 0, 3, 1]])
    cm = confusion_matrix(pred, gt, 4)
    np.testing.assert_array_equal(cm, [[1, 1, 0, 0], [0, 3, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]])
    # IoU: class 0 = 1/3, class 1 = 3/4, class 2 = 1/2, class 3 absent everywhere (ignored pixel dropped).
    np.testing.assert_allclose(per_class_iou(pred, gt, 4), [1 / 3, 3 / 4, 1 / 2, np.nan], equal_nan=True)
    assert miou(pred, gt, 4) == pytest.approx((1 / 3 + 3 / 4 + 1 / 2) / 3)
    assert pixel_accuracy(pred, gt) == pytest.approx(5 / 7)
    assert mean_class_accuracy(pred, gt, 4) == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)


def test_summed_confusion_pools_frames():
    k = 5
    frames = [random_maps(s, k, shape=(9, 11), absent=()) for s in range(3)]
    total = sum(confusion_matrix(p, g, k) for p, g in frames)
    stacked_pred, stacked_gt = np.stack([p for p, _ in frames]), np.stack([g for _, g in frames])
    assert miou_from_confusion(total) == pytest.approx(miou(stacked_pred, stacked_gt, k))


def test_bad_labels_raise_clear_errors():
    gt = np.array([[0, 1], [2, 3]])
    with pytest.raises(ValueError, match=r"gt holds labels in \[0, 3\]; expected 0..2"):
        confusion_matrix(gt.clip(0, 2), gt, 3)
    with pytest.raises(ValueError, match="pred holds labels"):
        confusion_matrix(np.full_like(gt, 7), gt, 4)
    with pytest.raises(TypeError, match="integer label map"):
        confusion_matrix(gt.astype(float), gt, 4)
    with pytest.raises(ValueError, match="one shape"):
        pixel_accuracy(gt[:1], gt)
    assert math.isnan(pixel_accuracy(gt, np.full_like(gt, -1)))
