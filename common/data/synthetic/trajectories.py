"""Smooth camera trajectories (OpenCV camera-to-world, z up world).

* `room_walk`: a closed walk through the free central zone of a room (an ellipse kept free of
  floor objects by `rooms.build_room`): position p(theta) on a radially modulated ellipse at eye
  height 1.05-1.65 m, looking across the room at a target on the far side that drifts left/right
  and up/down, with a small roll; theta runs over ``turns`` full turns.
* `orbit`: an object-centric walk around a point at varying radius and height, looking at it.
All random phases come from ``np.random.default_rng(seed)``; identical seeds give identical poses.
"""

from __future__ import annotations

import numpy as np

from common.data.synthetic.meshes import Scene
from common.data.synthetic.rooms import walk_zone


def look_at(eye, target, up=(0.0, 0.0, 1.0), roll: float = 0.0) -> np.ndarray:
    """OpenCV c2w [4, 4]: z = unit(target - eye), x = unit(z x up), y = z x x (down); then the
    camera is rolled by ``roll`` radians about its z axis."""
    eye, target, up = (np.asarray(a, dtype=np.float64) for a in (eye, target, up))
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    c, s = np.cos(roll), np.sin(roll)
    x, y = c * x + s * y, -s * x + c * y
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = x, y, z, eye
    return c2w


def room_walk(scene: Scene, n: int, seed: int, turns: float = 1.0) -> np.ndarray:
    """[n, 4, 4] poses at theta_k = 2 pi turns k / n inside the walking zone of ``scene``."""
    rng = np.random.default_rng(seed)
    ph = rng.uniform(0, 2 * np.pi, 8)
    centre, axes = walk_zone(scene)
    lo, hi = scene.bounds
    half = (hi[:2] - lo[:2]) / 2
    theta = 2 * np.pi * turns * np.arange(n) / n
    r = 0.7 + 0.2 * np.sin(2 * theta + ph[0]) + 0.1 * np.sin(3 * theta + ph[1])
    eye = np.stack(
        [
            centre[0] + axes[0] * r * np.cos(theta),
            centre[1] + axes[1] * r * np.sin(theta),
            lo[2] + 1.35 + 0.2 * np.sin(theta / turns + ph[2]) + 0.1 * np.sin(4 * theta + ph[3]),
        ],
        axis=-1,
    )
    psi = theta + np.pi + 0.7 * np.sin(theta + ph[4]) + 0.3 * np.sin(2 * theta + ph[5])
    target = np.stack(
        [
            centre[0] + 0.75 * half[0] * np.cos(psi),
            centre[1] + 0.75 * half[1] * np.sin(psi),
            lo[2] + 0.7 + 0.3 * np.sin(3 * theta + ph[6]),
        ],
        axis=-1,
    )
    roll = np.deg2rad(3.0) * np.sin(5 * theta + ph[7])
    return np.stack([look_at(e, t, roll=a) for e, t, a in zip(eye, target, roll)])


def orbit(center, radius: float, n: int, seed: int, height: tuple[float, float] = (0.3, 1.0)) -> np.ndarray:
    """[n, 4, 4] poses around ``center`` (z up): radius radius * (1 +- 0.15), camera height above
    center's z between ``height`` (in units of radius), looking at a point jittered by 5% of radius."""
    rng = np.random.default_rng(seed)
    ph = rng.uniform(0, 2 * np.pi, 6)
    center = np.asarray(center, dtype=np.float64)
    theta = 2 * np.pi * np.arange(n) / n + ph[0]
    rad = radius * (1 + 0.15 * np.sin(2 * theta + ph[1]))
    h = radius * (height[0] + (height[1] - height[0]) * (0.5 + 0.5 * np.sin(3 * theta + ph[2])))
    eye = center + np.stack([rad * np.cos(theta), rad * np.sin(theta), h], axis=-1)
    jitter = 0.05 * radius * np.stack([np.sin(theta + ph[3]), np.cos(2 * theta + ph[4]), np.sin(3 * theta + ph[5])], -1)
    roll = np.deg2rad(2.0) * np.sin(4 * theta + ph[5])
    return np.stack([look_at(e, center + j, roll=a) for e, j, a in zip(eye, jitter, roll)])


def clearance(scene: Scene, positions: np.ndarray) -> np.ndarray:
    """[N] horizontal distance of each position [N, 3] to the nearest wall or floor-object footprint,
    and (as a separate bound) to the floor/ceiling: min over all of them."""
    lo, hi = scene.bounds
    p = np.asarray(positions, dtype=np.float64)
    d = np.minimum(p - lo, hi - p).min(axis=-1)
    for x, y, r in scene.obstacles:
        d = np.minimum(d, np.hypot(p[:, 0] - x, p[:, 1] - y) - r)
    return d
