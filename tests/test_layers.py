"""Imports go only downward (docs/design.md, "Layers"). Every module in redun/
is parsed with `ast`; every import of another part of redun (at the top or
inside a function: lazy imports count too) must point to a lower layer.
A new package or top-level module must be given its layer here and in
docs/design.md before it can land."""

import ast
import os

import redun

PKG_DIR = os.path.dirname(os.path.abspath(redun.__file__))

# Top to bottom. A part may import only parts in lower layers, except inside
# UPSTREAM_API, whose modules (upstream's public names) may import one another.
LAYERS = [
    {"__main__"},  # python -m redun
    {"cli", "pytest"},  # pytest: upstream's redun.pytest fixture module
    {"scheduler"},  # upstream's Scheduler: drives the engine
    {"engine", "view", "maint"},
    {"exchange"},  # upstream JSON lines; view's json renderer uses its converters
    {"repo"},
    {"pg"},  # PostgreSQL repositories: store, refs, index and remote over one database
    {"sync", "index"},
    {"refs"},
    # the user-facing API: upstream's public modules and their helpers
    {"task", "expression", "file", "value", "hashing", "config", "promise", "executors", "scripting",
     "fs", "filekinds", "sharded", "context", "tags", "logging", "tools", "functools", "namespace", "utils",
     "handle", "taskoptions", "valuetypes"},
    {"objects"},
    {"errors"},
]
UPSTREAM_API = LAYERS[9]
LAYER_OF = {part: i for i, layer in enumerate(LAYERS) for part in layer}


def _modules():
    for dirpath, dirnames, filenames in os.walk(PKG_DIR):
        dirnames[:] = [d for d in dirnames if not d.startswith(("_", "."))]
        for f in filenames:
            if f.endswith(".py"):
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, os.path.dirname(PKG_DIR))[:-3].replace(os.sep, ".")
                is_pkg = f == "__init__.py"
                yield path, (rel[: -len(".__init__")] if is_pkg else rel), is_pkg


def _part(module: str):
    """'redun.sync.dirremote' -> 'sync'; 'redun.task' -> 'task'; 'redun' -> None (the root)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _imports(path: str, module: str, is_pkg: bool):
    """(line, imported redun module) for every import in the file, relative ones resolved."""
    package = module if is_pkg else module.rsplit(".", 1)[0]
    tree = ast.parse(open(path).read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:  # `from . import sync` imports redun.sync
                sub = f"{target}.{alias.name}"
                as_path = os.path.join(os.path.dirname(PKG_DIR), *sub.split("."))
                yield node.lineno, sub if os.path.exists(as_path + ".py") or os.path.isdir(as_path) else target


def test_every_part_has_a_layer():
    parts = {_part(m) for _, m, _ in _modules()} - {None}
    missing = sorted(parts - set(LAYER_OF))
    assert not missing, f"give {missing} a layer in tests/test_layers.py and docs/design.md"


def test_imports_point_down():
    wrong = []
    for path, module, is_pkg in _modules():
        src = _part(module)
        if src is None:
            continue  # redun/__init__.py: checked below
        for line, target in _imports(path, module, is_pkg):
            if not (target == "redun" or target.startswith("redun.")):
                continue
            dst = _part(target)
            if dst is None or dst == src:
                continue  # `import redun` (for __version__ or __file__): the root imports nothing
            a, b = LAYER_OF.get(src), LAYER_OF.get(dst)
            if a is None or b is None:
                continue  # reported by test_every_part_has_a_layer
            if b > a or (a == b and src in UPSTREAM_API):
                continue
            wrong.append(f"{os.path.relpath(path, PKG_DIR)}:{line} ({src}) imports {target} ({dst})")
    assert not wrong, "imports that go up or sideways:\n" + "\n".join(sorted(set(wrong)))


def test_the_root_package_imports_nothing_at_start_up():
    """`import redun` must stay free (lower layers use it for __file__): its public
    names are imported on first use."""
    path = os.path.join(PKG_DIR, "__init__.py")
    assert [t for _, t in _imports(path, "redun", True) if t.startswith("redun")] == []


def test_only_the_index_imports_sqlite3():
    users = []
    for path, module, is_pkg in _modules():
        if _part(module) == "index":
            continue
        users += [f"{module}:{line}" for line, t in _imports(path, module, is_pkg) if t.split(".")[0] == "sqlite3"]
    assert not users, f"sqlite3 outside redun/index: {users} (use redun.index.scratch)"
