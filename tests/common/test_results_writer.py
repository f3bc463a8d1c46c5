"""Results writer (md + json): values, deltas, missing reasons, metric labels, portable paths; plots."""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import asdict

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from common.results import registry
from common.results.plots import image_grid, plot_curves
from common.results.provenance import REPO_ROOT, Provenance
from common.results.writer import NOT_RUN, Claim, write_table

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def provenance(source: str = "synthetic") -> Provenance:
    return Provenance(
        data_source=source,
        dataset="procedural Replica-like rooms, 8 scenes at 128x128" if source == "synthetic" else "Replica (MonoSDF)",
        profile="smoke",
        device="cpu: 2 cores",
        git_commit="0123456789abcdef0123456789abcdef01234567",
        git_dirty=False,
        date="2026-01-02T03:04:05+00:00",
        command="python -m reproduce.s3im_table1 --profile smoke",
        torch_version="2.13.0",
        python_version="3.11.7",
        extra={"steps": 10, "seed": 0},
    )


OURS = {
    "standard": {"psnr": {"scene1": 14.5, "scene2": None, "mean": 15.25}, "lpips": {"scene1": 0.61}},
    "multiplex": {"psnr": {"scene1": 31.0, "mean": 30.0}, "lpips": {"scene1": 0.07}},
}
MISSING = {("standard", "psnr", "scene2"): "diverged at step 40 (NaN loss)", "ssim": "SSIM not evaluated in smoke"}
CLAIMS = [
    Claim("Multiplex beats standard in PSNR on every scene", True, "1/1 scenes"),
    Claim("Multiplex beats standard in LPIPS-alex", False, "0.07 vs 0.61 would hold; stated false for the test"),
    Claim("S3IM costs under 10% extra time", None, "no timings in smoke runs"),
]


SQUEEZE_LABEL = "LPIPS-squeeze; the paper reports LPIPS-alex"


def write(tmp_path, source="synthetic", **kw):
    args = dict(
        paper="s3im",
        table_id="table1",
        ours=OURS,
        missing=MISSING,
        claims=CLAIMS,
        notes=["a note"],
        metric_labels={"lpips": "LPIPS-alex"},
    )
    args.update(kw)
    args.setdefault("provenance", provenance(source))
    return write_table(tmp_path / "s3im" / "table1_dvgo_replica", **args)


def section(md: str, metric_name: str) -> list[str]:
    """Table lines under the '### <metric>' heading."""
    block = md.split(f"### {metric_name} ")[1].split("\n\n###")[0].split("\n## ")[0]
    return [line for line in block.splitlines() if line.startswith("| ") and "---" not in line][1:]


def cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


# ---------------------------------------------------------------- writer


def test_round_trip_json_equals_the_inputs(tmp_path):
    md_path, json_path = write(tmp_path)
    assert md_path == tmp_path / "s3im" / "table1_dvgo_replica.md"
    assert json_path == tmp_path / "s3im" / "table1_dvgo_replica.json"
    doc = json.loads(json_path.read_text(encoding="utf-8"))
    assert doc["ours"] == OURS
    assert doc["claims"] == [asdict(c) for c in CLAIMS]
    assert doc["provenance"] == provenance().to_dict()
    assert Provenance.from_dict(doc["provenance"]) == provenance()
    assert doc["notes"] == ["a note"]
    assert (doc["paper_id"], doc["table_id"], doc["data_source"]) == ("s3im", "table1", "synthetic")
    table = registry.get("s3im", "table1")
    for row in table.rows:
        for metric in table.metrics:
            for col in table.columns:
                assert doc["paper"][row][metric][col] == table.value(row, metric, col)


def test_deltas_are_ours_minus_paper(tmp_path):
    doc = json.loads(write(tmp_path)[1].read_text(encoding="utf-8"))
    table = registry.get("s3im", "table1")
    checked = 0
    for row, by_metric in OURS.items():
        for metric, by_col in by_metric.items():
            for col, ours in by_col.items():
                expected = None if ours is None else ours - table.value(row, metric, col)
                assert doc["delta"][row][metric][col] == pytest.approx(expected)
                checked += ours is not None
    assert checked == 6
    assert doc["delta"]["multiplex"]["psnr"]["mean"] == pytest.approx(30.0 - 33.50)
    # cells we did not run have no delta
    assert doc["delta"]["multiplex"]["psnr"]["scene2"] is None
    md = write(tmp_path)[0].read_text(encoding="utf-8")
    line = next(x for x in section(md, "PSNR") if x.startswith("| Multiplex | Mean |"))
    assert cells(line)[2:] == ["30.00", "33.50", "−3.50"]
    line = next(x for x in section(md, "LPIPS") if x.startswith("| Standard | Scene 1"))
    assert cells(line)[2:] == ["0.610", "0.719", "−0.109"]


