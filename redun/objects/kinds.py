"""Field kinds of the record schema (objects/schema.py): for each, the check applied when
decoding, the canonical wire form and the links it holds, as source snippets that schema.py
compiles into per-record functions (and `to_wire`, the plain function of the generic path).

"h20" (upstream hash, 20 bytes), "oid" (object id, 32 bytes: a link), "uuid" (16 bytes),
"str", "int", "bool", "bytes", "oids" (list of links), "h20s" (list of hashes), "strmap"
(text -> text), and `Structs(name, cls)`: a list of small fixed-length records (Arg), each
a list on the wire, whose own fields may be links. A trailing "?" allows None (scalars).
"""

from ..errors import DecodeError


def fail(field: str, problem: str):
    raise DecodeError(f"field {field!r} {problem}")


class Kind:
    """How one field's values look: the decode check, the wire form, the links held."""

    link = None  # "one" (an object id) or "many" (a list of them): what the field links to
    scalar = True

    def __init__(self, name: str):
        self.name = name

    def check_lines(self, v: str, field: str, gen) -> list:
        """Source lines checking the wire value in variable v (`_fail(field, problem)` when it is
        not of this kind) and leaving its python value there."""
        raise NotImplementedError

    def to_wire(self, v):
        """The canonical wire value of a python value (the generic, uncompiled path)."""
        return v

    def wire(self, x: str, gen) -> str:
        """Source of the expression to_wire(x)."""
        return x

    def trusted(self, x: str, gen) -> str:
        """Source of the python value of wire expression x, unchecked (verified bytes)."""
        return x

    def link_lines(self, x: str, out: str, wire: bool, gen) -> list:
        """Source lines appending the links held in x to the list `out`."""
        if self.link == "one":
            return [f"{out}.append({x})"]
        return []

    def __repr__(self):
        return f"<kind {self.name}>"


class _Bin(Kind):
    def __init__(self, name, size, link=None):
        super().__init__(name)
        self.size, self.link = size, link

    def check_lines(self, v, field, gen):
        return [f"if not isinstance({v}, bytes) or len({v}) != {self.size}:",
                f"    _fail({field!r}, 'must be {self.size} bytes')"]


class _Typed(Kind):
    def __init__(self, name, t, label):
        super().__init__(name)
        self.t, self.label = t, label

    def check_lines(self, v, field, gen):
        return [f"if type({v}) is not {self.t.__name__}:", f"    _fail({field!r}, 'must be {self.label}')"]


class _Optional(Kind):
    def __init__(self, inner: Kind):
        if not inner.scalar:
            raise TypeError(f"kind {inner.name} cannot be optional")
        super().__init__(inner.name + "?")
        self.inner, self.link = inner, inner.link

    def check_lines(self, v, field, gen):
        return [f"if {v} is not None:"] + ["    " + line for line in self.inner.check_lines(v, field, gen)]

    def link_lines(self, x, out, wire, gen):
        return [f"if {x} is not None:", f"    {out}.append({x})"] if self.link else []


class _List(Kind):
    scalar = False

    def __init__(self, name, item: Kind):
        super().__init__(name)
        self.item = item
        self.link = "many" if item.link else None

    def check_lines(self, v, field, gen):
        x = gen.var()  # items are _Bin: checked in place
        return ([f"if not isinstance({v}, (list, tuple)):", f"    _fail({field!r}, 'must be a list')",
                 f"for {x} in {v}:"] + ["    " + line for line in self.item.check_lines(x, field, gen)]
                + [f"{v} = tuple({v})"])

    def to_wire(self, v):
        return list(v)

    def wire(self, x, gen):
        return f"list({x})"

    def trusted(self, x, gen):
        return f"tuple({x})"

    def link_lines(self, x, out, wire, gen):
        if not self.link:
            return []
        if not wire:
            return [f"{out}.extend({x})"]
        v = gen.var()
        return [f"{v} = {x}", f"if type({v}) is not list:", "    _bad()", f"{out}.extend({v})"]


