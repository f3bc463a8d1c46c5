"""The paper-numbers registry: schema validation, spot checks against the paper texts, internal consistency."""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
import re
from pathlib import Path

import pytest
import yaml

from common.data.errors import DataFormatError
from common.results import registry
from common.results.registry import DEFAULT_PATH, PAPERS, load_registry

PAPERS_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "papers"
WINDOW = 2500  # characters of paper text searched on each side of a table's anchor
NUMBER = re.compile(r"\d+(?:\.\d+)?")


def paper_text(paper: str) -> str | None:
    path = PAPERS_DIR / registry.default_registry().papers[paper]["text"]
    return path.read_text(encoding="utf-8") if path.is_file() else None


def table_window(table) -> str:
    text = paper_text(table.paper)
    if text is None:
        pytest.skip(f"paper text {PAPERS_DIR}/{table.paper}.txt absent (the ../shared checkout is not here)")
    assert text.count(table.anchor) >= 1, f"anchor of {table.paper}/{table.id} not found in the paper text"
    pos = text.index(table.anchor)
    return text[max(0, pos - WINDOW) : pos + len(table.anchor) + WINDOW]


def decimals(v: float) -> int:
    text = repr(v)
    return len(text.split(".")[1]) if "." in text else 0


def half_unit(v: float) -> float:
    """Half a unit in the last printed decimal (trailing zeros are lost in YAML, which only widens it)."""
    return 0.5 * 10.0 ** -decimals(v)


# ---------------------------------------------------------------- schema


def test_registry_loads_and_every_table_is_well_formed():
    reg = load_registry()
    assert set(reg.papers) == set(PAPERS)
    assert reg.tables(), "no tables"
    for t in reg.tables():
        for name in ("caption", "source", "anchor", "row_kind", "column_kind"):
            assert isinstance(getattr(t, name), str) and getattr(t, name).strip(), (t.id, name)
        assert t.paper in PAPERS and t.columns and t.rows and t.metrics
        assert all(isinstance(m.higher_is_better, bool) for m in t.metrics.values())
        for (row, metric, col), v in t.values.items():
            assert row in t.rows and metric in t.metrics and col in t.columns
            assert v is None or (isinstance(v, float) and math.isfinite(v)), (t.id, row, metric, col, v)
            if v is None:
                assert t.note(row, metric, col), f"null without a note in {t.paper}/{t.id}"
        # every (row, metric) pair the table reports has one value (or noted null) per column
        for row in t.rows:
            for metric in t.metrics:
                if t.has(row, metric):
                    assert all((row, metric, c) in t.values for c in t.columns)


def test_every_numeric_table_of_the_papers_is_present():
    expected = {
        "s3im": {f"table{i}" for i in range(1, 11)} | {"figure3", "figure4", "figure6"},  # plotted-only figures
        "jacobinerf": {"table1", "table2", "table3_left", "table3_right", "table4", "table5_left", "table5_right"},
        "sparsefusion": {"table2", "table3", "table4", "table5", "table6"},
        "nerf_correspondence": set(),
    }
    for paper, ids in expected.items():
        assert {t.id for t in registry.tables(paper)} == ids
    assert "no numeric table" in registry.default_registry().papers["nerf_correspondence"]["note"]


def test_table_captions_in_the_paper_text_are_all_covered():
    """Every "Table N" caption of a paper text has a registry entry (except SparseFusion's check-mark Table 1)."""
    for paper in PAPERS:
        text = paper_text(paper)
        if text is None:
            pytest.skip(f"paper texts absent under {PAPERS_DIR}")
        numbers = {int(n) for n in re.findall(r"^\s*(?:\S+\s+)?Table (\d+)[.:]", text, flags=re.M)}
        numbers |= {int(n) for n in re.findall(r"results\s+Table (\d+)\. View Synthesis", text)}
        if paper == "sparsefusion":
            numbers.discard(1)
        covered = {int(m.group(1)) for t in registry.tables(paper) if (m := re.match(r"table(\d+)", t.id))}
        assert numbers == covered, (paper, sorted(numbers), sorted(covered))


# ---------------------------------------------------------------- spot checks against the paper texts

