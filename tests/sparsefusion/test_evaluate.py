"""Evaluation protocol: 32 evenly spaced frames, seeded input views, angle bins."""

import pytest

from sparsefusion.evaluate import BIN_LABELS, angle_bin, protocol


def test_protocol_frames_and_seeded_inputs():
    frames, inputs = protocol(202, 2, scene_index=3)
    assert len(frames) == 32 and frames[0] == 0 and frames[-1] == 201
    assert frames == sorted(frames) and len(set(frames)) == 32
    assert protocol(202, 2, 3) == (frames, inputs) and len(set(inputs)) == 2
    assert protocol(202, 3, 3)[1][:2] == inputs  # more input views extend the same permutation
    assert protocol(202, 2, 4)[1] != inputs or protocol(202, 2, 5)[1] != inputs


@pytest.mark.parametrize(
    ("angle", "label"), [(0.0, "0-15"), (14.9, "0-15"), (15.0, "15-30"), (44.0, "30-45"), (45.0, "45+"), (170.0, "45+")]
)
def test_angle_bins(angle, label):
    assert angle_bin(angle) == label and label in BIN_LABELS
