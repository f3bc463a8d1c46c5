"""The VLDM condition diagnostic on the smoke profile: trains, measures and writes one JSON per category."""

import json

from sparsefusion import diagnose, train


def test_smoke_profile_writes_condition_use(tmp_path, monkeypatch):
    monkeypatch.setattr(train, "retain_freed_memory", lambda: None)  # training-process settings, not the runner's
    monkeypatch.setattr(train.torch, "set_num_threads", lambda n: None)
    out = tmp_path / "out"
    assert diagnose.main(["--profile", "smoke", "--run-root", str(tmp_path / "runs"), "--out", str(out)]) == 0
    doc = json.loads((out / "synthetic-smoke" / "donut.json").read_text())
    assert [r["t"] for r in doc["rows"]] == list(diagnose.TIMES)
    for r in doc["rows"]:
        assert 0 < r["alpha_bar"] < 1 and all(r[k] >= 0 for k in ("x0_mse_cond", "x0_mse_null", "x0_mse_mean"))
    assert doc["provenance"]["data_source"] == "synthetic" and doc["provenance"]["extra"]["train_steps"] == 2
    assert doc["provenance"]["extra"]["prediction"] == "eps"
