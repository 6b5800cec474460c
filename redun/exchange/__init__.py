"""Upstream redun 0.44.1 JSON-lines export format <-> our records.

lines.py (parse/validate a line), convert.py (pure record conversions),
pickle3.py (upstream-shaped protocol-3 pickles), importer.py and
exporter.py (the I/O drivers; the importer's phases live in spill.py,
builder.py, repolookup.py and packqueue.py). See docs/exchange.md.
"""

from .exporter import export_lines
from .importer import ImportSummary, import_lines
from .lines import LineError

__all__ = ["export_lines", "import_lines", "ImportSummary", "LineError"]