SPOT_CHECKS = [
    # (paper, table, row, metric, column, number as printed)
    ("s3im", "table1", "multiplex", "psnr", "mean", "33.50"),
    ("s3im", "table1", "standard", "lpips", "scene6", "0.309"),
    ("s3im", "table2", "multiplex", "lpips", "scene4", "0.00965"),
    ("s3im", "table3", "multiplex", "ssim", "tensorf", "0.777"),
    ("s3im", "table6", "standard", "completeness", "scene5", "140.83"),
    ("s3im", "table8", "m10", "training_time", "room0_tensorf", "0.432"),
    ("s3im", "table9", "k64", "ssim", "room0", "0.4989"),
    ("s3im", "table10", "mse_ssim", "psnr", "truck", "15.90"),
    ("jacobinerf", "table1", "j_nerf_3d", "miou", "sparse", "0.283"),
    ("jacobinerf", "table2", "dino_2d", "total_acc", "dense", "0.625"),
    ("jacobinerf", "table3_right", "s_nerf", "total_acc", "views2", "0.85"),
    ("jacobinerf", "table5_left", "nerf", "miou", "sparse", "0.067"),
    ("sparsefusion", "table3", "sparsefusion", "lpips", "views2", "0.225"),
    ("sparsefusion", "table2", "eft", "psnr", "suitcase", "23.0"),
    ("sparsefusion", "table4", "vldm", "ssim", "views2", "0.732"),
    ("sparsefusion", "table6", "latent_multi_perceptual", "lpips", "hydrant", "0.170"),
]


@pytest.mark.parametrize(("paper", "table_id", "row", "metric", "column", "printed"), SPOT_CHECKS)
def test_spot_check(paper, table_id, row, metric, column, printed):
    table = registry.get(paper, table_id)
    assert table.value(row, metric, column) == float(printed)
    window = table_window(table)
    assert re.search(rf"(?<![\d.]){re.escape(printed)}(?![\d])", window), f"{printed} not near {table.source}"


def values_absent_from_text(table) -> list:
    printed = {float(n) for n in NUMBER.findall(table_window(table))}
    return [(k, v) for k, v in table.values.items() if v is not None and v not in printed]


def test_every_value_appears_near_its_table_in_the_paper_text():
    """Catches transcription typos: each registry number occurs among the numbers printed around the table."""
    for table in registry.tables():
        absent = values_absent_from_text(table)
        assert not absent, f"{table.paper}/{table.id}: values not found in the paper text: {absent[:5]}"


# How each table's numbers run in the text extraction: along which keys one printed line goes.
LAYOUTS = {
    **{("s3im", f"table{i}"): "metrics" for i in range(1, 11)},
    ("jacobinerf", "table1"): "rows",
    ("jacobinerf", "table2"): "rows",
    ("jacobinerf", "table3_left"): "columns",
    ("jacobinerf", "table3_right"): "columns",
    ("jacobinerf", "table4"): "rows",
    ("jacobinerf", "table5_left"): "rows",
    ("jacobinerf", "table5_right"): "rows",
    ("sparsefusion", "table2"): "columns_metrics",
    ("sparsefusion", "table3"): "columns_metrics",
    ("sparsefusion", "table4"): "rows",
    ("sparsefusion", "table5"): "metrics",
    ("sparsefusion", "table6"): "row_pairs",
}


def printed_lines(table, layout: str) -> list[list[float]]:
    """The registry's numbers regrouped as the paper prints them, one list per printed line."""
    v, rows, cols, mets = table.value, table.rows, table.columns, list(table.metrics)
    if table.paper == "sparsefusion" and table.id == "table4":
        mets = ["ssim", "lpips"]  # its PSNR column is interleaved with Table 3's lines in the extraction
    if layout == "metrics":
        return [[v(r, m, c) for m in mets] for r in rows for c in cols]
    if layout == "rows":
        return [[v(r, m, c) for r in rows] for m in mets for c in cols]
    if layout == "columns":
        return [[v(r, m, c) for c in cols] for r in rows for m in mets]
    if layout == "columns_metrics":
        return [[v(r, m, c) for c in cols for m in mets] for r in rows]
    assert layout == "row_pairs"  # "No Yes a b ..." cells: two rows side by side, metric after metric
    return [[v(r, m, c) for m in mets for r in rows[i : i + 2]] for i in range(0, len(rows), 2) for c in cols]


