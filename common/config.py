"""YAML experiment presets with inheritance, profiles and validated dotted overrides.

A preset is a YAML mapping. Two top-level keys are special:

- ``_base_``: a path (or list of paths, relative to the preset's own file) merged first;
  later bases and the preset itself win. Dicts merge recursively; lists and scalars replace.
- ``profiles``: ``{paper: {...}, quick: {...}, smoke: {...}}`` nested deltas, one of which is
  applied when that profile is selected (``paper``: the paper's settings on a GPU and the real
  data; ``quick``: a 2-core CPU in minutes; ``smoke``: seconds, for tests).

``load_config`` resolves, in increasing precedence::

    base presets < preset < profile delta < user file < CLI overrides ("a.b.c=value")

The merged preset (bases + preset, without ``profiles``) is the schema: every key set by a
later layer must already exist there, and its value must have the default's type (an int is
accepted, and converted, where the default is a float; a ``null`` default accepts anything;
``null`` is accepted for any key whose default is not a mapping; a dict default accepts only a
dict, merged key by key). The resolved profile name is stored
under the top-level key ``profile``.

YAML is read with a SafeLoader that also reads ``1e-3`` as a float (plain YAML 1.1 needs a dot).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from common.data.io import atomic_write_bytes

PROFILES = ("paper", "quick", "smoke")
_REPO_ROOT = Path(__file__).resolve().parents[1]


class ConfigError(ValueError):
    """Bad preset, profile, user file or override; the message is one line naming the key or file."""


class _Loader(yaml.SafeLoader):
    """SafeLoader that resolves exponent floats without a dot (``1e-3``, ``5E+4``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _yaml_load(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader: plain data only
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{source}: invalid YAML ({first}); expected a YAML mapping") from exc


def default_profile() -> str:
    """``"paper"`` when a CUDA device is present, else ``"quick"``."""
    import torch

    return "paper" if torch.cuda.is_available() else "quick"


class Config(Mapping):
    """Nested read-only mapping with attribute and item access (``cfg.train.iters == cfg["train"]["iters"]``).

    Keys that collide with method names (``get``, ``items``, ``save``, ...) are reachable by item
    access only. Change values by ``override`` (validated) or by editing ``to_dict()``.
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]):
        object.__setattr__(self, "_data", {k: _wrap(v) for k, v in data.items()})

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self._data[key]
        except KeyError:
            raise AttributeError(f"config has no key {key!r}; keys: {', '.join(self._data)}") from None

    def __setattr__(self, key: str, value: Any) -> None:
        raise TypeError("Config is read-only; use cfg.override(...) or cfg.to_dict()")

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __reduce__(self) -> tuple:
        return (Config, (self.to_dict(),))

    def __repr__(self) -> str:
        return f"Config({self.to_dict()!r})"

    def to_dict(self) -> dict[str, Any]:
        """Deep copy as plain python types (dict, list, str, int, float, bool, None)."""
        return {k: _unwrap(v) for k, v in self._data.items()}

    def get(self, dotted: str, default: Any = None) -> Any:
        """Value at a dotted path (``"train.lr"``), or ``default`` when any part is missing."""
        node: Any = self
        for part in dotted.split("."):
            if not isinstance(node, Config) or part not in node._data:
                return default
            node = node._data[part]
        return node

    def override(self, overrides: Iterable[str] | Mapping[str, Any], source: str = "override") -> Config:
        """New Config with dotted overrides applied: ``["a.b=1"]`` strings or ``{"a.b": 1}``; validated."""
        data = self.to_dict()
        for key, value, src in _parse_overrides(overrides, source):
            if key == "profile":
                raise ConfigError(f"{src}: 'profile' is the resolved profile name; select a profile with load_config")
            _set_dotted(data, key, value, src)
        return Config(data)

    def save(self, path: str | Path) -> None:
        """Write plain YAML (safe_dump, keys in insertion order) atomically."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False)
        atomic_write_bytes(path, text.encode("utf-8"))

    @staticmethod
    def load(path: str | Path) -> Config:
        """Reload a config written by ``save`` (no inheritance or profiles are applied)."""
        data = _read_yaml(Path(path))
        return Config(data)


def _wrap(value: Any) -> Any:
    if isinstance(value, Mapping):
        return Config(value)
    if isinstance(value, (list, tuple)):
        return [_wrap(v) for v in value]
    return value


def _unwrap(value: Any) -> Any:
    if isinstance(value, Config):
        return value.to_dict()
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: file not found; expected a YAML config file")
    data = _yaml_load(path.read_text(encoding="utf-8"), str(path))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level is a {type(data).__name__}; expected a YAML mapping")
    _check_keys(data, str(path), "")
    return data


def _check_keys(data: dict, source: str, prefix: str) -> None:
    for key, value in data.items():
        if not isinstance(key, str):
            raise ConfigError(f"{source}: key {prefix}{key!r} is a {type(key).__name__}; expected string keys")
        if isinstance(value, dict):
            _check_keys(value, source, f"{prefix}{key}.")


def _merge(base: dict, delta: dict) -> dict:
    """Deep merge without validation (used between presets): dicts merge, anything else replaces."""
    out = dict(base)
    for key, value in delta.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _load_preset(path: Path, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    path = path.resolve()
    if path in chain:
        cycle = " -> ".join(str(p) for p in (*chain, path))
        raise ConfigError(f"{path}: _base_ cycle ({cycle}); expected an acyclic chain of presets")
    data = _read_yaml(path)
    bases = data.pop("_base_", None)
    if bases is None:
        bases = []
    elif isinstance(bases, str):
        bases = [bases]
    elif not (isinstance(bases, list) and all(isinstance(b, str) for b in bases)):
        raise ConfigError(f"{path}: _base_ is {bases!r}; expected a relative path or a list of paths")
    merged: dict[str, Any] = {}
    for base in bases:
        merged = _merge(merged, _load_preset(path.parent / base, (*chain, path)))
    return _merge(merged, data)


def _find_preset(preset: str | Path) -> Path:
    path = Path(preset)
    if not path.is_file() and not path.is_absolute() and (_REPO_ROOT / path).is_file():
        return _REPO_ROOT / path
    return path


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _check_value(default: Any, value: Any, key: str, source: str) -> Any:
    """Return ``value`` (int -> float where the default is a float) or raise on a type mismatch.

    ``null`` is accepted for every key whose default is not a mapping (it switches an optional
    setting off, e.g. ``train.eval_every: null``).
    """
    if default is None or (value is None and not isinstance(default, dict)):
        return value
    if isinstance(default, bool) or isinstance(value, bool):
        ok = isinstance(default, bool) and isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float))
        value = float(value) if ok else value
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise ConfigError(
            f"{source}: key '{key}' is {_type_name(value)} {value!r}; expected {_type_name(default)} "
            f"(default {default!r})"
        )
    return value


def _unknown(key: str, level: dict, source: str) -> ConfigError:
    parent = key.rpartition(".")[0]
    where = f"under '{parent}'" if parent else "at top level"
    valid = ", ".join(sorted(level)) or "(none)"
    return ConfigError(f"{source}: unknown key '{key}'; valid keys {where}: {valid}")


def _apply_delta(schema: dict, delta: dict, source: str, prefix: str = "") -> dict:
    """Validated deep merge of ``delta`` into ``schema`` (keys must exist, types must match)."""
    out = dict(schema)
    for key, value in delta.items():
        full = f"{prefix}{key}"
        if key not in schema:
            raise _unknown(full, schema, source)
        default = schema[key]
        if isinstance(default, dict):
            if not isinstance(value, dict):
                raise ConfigError(
                    f"{source}: key '{full}' is {_type_name(value)} {value!r}; expected a mapping "
                    f"with keys {', '.join(sorted(default))}"
                )
            out[key] = _apply_delta(default, value, source, f"{full}.")
        else:
            out[key] = _check_value(default, value, full, source)
    return out


def _set_dotted(data: dict, dotted: str, value: Any, source: str) -> None:
    parts = dotted.split(".")
    node = data
    for i, part in enumerate(parts[:-1]):
        if part not in node:
            raise _unknown(".".join(parts[: i + 1]), node, source)
        if not isinstance(node[part], dict):
            raise ConfigError(
                f"{source}: key '{'.'.join(parts[: i + 1])}' is {_type_name(node[part])}, not a section; "
                f"cannot set '{dotted}'"
            )
        node = node[part]
    last = parts[-1]
    if last not in node:
        raise _unknown(dotted, node, source)
    if isinstance(node[last], dict):
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: key '{dotted}' is a section; expected a mapping, got {value!r}")
        node[last] = _apply_delta(node[last], value, source, f"{dotted}.")
    else:
        node[last] = _check_value(node[last], value, dotted, source)


def _parse_overrides(overrides: Iterable[str] | Mapping[str, Any], source: str) -> list[tuple[str, Any, str]]:
    if isinstance(overrides, Mapping):
        return [(k, v, f"{source} '{k}'") for k, v in overrides.items()]
    out = []
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not p for p in key.split(".")):
            raise ConfigError(f"{source} {item!r}: expected key=value with a dotted key, e.g. train.lr=1e-3")
        out.append((key, _yaml_load(text, f"{source} {item!r}") if text.strip() else None, f"{source} {item!r}"))
    return out


