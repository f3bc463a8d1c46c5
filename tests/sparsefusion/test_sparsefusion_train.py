"""The training command line: the shared arguments, the config they select, and refused model names."""

import argparse

import pytest

from sparsefusion import train


@pytest.fixture(autouse=True)
def keep_test_process_settings(monkeypatch):
    """cli_config sets torch's thread count and the allocator for a training process; not for the test runner."""
    monkeypatch.setattr(train, "retain_freed_memory", lambda: None)
    monkeypatch.setattr(train.torch, "set_num_threads", lambda n: None)


def parse(argv, profile=None):
    parser = argparse.ArgumentParser()
    train.add_cli_arguments(parser, profile)
    return parser.parse_args(argv)


def test_cli_config_applies_profile_categories_and_overrides():
    cfg = train.cli_config(parse(["--categories", "hydrant", "vldm.sample_steps=7"], profile="quick"))
    assert cfg.profile == "quick" and list(cfg.data.categories) == ["hydrant"]
    assert cfg.vldm.sample_steps == 7 and cfg.vldm.prediction == "v"
    assert train.cli_config(parse(["--profile", "paper"])).vldm.prediction == "eps"


def test_unknown_model_names_are_refused(capsys):
    with pytest.raises(SystemExit):
        train.main(["--profile", "smoke", "--models", "joint,nerformer"])
    assert "unknown ['nerformer']" in capsys.readouterr().err
