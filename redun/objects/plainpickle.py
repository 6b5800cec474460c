"""Pickle without trust: plain pickles in, upstream-identical pickles out.

``safe_unpickle`` reads plain containers and upstream file objects (as FileRef)
with the bounded reader of objects/pickleread.py (never CPython's unpicklers,
which trust their input with memory) and refuses every other global, so
importing or previewing upstream pickles never runs their code. ``pickle_plain`` writes
protocol 3 exactly as upstream would for the same values, FileRefs included.
"""

import io
import pickle
from typing import Any

from ..errors import DecodeError
from .filerefs import FILE_CLASSES, FILE_MODULE, FILE_TYPES, FileRef, FileRefPicklingError
from .pickleread import Malformed, NotPlain, read_pickle


class NotPlainValue(DecodeError):
    """A pickle holds something other than plain data and files; keep it as a pickle."""


# -- restricted unpickling -------------------------------------------------------

_SAFE_BUILTINS = {"set": set, "frozenset": frozenset}
_BUILTIN_MODULES = ("builtins", "__builtin__")  # protocol 0-2 pickles name the module __builtin__
MAX_DEPTH = 200  # nesting levels of a plain value (CPython's pickler itself stops near 1000)


class _FileStub:
    """Stands in for an upstream file class while unpickling; becomes a FileRef after."""

    cls_name = ""
    plain_newobj = True  # pickleread: NEWOBJ without arguments, then BUILD, may build it

    def __setstate__(self, state: Any) -> None:
        type_name, key = FILE_CLASSES[self.cls_name]
        if not (
            isinstance(state, dict)
            and type(state.get(key)) is str
            and type(state.get("hash")) is str
        ):
            raise NotPlain(f"{FILE_MODULE}.{self.cls_name} pickle has unexpected state")
        self.ref = FileRef(type_name, state[key], state["hash"])


_STUBS = {name: type(f"_{name}Stub", (_FileStub,), {"cls_name": name})
          for name in FILE_CLASSES}


def _find_class(module: str, name: str) -> Any:
    """The only globals a plain pickle may name: set, frozenset, upstream's file classes."""
    if module in _BUILTIN_MODULES and name in _SAFE_BUILTINS:
        return _SAFE_BUILTINS[name]
    if module == FILE_MODULE and name in _STUBS:
        return _STUBS[name]
    raise NotPlain(f"pickle refers to {module:.80}.{name:.80}, which is not a plain value type")


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

    def visit(self, obj: Any, depth: int = 0) -> tuple:
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
            if depth >= MAX_DEPTH:
                raise NotPlainValue(f"pickle nests containers more than {MAX_DEPTH} levels deep")
            self.active.add(key)
            result = self._container(obj, t, depth + 1)
            self.active.discard(key)
        if result[1] > self.limit:
            raise NotPlainValue("pickle expands to a value too large to store natively")
        self.memo[key] = result
        return result

    def _container(self, obj: Any, t: type, depth: int) -> tuple:
        size, changed = 1, False
        if t is dict:
            items = []
            for k, v in obj.items():
                k2, ks = self.visit(k, depth)
                v2, vs = self.visit(v, depth)
                size += ks + vs
                changed = changed or k2 is not k or v2 is not v
                items.append((k2, v2))
            return (dict(items) if changed else obj), size
        out = []
        for x in obj:
            x2, xs = self.visit(x, depth)
            size += xs
            changed = changed or x2 is not x
            out.append(x2)
        return (t(out) if changed else obj), size


def safe_unpickle(data: bytes) -> Any:
    """Unpickle plain data without running code; upstream files become FileRef.

    Only builtins.set/frozenset and upstream's redun.file classes may be referenced.
    Raises NotPlainValue for anything else (including cycles, nesting deeper than
    MAX_DEPTH and values that build or expand far beyond the pickle's size) and
    DecodeError for malformed bytes. Memory stays within a small multiple of
    len(data) whatever the bytes (objects/pickleread.py).
    """
    try:
        value, tree = read_pickle(data, _find_class)
        if not tree:  # shared or recursive parts, or file stubs: one memoised pass
            value, _ = _Checker(limit=64 * len(data) + (1 << 20)).visit(value)
    except NotPlain as e:
        raise NotPlainValue(str(e)) from None
    except Malformed as e:
        raise DecodeError(f"not a valid pickle: {e}") from None
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
