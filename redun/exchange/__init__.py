"""Upstream redun 0.44.1 JSON-lines export format <-> our records.

lines.py (parse/validate a line), convert.py (pure record conversions),
pickle3.py (upstream-shaped protocol-3 pickles), importer.py and
exporter.py (the I/O drivers; the importer's phases live in spill.py,
spillstore.py, builder.py, repolookup.py and packqueue.py). See docs/exchange.md.

The names below are imported on first use, so that `redun export` does not load
the importer (nor `redun import` the exporter).
"""

_WHERE = {"export_lines": "exporter", "import_lines": "importer", "ImportSummary": "spill", "LineError": "lines"}

__all__ = ["export_lines", "import_lines", "ImportSummary", "LineError"]


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