class _StrMap(Kind):
    scalar = False

    def check_lines(self, v, field, gen):
        k, x = gen.var(), gen.var()
        return [f"if not isinstance({v}, dict) or not all(isinstance({k}, str) and isinstance({x}, str) "
                f"for {k}, {x} in {v}.items()):", f"    _fail({field!r}, 'must map text to text')", f"{v} = dict({v})"]

    def to_wire(self, v):
        return {k: v[k] for k in sorted(v)}

    def wire(self, x, gen):
        return f"{{k: {x}[k] for k in sorted({x})}}"


class Structs(Kind):
    """A list of `struct` records (e.g. Arg), each a fixed-length list on the wire."""

    scalar = False

    def __init__(self, name: str, struct):
        super().__init__(name)
        self.struct = struct
        self.fields = struct.FIELDS
        if any(not f.kind.scalar for f in self.fields if f.kind.link):
            raise TypeError(f"{struct.__name__}: a struct's link fields must be single ids")
        self.link = "many" if any(f.kind.link for f in self.fields) else None

    def check_lines(self, v, field, gen):
        n, a, out = len(self.fields), gen.var(), gen.var()
        subs = [gen.var() for _ in self.fields]
        lines = [f"if not isinstance({v}, (list, tuple)):", f"    _fail({field!r}, 'must be a list')",
                 f"{out} = []", f"for {a} in {v}:",
                 f"    if not isinstance({a}, (list, tuple)) or len({a}) != {n}:",
                 f"        _fail({field!r}, 'items must be {n}-item lists')", f"    {', '.join(subs)}, = {a}"]
        for f, s in zip(self.fields, subs):
            lines += ["    " + line for line in f.kind.check_lines(s, f"{field}.{f.name}", gen)]
        return lines + [f"    {out}.append({gen.bind(self.struct)}({', '.join(subs)}))", f"{v} = tuple({out})"]

    def to_wire(self, v):
        return [[f.kind.to_wire(getattr(a, f.name)) for f in self.fields] for a in v]

    def wire(self, x, gen):
        a = gen.var()
        return f"[[{', '.join(f.kind.wire(f'{a}.{f.name}', gen) for f in self.fields)}] for {a} in {x}]"

    def trusted(self, x, gen):
        a, make = gen.var(), gen.bind(self.struct)
        items = ", ".join(f.kind.trusted(f"{a}[{i}]", gen) for i, f in enumerate(self.fields))
        return f"tuple([{make}({items}) for {a} in {x}])"

    def link_lines(self, x, out, wire, gen):
        if not self.link:
            return []
        v, a = gen.var(), gen.var()
        lines = [f"{v} = {x}"]
        if wire:
            n = len(self.fields)
            lines += [f"if type({v}) is not list:", "    _bad()", f"for {a} in {v}:",
                      f"    if type({a}) is not list or len({a}) != {n}:", "        _bad()"]
        else:
            lines.append(f"for {a} in {v}:")
        for i, f in enumerate(self.fields):
            sub = f"{a}[{i}]" if wire else f"{a}.{f.name}"
            lines += ["    " + line for line in f.kind.link_lines(sub, out, wire, gen)]
        return lines


def _kinds() -> dict:
    base = {
        "h20": _Bin("h20", 20),
        "oid": _Bin("oid", 32, link="one"),
        "uuid": _Bin("uuid", 16),
        "str": _Typed("str", str, "text"),
        "int": _Typed("int", int, "an integer"),
        "bool": _Typed("bool", bool, "a boolean"),
        "bytes": _Typed("bytes", bytes, "bytes"),
    }
    out = dict(base)
    out.update({k + "?": _Optional(v) for k, v in base.items()})
    out["oids"] = _List("oids", base["oid"])
    out["h20s"] = _List("h20s", base["h20"])
    out["strmap"] = _StrMap("strmap")
    return out


KINDS = _kinds()
