"""EMA of parameters: the update formula, resized parameters, swap in/out, state round trip."""

from __future__ import annotations

import pytest
import torch

from common.engine.ema import ParameterEMA


def test_update_is_the_ema_formula_and_applied_restores():
    m = torch.nn.Linear(2, 1)
    ema = ParameterEMA(0.9)
    ema.update(m)
    start = {k: v.clone() for k, v in m.named_parameters()}
    with torch.no_grad():
        m.weight.add_(1.0)
    ema.update(m)
    torch.testing.assert_close(ema.shadow["weight"], 0.9 * start["weight"] + 0.1 * (start["weight"] + 1))
    trained = m.weight.detach().clone()
    with ema.applied(m):
        torch.testing.assert_close(m.weight, ema.shadow["weight"])
    assert torch.equal(m.weight, trained)


def test_resized_parameter_restarts_and_state_round_trips():
    m = torch.nn.Module()
    m.grid = torch.nn.Parameter(torch.ones(3))
    ema = ParameterEMA(0.5)
    ema.update(m)
    m.grid = torch.nn.Parameter(torch.full((5,), 2.0))  # progressive upsampling
    ema.update(m)
    assert torch.equal(ema.shadow["grid"], torch.full((5,), 2.0))
    other = ParameterEMA(0.1)
    other.load_state_dict(ema.state_dict())
    assert other.decay == 0.5 and torch.equal(other.shadow["grid"], ema.shadow["grid"])


@pytest.mark.parametrize("decay", [-0.1, 1.0, 2.0])
def test_decay_out_of_range(decay):
    with pytest.raises(ValueError, match="ema_decay"):
        ParameterEMA(decay)
