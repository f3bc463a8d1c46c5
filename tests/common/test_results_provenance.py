"""Provenance: collected fields, validation, and machine-independent paths (portable_path / _text / _command)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import torch

from common.results.provenance import (
    OUTSIDE_REPO,
    REPO_ROOT,
    Provenance,
    describe_device,
    git_state,
    portable,
    portable_command,
    portable_path,
    portable_text,
)

INTERPRETER = f"python{sys.version_info.major}.{sys.version_info.minor}"
# An absolute path anywhere in a text: "/" at the start or after a space, quote, "(" or "=".
ABSOLUTE = re.compile(r"(^|[\s'\"(=])/\w")


@pytest.fixture
def machine(tmp_path, monkeypatch) -> dict[str, Path]:
    """A fake checkout, its sibling shared folder, a home folder, a data root under $REPLICA_ROOT, a temp folder."""
    places = {
        "repo": tmp_path / "work" / "checkout",
        "shared": tmp_path / "work" / "shared",
        "home": tmp_path / "home" / "user",
        "replica": tmp_path / "datasets" / "replica",
        "tmp": tmp_path / "tmp" / "pytest-1",
    }
    for path in places.values():
        path.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(places["home"]))
    monkeypatch.setenv("REPLICA_ROOT", str(places["replica"]))
    for var in ("NF_DATA_CACHE", "NF_SHARED_DATA", "RUNS_DIR", "RESULTS_DIR", "TORCH_HOME"):
        monkeypatch.delenv(var, raising=False)
    return places


def test_portable_path_rules(machine):
    repo = machine["repo"]

    def p(path):
        return portable_path(path, repo=repo)

    assert (
        p(repo / "data_cache" / "synthetic" / "replica_monosdf-r128-s0")
        == "data_cache/synthetic/replica_monosdf-r128-s0"
    )
    assert p(repo) == "."
    assert p(machine["replica"] / "scan1") == "$REPLICA_ROOT/scan1"
    assert p(machine["replica"]) == "$REPLICA_ROOT"
    assert (
        p(machine["shared"] / "data" / "lpips-squeeze-weights" / "x.pt") == "../shared/data/lpips-squeeze-weights/x.pt"
    )
    assert p(machine["home"] / ".cache" / "torch" / "hub" / "checkpoints") == "~/.cache/torch/hub/checkpoints"
    assert p(machine["tmp"] / "runs" / "scan1") == f"{OUTSIDE_REPO}/scan1"
    assert p("runs/s3im/table1") == "runs/s3im/table1"  # relative: unchanged
    assert p(str(repo / "a" / ".." / "b")) == "b"
    assert p(sys.executable) == INTERPRETER
    assert p("/opt/conda/envs/x/bin/python3") == "python3"
    assert p(Path("/opt/conda/envs/x/bin/python3.12")) == "python3.12"


def test_deepest_folder_wins_and_env_var_values_may_be_relative(machine, monkeypatch):
    repo = machine["repo"]
    monkeypatch.setenv("REPLICA_ROOT", str(repo / "data" / "replica"))  # inside the checkout: $REPLICA_ROOT wins
    assert portable_path(repo / "data" / "replica" / "scan3", repo=repo) == "$REPLICA_ROOT/scan3"
    assert portable_path(repo / "data" / "other", repo=repo) == "data/other"
    monkeypatch.setenv("RUNS_DIR", "runs/x")  # relative to the working directory
    monkeypatch.chdir(repo)
    assert portable_path(repo / "runs" / "x" / "scan1", repo=repo) == "$RUNS_DIR/scan1"
    monkeypatch.setenv("DTU_ROOT", str(machine["tmp"]))
    assert portable_path(machine["tmp"] / "scan24", repo=repo) == f"{OUTSIDE_REPO}/scan24"
    assert portable_path(machine["tmp"] / "scan24", ["DTU_ROOT"], repo=repo) == "$DTU_ROOT/scan24"


def test_symlinked_folders_are_recognised(machine):
    link = machine["tmp"] / "checkout_link"
    link.symlink_to(machine["repo"], target_is_directory=True)
    assert portable_path(link / "results" / "t.json", repo=machine["repo"]) == "results/t.json"
    assert portable_path(machine["repo"] / "results", repo=link) == "results"


def test_the_kinds_of_paths_committed_results_held(machine):
    """Interpreter of another checkout, script and data cache inside the checkout, hub cache in the home folder."""
    repo, home = machine["repo"], machine["home"]
    argv = [
        str(repo / ".venv/bin/python"),
        str(repo / "reproduce/s3im_table1.py"),
        f"data.root={machine['replica']}/scan1",
    ]
    assert portable_command(argv, repo=repo) == "python reproduce/s3im_table1.py 'data.root=$REPLICA_ROOT/scan1'"
    assert portable_command([sys.executable, "-m", "s3im.train"], repo=repo) == f"{INTERPRETER} -m s3im.train"
    dataset = f"synthetic Replica-like rooms (128x128, MonoSDF layout) at {repo}/data_cache/synthetic/replica-r128"
    assert (
        portable_text(dataset, repo=repo)
        == "synthetic Replica-like rooms (128x128, MonoSDF layout) at data_cache/synthetic/replica-r128"
    )
    hub = home / ".cache/torch/hub/checkpoints"
    reason = (
        f"LPIPS-alex backbone weights alexnet-owt-7be5be79.pth not found (searched: {hub}/alexnet-owt-7be5be79.pth); "
        "put torchvision's ImageNet checkpoint alexnet-owt-7be5be79.pth (from "
        f"https://download.pytorch.org/models/alexnet-owt-7be5be79.pth) in {hub} or in $NF_LPIPS_BACKBONE_DIR"
    )
    expected = (
        "LPIPS-alex backbone weights alexnet-owt-7be5be79.pth not found (searched: "
        "~/.cache/torch/hub/checkpoints/alexnet-owt-7be5be79.pth); put torchvision's ImageNet checkpoint "
        "alexnet-owt-7be5be79.pth (from https://download.pytorch.org/models/alexnet-owt-7be5be79.pth) in "
        "~/.cache/torch/hub/checkpoints or in $NF_LPIPS_BACKBONE_DIR"
    )
    assert portable_text(reason, repo=repo) == expected
    assert portable_text(expected, repo=repo) == expected  # idempotent; URLs and $VAR forms untouched
    runs = {"runs_dir": repo / "runs/s3im/table1/synthetic-quick", "logs": [str(machine["tmp"] / "logs")], "n": 3}
    assert portable(runs, repo=repo) == {
        "runs_dir": "runs/s3im/table1/synthetic-quick",
        "logs": [f"{OUTSIDE_REPO}/logs"],
        "n": 3,
    }


def test_portable_text_leaves_non_paths_alone():
    for text in (
        "Δ = ours − paper; 1/2 of the scenes; scene1 / mean",
        "see https://example.org/a/b and ./relative/path, ../shared/data",
        "$REPLICA_ROOT/scan1 and ~/.cache/x and <outside repo>/name",
    ):
        assert portable_text(text) == text


def test_collect_records_portable_paths(machine):
    repo = machine["repo"]
    prov = Provenance.collect(
        "synthetic",
        f"rooms at {repo}/data_cache/rooms",
        "smoke",
        extra={"runs_dir": repo / "runs" / "a", "roots": {"scan1": f"{machine['replica']}/scan1"}},
        repo=repo,
    )
    assert prov.dataset == "rooms at data_cache/rooms"
    assert prov.extra == {"runs_dir": "runs/a", "roots": {"scan1": "$REPLICA_ROOT/scan1"}}
    assert prov.command.split()[0] == INTERPRETER  # this process, interpreter by its bare name
    assert not ABSOLUTE.search(prov.command), prov.command
    given = Provenance.collect("real", "x", "quick", f"{sys.executable} run.py out={machine['tmp']}/o", repo=repo)
    assert given.command == f"{INTERPRETER} run.py out={OUTSIDE_REPO}/o"


def test_provenance_collect_fills_in_the_environment():
    prov = Provenance.collect("real", "DTU scan24 (sample)", "quick", "nf-s3im-train x=1", extra={"seed": 3})
    assert (prov.data_source, prov.dataset, prov.profile, prov.command) == (
        "real",
        "DTU scan24 (sample)",
        "quick",
        "nf-s3im-train x=1",
    )
    assert prov.extra == {"seed": 3} and not prov.synthetic
    assert prov.torch_version == torch.__version__
    assert prov.device == describe_device() and re.match(r"(cpu: \d+ cores|cuda: .+ x\d+)", prov.device)
    assert datetime.fromisoformat(prov.date).tzinfo is not None
    assert (prov.git_commit, prov.git_dirty) == git_state(REPO_ROOT)
    if prov.git_commit is not None:
        assert re.fullmatch(r"[0-9a-f]{40}", prov.git_commit) and isinstance(prov.git_dirty, bool)
    assert Provenance.collect("synthetic", "rooms", "smoke").command  # defaults to this process's command line


def test_provenance_validation(tmp_path):
    with pytest.raises(ValueError, match="expected one of real, synthetic"):
        Provenance.collect("Real", "x", "quick", "cmd")
    with pytest.raises(ValueError, match="JSON-serialisable"):
        Provenance.collect("real", "x", "quick", "cmd", extra={"ids": {1, 2}})
    assert git_state(tmp_path) == (None, None)  # not a git checkout


def test_git_state_ignores_written_results(tmp_path):
    """Outputs under results/ do not make the code 'uncommitted'; any other change does."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}  # fmt: skip

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True, env=env)

    git("init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "table.md").write_text("old\n")
    git("add", ".")
    git("commit", "-qm", "c")
    commit, dirty = git_state(tmp_path)
    assert re.fullmatch(r"[0-9a-f]{40}", commit) and dirty is False
    (tmp_path / "results" / "table.md").write_text("new\n")
    (tmp_path / "results" / "new.json").write_text("{}\n")
    assert git_state(tmp_path) == (commit, False)
    (tmp_path / "code.py").write_text("x = 2\n")
    assert git_state(tmp_path) == (commit, True)


def test_only_the_shared_sibling_is_relative_to_the_repo_parent(tmp_path):
    """A checkout in /tmp must not turn other /tmp paths (pytest's tmp_path, say) into ../ paths."""
    repo = tmp_path / "checkout"
    (repo / "x").mkdir(parents=True)
    other = tmp_path / "pytest-of-someone" / "run" / "alexnet.pth"
    assert portable_path(other, (), repo=repo) == "<outside repo>/alexnet.pth"
    assert portable_path(tmp_path / "shared" / "data" / "a.pt", (), repo=repo) == "../shared/data/a.pt"