def test_every_table_with_numbers_has_a_layout():
    numeric = {(t.paper, t.id) for t in registry.tables() if any(v is not None for v in t.values.values())}
    assert set(LAYOUTS) == numeric
    plotted_only = {(t.paper, t.id) for t in registry.tables()} - numeric
    assert plotted_only == {("s3im", "figure3"), ("s3im", "figure4"), ("s3im", "figure6")}


@pytest.mark.parametrize(("paper", "table_id"), sorted(LAYOUTS))
def test_rows_and_columns_line_up_with_the_paper_text(paper, table_id):
    """Each printed line of the table appears as consecutive numbers in the text: catches swapped cells."""
    table = registry.get(paper, table_id)
    tokens = [float(n) for n in NUMBER.findall(table_window(table))]
    for line in printed_lines(table, LAYOUTS[(paper, table_id)]):
        n = len(line)
        assert any(tokens[i : i + n] == line for i in range(len(tokens) - n + 1)), f"{table.source}: {line}"


def test_swapped_cells_are_caught_by_the_line_check():
    table = registry.get("s3im", "table1")
    a, b = ("standard", "psnr", "scene1"), ("standard", "psnr", "scene2")
    swapped = dataclasses.replace(table, values={**table.values, a: table.values[b], b: table.values[a]})
    tokens = [float(n) for n in NUMBER.findall(table_window(table))]
    lines = printed_lines(swapped, "metrics")
    assert values_absent_from_text(swapped) == []
    assert not all(any(tokens[i : i + 3] == line for i in range(len(tokens))) for line in lines)


@pytest.mark.parametrize("typo", [33.05, 33.51, 3.35])
def test_a_transcription_typo_is_caught_by_the_text_check(typo):
    table = registry.get("s3im", "table1")
    cell = ("multiplex", "psnr", "mean")
    assert values_absent_from_text(table) == []
    typo_table = dataclasses.replace(table, values={**table.values, cell: typo})
    assert values_absent_from_text(typo_table) == [(cell, typo)]


# ---------------------------------------------------------------- internal consistency of the paper numbers


def test_mean_columns_are_the_average_of_the_other_columns():
    checked = 0
    for table in registry.tables():
        if "mean" not in table.columns:
            continue
        others = [c for c in table.columns if c != "mean"]
        for row in table.rows:
            for metric in table.metrics:
                mean = table.value(row, metric, "mean")
                vals = [table.value(row, metric, c) for c in others]
                if mean is None or None in vals or table.note(row, metric, "mean"):
                    continue
                tol = half_unit(mean) + max(half_unit(v) for v in vals) + 1e-9
                assert abs(mean - sum(vals) / len(vals)) <= tol, (table.paper, table.id, row, metric)
                checked += 1
    assert checked >= 30


def test_s3im_table6_chamfer_and_fscore_identities():
    """Chamfer-L1 = (Acc + Comp) / 2 and F = 2PR / (P + R) per scene (MonoSDF evaluation), except noted cells."""
    t = registry.get("s3im", "table6")
    checked = 0
    for row in t.rows:
        for col in t.columns:
            acc, comp, ch = (t.value(row, m, col) for m in ("accuracy", "completeness", "chamfer_l1"))
            if not t.note(row, "chamfer_l1", col):
                assert abs(ch - (acc + comp) / 2) <= half_unit(ch) + half_unit(acc) + 1e-9, (row, col)
                checked += 1
            if col == "mean" or t.note(row, "fscore", col):
                continue
            p, r, f = (t.value(row, m, col) for m in ("precision", "recall", "fscore"))
            assert abs(f - 2 * p * r / (p + r)) <= 0.02, (row, col)
            checked += 1
    assert checked >= 30


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("s3im", "table2", "multiplex", "psnr", "scene1"), ("s3im", "table8", "m10", "psnr", "room0_tensorf")),
        (("s3im", "table2", "multiplex", "lpips", "scene1"), ("s3im", "table9", "k4", "lpips", "room0")),
        (("s3im", "table2", "standard", "ssim", "scene1"), ("s3im", "table9", "standard", "ssim", "room0")),
        (("s3im", "table6", "multiplex", "psnr", "scene4"), ("s3im", "table8", "m10", "psnr", "office0_neus")),
        (("s3im", "table6", "standard", "lpips", "scene4"), ("s3im", "table8", "m0", "lpips", "office0_neus")),
        (
            ("jacobinerf", "table1", "j_nerf_3d", "total_acc", "dense"),
            ("jacobinerf", "table5_right", "j_nerf_plus", "total_acc", "dense"),
        ),
        (
            ("jacobinerf", "table1", "j_nerf_2d", "avg_acc", "sparse"),
            ("jacobinerf", "table5_left", "j_nerf", "avg_acc", "sparse"),
        ),
        (
            ("sparsefusion", "table5", "sparsefusion", "ssim", "hydrant"),
            ("sparsefusion", "table6", "pixel_multi_perceptual", "ssim", "hydrant"),
        ),
    ],
)
def test_numbers_repeated_across_tables_agree(a, b):
    va, vb = registry.get(*a[:2]).value(*a[2:]), registry.get(*b[:2]).value(*b[2:])
    assert va is not None and va == vb


