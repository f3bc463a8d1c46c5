"""ScanNet-like rooms in the raw ``SensReader`` export layout (plus the 2D label archives).

Per scene ``scene%04d_00``: ``color/<i>.jpg`` (W x H = res x res * 968 / 1296, ScanNet's 1296x968 colour camera
scaled), ``depth/<i>.png`` (uint16 millimetres at the depth resolution, 640x480 scaled by the same factor),
``pose/<i>.txt`` (4x4 c2w, OpenCV), ``intrinsic/intrinsic_{color,depth}.txt`` (4x4; the depth K is the colour K
scaled to the depth size, i.e. depth is registered to the colour camera), ``intrinsic/extrinsic_{color,depth}.txt``
(identity), ``label-filt/<i>.png`` (uint16 raw label ids at colour resolution), ``instance-filt/<i>.png`` (uint8
instance ids at colour resolution), ``<scene>.txt`` (ScanNet's scene info) and ``<scene>_vh_clean_2.ply`` (the
mesh, metres, with face object_id / class_id). The data set root holds ``scannetv2-labels.combined.tsv``
mapping the raw ids (= `rooms.CLASSES` ids) to NYU40 ids and class names.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from common.data.synthetic import files
from common.data.synthetic.raycast import Renderer
from common.data.synthetic.rooms import CLASSES, build_room
from common.data.synthetic.seeds import scene_seed
from common.data.synthetic.trajectories import room_walk

COLOR_SIZE = (1296, 968)
DEPTH_SIZE = (640, 480)
COLOR_K = np.array([[1169.621094, 0.0, 646.295044], [0.0, 1167.105103, 489.927032], [0.0, 0.0, 1.0]])

# Project class -> (NYU40 id, NYU40 class name).
NYU40 = {
    "wall": (1, "wall"),
    "floor": (2, "floor"),
    "cabinet": (3, "cabinet"),
    "bed": (4, "bed"),
    "chair": (5, "chair"),
    "sofa": (6, "sofa"),
    "table": (7, "table"),
    "door": (8, "door"),
    "picture": (11, "picture"),
    "shelf": (15, "shelves"),
    "rug": (20, "floor mat"),
    "ceiling": (22, "ceiling"),
    "box": (29, "box"),
    "lamp": (35, "lamp"),
    "plant": (40, "otherprop"),
    "statue": (40, "otherprop"),
    "vase": (40, "otherprop"),
    "figurine": (40, "otherprop"),
    "teapot": (40, "otherprop"),
}


def label_table() -> str:
    """scannetv2-labels.combined.tsv content for `CLASSES` (void, id 0, is left out: unannotated)."""
    head = "id\traw_category\tcategory\tcount\tnyu40id\teigen13id\tnyuClass\tnyu40class\teigen13class\n"
    rows = [f"{i}\t{n}\t{n}\t1\t{NYU40[n][0]}\t0\t{n}\t{NYU40[n][1]}\t\n" for i, n in enumerate(CLASSES) if i > 0]
    return head + "".join(rows)


def scaled_sizes(res: int) -> tuple[tuple[int, int], tuple[int, int], np.ndarray, np.ndarray]:
    """((Wc, Hc), (Wd, Hd), K_colour, K_depth) for colour width ``res``; K scaled per axis (pixel centres u + 0.5)."""
    f = res / COLOR_SIZE[0]
    wc, hc = res, round(COLOR_SIZE[1] * f)
    wd, hd = round(DEPTH_SIZE[0] * f), round(DEPTH_SIZE[1] * f)
    kc = COLOR_K.copy()
    kc[0] *= wc / COLOR_SIZE[0]
    kc[1] *= hc / COLOR_SIZE[1]
    kd = kc.copy()
    kd[0] *= wd / wc
    kd[1] *= hd / hc
    return (wc, hc), (wd, hd), kc, kd


def _k4(K):
    out = np.eye(4)
    out[:3, :3] = K
    return out


def write_scannet(out: Path, scenes: int = 4, res: int = 162, seed: int = 0, frames: int = 100) -> list[Path]:
    out = Path(out)
    (wc, hc), (wd, hd), kc, kd = scaled_sizes(res)
    files.write_text(out / "scannetv2-labels.combined.tsv", label_table())
    written = []
    for k in range(scenes):
        name = f"scene{k:04d}_00"
        sc = build_room(scene_seed(seed, "scannet", k), name=name)
        sdir = out / name
        poses = room_walk(sc, frames, scene_seed(seed, "scannet-walk", k))
        renderer = Renderer(sc)
        for i, c2w in enumerate(poses):
            colour = renderer.render(kc, c2w, hc, wc)
            depth = renderer.render(kd, c2w, hd, wd)
            files.write_jpg(sdir / "color" / f"{i}.jpg", colour.rgb)
            files.write_uint16_png(sdir / "depth" / f"{i}.png", depth.depth, 1000.0)
            files.write_text(sdir / "pose" / f"{i}.txt", files.matrix_text(c2w))
            files.write_label_png(sdir / "label-filt" / f"{i}.png", colour.semantic, np.uint16)
            files.write_label_png(sdir / "instance-filt" / f"{i}.png", colour.instance, np.uint8)
        intr = sdir / "intrinsic"
        files.write_text(intr / "intrinsic_color.txt", files.matrix_text(_k4(kc)))
        files.write_text(intr / "intrinsic_depth.txt", files.matrix_text(_k4(kd)))
        files.write_text(intr / "extrinsic_color.txt", files.matrix_text(np.eye(4)))
        files.write_text(intr / "extrinsic_depth.txt", files.matrix_text(np.eye(4)))
        info = {
            "colorHeight": hc,
            "colorWidth": wc,
            "depthHeight": hd,
            "depthWidth": wd,
            "fx_color": kc[0, 0],
            "fy_color": kc[1, 1],
            "mx_color": kc[0, 2],
            "my_color": kc[1, 2],
            "fx_depth": kd[0, 0],
            "fy_depth": kd[1, 1],
            "mx_depth": kd[0, 2],
            "my_depth": kd[1, 2],
            "numColorFrames": frames,
            "numDepthFrames": frames,
            "sceneType": "Living room / Lounge",
        }
        text = "axisAlignment = " + " ".join(
            ["1", "0", "0", "0", "0", "1", "0", "0", "0", "0", "1", "0"] + ["0"] * 3 + ["1"]
        )
        text += "\n" + "".join(
            f"{key} = {val:.6f}\n" if isinstance(val, float) else f"{key} = {val}\n" for key, val in info.items()
        )
        files.write_text(sdir / f"{name}.txt", text)
        files.write_semantic_ply(sdir / f"{name}_vh_clean_2.ply", renderer.mesh, sc)
        files.write_scene_info(sdir / "synthetic_scene.json", sc)
        written.append(sdir)
    return written