def test_missing_values_show_the_reason_not_a_number(tmp_path):
    md_path, json_path = write(tmp_path)
    md, doc = md_path.read_text(encoding="utf-8"), json.loads(json_path.read_text(encoding="utf-8"))
    line = next(x for x in section(md, "PSNR") if x.startswith("| Standard | Scene 2 (room1) |"))
    ours, paper, delta = cells(line)[2:]
    footnote = re.fullmatch(r"—\[\^(\d+)\]", ours)
    assert footnote and not re.search(r"\d\.\d", ours)
    assert paper == "14.82" and delta == "—"
    assert f"[^{footnote.group(1)}]: Missing: diverged at step 40 (NaN loss)" in md
    reasons = {(m["row"], m["metric"], m["column"]): m["reason"] for m in doc["missing"]}
    assert reasons[("standard", "psnr", "scene2")] == "diverged at step 40 (NaN loss)"
    assert reasons[("multiplex", "ssim", "scene5")] == "SSIM not evaluated in smoke"  # metric-level reason
    assert reasons[("multiplex", "psnr", "scene5")] == NOT_RUN  # paper cell we did not run
    assert ("standard", "psnr", "scene1") not in reasons
    # every missing cell is a dash with a footnote, never a number
    for m in doc["missing"]:
        assert doc["ours"].get(m["row"], {}).get(m["metric"], {}).get(m["column"]) is None


def test_none_without_a_reason_is_an_error(tmp_path):
    with pytest.raises(ValueError, match=r"ours\['standard'\]\['psnr'\]\['scene2'\] is None with no reason"):
        write(tmp_path, missing={})
    assert not (tmp_path / "s3im").exists()


def test_synthetic_data_is_labelled_not_comparable(tmp_path):
    md_path, json_path = write(tmp_path)
    md = md_path.read_text(encoding="utf-8")
    head = md.split("## Results")[0]
    assert md.splitlines()[0].endswith("(SYNTHETIC DATA)")
    assert "SYNTHETIC" in head and "NOT comparable to the paper's real-data numbers" in head
    assert head.index("SYNTHETIC") < head.index("## Provenance") < head.index("`python -m reproduce.s3im_table1")
    assert "Δ vs paper (synthetic, not comparable)" in md
    assert json.loads(json_path.read_text(encoding="utf-8"))["comparable_to_paper"] is False

    real_md, real_json = write(tmp_path / "real", source="real")
    real = real_md.read_text(encoding="utf-8")
    assert "SYNTHETIC" not in real and "not comparable" not in real and "REAL DATA" in real
    assert json.loads(real_json.read_text(encoding="utf-8"))["comparable_to_paper"] is True


def test_provenance_and_claims_are_rendered(tmp_path):
    md = write(tmp_path)[0].read_text(encoding="utf-8")
    for text in ("0123456789abcdef0123456789abcdef01234567", "smoke", "cpu: 2 cores", "2026-01-02T03:04:05+00:00"):
        assert text in md.split("## Results")[0]
    claims = md.split("## Claims")[1]
    assert "| ✓ | Multiplex beats standard in PSNR on every scene |" in claims
    assert "| ✗ | Multiplex beats standard in LPIPS-alex |" in claims
    assert "| n.a. | S3IM costs under 10% extra time |" in claims
    assert "paper" in md and "Paper transcription:" in md


def test_atomic_write_leaves_no_temporary_files(tmp_path, monkeypatch):
    write(tmp_path)
    assert sorted(p.name for p in (tmp_path / "s3im").iterdir()) == [
        "table1_dvgo_replica.json",
        "table1_dvgo_replica.md",
    ]

    def failing_replace(src, dst):
        raise OSError("disk full")

    out = tmp_path / "fail"
    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        write(out)
    assert list((out / "s3im").iterdir()) == []