def load_config(
    preset: str | Path,
    profile: str | None = None,
    file: str | Path | None = None,
    overrides: Iterable[str] | Mapping[str, Any] = (),
) -> Config:
    """Resolve a preset: bases < preset < profile delta < ``file`` < ``overrides``; see the module doc.

    ``profile=None`` selects ``default_profile()``. A relative preset path that does not exist from
    the working directory is also looked up from the repository root.
    """
    if profile is None:
        profile = default_profile()
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")
    path = _find_preset(preset)
    data = _load_preset(path)
    profiles = data.pop("profiles", None) or {}
    if not isinstance(profiles, dict) or not set(profiles) <= set(PROFILES):
        raise ConfigError(f"{path}: 'profiles' is {profiles!r}; expected a mapping with keys among {PROFILES}")
    if "profile" in data:
        raise ConfigError(f"{path}: top-level key 'profile' is reserved for the resolved profile name")
    delta = profiles.get(profile) or {}
    if not isinstance(delta, dict):
        raise ConfigError(f"{path}: profile '{profile}' is {delta!r}; expected a mapping of overrides")
    data = _apply_delta(data, delta, f"{path} profile '{profile}'")
    if file is not None:
        data = _apply_delta(data, _read_yaml(Path(file)), str(file))
    for key, value, src in _parse_overrides(overrides, "override"):
        _set_dotted(data, key, value, src)
    return Config({"profile": profile, **data})


