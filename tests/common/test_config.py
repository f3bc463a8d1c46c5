from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import yaml

from common.config import Config, ConfigError, default_profile, load_config, parse_cli

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "configs"
CHILD = FIXTURES / "child.yaml"
BASE = FIXTURES / "base.yaml"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_inheritance_merges_bases_in_order_and_replaces_lists():
    cfg = load_config(CHILD, profile="paper")
    assert cfg.profile == "paper"
    assert cfg.model.width == 128  # child wins over base
    assert cfg.model.name == "dvgo"  # sibling key kept by the deep merge
    assert cfg.loss.s3im.to_dict() == {"weight": 1.0, "kernel": 4}  # second base
    assert cfg.train.milestones == [500]  # lists replace, never concatenate
    assert cfg.train.iters == 20000  # child's paper profile
    assert cfg.train.lr == 1e-3 and isinstance(cfg.train.lr, float)  # "1e-3" in YAML is a float
    assert cfg.data.root is None
    assert "profiles" not in cfg and "_base_" not in cfg


def test_profile_deltas_merge_across_bases():
    smoke = load_config(CHILD, profile="smoke")
    assert (smoke.train.iters, smoke.train.batch_size) == (3, 32)  # base's smoke + child's smoke
    quick = load_config(CHILD, profile="quick")
    assert (quick.train.iters, quick.train.lr, quick.train.batch_size) == (200, 2e-3, 4096)


def test_base_path_is_relative_to_the_including_file(tmp_path, monkeypatch):
    sub = tmp_path / "deeper"
    sub.mkdir()
    rel = os.path.relpath(CHILD, sub)
    grandchild = _write(sub / "grandchild.yaml", f"_base_: {rel}\nmodel:\n  name: tensorf\n")
    monkeypatch.chdir(tmp_path)  # the working directory must not matter
    cfg = load_config(grandchild, profile="smoke")
    assert (cfg.model.name, cfg.model.width, cfg.train.batch_size) == ("tensorf", 128, 32)


def test_base_cycle_is_an_error(tmp_path):
    _write(tmp_path / "a.yaml", "_base_: b.yaml\nx: 1\n")
    _write(tmp_path / "b.yaml", "_base_: a.yaml\ny: 2\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(tmp_path / "a.yaml", profile="paper")


def test_precedence_preset_profile_file_cli(tmp_path):
    user = _write(tmp_path / "user.yaml", "train:\n  lr: 3.0e-3\n  use_amp: true\n")
    assert load_config(CHILD, profile="paper").train.lr == 1e-3  # preset
    assert load_config(CHILD, profile="quick").train.lr == 2e-3  # profile > preset
    by_file = load_config(CHILD, profile="quick", file=user)
    assert by_file.train.lr == 3e-3 and by_file.train.use_amp is True  # file > profile
    assert by_file.train.iters == 200  # untouched profile value survives
    by_cli = load_config(CHILD, profile="quick", file=user, overrides=["train.lr=4e-3", "seed=7"])
    assert by_cli.train.lr == 4e-3 and by_cli.seed == 7  # CLI > file
    assert by_cli.train.use_amp is True  # file value not overridden by the CLI survives
    # the profile is applied before the file: a file value beats the profile's value of the same key
    user_iters = _write(tmp_path / "iters.yaml", "train:\n  iters: 11\n")
    assert load_config(CHILD, profile="smoke", file=user_iters).train.iters == 11
    assert load_config(CHILD, profile="smoke", file=user_iters, overrides=["train.iters=12"]).train.iters == 12


def test_cli_values_are_parsed_as_yaml():
    cfg = load_config(
        CHILD,
        profile="paper",
        overrides=["train.milestones=[1, 2, 3]", "train.use_amp=true", "data.root=/x/y", "model.name='3'"],
    )
    assert cfg.train.milestones == [1, 2, 3]
    assert cfg.train.use_amp is True
    assert cfg.data.root == "/x/y"
    assert cfg.model.name == "3"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "train.itres=5",
            "unknown key 'train.itres'; valid keys under 'train': batch_size, iters, lr, milestones, use_amp",
        ),
        ("trian.iters=5", "unknown key 'trian'; valid keys at top level: data, loss, model, seed, train"),
        ("loss.s3im.wieght=2", "unknown key 'loss.s3im.wieght'; valid keys under 'loss.s3im': kernel, weight"),
        ("profile=smoke", "unknown key 'profile'; valid keys at top level"),
    ],
)
def test_unknown_override_key_lists_valid_keys(override, message):
    with pytest.raises(ConfigError) as err:
        load_config(CHILD, profile="paper", overrides=[override])
    assert message in str(err.value)
    assert override in str(err.value)  # names the offending override
    assert "\n" not in str(err.value)


