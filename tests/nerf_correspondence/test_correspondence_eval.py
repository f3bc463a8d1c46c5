import numpy as np
import torch

from nerf_correspondence.bdf import BDF
from nerf_correspondence.correspondence_eval import (
    bdf_prediction,
    correspondence_errors,
    cycle_error,
    feature_nn,
    object_size,
    summarize,
)


def test_errors_relative_to_the_bounding_box_diagonal_and_pck():
    target = np.array([[0.0, 0.0, 0.0], [3.0, 4.0, 0.0]])  # diagonal 5
    assert object_size(target) == 5.0
    pred = target + np.array([[0.1, 0, 0], [0.0, 0.4, 0.0]])
    e = correspondence_errors(pred, target)
    assert np.allclose(e, [0.02, 0.08])
    s = summarize(e)
    assert np.isclose(s["mean_error_pct"], 5.0) and s["pck5"] == 50.0 and s["pck10"] == 100.0


def test_feature_nn_picks_the_most_similar_vertex():
    fa = torch.nn.functional.normalize(torch.tensor([[1.0, 0.1], [0.0, 1.0]]), dim=-1)
    fb = torch.nn.functional.normalize(torch.tensor([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]), dim=-1)
    vb = np.array([[0.0, 0, 0], [1.0, 0, 0], [2.0, 0, 0]])
    assert np.array_equal(feature_nn(fa, fb, vb, chunk=1), vb[[1, 0]])


def test_identity_bdf_predicts_the_source_points():
    bdf = BDF(cond_dim=2, width=8)
    v = np.random.default_rng(0).normal(size=(10, 3)).astype(np.float32)
    c = torch.zeros(1, 2)
    assert np.allclose(bdf_prediction(bdf, c, c, v), v) and np.allclose(cycle_error(bdf, c, v), 0)
