from __future__ import annotations

import torch

from s3im.models.dvgo.losses import entropy_last, rgb_per_point


def test_entropy_last_and_rgbper():
    t = torch.tensor([0.5, 1.0, 0.0])
    eps = 1e-6
    ref = (
        torch.log(torch.tensor(2.0))
        + 2 * -(eps * torch.log(torch.tensor(eps)) + (1 - eps) * torch.log(torch.tensor(1 - eps)))
    ) / 3
    torch.testing.assert_close(entropy_last(t), ref)
    w = torch.tensor([0.5, 0.25, 1.0], requires_grad=True)
    rgb = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 0]], requires_grad=True)
    target = torch.tensor([[1.0, 0, 0], [0, 0, 1.0]])
    ri = torch.tensor([0, 0, 1])
    loss = rgb_per_point(w, rgb, target, ri, 2)
    torch.testing.assert_close(loss, torch.tensor((0.25 * 2 + 1.0 * 1) / 2))
    loss.backward()
    assert w.grad is None  # weights are detached
    torch.testing.assert_close(rgb.grad[1], 0.25 * 2 * (rgb[1] - target[0]).detach() / 2)
