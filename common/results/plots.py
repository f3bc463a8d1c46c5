"""PNG figures for results/: metric curves (one panel per scene) and labelled image grids (matplotlib, Agg).

Both write the PNG atomically (rendered to memory, then temporary file and rename). An axis showing LPIPS
must name its network: pass ``ylabel=lpips_label(report["conventions"]["lpips"])`` (``common.metrics``),
e.g. "LPIPS-squeeze; the paper reports LPIPS-alex"; a bare "LPIPS" is rejected.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after selecting the backend)

from common.data.io import atomic_write_bytes  # noqa: E402

Series = tuple[Sequence[float], Sequence[float]]
# "LPIPS" not followed by "-<net>".
_BARE_LPIPS = re.compile(r"\bLPIPS\b(?!-\w)")


def _save(fig: plt.Figure, path: str | Path, dpi: int) -> Path:
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def plot_curves(
    path_png: str | Path,
    panels: Mapping[str, Mapping[str, Series]],
    *,
    ylabel: str,
    title: str,
    xlabel: str = "step",
    ncols: int = 4,
    dpi: int = 100,
) -> Path:
    """One subplot per panel (e.g. scene), one line per series (e.g. "standard", "multiplex").

    Args:
        panels: ``{panel: {series: (steps [N], values [N])}}``; series share colours across panels.
        ylabel: the metric; for LPIPS its label naming the net (``common.metrics.lpips_label``), since a bare
            "LPIPS" does not say which network the values come from (ValueError).
    """
    if _BARE_LPIPS.search(ylabel):
        raise ValueError(
            f"{path_png}: ylabel {ylabel!r} does not name the LPIPS net; expected e.g. "
            "lpips_label(report['conventions']['lpips']) -> 'LPIPS-squeeze; the paper reports LPIPS-alex'"
        )
    if not panels:
        raise ValueError(f"{path_png}: no panels to plot; expected {{panel: {{series: (steps, values)}}}}")
    names = list(dict.fromkeys(s for series in panels.values() for s in series))
    colours = {s: f"C{i % 10}" for i, s in enumerate(names)}
    ncols = min(ncols, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 3 * nrows), squeeze=False, layout="constrained")
    for ax, (panel, series) in zip(axes.flat, panels.items()):
        for name, (steps, values) in series.items():
            steps, values = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
            if steps.shape != values.shape or steps.ndim != 1:
                raise ValueError(
                    f"{path_png}: panel {panel!r} series {name!r} has steps {steps.shape} and values "
                    f"{values.shape}; expected two 1-D arrays of equal length"
                )
            ax.plot(steps, values, color=colours[name], label=name, marker="." if len(steps) < 20 else None)
        ax.set_title(panel)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    handles = [plt.Line2D([], [], color=colours[s], label=s) for s in names]
    axes.flat[0].legend(handles=handles, loc="best", fontsize="small")
    fig.suptitle(title)
    return _save(fig, path_png, dpi)


def image_grid(
    path_png: str | Path,
    rows: Sequence[Sequence[np.ndarray]],
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    *,
    title: str | None = None,
    cell_inches: float = 2.5,
    dpi: int = 100,
) -> Path:
    """A grid of images, ``rows[i][j]`` an ``[H, W, 3]`` (or ``[H, W]``) array in [0, 1] (floats) or uint8."""
    nrows = len(rows)
    ncols = max((len(r) for r in rows), default=0)
    if nrows == 0 or ncols == 0:
        raise ValueError(f"{path_png}: empty image grid; expected a list of rows of [H, W, 3] images")
    if row_labels is not None and len(row_labels) != nrows:
        raise ValueError(f"{path_png}: {len(row_labels)} row labels for {nrows} rows; expected one per row")
    if col_labels is not None and len(col_labels) != ncols:
        raise ValueError(f"{path_png}: {len(col_labels)} column labels for {ncols} columns; expected one per column")
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(cell_inches * ncols, cell_inches * nrows), squeeze=False, layout="constrained"
    )
    for i in range(nrows):
        for j in range(ncols):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            if j < len(rows[i]):
                img = np.asarray(rows[i][j])
                if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[-1] not in (1, 3, 4)):
                    raise ValueError(f"{path_png}: image [{i}][{j}] has shape {img.shape}; expected [H, W, 3], [H, W]")
                floating = np.issubdtype(img.dtype, np.floating)
                if floating:
                    img = np.clip(img, 0.0, 1.0)
                if img.ndim == 3 and img.shape[-1] == 1:
                    img = img[..., 0]
                ax.imshow(img, cmap="gray", vmin=0.0, vmax=1.0 if floating else 255.0)
            if i == 0 and col_labels is not None:
                ax.set_title(col_labels[j], fontsize=9)
            if j == 0 and row_labels is not None:
                ax.set_ylabel(row_labels[i], fontsize=9)
    if title:
        fig.suptitle(title)
    return _save(fig, path_png, dpi)
