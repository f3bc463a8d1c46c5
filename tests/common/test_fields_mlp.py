from __future__ import annotations

import pytest
import torch

from common.fields import MLP


def test_layers_skips_and_forward_against_a_loop():
    torch.manual_seed(0)
    mlp = MLP(5, 2, width=16, depth=4, skips=[1], activation="softplus", output_activation="sigmoid")
    shapes = [tuple(layer.weight.shape) for layer in mlp.layers]
    assert shapes == [(16, 5), (16, 16), (16, 16 + 5), (16, 16)] and tuple(mlp.output.weight.shape) == (2, 16)
    x = torch.randn(7, 5)
    h = x
    for i, layer in enumerate(mlp.layers):
        h = torch.nn.functional.softplus(h @ layer.weight.T + layer.bias)
        if i == 1:
            h = torch.cat([x, h], -1)
    ref = torch.sigmoid(h @ mlp.output.weight.T + mlp.output.bias)
    torch.testing.assert_close(mlp(x), ref)
    assert mlp(torch.randn(2, 3, 5)).shape == (2, 3, 2)


def test_defaults_and_errors():
    mlp = MLP(3, 1, width=8, depth=2)
    x = torch.randn(4, 3)
    h = torch.relu(mlp.layers[1](torch.relu(mlp.layers[0](x))))
    torch.testing.assert_close(mlp(x), mlp.output(h))  # ReLU trunk, identity output
    assert MLP(3, 1, width=8, depth=2, output_activation=torch.exp)(x).min() > 0
    with pytest.raises(ValueError, match="skips"):
        MLP(3, 1, depth=2, skips=[1])
    with pytest.raises(ValueError, match="activation"):
        MLP(3, 1, activation="gelu-ish")
