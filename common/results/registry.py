"""The papers' own numbers: load, validate and query ``paper_tables.yaml``.

A table is a grid ``value(row, metric, column)``: rows are methods or training settings, columns are
scenes, categories or settings (a column named ``mean`` is the paper's mean over the others), and each
metric says whether higher is better. A value is a float, or ``None`` where the paper prints nothing
readable (the cell then carries a note saying why).

Usage::

    from common.results import registry
    registry.get("s3im", "table1").value("multiplex", "psnr", "mean")  # 33.5
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from common.data.errors import DataFormatError

PAPERS = ("s3im", "jacobinerf", "sparsefusion", "nerf_correspondence")
DEFAULT_PATH = Path(__file__).with_name("paper_tables.yaml")

_TABLE_KEYS = {
    "paper": str,
    "id": str,
    "caption": str,
    "source": str,
    "anchor": str,
    "row_kind": str,
    "column_kind": str,
    "columns": list,
    "metrics": dict,
    "rows": list,
}
_OPTIONAL_TABLE_KEYS = {"row_labels": dict, "column_labels": dict, "notes": list}
_KEY_RE = re.compile(r"^[a-z0-9_]+$")
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available (about 10x faster)

Cell = tuple[str, str, str]  # (row, metric, column)


@dataclass(frozen=True)
class Metric:
    """One metric of a table: ``key`` (e.g. "psnr"), display ``name``, direction and printed ``decimals``."""

    key: str
    name: str
    higher_is_better: bool
    decimals: int

    @property
    def arrow(self) -> str:
        return "↑" if self.higher_is_better else "↓"


@dataclass(frozen=True)
class PaperTable:
    """One table of a paper as a grid of ``(row, metric, column) -> float | None``."""

    paper: str
    id: str
    caption: str
    source: str
    anchor: str
    row_kind: str
    column_kind: str
    columns: tuple[str, ...]
    rows: tuple[str, ...]
    metrics: dict[str, Metric]
    values: dict[Cell, float | None]
    cell_notes: dict[Cell, str] = field(default_factory=dict)
    row_labels: dict[str, str] = field(default_factory=dict)
    column_labels: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def _check(self, row: str, metric: str, column: str) -> None:
        for kind, key, valid in (
            ("row", row, self.rows),
            ("metric", metric, self.metrics),
            ("column", column, self.columns),
        ):
            if key not in valid:
                raise KeyError(f"{self.paper}/{self.id} has no {kind} {key!r}; valid: {', '.join(valid)}")

    def value(self, row: str, metric: str, column: str) -> float | None:
        """The paper's number, or ``None`` where the paper prints none (see :meth:`note`).

        Raises KeyError (listing the valid keys) for a row, metric or column the table does not have.
        """
        self._check(row, metric, column)
        return self.values.get((row, metric, column))

    def has(self, row: str, metric: str) -> bool:
        """Whether the paper reports ``metric`` for ``row`` (possibly with unreadable cells)."""
        return any((row, metric, c) in self.values for c in self.columns)

    def note(self, row: str, metric: str, column: str) -> str | None:
        """The transcription note of a cell (why it is null, or a known inconsistency of the paper)."""
        self._check(row, metric, column)
        return self.cell_notes.get((row, metric, column))

    def nested(self) -> dict[str, dict[str, dict[str, float | None]]]:
        """All cells as ``{row: {metric: {column: value}}}`` in table order."""
        out: dict[str, dict[str, dict[str, float | None]]] = {}
        for (row, metric, column), v in self.values.items():
            out.setdefault(row, {}).setdefault(metric, {})[column] = v
        return out

    def row_label(self, row: str) -> str:
        return self.row_labels.get(row, row)

    def column_label(self, column: str) -> str:
        return self.column_labels.get(column, column)


@dataclass(frozen=True)
class Registry:
    """Every transcribed table, keyed by ``(paper, table_id)``, plus per-paper information."""

    path: Path
    papers: dict[str, dict[str, str]]
    by_key: dict[tuple[str, str], PaperTable]

    def get(self, paper: str, table_id: str) -> PaperTable:
        """The table ``table_id`` (e.g. "table1") of ``paper`` (one of PAPERS)."""
        if paper not in self.papers:
            raise KeyError(f"unknown paper {paper!r}; valid: {', '.join(self.papers)}")
        key = (paper, table_id)
        if key not in self.by_key:
            ids = [t for p, t in self.by_key if p == paper]
            raise KeyError(f"paper {paper!r} has no table {table_id!r}; valid: {', '.join(ids) or '(none)'}")
        return self.by_key[key]

    def tables(self, paper: str | None = None) -> list[PaperTable]:
        """All tables in file order, or those of one paper."""
        return [t for (p, _), t in self.by_key.items() if paper is None or p == paper]


def _fail(path: Path, where: str, problem: str, expected: str) -> DataFormatError:
    return DataFormatError(path, f"{where}: {problem}", expected)


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _metric(path: Path, where: str, key: str, spec: object) -> Metric:
    expected = "{name: str, higher_is_better: bool, decimals: int >= 0}"
    if not isinstance(spec, dict) or set(spec) != {"name", "higher_is_better", "decimals"}:
        raise _fail(path, f"{where}, metric {key!r}", f"got {spec!r}", expected)
    ok = (
        isinstance(spec["name"], str)
        and isinstance(spec["higher_is_better"], bool)
        and isinstance(spec["decimals"], int)
        and not isinstance(spec["decimals"], bool)
        and spec["decimals"] >= 0
    )
    if not ok:
        raise _fail(path, f"{where}, metric {key!r}", f"got {spec!r}", expected)
    return Metric(key, spec["name"], spec["higher_is_better"], spec["decimals"])


def _labels(path: Path, where: str, name: str, labels: object) -> dict[str, str]:
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in dict(labels).items()):
        raise _fail(path, where, f"{name} has a non-string key or label", f"{name}: {{key: label}}")
    return dict(labels)


def _table(path: Path, index: int, raw: object) -> PaperTable:
    where = f"tables[{index}]"
    if not isinstance(raw, dict):
        raise _fail(path, where, f"got {type(raw).__name__}", "a mapping with " + ", ".join(_TABLE_KEYS))
    unknown = set(raw) - set(_TABLE_KEYS) - set(_OPTIONAL_TABLE_KEYS)
    if unknown:
        valid = ", ".join([*_TABLE_KEYS, *_OPTIONAL_TABLE_KEYS])
        raise _fail(path, where, f"unknown field(s) {', '.join(sorted(unknown))}", f"only {valid}")
    for key, typ in {**_TABLE_KEYS, **_OPTIONAL_TABLE_KEYS}.items():
        if key not in raw and key in _TABLE_KEYS:
            raise _fail(path, where, f"missing field {key!r}", "every table to have " + ", ".join(_TABLE_KEYS))
        if key in raw and not isinstance(raw[key], typ):
            raise _fail(path, where, f"field {key!r} is {type(raw[key]).__name__}", f"{key} to be a {typ.__name__}")
    where = f"table {raw['paper']}/{raw['id']}"
    if raw["paper"] not in PAPERS:
        raise _fail(path, where, f"unknown paper {raw['paper']!r}", f"one of {', '.join(PAPERS)}")
    if not _KEY_RE.match(raw["id"]):
        raise _fail(path, where, f"bad id {raw['id']!r}", "an id of lower-case letters, digits and _")

    columns = raw["columns"]
    if not columns or len(set(columns)) != len(columns) or not all(isinstance(c, str) for c in columns):
        raise _fail(path, where, f"columns {columns!r}", "a non-empty list of distinct strings")
    if not raw["metrics"]:
        raise _fail(path, where, "no metrics", "at least one metric")
    metrics = {k: _metric(path, where, k, v) for k, v in raw["metrics"].items()}
    row_labels = _labels(path, where, "row_labels", raw.get("row_labels", {}))
    column_labels = _labels(path, where, "column_labels", raw.get("column_labels", {}))
    if set(column_labels) - set(columns):
        raise _fail(
            path,
            where,
            f"labels for unknown columns {sorted(set(column_labels) - set(columns))}",
            "labels of listed columns only",
        )
    notes = raw.get("notes", [])
    if not all(isinstance(n, str) for n in notes):
        raise _fail(path, where, "a note is not a string", "notes: a list of strings")

    values: dict[Cell, float | None] = {}
    cell_notes: dict[Cell, str] = {}
    rows: list[str] = []
    if not raw["rows"]:
        raise _fail(path, where, "no rows", "at least one row")
    for j, entry in enumerate(raw["rows"]):
        at = f"{where}, rows[{j}]"
        expected = "{row: str, metric: <a metric key>, values: [number or null per column], notes: {column: str}}"
        if not isinstance(entry, dict) or not {"row", "metric", "values"} <= set(entry) <= {
            "row",
            "metric",
            "values",
            "notes",
        }:
            raise _fail(path, at, f"got {entry!r}", expected)
        row, metric, vals, cnotes = entry["row"], entry["metric"], entry["values"], entry.get("notes", {})
        if not isinstance(row, str) or not _KEY_RE.match(row):
            raise _fail(path, at, f"bad row key {row!r}", "a row key of lower-case letters, digits and _")
        if metric not in metrics:
            raise _fail(path, at, f"unknown metric {metric!r}", f"one of {', '.join(metrics)}")
        if not isinstance(vals, list) or len(vals) != len(columns):
            raise _fail(path, at, f"values {vals!r}", f"a list of {len(columns)} values (one per column)")
        if not isinstance(cnotes, dict) or not all(c in columns and isinstance(n, str) for c, n in cnotes.items()):
            raise _fail(path, at, f"notes {cnotes!r}", "notes: {column: str} for listed columns")
        if any((row, metric, c) in values for c in columns):
            raise _fail(path, at, f"row {row!r} metric {metric!r} given twice", "each (row, metric) once")
        for c, v in zip(columns, vals):
            if v is None and c not in cnotes:
                raise _fail(path, at, f"null value for column {c!r} without a note", "every null value to carry a note")
            if v is not None and not _is_number(v):
                raise _fail(path, at, f"value {v!r} for column {c!r}", "a finite number or null")
            values[(row, metric, c)] = None if v is None else float(v)
        cell_notes.update({(row, metric, c): n for c, n in cnotes.items()})
        if row not in rows:
            rows.append(row)

    return PaperTable(
        paper=raw["paper"],
        id=raw["id"],
        caption=raw["caption"],
        source=raw["source"],
        anchor=raw["anchor"],
        row_kind=raw["row_kind"],
        column_kind=raw["column_kind"],
        columns=tuple(columns),
        rows=tuple(rows),
        metrics=metrics,
        values=values,
        cell_notes=cell_notes,
        row_labels=row_labels,
        column_labels=column_labels,
        notes=tuple(notes),
    )


def load_registry(path: str | Path = DEFAULT_PATH) -> Registry:
    """Read and validate a paper-tables YAML file; raises DataFormatError naming the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "file not found", "the paper-tables YAML registry")
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    except yaml.YAMLError as exc:
        problem = str(exc).replace("\n", " ")
        raise DataFormatError(path, f"invalid YAML ({problem})", "a YAML mapping with papers and tables") from exc
    if not isinstance(raw, dict) or set(raw) != {"papers", "tables"}:
        raise DataFormatError(path, "top level is not {papers, tables}", "a YAML mapping with papers and tables")
    papers = raw["papers"]
    if not isinstance(papers, dict) or set(papers) != set(PAPERS):
        raise DataFormatError(
            path, f"papers {sorted(papers) if isinstance(papers, dict) else papers!r}", f"papers: {', '.join(PAPERS)}"
        )
    for key, info in papers.items():
        if (
            not isinstance(info, dict)
            or not {"title", "text"} <= set(info)
            or not all(isinstance(v, str) for v in info.values())
        ):
            raise DataFormatError(path, f"papers.{key}: got {info!r}", "{title: str, text: str, note: str}")
    if not isinstance(raw["tables"], list):
        raise DataFormatError(path, "tables is not a list", "tables: a list of table mappings")
    by_key: dict[tuple[str, str], PaperTable] = {}
    for i, entry in enumerate(raw["tables"]):
        table = _table(path, i, entry)
        if (table.paper, table.id) in by_key:
            raise DataFormatError(path, f"table {table.paper}/{table.id} given twice", "unique (paper, id) pairs")
        by_key[(table.paper, table.id)] = table
    return Registry(path=path, papers={k: dict(v) for k, v in papers.items()}, by_key=by_key)


@functools.cache
def default_registry() -> Registry:
    """The registry shipped with the package (loaded once)."""
    return load_registry(DEFAULT_PATH)


def get(paper: str, table_id: str) -> PaperTable:
    """``default_registry().get(paper, table_id)``."""
    return default_registry().get(paper, table_id)


def tables(paper: str | None = None) -> list[PaperTable]:
    """``default_registry().tables(paper)``."""
    return default_registry().tables(paper)
