"""Pickle without trust: plain pickles in, upstream-identical pickles out.

``safe_unpickle`` is the "restricting globals" unpickler: it builds plain
containers and upstream file objects (as FileRef) and refuses every other global,
so importing upstream pickles never runs their code. ``pickle_plain`` writes
protocol 3 exactly as upstream would for the same values, FileRefs included.
"""

import io
import pickle
from typing import Any

from ..errors import DecodeError
from .filerefs import FILE_CLASSES, FILE_MODULE, FILE_TYPES, FileRef, FileRefPicklingError


class NotPlainValue(DecodeError):
    """A pickle holds something other than plain data and files; keep it as a pickle."""


# -- restricted unpickling -------------------------------------------------------

_SAFE_BUILTINS = {"set": set, "frozenset": frozenset}


class _FileStub:
    """Stands in for an upstream file class while unpickling; becomes a FileRef after."""

    cls_name = ""

    def __setstate__(self, state: Any) -> None:
        type_name, key = FILE_CLASSES[self.cls_name]
        if not (
            isinstance(state, dict)
            and type(state.get(key)) is str
            and type(state.get("hash")) is str
        ):
            raise NotPlainValue(f"{FILE_MODULE}.{self.cls_name} pickle has unexpected state")
        self.ref = FileRef(type_name, state[key], state["hash"])


_STUBS = {name: type(f"_{name}Stub", (_FileStub,), {"cls_name": name})
          for name in FILE_CLASSES}


class _PlainUnpickler(pickle.Unpickler):
    """Restricting-globals unpickler: plain containers and upstream files only."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "builtins" and name in _SAFE_BUILTINS:
            return _SAFE_BUILTINS[name]
        if module == FILE_MODULE and name in _STUBS:
            return _STUBS[name]
        raise NotPlainValue(f"pickle refers to {module}.{name}, which is not a plain value type")

    def persistent_load(self, pid: Any) -> Any:
        raise NotPlainValue("pickle uses persistent ids")


_CONTAINERS = (list, tuple, dict, set, frozenset)


class _Checker:
    """One memoised pass over an unpickled value: stubs become FileRefs, cycles and
    blow-ups are refused.

    A pickle can reference one object many times (memo), so a tiny pickle may expand
    to an enormous tree once encoded; ``limit`` bounds the expanded size (in items
    plus characters). Untouched subtrees are returned as is, keeping object sharing.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.memo: dict = {}
        self.active: set = set()

    def visit(self, obj: Any) -> tuple:
        t = type(obj)
        if t in (str, bytes):
            return obj, 1 + len(obj)
        if t not in _CONTAINERS and not isinstance(obj, _FileStub):
            return obj, 1
        key = id(obj)
        hit = self.memo.get(key)
        if hit is not None:
            return hit
        if isinstance(obj, _FileStub):
            ref = getattr(obj, "ref", None)
            if ref is None:
                raise NotPlainValue(f"{FILE_MODULE}.{obj.cls_name} pickle has no state")
            result = (ref, 1 + len(ref.path) + len(ref.hash))
        else:
            if key in self.active:
                raise NotPlainValue("pickle holds a recursive structure")
            self.active.add(key)
            result = self._container(obj, t)
            self.active.discard(key)
        if result[1] > self.limit:
            raise NotPlainValue("pickle expands to a value too large to store natively")
        self.memo[key] = result
        return result

    def _container(self, obj: Any, t: type) -> tuple:
        size, changed = 1, False
        if t is dict:
            items = []
            for k, v in obj.items():
                k2, ks = self.visit(k)
                v2, vs = self.visit(v)
                size += ks + vs
                changed = changed or k2 is not k or v2 is not v
                items.append((k2, v2))
            return (dict(items) if changed else obj), size
        out = []
        for x in obj:
            x2, xs = self.visit(x)
            size += xs
            changed = changed or x2 is not x
            out.append(x2)
        return (t(out) if changed else obj), size


def safe_unpickle(data: bytes) -> Any:
    """Unpickle plain data without running code; upstream files become FileRef.

    Only builtins.set/frozenset and upstream's redun.file classes may be referenced.
    Raises NotPlainValue for anything else (including cycles and values that expand
    far beyond the pickle's size) and DecodeError for malformed bytes.
    """
    unpickler = _PlainUnpickler(io.BytesIO(data))
    try:
        value = unpickler.load()
        value, _ = _Checker(limit=64 * len(data) + (1 << 20)).visit(value)
    except DecodeError:
        raise
    except RecursionError:
        raise NotPlainValue("pickle holds a recursive or too deeply nested structure") from None
    except Exception as e:
        raise DecodeError(f"not a valid pickle: {type(e).__name__}: {e}") from None
    return value


# -- pickling decoded values -------------------------------------------------------


class _Pickler3(pickle._Pickler):  # the pure-Python pickler: its dispatch is extensible
    """Protocol-3 pickler that writes FileRef exactly as upstream pickles its File classes.

    Byte for byte what pickling upstream's object gives: GLOBAL redun.file <Class>,
    EMPTY_TUPLE, NEWOBJ, memo, state dict, BUILD.
    """

    dispatch = pickle._Pickler.dispatch.copy()

    def save_fileref(self, obj: FileRef) -> None:
        known = FILE_TYPES.get(obj.type_name)
        if known is None:
            raise pickle.PicklingError(f"cannot pickle {obj!r}: unknown file type {obj.type_name}")
        cls_name, key = known
        marker = _CLASS_MARKERS[cls_name]
        if id(marker) in self.memo:
            self.write(self.get(self.memo[id(marker)][0]))
        else:
            self.write(pickle.GLOBAL + f"{FILE_MODULE}\n{cls_name}\n".encode())
            self.memoize(marker)
        self.save(())
        self.write(pickle.NEWOBJ)
        self.memoize(obj)
        self.save({key: obj.path, "hash": obj.hash})
        self.write(pickle.BUILD)

    dispatch[FileRef] = save_fileref


_CLASS_MARKERS = {cls_name: object() for cls_name, _ in FILE_TYPES.values()}


def pickle_plain(value: Any) -> bytes:
    """Protocol-3 pickle of a value that may hold FileRefs (e.g. a decoded native value).

    Identical to ``pickle.dumps(value, 3)`` of the equivalent upstream objects; uses
    the fast C pickler unless a FileRef is found.
    """
    try:
        return pickle.dumps(value, protocol=3)
    except FileRefPicklingError:
        buf = io.BytesIO()
        _Pickler3(buf, protocol=3).dump(value)
        return buf.getvalue()
