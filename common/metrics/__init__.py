"""Evaluation metrics: image (PSNR, SSIM, LPIPS), evaluation reports, semantic segmentation."""

from common.metrics.errors import MetricUnavailable
from common.metrics.image import psnr, ssim
from common.metrics.lpips import LPIPSChoice, LPIPSNet, choose_lpips, load_lpips, lpips, lpips_label, lpips_metric_name
from common.metrics.report import evaluate_images, write_report
from common.metrics.segmentation import (
    confusion_matrix,
    mean_class_accuracy,
    miou,
    miou_from_confusion,
    per_class_iou,
    pixel_accuracy,
)

__all__ = [
    "LPIPSChoice",
    "LPIPSNet",
    "MetricUnavailable",
    "choose_lpips",
    "confusion_matrix",
    "evaluate_images",
    "load_lpips",
    "lpips",
    "lpips_label",
    "lpips_metric_name",
    "mean_class_accuracy",
    "miou",
    "miou_from_confusion",
    "per_class_iou",
    "pixel_accuracy",
    "psnr",
    "ssim",
    "write_report",
]
