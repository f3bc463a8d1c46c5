"""pi-GAN's generator network: mapping network + FiLM-SIREN (``SPATIALSIRENBASELINE``) with its colour branch.

FiLM-SIREN layer (no omega_0 on hidden layers; the frequency gamma carries it)::

    h = sin(gamma * (W x + b) + beta)

Mapping network: z [B, Z] -> Linear(Z, H) + LeakyReLU(0.2) x 3 -> Linear(H, 2 (L + 1) W); the first half are
the frequencies, the second half the phase shifts, each [B, (L + 1) W] = L slices for the trunk and one for
the colour layer. gamma = 15 f + 30 (``FREQ_SCALE``, ``FREQ_SHIFT``). Official sizes: Z = H = W = 256, L = 8.

Network (input xyz scaled by ``UniformBoxWarp``: x * 2 / side, side 0.24 for CelebA):
    h_0 = x_warped; h_{l+1} = FiLM_l(h_l; gamma_l, beta_l), l = 0 .. L-1            (trunk, width W)
    sigma = Linear(W, 1)(h_L)                                                          (raw density)
    h_c = FiLM_c([d, h_L]; gamma_L, beta_L)          (colour sine layer on the ray direction d and h_L)
    rgb = sigmoid(Linear(W, 3)(h_c))

Init (``frequency_init(25)``): every FiLM / linear weight ~ U(-sqrt(6 / n) / 25, sqrt(6 / n) / 25), n = fan_in;
the first FiLM layer U(-1 / n, 1 / n). Mapping network: kaiming-normal (LeakyReLU 0.2, fan_in), biases 0 as in
torch's default for kaiming init, the last layer's weights x 0.25.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

FREQ_SCALE, FREQ_SHIFT = 15.0, 30.0


@torch.no_grad()
def frequency_init(layer: nn.Linear, freq: float = 25.0) -> None:
    """weight ~ U(-sqrt(6 / fan_in) / freq, sqrt(6 / fan_in) / freq) (bias keeps torch's default)."""
    bound = math.sqrt(6.0 / layer.weight.shape[1]) / freq
    layer.weight.uniform_(-bound, bound)


@torch.no_grad()
def first_layer_film_init(layer: nn.Linear) -> None:
    """weight ~ U(-1 / fan_in, 1 / fan_in)."""
    bound = 1.0 / layer.weight.shape[1]
    layer.weight.uniform_(-bound, bound)


class FiLMLayer(nn.Module):
    """x [..., in] -> sin(gamma * (W x + b) + beta) [..., out]; gamma, beta [B, out] broadcast over the
    point axes of x [B, ..., in]."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.layer = nn.Linear(in_dim, out_dim)

    def forward(self, x: Tensor, gamma: Tensor, beta: Tensor) -> Tensor:
        shape = (gamma.shape[0],) + (1,) * (x.dim() - 2) + (gamma.shape[-1],)
        return torch.sin(gamma.reshape(shape) * self.layer(x) + beta.reshape(shape))


class MappingNetwork(nn.Module):
    """z [B, Z] -> (frequencies [B, n_out / 2], phase shifts [B, n_out / 2]); see the module docstring."""

    def __init__(self, z_dim: int, hidden: int, n_out: int):
        super().__init__()
        if n_out % 2:
            raise ValueError(f"mapping output width must be even (frequencies + phases), got {n_out}")
        self.network = nn.Sequential(
            nn.Linear(z_dim, hidden), nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(hidden, hidden), nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(hidden, hidden), nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(hidden, n_out),
        )  # fmt: skip
        with torch.no_grad():
            for m in self.network:
                if isinstance(m, nn.Linear):
                    nn.init.kaiming_normal_(m.weight, a=0.2, mode="fan_in", nonlinearity="leaky_relu")
            self.network[-1].weight *= 0.25

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        out = self.network(z)
        half = out.shape[-1] // 2
        return out[..., :half], out[..., half:]


class FiLMSiren(nn.Module):
    """The FiLM-SIREN generator network of pi-GAN (``SPATIALSIRENBASELINE``); see the module docstring.

    ``forward(x [B, N, 3], z [B, Z], ray_dirs [B, N, 3])`` -> (sigma [B, N], rgb [B, N, 3]).
    ``forward_with_modulations(x, gamma, beta, ray_dirs, feature_layers)`` takes gamma / beta [B, (L+1) W]
    directly (gamma = 15 f + 30 already applied) and also returns the requested intermediate activations.
    """

    def __init__(self, z_dim: int = 256, width: int = 256, depth: int = 8, mapping_hidden: int = 256,
                 box_side: float = 0.24):  # fmt: skip
        super().__init__()
        self.z_dim, self.width, self.depth, self.box_side = z_dim, width, depth, float(box_side)
        self.network = nn.ModuleList([FiLMLayer(3 if i == 0 else width, width) for i in range(depth)])
        self.final_layer = nn.Linear(width, 1)
        self.color_layer_sine = FiLMLayer(width + 3, width)
        self.color_layer_linear = nn.Sequential(nn.Linear(width, 3))
        self.mapping_network = MappingNetwork(z_dim, mapping_hidden, (depth + 1) * width * 2)
        for module in (*self.network, self.color_layer_sine):
            frequency_init(module.layer)
        frequency_init(self.final_layer)
        frequency_init(self.color_layer_linear[0])
        first_layer_film_init(self.network[0].layer)

    @property
    def n_modulations(self) -> int:
        """(L + 1) W: the length of the frequency (and of the phase) vector."""
        return (self.depth + 1) * self.width

    def modulations(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """z [B, Z] -> (gamma = 15 f + 30, beta), each [B, (L + 1) W]."""
        freqs, phases = self.mapping_network(z)
        return freqs * FREQ_SCALE + FREQ_SHIFT, phases

    def forward(self, x: Tensor, z: Tensor, ray_dirs: Tensor) -> tuple[Tensor, Tensor]:
        gamma, beta = self.modulations(z)
        sigma, rgb, _ = self.forward_with_modulations(x, gamma, beta, ray_dirs)
        return sigma, rgb

    def forward_with_modulations(
        self, x: Tensor, gamma: Tensor, beta: Tensor, ray_dirs: Tensor, feature_layers: tuple[int, ...] = ()
    ) -> tuple[Tensor, Tensor, list[Tensor]]:
        """(sigma [B, N], rgb [B, N, 3], [activation [B, N, W] for each requested layer]).

        Layer indices 0 .. L-1 are the trunk FiLM outputs h_1 .. h_L; index L is the colour sine layer's
        output h_c (after the view direction enters).
        """
        h = x * (2.0 / self.box_side)
        feats: dict[int, Tensor] = {}
        w = self.width
        for i, layer in enumerate(self.network):
            h = layer(h, gamma[..., i * w : (i + 1) * w], beta[..., i * w : (i + 1) * w])
            feats[i] = h
        sigma = self.final_layer(h)[..., 0]
        hc = self.color_layer_sine(torch.cat([ray_dirs, h], -1), gamma[..., -w:], beta[..., -w:])
        feats[self.depth] = hc
        rgb = torch.sigmoid(self.color_layer_linear(hc))
        return sigma, rgb, [feats[i] for i in feature_layers]
