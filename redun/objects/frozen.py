"""`frozen`: the class builder behind the record types.

It gives what `dataclass(frozen=True, slots=True)` gave (slots, a generated
__init__ with defaults, value equality, hash, repr, assignment refused,
pickling) without importing dataclasses, whose import drags in inspect, ast
and dis: a good part of every cold `redun log`, whose start-up is a feature
(figure: docs/query-index.md, Cold start).
Fields are the annotations in the class body, in order. A default is a class
attribute; `Factory(dict)` makes a fresh one per instance. Methods the class
defines itself (e.g. __repr__, __hash__) are kept, as dataclasses does.
`build` is the same for a field list given explicitly (records: objects/schema.py).
"""

from operator import attrgetter

MISSING = object()


class Factory:
    """A default made fresh for each instance (like dataclasses' default_factory)."""

    __slots__ = ("make",)

    def __init__(self, make):
        self.make = make


def frozen(cls):
    names = tuple(cls.__dict__.get("__annotations__", {}))
    return build(cls, [(n, cls.__dict__.get(n, MISSING)) for n in names])


def build(cls, fields: list):
    """The frozen class of cls with these (name, default or MISSING) fields, in order."""
    names = tuple(n for n, _ in fields)
    ns = {k: v for k, v in cls.__dict__.items() if k not in names and k not in ("__dict__", "__weakref__")}
    ns["__slots__"] = names
    ns["__match_args__"] = names
    glb = {"_set": object.__setattr__, "_MISSING": MISSING, "_NAMES": names}
    params, body, seen_default = [], [], False
    for n, default in fields:
        if default is MISSING:
            if seen_default:
                raise TypeError(f"{cls.__name__}: field {n!r} without a default follows one with a default")
            params.append(n)
        elif isinstance(default, Factory):
            seen_default = True
            glb[f"_f_{n}"] = default.make
            params.append(f"{n}=_MISSING")
            body.append(f"    if {n} is _MISSING:\n        {n} = _f_{n}()")
        else:
            seen_default = True
            glb[f"_d_{n}"] = default
            params.append(f"{n}=_d_{n}")
    body += _assignments(names)
    src = f"def __init__(self, {', '.join(params)}):\n" + ("\n".join(body) or "    pass")
    code = {}
    exec(src, glb, code)  # noqa: S102 -- generated from field names only
    values = _values(names)
    methods = {"__init__": code["__init__"], "__getstate__": lambda self: values(self), "__setstate__": _setstate,
               "__eq__": _make_eq(values), "__repr__": _make_repr(cls.__qualname__, names, values),
               "__hash__": lambda self: hash(values(self))}
    for name, fn in methods.items():
        if name in cls.__dict__:  # like dataclasses: never replace a method the class defines
            continue
        if fn is not _setstate:
            fn.__qualname__ = f"{cls.__qualname__}.{name}"
        ns[name] = fn
    ns["__setattr__"] = _refuse_set
    ns["__delattr__"] = _refuse_del
    new = type(cls)(cls.__name__, cls.__bases__, ns)
    new.__qualname__ = cls.__qualname__
    # the mutable twin: the same slots on the same bases, so an instance may change class
    glb["_Me"] = new
    glb["_Twin"] = type(f"_{cls.__name__}Twin", cls.__bases__, {"__slots__": names})
    return new


# Only __init__ is compiled (its signature names the fields); the other methods are closures
# over the field names, since compiling them for every record type was a good part of a cold
# `redun log` (docs/query-index.md, Cold start).


def _values(names: tuple):
    """self -> the tuple of its field values, in order (attrgetter builds it in C)."""
    if len(names) > 1:
        return attrgetter(*names)
    if names:
        get = attrgetter(names[0])
        return lambda self: (get(self),)
    return lambda self: ()


def _make_eq(values):
    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return values(self) == values(other)
        return NotImplemented
    return __eq__


def _make_repr(qualname: str, names: tuple, values):
    def __repr__(self):
        return f"{qualname}(" + ", ".join(f"{n}={v!r}" for n, v in zip(names, values(self))) + ")"
    return __repr__


def _setstate(self, state):
    for n, v in zip(self.__slots__, state):
        object.__setattr__(self, n, v)


def _assignments(names) -> list:
    """__init__'s lines storing the fields. A frozen class's __setattr__ refuses, so each field
    would be stored through object.__setattr__, which is most of what building a record costs;
    an instance of exactly this class instead becomes its mutable twin (same slot layout) for
    plain slot stores, and then this class again. Subclasses (other layouts) store field by
    field. Nothing between the two class changes can raise: defaults are made before."""
    if not names:
        return []
    fast = [f"        self.{n} = {n}" for n in names]
    slow = [f"        for _n, _v in zip(_NAMES, ({', '.join(names)},)):", "            _set(self, _n, _v)"]
    return (["    if self.__class__ is _Me:", "        _set(self, '__class__', _Twin)"] + fast
            + ["        self.__class__ = _Me", "    else:"] + slow)


def _refuse_set(self, name, value):
    raise AttributeError(f"cannot assign to field {name!r} of a frozen {type(self).__name__}")


def _refuse_del(self, name):
    raise AttributeError(f"cannot delete field {name!r} of a frozen {type(self).__name__}")
