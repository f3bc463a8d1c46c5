"""The restricted loader on checkpoints crafted like the official ones (pickled whole modules)."""

import os
import sys
import types

import pytest
import torch
import yaml

from nerf_correspondence.official_checkpoint import RefusedPickle, load_official_generator, load_restricted
from nerf_correspondence.pigan import PiGANGenerator
from nerf_correspondence.siren import FiLMLayer, FiLMSiren, MappingNetwork


def tiny_generator(seed):
    torch.manual_seed(seed)
    cfg = yaml.safe_load(open("nerf_correspondence/configs/pigan_base.yaml"))["model"]
    cfg.update(width=8, depth=2, mapping_hidden=8, z_dim=4)
    return PiGANGenerator(cfg)


@pytest.fixture
def official_modules(monkeypatch):
    """Stand-ins for pi-GAN's `siren.siren` / `generators.generators` and torch_ema, importable only while
    the checkpoint is written."""
    siren = types.ModuleType("siren.siren")
    gens = types.ModuleType("generators.generators")
    ema = types.ModuleType("torch_ema")
    classes = {}
    for mod, name in ((siren, "SPATIALSIRENBASELINE"), (siren, "FiLMLayer"), (siren, "CustomMappingNetwork"),
                      (gens, "ImplicitGenerator3d")):  # fmt: skip
        cls = type(name, (torch.nn.Module,), {"__module__": mod.__name__})
        setattr(mod, name, cls)
        classes[name] = cls

    class ExponentialMovingAverage:
        def __init__(self, params, decay):
            self.decay, self.num_updates = decay, 0
            self.shadow_params = [p.detach().clone() + 1.0 for p in params]
            self.collected_params = []

    ExponentialMovingAverage.__module__ = "torch_ema"
    ExponentialMovingAverage.__qualname__ = "ExponentialMovingAverage"
    ema.ExponentialMovingAverage = ExponentialMovingAverage
    for name, mod in (("siren", types.ModuleType("siren")), ("siren.siren", siren),
                      ("generators", types.ModuleType("generators")), ("generators.generators", gens),
                      ("torch_ema", ema)):  # fmt: skip
        monkeypatch.setitem(sys.modules, name, mod)
    return classes, ExponentialMovingAverage


def as_official(gen: PiGANGenerator, classes) -> torch.nn.Module:
    """Re-class our modules as the official classes (same attribute names) inside an ImplicitGenerator3d."""
    for m in gen.modules():
        if isinstance(m, FiLMSiren):
            m.__class__ = classes["SPATIALSIRENBASELINE"]
        elif isinstance(m, FiLMLayer):
            m.__class__ = classes["FiLMLayer"]
        elif isinstance(m, MappingNetwork):
            m.__class__ = classes["CustomMappingNetwork"]
    top = classes["ImplicitGenerator3d"]()
    top.siren, top.step, top.epoch, top.z_dim = gen.siren, 100, 3, 4
    return top


def test_loads_official_style_generator_and_ema(tmp_path, official_modules):
    classes, Ema = official_modules
    reference = tiny_generator(0)
    official = as_official(tiny_generator(0), classes)
    torch.save(official, tmp_path / "generator.pth")
    torch.save(Ema(official.parameters(), 0.999), tmp_path / "ema.pth")
    for name in ("siren", "siren.siren", "generators", "generators.generators", "torch_ema"):
        del sys.modules[name]  # the official code is not importable when loading
    state = load_official_generator(tmp_path / "generator.pth")
    fresh = tiny_generator(1)
    fresh.load_state_dict(state)  # strict: the official parameter names equal ours
    for (k, a), b in zip(fresh.state_dict().items(), reference.state_dict().values()):
        assert torch.equal(a, b), k
    ema_state = load_official_generator(tmp_path / "generator.pth", tmp_path / "ema.pth")
    for k in state:
        assert torch.equal(ema_state[k], state[k] + 1.0), k  # shadow params in parameters() order


def test_refuses_a_pickle_that_would_run_code(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"siren": Evil()}, tmp_path / "generator.pth")
    with pytest.raises(RefusedPickle, match=r"refusing to load global (posix|os|nt)\.system"):
        load_official_generator(tmp_path / "generator.pth")
    assert not marker.exists()

    class Builtin:
        def __reduce__(self):
            return (eval, ("1 + 1",))

    torch.save([Builtin()], tmp_path / "ema.pth")
    with pytest.raises(RefusedPickle, match=r"(__builtin__|builtins)\.eval"):
        load_restricted(tmp_path / "ema.pth")


def test_missing_file_and_wrong_content(tmp_path):
    with pytest.raises(FileNotFoundError, match="generator.pth"):
        load_official_generator(tmp_path / "generator.pth")
    torch.save({"a": torch.zeros(2)}, tmp_path / "generator.pth")
    with pytest.raises(RefusedPickle, match="expected a pickled ImplicitGenerator3d"):
        load_official_generator(tmp_path / "generator.pth")