class CliArgs(NamedTuple):
    """What ``parse_cli`` found: the preset, profile, user file, ``key=value`` overrides, other flags."""

    preset: str | None
    profile: str | None
    file: str | None
    overrides: list[str]
    flags: list[str]


def parse_cli(argv: Iterable[str], value_flags: Iterable[str] = ("--run-dir",)) -> CliArgs:
    """Split ``--config PRESET [--profile P] [--file F] [key=value ...]`` from the script's own flags.

    ``--config/--profile/--file`` accept ``--flag VALUE`` or ``--flag=VALUE``. A token ``key=value``
    not starting with ``-`` is an override. Every other token is returned in order in ``flags``
    (for the script's argparse); a flag listed in ``value_flags`` keeps its following token.
    """
    own = {"--config": "preset", "--profile": "profile", "--file": "file"}
    value_flags = set(value_flags)
    found: dict[str, str | None] = {"preset": None, "profile": None, "file": None}
    overrides: list[str] = []
    flags: list[str] = []
    tokens = list(argv)
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        name, eq, inline = tok.partition("=")
        if name in own:
            if eq:
                found[own[name]] = inline
            elif i + 1 < len(tokens):
                found[own[name]] = tokens[i + 1]
                i += 1
            else:
                raise ConfigError(f"command line: {name} needs a value")
        elif tok in value_flags and i + 1 < len(tokens):
            flags += [tok, tokens[i + 1]]
            i += 1
        elif eq and not tok.startswith("-"):
            overrides.append(tok)
        else:
            flags.append(tok)
        i += 1
    if found["profile"] is not None and found["profile"] not in PROFILES:
        raise ConfigError(f"command line: unknown profile {found['profile']!r}; expected one of {', '.join(PROFILES)}")
    return CliArgs(found["preset"], found["profile"], found["file"], overrides, flags)
