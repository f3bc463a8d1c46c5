"""Fully connected networks with NeRF-style skip connections.

A trunk of ``depth`` linear layers of width W: layer 0 maps in_dim -> W; with ``skips`` = [s], the
input x is concatenated to the activated output of layer s, so layer s + 1 maps W + in_dim -> W
(nerf-pytorch: skips=[4] with 8 layers). ``MLP`` adds an output layer W -> out_dim.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "relu": F.relu,
    "softplus": F.softplus,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "identity": lambda x: x,
}


def activation_fn(name: str | Callable[[Tensor], Tensor] | None) -> Callable[[Tensor], Tensor]:
    """A callable from a name in ``ACTIVATIONS`` (None = identity) or the callable itself."""
    if name is None:
        return ACTIVATIONS["identity"]
    if callable(name):
        return name
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; valid: {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def skip_linears(in_dim: int, width: int, depth: int, skips: Sequence[int] = ()) -> nn.ModuleList:
    """[Linear(in_dim, W)] + [Linear(W + in_dim if i in skips else W, W) for i < depth - 1]."""
    return nn.ModuleList(
        [nn.Linear(in_dim, width)]
        + [nn.Linear(width + in_dim if i in skips else width, width) for i in range(depth - 1)]
    )


def apply_skip_linears(
    layers: nn.ModuleList, x: Tensor, skips: Sequence[int] = (), activation: Callable[[Tensor], Tensor] = F.relu
) -> Tensor:
    """h = x; for each layer i: h = act(layer_i(h)), then h = [x, h] when i in skips. Returns [..., W]."""
    h = x
    for i, layer in enumerate(layers):
        h = activation(layer(h))
        if i in skips:
            h = torch.cat([x, h], -1)
    return h


class MLP(nn.Module):
    """out = output_activation(Linear(W, out_dim)(trunk(x))) with the skip trunk above.

    x [..., in_dim] -> [..., out_dim]. ``depth`` counts the hidden (trunk) layers; activations are
    names in ``ACTIVATIONS`` or callables (``output_activation`` None = identity).
    Example: MLP(3, 1, width=8, depth=2) = Linear(3, 8)-ReLU-Linear(8, 8)-ReLU-Linear(8, 1).
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        width: int = 256,
        depth: int = 8,
        skips: Sequence[int] = (),
        activation: str | Callable[[Tensor], Tensor] = "relu",
        output_activation: str | Callable[[Tensor], Tensor] | None = None,
    ):
        super().__init__()
        if depth < 1:
            raise ValueError(f"MLP depth must be >= 1, got {depth}")
        if any(not 0 <= s < depth - 1 for s in skips):
            raise ValueError(f"MLP skips must lie in [0, depth - 1 = {depth - 1}), got {list(skips)}")
        self.skips = tuple(int(s) for s in skips)
        self.activation = activation_fn(activation)
        self.output_activation = activation_fn(output_activation)
        self.layers = skip_linears(in_dim, width, depth, self.skips)
        self.output = nn.Linear(width, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.output_activation(self.output(apply_skip_linears(self.layers, x, self.skips, self.activation)))
