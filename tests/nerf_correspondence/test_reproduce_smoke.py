"""The package's entry points in the smoke profile (seconds): pi-GAN through the driver CLI (and resume), the
benchmark script end to end."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nerf_correspondence.train import main as train_main

REPO = Path(__file__).resolve().parents[2]
CELEBA = REPO.parent / "shared" / "data" / "celeba-128-pigan-eval-subset" / "CelebA_real_images_128"


def test_pigan_smoke_on_shape_renders_and_resume(tmp_path, capsys):
    run = tmp_path / "pigan"
    args = ["--config", "nerf_correspondence/configs/pigan_shapes.yaml", "--profile", "smoke", "--run-dir", str(run),
            "--device", "cpu"]  # fmt: skip
    assert train_main(args) == 0
    report = json.loads((run / "test_metrics.json").read_text())
    assert report["data_source"] == "synthetic" and report["mean"]["swd"] >= 0
    assert (run / "renders" / "samples.png").is_file()
    assert train_main([*args, "--resume"]) == 0  # finished run: returns its report
    assert train_main([*args, "model.width=8"]) == 2  # holds checkpoints: refused with one line
    assert "holds checkpoints" in capsys.readouterr().err


@pytest.mark.realdata
def test_pigan_smoke_on_real_celeba(tmp_path):
    if not CELEBA.is_dir():
        pytest.skip(f"real CelebA sample absent ({CELEBA.name}); expected under ../shared/data")
    run = tmp_path / "celeba"
    assert train_main(["--config", "nerf_correspondence/configs/pigan_celeba.yaml", "--profile", "smoke", "--run-dir",
                       str(run), "--device", "cpu", f"data.root={CELEBA}"]) == 0  # fmt: skip
    assert json.loads((run / "test_metrics.json").read_text())["data_source"] == "real"


@pytest.mark.slow
def test_benchmark_script_smoke(tmp_path):
    env = {**os.environ, "PROFILE": "smoke", "RESULTS_DIR": str(tmp_path / "results"),
           "RUNS_DIR": str(tmp_path / "runs"), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}  # fmt: skip
    proc = subprocess.run([sys.executable, "-m", "reproduce.nerf_correspondence_benchmark"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = tmp_path / "results" / "synthetic-smoke"
    doc = json.loads((out / "table.json").read_text())
    assert doc["provenance"]["data_source"] == "synthetic"
    assert set(doc["rows"]) == {"identity", "feature_nn", "bdf_full", "bdf_no_cycle", "bdf_no_pair",
                                "bdf_no_curriculum", "bdf_feature_only"}  # fmt: skip
    for png in doc["figures"]:
        assert (out / png).is_file()
    assert "no quantitative" in (out / "table.md").read_text()


def test_faces_script_without_checkpoint_names_the_files(tmp_path, monkeypatch, capsys):
    from reproduce.nerf_correspondence_faces import main as faces_main

    monkeypatch.setenv("PIGAN_CHECKPOINT_DIR", str(tmp_path))
    assert faces_main() == 2
    assert "generator.pth and ema.pth" in capsys.readouterr().err


@pytest.mark.slow
def test_faces_script_smoke_on_a_crafted_official_checkpoint(tmp_path):
    """An official-style checkpoint (whole pickled modules of the official class paths, random weights) written by
    a child process that can import stand-ins of the official modules; the script must not be able to."""
    writer = tmp_path / "write_ckpt.py"
    writer.write_text(
        "import sys, types, torch, yaml\n"
        "from nerf_correspondence.pigan import PiGANGenerator\n"
        "from nerf_correspondence.siren import FiLMLayer, FiLMSiren, MappingNetwork\n"
        "mods = {}\n"
        "for path, names in (('siren.siren', ('SPATIALSIRENBASELINE', 'FiLMLayer', 'CustomMappingNetwork')),\n"
        "                    ('generators.generators', ('ImplicitGenerator3d',))):\n"
        "    m = types.ModuleType(path); sys.modules[path] = m\n"
        "    sys.modules[path.split('.')[0]] = types.ModuleType('x')\n"
        "    for n in names:\n"
        "        setattr(m, n, type(n, (torch.nn.Module,), {'__module__': path})); mods[n] = getattr(m, n)\n"
        "class ExponentialMovingAverage:\n"
        "    def __init__(self, params):\n"
        "        self.shadow_params, self.decay = [p.detach().clone() for p in params], 0.999\n"
        "ExponentialMovingAverage.__module__ = 'torch_ema'\n"
        "sys.modules['torch_ema'] = types.ModuleType('torch_ema')\n"
        "sys.modules['torch_ema'].ExponentialMovingAverage = ExponentialMovingAverage\n"
        "gen = PiGANGenerator(yaml.safe_load(open('nerf_correspondence/configs/pigan_base.yaml'))['model'])\n"
        "for mod in gen.modules():\n"
        "    for ours, theirs in ((FiLMSiren, 'SPATIALSIRENBASELINE'), (FiLMLayer, 'FiLMLayer'),\n"
        "                         (MappingNetwork, 'CustomMappingNetwork')):\n"
        "        if isinstance(mod, ours): mod.__class__ = mods[theirs]\n"
        "top = mods['ImplicitGenerator3d'](); top.siren = gen.siren\n"
        f"torch.save(top, r'{tmp_path}/generator.pth')\n"
        f"torch.save(ExponentialMovingAverage(top.parameters()), r'{tmp_path}/ema.pth')\n"
    )
    assert subprocess.run([sys.executable, str(writer)], cwd=REPO, timeout=300).returncode == 0
    env = {**os.environ, "PIGAN_CHECKPOINT_DIR": str(tmp_path), "PROFILE": "smoke", "OMP_NUM_THREADS": "1",
           "RESULTS_DIR": str(tmp_path / "results"), "RUNS_DIR": str(tmp_path / "runs")}  # fmt: skip
    proc = subprocess.run([sys.executable, "-m", "reproduce.nerf_correspondence_faces"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = tmp_path / "results" / "real-smoke"
    assert (out / "fig5_template_transfer.png").is_file() and (out / "fig8_face_transfer.png").is_file()
