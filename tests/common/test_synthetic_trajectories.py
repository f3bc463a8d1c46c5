"""Camera paths: valid rotations, inside free space, smooth, looking into the room."""

from __future__ import annotations

import numpy as np

from common.data.synthetic.rooms import build_room
from common.data.synthetic.trajectories import clearance, look_at, orbit, room_walk


def test_look_at_is_opencv_rotation():
    c2w = look_at((1.0, -2.0, 1.5), (0.0, 0.0, 0.5), roll=0.1)
    R = c2w[:3, :3]
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) > 0.999
    forward = np.array([0.0, 0.0, 0.5]) - [1.0, -2.0, 1.5]
    np.testing.assert_allclose(R[:, 2], forward / np.linalg.norm(forward), atol=1e-12)
    assert abs(np.arcsin(R[2, 0])) > 0.05  # the roll tilts the x axis out of the horizontal
    assert look_at((0, 0, 0), (0, 1, 0))[2, 1] < 0  # camera y points down (world z up)


def test_room_walk_in_free_space_and_smooth():
    scene = build_room(4)
    poses = room_walk(scene, 100, seed=4)
    pos = poses[:, :3, 3]
    assert clearance(scene, pos).min() > 0.3
    steps = np.linalg.norm(np.diff(pos, axis=0), axis=-1)
    assert steps.max() < 0.25 and steps.min() > 0.0
    fwd = poses[:, :3, 2]
    turn = np.degrees(np.arccos(np.clip(np.sum(fwd[1:] * fwd[:-1], axis=-1), -1, 1)))
    assert turn.max() < 15.0
    # looking into the room: 2 m along the optical axis is still inside the room
    lo, hi = scene.bounds
    ahead = pos + 1.5 * fwd
    assert np.all((ahead > lo) & (ahead < hi))
    np.testing.assert_array_equal(poses, room_walk(scene, 100, seed=4))
    assert not np.allclose(poses, room_walk(scene, 100, seed=5))


def test_orbit_looks_at_centre():
    poses = orbit((0.0, 0.0, 1.0), 3.0, 40, seed=0)
    to_centre = np.array([0.0, 0.0, 1.0]) - poses[:, :3, 3]
    cos = np.sum(poses[:, :3, 2] * to_centre, axis=-1) / np.linalg.norm(to_centre, axis=-1)
    assert cos.min() > np.cos(np.radians(5))
    assert np.all(poses[:, 2, 3] > 1.0)
