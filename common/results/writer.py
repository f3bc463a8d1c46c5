"""Results tables: our numbers beside the paper's, as Markdown for people and JSON for programs.

``write_table`` writes ``<stem>.md`` and ``<stem>.json`` (each atomically) with, in order: the provenance
(data source REAL or SYNTHETIC stated first), one table per metric with ours / paper / delta for every row
and column, missing values as "—" with a footnote giving the reason, the paper's claims checked in our
run (✓ / ✗ / n.a.), and notes. Delta = ours − paper. Numbers from synthetic scenes are labelled as not
comparable to the paper's real-data numbers.

``metric_labels`` says what our numbers of a metric are when the paper's name alone does not, e.g.
``{"lpips": lpips_label(report["conventions"]["lpips"])}`` -> "LPIPS-squeeze; the paper reports LPIPS-alex".
An LPIPS metric with any number of ours needs such a label naming its net, and claims then name the net too
("mean LPIPS-squeeze ...", see ``common.metrics.lpips_metric_name``).

Absolute machine paths in the provenance, missing reasons, claims and notes are written in their portable form
(``common.results.provenance.portable``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from common.data.io import atomic_write_bytes
from common.results.provenance import Provenance, portable, portable_text
from common.results.registry import PaperTable, default_registry

SCHEMA_VERSION = 1
NOT_RUN = "not run in this reproduction"
DASH = "—"
MARKS = {True: "✓", False: "✗", None: "n.a."}

Nested = dict[str, dict[str, dict[str, float | None]]]
MissingKey = str | tuple[str, str] | tuple[str, str, str]
# "LPIPS" not followed by "-<net>": a number or claim that does not say which LPIPS network it is.
_BARE_LPIPS = re.compile(r"\bLPIPS\b(?!-\w)")
_NAMED_LPIPS = re.compile(r"\bLPIPS-\w")


@dataclass(frozen=True)
class Claim:
    """A claim of the paper checked on our numbers: ``holds`` is True / False, or None when not checkable."""

    text: str
    holds: bool | None
    detail: str = ""

    def __post_init__(self) -> None:
        if self.holds not in (True, False, None):
            raise ValueError(f"Claim.holds={self.holds!r}; expected True, False or None")


def _number(v: object, where: str) -> float | None:
    if v is None:
        return None
    try:
        x = float(v)  # accepts numpy and torch scalars
    except (TypeError, ValueError, RuntimeError):
        x = math.nan
    if isinstance(v, bool | str | bytes) or not math.isfinite(x):
        raise ValueError(f"{where} = {v!r}; expected a finite number, or None with a reason in `missing`")
    return x


def _check_ours(table: PaperTable, ours: Mapping) -> Nested:
    out: Nested = {}
    for row, by_metric in ours.items():
        if not isinstance(by_metric, Mapping) or not all(isinstance(c, Mapping) for c in by_metric.values()):
            raise ValueError(f"ours[{row!r}] = {by_metric!r}; expected {{metric: {{column: value or None}}}}")
        for metric, by_col in by_metric.items():
            if metric not in table.metrics:
                raise ValueError(
                    f"ours[{row!r}] has metric {metric!r}, not in {table.paper}/{table.id}; "
                    f"expected one of {', '.join(table.metrics)}"
                )
            for col, v in by_col.items():
                out.setdefault(str(row), {}).setdefault(metric, {})[str(col)] = _number(
                    v, f"ours[{row!r}][{metric!r}][{col!r}]"
                )
    return out


def _check_missing(table: PaperTable, missing: Mapping[MissingKey, str]) -> None:
    for key, reason in missing.items():
        metric = key if isinstance(key, str) else key[1] if isinstance(key, tuple) and len(key) in (2, 3) else None
        if metric not in table.metrics:
            raise ValueError(
                f"missing key {key!r}: expected a metric, (row, metric) or (row, metric, column) "
                f"with metric in {', '.join(table.metrics)}"
            )
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError(f"missing[{key!r}] = {reason!r}; expected a non-empty reason")


def _is_lpips(table: PaperTable, metric: str) -> bool:
    return metric.lower().startswith("lpips") or table.metrics[metric].name.upper().startswith("LPIPS")


def _check_labels(table: PaperTable, ours: Nested, labels: Mapping[str, str], claims: Sequence[Claim]) -> None:
    for metric, label in labels.items():
        if metric not in table.metrics:
            raise ValueError(f"metric_labels key {metric!r}: expected a metric in {', '.join(table.metrics)}")
        if not isinstance(label, str) or not label.strip():
            raise ValueError(f"metric_labels[{metric!r}] = {label!r}; expected a non-empty label")
    for metric in table.metrics:
        if not _is_lpips(table, metric):
            continue
        has_numbers = any(v is not None for by_m in ours.values() for v in by_m.get(metric, {}).values())
        label = labels.get(metric)
        if has_numbers and (label is None or not _NAMED_LPIPS.search(label)):
            raise ValueError(
                f"ours has {table.metrics[metric].name} numbers but metric_labels[{metric!r}] = {label!r}; expected "
                f"a label naming the LPIPS net, e.g. lpips_label(report['conventions']['lpips']) from common.metrics"
            )
        if label is not None:
            for claim in claims:
                if _BARE_LPIPS.search(claim.text) or _BARE_LPIPS.search(claim.detail):
                    raise ValueError(
                        f"claim {claim.text!r} says LPIPS without its net while our numbers are {label!r}; "
                        "expected e.g. 'mean LPIPS-squeeze' (common.metrics.lpips_metric_name)"
                    )


def _reason(missing: Mapping[MissingKey, str], row: str, metric: str, column: str) -> str | None:
    for key in ((row, metric, column), (row, metric), metric):
        if key in missing:
            return missing[key]
    return None


def _order(first: Sequence[str], extra: Mapping) -> list[str]:
    return list(first) + [k for k in extra if k not in first]


def _decimals_of(v: float) -> int:
    text = repr(v)
    return len(text.split(".")[1]) if "." in text and "e" not in text else 0


def _fmt(v: float, decimals: int, scale: float | None = None) -> str:
    """Our numbers and deltas: the metric's precision, one more decimal when the value (or ``scale``, the
    value a delta belongs to) is below 0.1 (LPIPS-like values)."""
    scale = abs(v if scale is None else scale)
    return f"{v:.{decimals + (1 if 0 < scale < 0.1 else 0)}f}"


def _fmt_paper(v: float, decimals: int) -> str:
    """Paper numbers: never fewer decimals than transcribed."""
    return f"{v:.{max(decimals, _decimals_of(v))}f}"


def build_table(
    *,
    paper: str,
    table_id: str,
    ours: Mapping,
    missing: Mapping[MissingKey, str] | None = None,
    claims: Sequence[Claim] = (),
    provenance: Provenance,
    notes: Sequence[str] = (),
    metric_labels: Mapping[str, str] | None = None,
) -> dict:
    """The JSON document of :func:`write_table` (see there for the arguments).

    Keys: schema_version, title, paper_id, table_id, table (caption, source, rows, columns, metrics with
    name / higher_is_better / decimals / label (``metric_labels``' entry or None), labels), data_source,
    comparable_to_paper, provenance, ours (as given), paper / delta ({row: {metric: {column: value or None}}}
    over the shown cells), missing ([{row, metric, column, reason}]), claims, notes, paper_notes.
    """
    table = default_registry().get(paper, table_id)
    missing = dict(missing or {})
    labels = dict(metric_labels or {})
    ours_n = _check_ours(table, ours)
    _check_missing(table, missing)
    if not isinstance(provenance, Provenance):
        raise TypeError(f"provenance is {type(provenance).__name__}; expected a Provenance (Provenance.collect(...))")
    if not all(isinstance(c, Claim) for c in claims):
        raise TypeError("claims: expected a list of Claim(text, holds, detail)")
    _check_labels(table, ours_n, labels, claims)

    rows = _order(table.rows, ours_n)
    columns = _order(table.columns, {c: None for by_m in ours_n.values() for by_c in by_m.values() for c in by_c})
    paper_v: Nested = {}
    delta: Nested = {}
    missing_cells: list[dict[str, str]] = []
    for row in rows:
        for metric in table.metrics:
            ours_m = ours_n.get(row, {}).get(metric, {})
            for col in columns:
                in_paper = row in table.rows and col in table.columns and table.has(row, metric)
                if not in_paper and col not in ours_m:
                    continue
                p = table.value(row, metric, col) if in_paper else None
                o = ours_m.get(col)
                paper_v.setdefault(row, {}).setdefault(metric, {})[col] = p
                delta.setdefault(row, {}).setdefault(metric, {})[col] = None if o is None or p is None else o - p
                if o is None:
                    reason = _reason(missing, row, metric, col)
                    if reason is None and col in ours_m:
                        raise ValueError(
                            f"ours[{row!r}][{metric!r}][{col!r}] is None with no reason; "
                            "expected a reason in missing[(row, metric, column)], missing[(row, metric)] "
                            "or missing[metric]"
                        )
                    reason = portable_text(reason) if reason else NOT_RUN
                    missing_cells.append({"row": row, "metric": metric, "column": col, "reason": reason})

    paper_notes = list(table.notes) + [
        f"{table.row_label(r)} / {table.metrics[m].name} / {table.column_label(c)}: {n}"
        for (r, m, c), n in table.cell_notes.items()
    ]
    return {
        "schema_version": SCHEMA_VERSION,
        "title": f"{table.source}: our reproduction beside the paper",
        "paper_id": paper,
        "paper_title": default_registry().papers[paper]["title"],
        "table_id": table_id,
        "table": {
            "caption": table.caption,
            "source": table.source,
            "row_kind": table.row_kind,
            "column_kind": table.column_kind,
            "rows": rows,
            "columns": columns,
            "row_labels": {r: table.row_label(r) for r in rows},
            "column_labels": {c: table.column_label(c) for c in columns},
            "metrics": {
                k: {
                    "name": m.name,
                    "higher_is_better": m.higher_is_better,
                    "decimals": m.decimals,
                    "label": labels.get(k),
                }
                for k, m in table.metrics.items()
            },
        },
        "data_source": provenance.data_source,
        "comparable_to_paper": not provenance.synthetic,
        "provenance": portable(provenance.to_dict()),
        "ours": ours_n,
        "paper": paper_v,
        "delta": delta,
        "missing": missing_cells,
        "claims": [portable(asdict(c)) for c in claims],
        "notes": [portable_text(n) for n in notes],
        "paper_notes": paper_notes,
    }


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(doc: dict) -> str:
    """Markdown view of a :func:`build_table` document."""
    prov, tab = doc["provenance"], doc["table"]
    synthetic = doc["data_source"] == "synthetic"
    heading = f"# {doc['title']}" + (" (SYNTHETIC DATA)" if synthetic else "")
    out = [heading, "", f"Paper: *{_md_cell(doc['paper_title'])}*", "", f"Table: {_md_cell(tab['caption'])}", ""]
    if synthetic:
        out += [
            f"> **⚠ SYNTHETIC DATA.** These numbers are from synthetic scenes ({_md_cell(prov['dataset'])}). "
            "They are NOT comparable to the paper's real-data numbers; the deltas are shown for reference only.",
            "",
        ]
    else:
        out += [f"> **REAL DATA:** {_md_cell(prov['dataset'])}.", ""]
    commit = prov["git_commit"] or "unknown"
    if prov["git_dirty"]:
        commit += " (uncommitted changes)"
    out += ["## Provenance", "", "| | |", "|---|---|"]
    fields = [
        ("data source", f"**{doc['data_source'].upper()}**"),
        ("dataset", prov["dataset"]),
        ("profile", prov["profile"]),
        ("device", prov["device"]),
        ("commit", commit),
        ("date", prov["date"]),
        ("command", f"`{prov['command']}`"),
        ("torch", prov["torch_version"] or "not installed"),
        ("python", prov["python_version"]),
        *((str(k), json.dumps(v) if not isinstance(v, str) else v) for k, v in prov["extra"].items()),
    ]
    out += [f"| {k} | {_md_cell(v)} |" for k, v in fields]

    delta_head = "Δ vs paper (synthetic, not comparable)" if synthetic else "Δ (ours − paper)"
    out += [
        "",
        "## Results",
        "",
        f'Paper numbers (column "paper") from the {_md_cell(tab["source"])}. Rows: {_md_cell(tab["row_kind"])}; '
        f"columns: {_md_cell(tab['column_kind'])}. Δ = ours − paper. ↑ higher is better, ↓ lower is better.",
    ]
    footnotes: dict[str, int] = {}
    reasons = {(m["row"], m["metric"], m["column"]): m["reason"] for m in doc["missing"]}
    for key, metric in tab["metrics"].items():
        arrow = "↑" if metric["higher_is_better"] else "↓"
        dec = metric["decimals"]
        label = metric.get("label")
        out += ["", f"### {_md_cell(metric['name'])} {arrow}", ""]
        if label:
            out += [f"Our numbers: **{_md_cell(label)}**.", ""]
        ours_head = f"ours ({_md_cell(label)})" if label else "ours"
        out += [
            f"| {_md_cell(tab['row_kind'])} | {_md_cell(tab['column_kind'])} | {ours_head} | paper | {delta_head} |"
        ]
        out += ["|---|---|---:|---:|---:|"]
        for row in tab["rows"]:
            for col, p in doc["paper"].get(row, {}).get(key, {}).items():
                o = doc["ours"].get(row, {}).get(key, {}).get(col)
                if o is None:
                    n = footnotes.setdefault(reasons[(row, key, col)], len(footnotes) + 1)
                    ours_s = f"{DASH}[^{n}]"
                else:
                    ours_s = _fmt(o, dec)
                paper_s = DASH if p is None else _fmt_paper(p, dec)
                d = doc["delta"][row][key][col]
                delta_s = DASH if d is None else f"{'+' if d >= 0 else '−'}{_fmt(abs(d), dec, scale=o)}"
                label_r, label_c = tab["row_labels"][row], tab["column_labels"][col]
                out.append(f"| {_md_cell(label_r)} | {_md_cell(label_c)} | {ours_s} | {paper_s} | {delta_s} |")

    out += ["", "## Claims of the paper, checked on our numbers", ""]
    if doc["claims"]:
        out += ["| | claim | detail |", "|---|---|---|"]
        out += [f"| {MARKS[c['holds']]} | {_md_cell(c['text'])} | {_md_cell(c['detail'])} |" for c in doc["claims"]]
    else:
        out += ["No claims checked."]
    if doc["notes"] or doc["paper_notes"]:
        out += ["", "## Notes", ""]
        out += [f"- {n}" for n in doc["notes"]]
        out += [f"- Paper transcription: {n}" for n in doc["paper_notes"]]
    if footnotes:
        out += [""] + [f"[^{n}]: Missing: {_md_cell(reason)}" for reason, n in footnotes.items()]
    return "\n".join(out) + "\n"


def write_table(
    path_stem: str | Path,
    *,
    paper: str,
    table_id: str,
    ours: Mapping,
    missing: Mapping[MissingKey, str] | None = None,
    claims: Sequence[Claim] = (),
    provenance: Provenance,
    notes: Sequence[str] = (),
    metric_labels: Mapping[str, str] | None = None,
) -> tuple[Path, Path]:
    """Write ``<path_stem>.md`` and ``<path_stem>.json`` (each via a temporary file and rename).

    Args:
        path_stem: e.g. ``results/s3im/table1_dvgo_replica`` (no suffix).
        paper, table_id: the paper table in the registry (``registry.get(paper, table_id)``).
        ours: ``{row: {metric: {column: value or None}}}`` with the registry's row / metric / column keys;
            extra rows or columns (not in the paper) are allowed and shown with paper "—".
        missing: why a value is absent, keyed by ``(row, metric, column)``, ``(row, metric)`` or ``metric``
            (looked up in that order). A None in ``ours`` needs a reason; a paper cell absent from ``ours``
            defaults to "not run in this reproduction".
        claims: the paper's claims checked on ``ours``.
        provenance: ``Provenance.collect(...)``; its data_source decides the synthetic labelling.
        notes: free-form remarks shown at the end.
        metric_labels: ``{metric: label}``, what our numbers of that metric are, shown beside them (a line under
            the metric's heading and its "ours" column header in Markdown, ``table.metrics[metric].label`` in
            JSON). Required, naming the net, for an LPIPS metric with any number of ours:
            ``{"lpips": lpips_label(report["conventions"]["lpips"])}`` (``common.metrics``), e.g.
            "LPIPS-alex" or "LPIPS-squeeze; the paper reports LPIPS-alex"; claims must then say "LPIPS-<net>".

    Raises:
        ValueError: bad values or keys, a None without a reason, an LPIPS number without a label naming its
            net, a claim saying bare "LPIPS" while the numbers are labelled.

    Returns:
        (md_path, json_path).
    """
    doc = build_table(
        paper=paper,
        table_id=table_id,
        ours=ours,
        missing=missing,
        claims=claims,
        provenance=provenance,
        notes=notes,
        metric_labels=metric_labels,
    )
    stem = Path(path_stem)
    md_path, json_path = stem.parent / f"{stem.name}.md", stem.parent / f"{stem.name}.json"
    atomic_write_bytes(json_path, (json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode())
    atomic_write_bytes(md_path, render_markdown(doc).encode())
    return md_path, json_path