def test_extra_rows_and_columns_are_kept_with_no_paper_value(tmp_path):
    ours = {"multiplex_m1": {"psnr": {"scene1": 30.5}}, "standard": {"psnr": {"synthetic_mean": 12.0}}}
    doc = json.loads(write(tmp_path, ours=ours, missing={"ssim": "x", "lpips": "y"})[1].read_text(encoding="utf-8"))
    assert doc["paper"]["multiplex_m1"]["psnr"] == {"scene1": None}
    assert doc["delta"]["multiplex_m1"]["psnr"]["scene1"] is None
    assert doc["paper"]["standard"]["psnr"]["synthetic_mean"] is None
    assert "synthetic_mean" not in doc["paper"]["multiplex"]["psnr"]  # no value on either side: not shown


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"ours": {"standard": {"psnr2": {"scene1": 1.0}}}}, ValueError, "expected one of psnr, ssim, lpips"),
        ({"ours": {"standard": {"psnr": {"scene1": float("nan")}}}}, ValueError, "expected a finite number"),
        ({"ours": {"standard": {"psnr": {"scene1": "14.2"}}}}, ValueError, "expected a finite number"),
        ({"ours": {"standard": [14.2]}}, ValueError, "expected {metric: {column: value or None}}"),
        ({"missing": {("standard", "fid"): "n/a"}}, ValueError, "with metric in psnr, ssim, lpips"),
        ({"table_id": "table99"}, KeyError, "table1"),
        ({"claims": ["multiplex wins"]}, TypeError, "Claim"),
    ],
)
def test_bad_arguments_are_rejected(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        write(tmp_path, **kwargs)


def test_numpy_and_torch_scalars_are_accepted(tmp_path):
    ours = {"standard": {"psnr": {"scene1": np.float32(14.5), "mean": torch.tensor(15.25)}}}
    doc = json.loads(write(tmp_path, ours=ours, missing={"ssim": "x", "lpips": "y"})[1].read_text(encoding="utf-8"))
    assert doc["ours"] == {"standard": {"psnr": {"scene1": 14.5, "mean": 15.25}}}


def test_claim_rejects_non_boolean_holds():
    with pytest.raises(ValueError, match="True, False or None"):
        Claim("x", "yes")  # type: ignore[arg-type]


def test_lpips_numbers_carry_their_label(tmp_path):
    claims = [Claim("multiplex training beats standard training in mean LPIPS-squeeze", True, "mean 0.07 vs 0.61")]
    md_path, json_path = write(tmp_path, claims=claims, metric_labels={"lpips": SQUEEZE_LABEL})
    md, doc = md_path.read_text(encoding="utf-8"), json.loads(json_path.read_text(encoding="utf-8"))
    assert doc["table"]["metrics"]["lpips"]["label"] == SQUEEZE_LABEL
    assert doc["table"]["metrics"]["psnr"]["label"] is None
    block = md.split("### LPIPS ")[1].split("\n### ")[0]
    assert f"Our numbers: **{SQUEEZE_LABEL}**." in block
    header = next(line for line in block.splitlines() if line.startswith("| "))
    assert cells(header)[2] == f"ours ({SQUEEZE_LABEL})"
    assert SQUEEZE_LABEL not in md.split("### LPIPS ")[0].split("## Results")[1]  # only beside the LPIPS numbers
    assert "| ✓ | multiplex training beats standard training in mean LPIPS-squeeze |" in md


@pytest.mark.parametrize(
    ("labels", "claims", "match"),
    [
        (None, CLAIMS, "expected a label naming the LPIPS net"),
        ({"lpips": "LPIPS"}, CLAIMS, "expected a label naming the LPIPS net"),
        ({"lpips": "LPIPS-alex", "fid": "FID"}, CLAIMS, "metric_labels key 'fid'"),
        ({"lpips": "LPIPS-alex", "psnr": " "}, CLAIMS, "expected a non-empty label"),
        ({"lpips": SQUEEZE_LABEL}, [Claim("multiplex beats standard in mean LPIPS", True)], "without its net"),
        ({"lpips": SQUEEZE_LABEL}, [Claim("mean LPIPS-squeeze", True, "LPIPS 0.07 vs 0.61")], "without its net"),
    ],
)
def test_lpips_numbers_without_a_net_are_rejected(tmp_path, labels, claims, match):
    with pytest.raises(ValueError, match=match):
        write(tmp_path, metric_labels=labels, claims=claims)
    assert not (tmp_path / "s3im").exists()


def test_no_label_needed_when_lpips_is_missing(tmp_path):
    ours = {"standard": {"psnr": {"scene1": 14.5}, "lpips": {"scene1": None}}}
    claims = [Claim("multiplex beats standard in mean LPIPS", None)]
    missing = {"lpips": "LPIPS-alex backbone weights not found", "ssim": "x"}
    doc = json.loads(write(tmp_path, ours=ours, missing=missing, claims=claims, metric_labels=None)[1].read_text())
    assert doc["table"]["metrics"]["lpips"]["label"] is None
    assert doc["ours"]["standard"]["lpips"]["scene1"] is None


def test_absolute_paths_are_written_portably(tmp_path, monkeypatch):
    """The kinds of absolute paths results held: interpreter, data cache in the checkout, data root, home cache."""
    home, replica = tmp_path / "home", tmp_path / "replica"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("REPLICA_ROOT", str(replica))
    monkeypatch.delenv("NF_DATA_CACHE", raising=False)  # the checkout's default cache
    prov = Provenance(
        **{
            **provenance().to_dict(),
            "dataset": f"synthetic rooms at {REPO_ROOT}/data_cache/synthetic/replica_monosdf-r128-s0",
            "command": f"{REPO_ROOT}/.venv/bin/python {REPO_ROOT}/reproduce/s3im_table1.py data.root={replica}/scan1",
            "extra": {"runs_dir": f"{REPO_ROOT}/runs/s3im/t1", "roots": [f"{replica}/scan2"]},
        }
    )
    reason = f"weights not found (searched: {home}/.cache/torch/hub/checkpoints/alexnet-owt-7be5be79.pth)"
    md_path, json_path = write(
        tmp_path / "out",
        missing={**MISSING, ("standard", "psnr", "scene2"): reason},
        notes=[f"renders in {tmp_path}/elsewhere/renders."],
        claims=[Claim("multiplex wins", True, f"see {REPO_ROOT}/runs/s3im/t1/log.txt")],
        provenance=prov,
    )
    text = json_path.read_text(encoding="utf-8") + md_path.read_text(encoding="utf-8")
    assert str(tmp_path) not in text and str(REPO_ROOT) not in text
    doc = json.loads(json_path.read_text(encoding="utf-8"))
    got = doc["provenance"]
    assert got["dataset"] == "synthetic rooms at data_cache/synthetic/replica_monosdf-r128-s0"
    interpreter = f"python{sys.version_info.major}.{sys.version_info.minor}"
    assert got["command"] in (
        "python reproduce/s3im_table1.py data.root=$REPLICA_ROOT/scan1",
        f"{interpreter} reproduce/s3im_table1.py data.root=$REPLICA_ROOT/scan1",  # when .venv/bin/python is this one
    )
    assert got["extra"] == {"runs_dir": "runs/s3im/t1", "roots": ["$REPLICA_ROOT/scan2"]}
    reasons = {(m["row"], m["metric"], m["column"]): m["reason"] for m in doc["missing"]}
    expected = "weights not found (searched: ~/.cache/torch/hub/checkpoints/alexnet-owt-7be5be79.pth)"
    assert reasons[("standard", "psnr", "scene2")] == expected
    assert doc["notes"] == ["renders in <outside repo>/renders."]
    assert doc["claims"][0]["detail"] == "see runs/s3im/t1/log.txt"


# ---------------------------------------------------------------- plots


def read_png(path) -> np.ndarray:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    return iio.imread(path)


def test_plot_axis_must_name_the_lpips_net(tmp_path):
    panels = {"scene1": {"standard": ([0, 10], [0.5, 0.4])}}
    with pytest.raises(ValueError, match="does not name the LPIPS net"):
        plot_curves(tmp_path / "bad.png", panels, ylabel="test LPIPS", title="t")
    assert not (tmp_path / "bad.png").exists()
    path = plot_curves(tmp_path / "lpips.png", panels, ylabel=SQUEEZE_LABEL, title="LPIPS-squeeze", dpi=40)
    assert read_png(path).std() > 0


def test_plot_curves_writes_a_png(tmp_path):
    steps = np.arange(0, 100, 10)
    panels = {
        f"scene{i}": {"standard": (steps, 15 + steps / 50), "multiplex": (steps, 20 + steps / 20)} for i in range(1, 4)
    }
    path = plot_curves(tmp_path / "fig" / "psnr.png", panels, ylabel="PSNR", title="DVGO on Replica", dpi=50)
    img = read_png(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 300 and img.std() > 0
    assert sorted(p.name for p in path.parent.iterdir()) == ["psnr.png"]
    with pytest.raises(ValueError, match="equal length"):
        plot_curves(tmp_path / "bad.png", {"s": {"a": ([0, 1], [1.0])}}, ylabel="y", title="t")
    assert not (tmp_path / "bad.png").exists()


def test_image_grid_writes_a_png(tmp_path):
    rng = np.random.default_rng(0)
    rows = [
        [rng.random((16, 24, 3)) for _ in range(3)],
        [rng.integers(0, 255, (16, 24, 3), dtype=np.uint8), rng.random((16, 24))],
    ]
    path = image_grid(
        tmp_path / "grid.png", rows, row_labels=["standard", "multiplex"], col_labels=["gt", "pred", "depth"], dpi=50
    )
    img = read_png(path)
    assert img.ndim == 3 and img.shape[0] > 50 and img.shape[1] > 100 and img.std() > 0
    with pytest.raises(ValueError, match="one per row"):
        image_grid(tmp_path / "bad.png", rows, row_labels=["only one"])
    with pytest.raises(ValueError, match="shape"):
        image_grid(tmp_path / "bad.png", [[np.zeros((4, 4, 5))]])