# ---------------------------------------------------------------- lookups and bad input


def test_unknown_keys_list_the_valid_ones():
    with pytest.raises(KeyError, match="valid: s3im"):
        registry.get("nerf", "table1")
    with pytest.raises(KeyError, match="table10"):
        registry.get("s3im", "table11")
    t = registry.get("s3im", "table1")
    with pytest.raises(KeyError, match="standard, multiplex"):
        t.value("baseline", "psnr", "mean")
    with pytest.raises(KeyError, match="scene1"):
        t.value("standard", "psnr", "room0")


def test_nested_view_matches_value():
    t = registry.get("sparsefusion", "table3")
    nested = t.nested()
    assert list(nested) == list(t.rows)
    assert nested["eft"]["psnr"]["views6"] == t.value("eft", "psnr", "views6") == 24.57


@functools.cache
def _shipped_yaml() -> dict:
    return yaml.load(DEFAULT_PATH.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _minimal() -> dict:
    raw = _shipped_yaml()
    return copy.deepcopy({"papers": raw["papers"], "tables": [raw["tables"][0]]})


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda t: t["rows"][0]["values"].__setitem__(0, "13.26"), "a finite number or null"),
        (lambda t: t["rows"][0]["values"].__setitem__(0, None), "every null value to carry a note"),
        (lambda t: t["rows"][0]["values"].pop(), "(one per column)"),
        (lambda t: t["rows"][0].__setitem__("metric", "psnr2"), "one of psnr, ssim, lpips"),
        (lambda t: t.__setitem__("colums", []), "unknown field"),
        (lambda t: t.pop("source"), "missing field 'source'"),
        (lambda t: t["metrics"]["psnr"].__setitem__("higher_is_better", "yes"), "higher_is_better: bool"),
        (lambda t: t.__setitem__("paper", "nerf"), "one of s3im"),
        (lambda t: t["rows"].append(copy.deepcopy(t["rows"][0])), "each (row, metric) once"),
    ],
)
def test_bad_registry_files_fail_with_the_file_and_expected_format(tmp_path, mutate, message):
    raw = _minimal()
    load_registry_path = tmp_path / "tables.yaml"
    load_registry_path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    assert load_registry(load_registry_path).get("s3im", "table1").value("multiplex", "psnr", "mean") == 33.5
    mutate(raw["tables"][0])
    load_registry_path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    with pytest.raises(DataFormatError, match=re.escape(message)) as err:
        load_registry(load_registry_path)
    assert str(load_registry_path) in str(err.value) and "\n" not in str(err.value)


def test_null_with_a_note_is_accepted(tmp_path):
    raw = _minimal()
    raw["tables"][0]["rows"][0]["values"][2] = None
    raw["tables"][0]["rows"][0]["notes"] = {"scene3": "unreadable in the text extraction"}
    path = tmp_path / "tables.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    t = load_registry(path).get("s3im", "table1")
    assert t.value("standard", "psnr", "scene3") is None
    assert t.note("standard", "psnr", "scene3") == "unreadable in the text extraction"


def test_missing_or_broken_file(tmp_path):
    with pytest.raises(DataFormatError, match="file not found"):
        load_registry(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("papers: [unclosed\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="invalid YAML"):
        load_registry(bad)
