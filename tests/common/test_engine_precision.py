import pytest
import torch

from common.engine import precision
from common.engine.precision import autocast, native_bf16, resolve_precision


def test_fixed_precisions_resolve_to_themselves():
    assert resolve_precision("fp32", "cpu") == "fp32"
    assert resolve_precision("bf16", "cpu") == "bf16"


def test_auto_follows_the_cpu_capabilities(monkeypatch):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"amx_bf16": False, "avx512_bf16": False})
    assert not native_bf16("cpu")
    assert resolve_precision("auto", "cpu") == "fp32"
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"amx_bf16": True})
    assert resolve_precision("auto", "cpu") == "bf16"
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx512_bf16": True})
    assert resolve_precision("auto", torch.device("cpu")) == "bf16"


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("fp16", "cpu")


def test_autocast_runs_matmuls_in_the_resolved_dtype():
    a, b = torch.randn(4, 8), torch.randn(8, 3)
    with autocast("bf16", "cpu"):
        assert (a @ b).dtype == torch.bfloat16
    with autocast("fp32", "cpu"):
        assert (a @ b).dtype == torch.float32
    with autocast("auto", "cpu"):
        assert (a @ b).dtype == (torch.bfloat16 if native_bf16("cpu") else torch.float32)
    assert precision.PRECISIONS == ("fp32", "bf16", "auto")