def test_unknown_key_in_file_and_profile_names_the_source(tmp_path):
    user = _write(tmp_path / "user.yaml", "model:\n  depth: 8\n")
    expected = r"user\.yaml: unknown key 'model\.depth'; valid keys under 'model': name, width"
    with pytest.raises(ConfigError, match=expected):
        load_config(CHILD, profile="paper", file=user)
    preset = _write(tmp_path / "p.yaml", "a: {b: 1}\nprofiles:\n  smoke: {a: {c: 2}}\n")
    with pytest.raises(ConfigError, match=r"profile 'smoke': unknown key 'a\.c'; valid keys under 'a': b"):
        load_config(preset, profile="smoke")
    assert load_config(preset, profile="paper").a.b == 1  # the bad delta is only read when selected


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("train.iters=abc", "key 'train.iters' is str 'abc'; expected int"),
        ("train.iters=1.5", "key 'train.iters' is float 1.5; expected int"),
        ("train.use_amp=1", "key 'train.use_amp' is int 1; expected bool"),
        ("train.iters=true", "key 'train.iters' is bool True; expected int"),
        ("train.milestones=5", "key 'train.milestones' is int 5; expected list"),
        ("train.lr=fast", "key 'train.lr' is str 'fast'; expected float"),
        ("train=3", "key 'train' is a section; expected a mapping"),
        ("train.lr.x=3", "key 'train.lr' is float, not a section"),
    ],
)
def test_type_errors(override, expected):
    with pytest.raises(ConfigError, match="^override") as err:
        load_config(CHILD, profile="paper", overrides=[override])
    assert expected in str(err.value)


def test_type_coercions_and_null_defaults(tmp_path):
    cfg = load_config(CHILD, profile="paper", overrides=["train.lr=1", "data.root=[1, 2]"])
    assert cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float)  # int accepted for a float default
    assert cfg.data.root == [1, 2]  # a null default accepts anything
    user = _write(tmp_path / "user.yaml", "model: 5\n")
    with pytest.raises(ConfigError, match="key 'model' is int 5; expected a mapping with keys name, width"):
        load_config(CHILD, profile="paper", file=user)


def test_bad_inputs_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="missing.yaml: file not found"):
        load_config(tmp_path / "missing.yaml", profile="paper")
    bad = _write(tmp_path / "bad.yaml", "a: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml: invalid YAML"):
        load_config(bad, profile="paper")
    listy = _write(tmp_path / "list.yaml", "- 1\n- 2\n")
    with pytest.raises(ConfigError, match="list.yaml: top level is a list; expected a YAML mapping"):
        load_config(listy, profile="paper")
    with pytest.raises(ConfigError, match="unknown profile 'fast'"):
        load_config(CHILD, profile="fast")
    with pytest.raises(ConfigError, match="expected key=value"):
        load_config(CHILD, profile="paper", overrides=["train.iters"])


def test_default_profile_follows_cuda(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert default_profile() == "quick"
    assert load_config(CHILD).profile == "quick"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert default_profile() == "paper"
    assert load_config(CHILD).train.iters == 20000


def test_access_styles_and_read_only():
    cfg = load_config(CHILD, profile="smoke")
    assert cfg.train.iters == cfg["train"]["iters"] == cfg.get("train.iters") == 3
    assert cfg.get("train.nope", 42) == 42 and cfg.get("train.iters.deeper") is None
    assert isinstance(cfg.train, Config) and len(cfg.train) == 5
    with pytest.raises(AttributeError, match="no key 'nope'"):
        _ = cfg.nope
    with pytest.raises(TypeError, match="read-only"):
        cfg.seed = 3
    with pytest.raises(TypeError):
        cfg["seed"] = 3
    assert pickle.loads(pickle.dumps(cfg)).to_dict() == cfg.to_dict()


def test_override_method_validates():
    cfg = load_config(CHILD, profile="smoke")
    new = cfg.override({"train.iters": 9, "loss.s3im.weight": 2})
    assert (new.train.iters, new.loss.s3im.weight, cfg.train.iters) == (9, 2.0, 3)
    assert cfg.override(["train.batch_size=8"]).train.batch_size == 8
    with pytest.raises(ConfigError, match="unknown key 'train.bs'"):
        cfg.override({"train.bs": 1})


def test_save_load_round_trip(tmp_path):
    cfg = load_config(CHILD, profile="quick", overrides=["data.root=/data/replica", "train.lr=1e-5"])
    path = tmp_path / "run" / "config.yaml"
    cfg.save(path)
    plain = yaml.safe_load(path.read_text())  # plain YAML, no python tags
    assert plain == cfg.to_dict()
    again = Config.load(path)
    assert again.to_dict() == cfg.to_dict()
    assert again.profile == "quick" and again.train.lr == 1e-5
    assert [p.name for p in path.parent.iterdir()] == ["config.yaml"]  # no temporary file left


def test_parse_cli():
    args = parse_cli(
        ["--config", "s3im/configs/x.yaml", "--profile=smoke", "train.lr=1e-3", "--run-dir", "runs/a=b", "--resume"]
        + ["--file", "me.yaml", "model.name=nerf"]
    )
    assert args.preset == "s3im/configs/x.yaml"
    assert args.profile == "smoke"
    assert args.file == "me.yaml"
    assert args.overrides == ["train.lr=1e-3", "model.name=nerf"]
    assert args.flags == ["--run-dir", "runs/a=b", "--resume"]
    assert parse_cli([]).preset is None
    with pytest.raises(ConfigError, match="unknown profile"):
        parse_cli(["--profile", "fast"])
    with pytest.raises(ConfigError, match="--config needs a value"):
        parse_cli(["--config"])


def test_null_switches_an_optional_scalar_off_but_not_a_mapping(tmp_path):
    preset = tmp_path / "p.yaml"
    preset.write_text("train: {eval_every: 5000, opts: {a: 1}}\n")
    assert load_config(preset, "quick", overrides=["train.eval_every=null"]).train.eval_every is None
    with pytest.raises(ConfigError, match="train.opts"):
        load_config(preset, "quick", overrides=["train.opts=null"])
