"""Load official pi-GAN checkpoints (pickled whole modules) without running their pickles' code.

The official ``train.py`` saves ``torch.save(generator)`` (``generator.pth``: an ``ImplicitGenerator3d`` whose
``.siren`` is a ``SPATIALSIRENBASELINE``) and ``torch.save(ema)`` (``ema.pth`` / ``ema2.pth``: a torch_ema
``ExponentialMovingAverage`` whose ``shadow_params`` follow ``generator.parameters()`` order). Plain
``torch.load`` would import the official module paths and would run whatever callable a pickle names.

`RestrictedUnpickler` resolves only:
  * the tensor-rebuild functions and containers torch itself pickles (``ALLOWED_GLOBALS``);
  * the module classes of the official code and torch.nn (``KNOWN_MODULE_CLASSES``), each mapped to an inert
    `ModuleRecord` that just stores the pickled ``__dict__`` (no constructor, no method of the original runs).
Any other global (``os.system``, ``builtins.eval``, an unknown class) raises `RefusedPickle`, one line naming the
file and the global. `module_state_dict` turns a record tree into a flat ``{dotted name: tensor}`` state dict;
the parameter names of ``generator.pth`` equal those of `nerf_correspondence.pigan.PiGANGenerator`
(``siren.network.{i}.layer.*``, ``siren.final_layer.*``, ``siren.color_layer_sine.layer.*``,
``siren.color_layer_linear.0.*``, ``siren.mapping_network.network.{0,2,4,6}.*``).
"""

from __future__ import annotations

import pickle
from collections import OrderedDict
from pathlib import Path
from types import SimpleNamespace

import torch

ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): torch._utils._rebuild_parameter_with_state,
    ("torch.nn.parameter", "Parameter"): torch.nn.Parameter,
    ("torch", "Size"): torch.Size,
    ("torch", "device"): torch.device,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("__builtin__", "set"): set,  # pickle protocol 2 (torch.save's default) names builtins this way
    ("__builtin__", "frozenset"): frozenset,
}
KNOWN_MODULE_CLASSES = {
    ("generators.generators", "ImplicitGenerator3d"),
    ("siren.siren", "SPATIALSIRENBASELINE"),
    ("siren.siren", "TALLSIREN"),
    ("siren.siren", "FiLMLayer"),
    ("siren.siren", "CustomMappingNetwork"),
    ("siren.siren", "UniformBoxWarp"),
    ("torch_ema.ema", "ExponentialMovingAverage"),
    ("torch_ema", "ExponentialMovingAverage"),
    ("torch.nn.modules.linear", "Linear"),
    ("torch.nn.modules.container", "Sequential"),
    ("torch.nn.modules.container", "ModuleList"),
    ("torch.nn.modules.activation", "LeakyReLU"),
    ("torch.nn.modules.activation", "ReLU"),
    ("torch.nn.modules.activation", "Sigmoid"),
}


class RefusedPickle(pickle.UnpicklingError):
    """A checkpoint names a global outside the allow-list; the message is one line."""


class ModuleRecord:
    """Inert stand-in for a pickled object of a known class: ``cls_name`` and the pickled ``state``."""

    def __init__(self, cls_name: str):
        self.cls_name, self.state = cls_name, {}

    def __setstate__(self, state):
        self.state = dict(state) if isinstance(state, dict) else {"state": state}


def _record_class(module: str, name: str):
    qual = f"{module}.{name}"

    class Record(ModuleRecord):
        def __init__(self, *args, **kwargs):
            super().__init__(qual)

        def __new__(cls, *args, **kwargs):
            obj = object.__new__(cls)
            ModuleRecord.__init__(obj, qual)
            return obj

    Record.__name__ = name
    return Record


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose ``find_class`` resolves only the allow-lists above (see the module doc)."""

    source = "<checkpoint>"

    def find_class(self, module: str, name: str):
        if (module, name) in ALLOWED_GLOBALS:
            return ALLOWED_GLOBALS[(module, name)]
        if (module, name) in KNOWN_MODULE_CLASSES:
            return _record_class(module, name)
        raise RefusedPickle(
            f"{self.source}: refusing to load global {module}.{name}: not a known pi-GAN checkpoint class "
            "(the pickle may run code); expected generator.pth / ema.pth of marcoamonteiro/pi-GAN"
        )


def _pickle_module(source: str) -> SimpleNamespace:
    class Unpickler(RestrictedUnpickler):
        pass

    Unpickler.source = source
    return SimpleNamespace(Unpickler=Unpickler, load=lambda f, **kw: Unpickler(f, **kw).load(), __name__="restricted")


def load_restricted(path: str | Path):
    """Unpickle a torch checkpoint at ``path`` through `RestrictedUnpickler` (tensors on the CPU)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint; put the official pi-GAN generator.pth / ema.pth there")
    return torch.load(path, map_location="cpu", pickle_module=_pickle_module(str(path)), weights_only=False)


def module_state_dict(record: ModuleRecord, prefix: str = "") -> dict[str, torch.Tensor]:
    """Flat state dict (``_parameters`` and ``_buffers`` of the record tree, dotted names) of a module record."""
    out: dict[str, torch.Tensor] = {}
    for key in ("_parameters", "_buffers"):
        for name, value in (record.state.get(key) or {}).items():
            if value is not None:
                out[prefix + name] = value.detach().clone()
    for name, child in (record.state.get("_modules") or {}).items():
        if isinstance(child, ModuleRecord):
            out.update(module_state_dict(child, f"{prefix}{name}."))
    return out


def load_official_generator(generator_path: str | Path, ema_path: str | Path | None = None) -> dict:
    """State dict of `PiGANGenerator` from ``generator.pth``; with ``ema_path`` the EMA shadow parameters replace
    the parameters (in ``generator.parameters()`` order, as torch_ema's ``copy_to``)."""
    record = load_restricted(generator_path)
    if not isinstance(record, ModuleRecord) or "ImplicitGenerator3d" not in record.cls_name:
        raise RefusedPickle(f"{generator_path}: holds {type(record).__name__}; expected a pickled ImplicitGenerator3d")
    state = module_state_dict(record)
    state = {k: v for k, v in state.items() if k.startswith("siren.")}
    if ema_path is not None:
        ema = load_restricted(ema_path)
        shadow = ema.state.get("shadow_params") if isinstance(ema, ModuleRecord) else None
        params = [k for k in state if not k.endswith("running_mean")]
        if shadow is None or len(shadow) != len(params):
            raise RefusedPickle(f"{ema_path}: expected torch_ema shadow_params for {len(params)} generator parameters")
        for k, v in zip(params, shadow):
            if tuple(v.shape) != tuple(state[k].shape):
                raise RefusedPickle(f"{ema_path}: shadow parameter for {k} has shape {tuple(v.shape)}, "
                                    f"expected {tuple(state[k].shape)}")  # fmt: skip
            state[k] = v.detach().clone()
    return state
