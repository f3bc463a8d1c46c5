"""Semantic segmentation metrics: confusion matrix, IoU / mIoU, pixel and class accuracy (Semantic-NeRF style).

Label maps ``pred`` and ``gt`` are integer arrays of one shape (any shape, e.g. [H, W] or [N, H, W]),
numpy or torch, with classes 0..K-1; pixels whose ``gt`` equals ``ignore_index`` are left out.
To pool several frames, stack them, or sum their confusion matrices and use the ``*_from_confusion``
functions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def _labels(a: np.ndarray | torch.Tensor, role: str) -> np.ndarray:
    a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    if not (np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_):
        raise TypeError(f"{role}: got dtype {a.dtype}; expected an integer label map")
    return a.astype(np.int64).ravel()


def confusion_matrix(
    pred: np.ndarray | torch.Tensor, gt: np.ndarray | torch.Tensor, num_classes: int, ignore_index: int = -1
) -> np.ndarray:
    """``cm[i, j]`` = number of pixels with gt class i predicted as class j. [K, K] int64.

    Pixels with ``gt == ignore_index`` are skipped; any other label outside 0..K-1 is an error.
    """
    p, g = _labels(pred, "pred"), _labels(gt, "gt")
    if p.shape != g.shape:
        raise ValueError(f"pred has {p.size} pixels but gt has {g.size}; expected label maps of one shape")
    keep = g != ignore_index
    p, g = p[keep], g[keep]
    for role, a in (("gt", g), ("pred", p)):
        if a.size and (a.min() < 0 or a.max() >= num_classes):
            raise ValueError(
                f"{role} holds labels in [{a.min()}, {a.max()}]; expected 0..{num_classes - 1} "
                f"(or ignore_index={ignore_index} in gt)"
            )
    return np.bincount(g * num_classes + p, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def iou_from_confusion(cm: np.ndarray) -> np.ndarray:
    """Per-class ``IoU_c = cm[c, c] / (sum_j cm[c, j] + sum_i cm[i, c] - cm[c, c])``; NaN where the union is 0. [K]"""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    union = cm.sum(axis=0) + cm.sum(axis=1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / union, np.nan)


def _mean_over(values: np.ndarray, cm: np.ndarray, classes: Sequence[int] | None) -> float:
    """Mean of per-class ``values`` over ``classes`` (default: classes present in gt), skipping NaN."""
    idx = np.flatnonzero(np.asarray(cm).sum(axis=1) > 0) if classes is None else np.asarray(classes, dtype=np.int64)
    picked = values[idx]
    picked = picked[~np.isnan(picked)]
    return float(picked.mean()) if picked.size else float("nan")


def miou_from_confusion(cm: np.ndarray, classes: Sequence[int] | None = None) -> float:
    """Mean IoU over ``classes``, by default the classes present in gt (rows of ``cm`` with pixels).

    With an explicit class list, classes absent from both gt and pred (IoU undefined) are skipped.
    NaN when no class is left.
    """
    return _mean_over(iou_from_confusion(cm), cm, classes)


def per_class_iou(
    pred: np.ndarray | torch.Tensor, gt: np.ndarray | torch.Tensor, num_classes: int, ignore_index: int = -1
) -> np.ndarray:
    """IoU of every class 0..K-1 (NaN where the class is in neither map). [K] float64."""
    return iou_from_confusion(confusion_matrix(pred, gt, num_classes, ignore_index))


def miou(
    pred: np.ndarray | torch.Tensor,
    gt: np.ndarray | torch.Tensor,
    num_classes: int,
    ignore_index: int = -1,
    classes: Sequence[int] | None = None,
) -> float:
    """Mean IoU over the classes present in gt (Semantic-NeRF's ``miou_valid_class``) or over ``classes``."""
    return miou_from_confusion(confusion_matrix(pred, gt, num_classes, ignore_index), classes)


def pixel_accuracy(pred: np.ndarray | torch.Tensor, gt: np.ndarray | torch.Tensor, ignore_index: int = -1) -> float:
    """Fraction of non-ignored pixels with ``pred == gt``; NaN when every pixel is ignored."""
    p, g = _labels(pred, "pred"), _labels(gt, "gt")
    if p.shape != g.shape:
        raise ValueError(f"pred has {p.size} pixels but gt has {g.size}; expected label maps of one shape")
    keep = g != ignore_index
    return float((p[keep] == g[keep]).mean()) if keep.any() else float("nan")


def mean_class_accuracy(
    pred: np.ndarray | torch.Tensor,
    gt: np.ndarray | torch.Tensor,
    num_classes: int,
    ignore_index: int = -1,
    classes: Sequence[int] | None = None,
) -> float:
    """Mean over classes (present in gt, or ``classes``) of the per-class recall ``cm[c, c] / sum_j cm[c, j]``."""
    cm = confusion_matrix(pred, gt, num_classes, ignore_index).astype(np.float64)
    rows = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(rows > 0, np.diag(cm) / rows, np.nan)
    return _mean_over(recall, cm, classes)
