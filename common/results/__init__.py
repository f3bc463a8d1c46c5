"""Results tables: the papers' numbers (registry), our numbers beside them (writer), provenance and plots."""

from common.results.provenance import Provenance
from common.results.registry import Metric, PaperTable, Registry, get, load_registry, tables
from common.results.writer import Claim, build_table, write_table

__all__ = [
    "Claim",
    "Metric",
    "PaperTable",
    "Provenance",
    "Registry",
    "build_table",
    "get",
    "load_registry",
    "tables",
    "write_table",
]
