"""The record schema: field kinds, and everything built from a record's FIELDS.

Each record type states its fields once, in records.py (FIELDS: a tuple of Field). What
needs to know them is built from that list, so adding a field is one edit there plus its
migration (see Versions):

- the class: slots, __init__ with defaults, equality, hash, repr (`record`, frozen.build);
- decoding: each field's check, so hostile bytes fail with DecodeError (`decode`);
- the canonical wire map: codec.encode and the run's per-job encoders (`make_encoder`);
- links: Record.links / link_groups, and `wire_links` over the decoded msgpack map,
  which gc and sync use to walk bytes without building records;
- the exporter's decoder of verified bytes (`trusted`).
The index names the fields it stores (index/rows.py); a test checks that against the
`indexed` flags here.

Kinds (what a field holds, how it is checked, written and linked) are in kinds.py.

Versions: a record is written with its class's SCHEMA. A field added later says
`since=N` (the SCHEMA that added it) and has a default. Records of an older version decode
with the default, and re-encode in their own version to the bytes they were read from
(`to_fields(schema)`), so strict reads accept them and object ids never change.

Generated functions are compiled on first use, not at import (`redun log` start-up).
"""

from ..errors import DecodeError
from .frozen import MISSING, Factory, build
from .kinds import KINDS, Kind, fail


class Field:
    """One field of a record type.

    kind: a name in KINDS or a Kind. default: for a field that may be left out (a Factory
    for a fresh mutable default). since: the SCHEMA version that added the field (a later
    one needs a default, which older records decode with). indexed: the index keeps this
    field (index/rows.py says where). leaf_links: the records it links to link nowhere
    themselves (Blob chunks), so walkers mark them without reading them."""

    __slots__ = ("name", "kind", "default", "since", "indexed", "leaf_links")

    def __init__(self, name: str, kind, default=MISSING, *, since: int = 1, indexed: bool = False,
                 leaf_links: bool = False):
        if not isinstance(kind, Kind):
            if kind not in KINDS:
                raise TypeError(f"field {name!r}: unknown kind {kind!r} (one of {', '.join(KINDS)})")
            kind = KINDS[kind]
        if leaf_links and not kind.link:
            raise TypeError(f"field {name!r}: leaf_links on a field that holds no links")
        self.name, self.kind, self.default = name, kind, default
        self.since, self.indexed, self.leaf_links = since, indexed, leaf_links

    def default_value(self):
        d = self.default
        return d.make() if isinstance(d, Factory) else d

    def __repr__(self):
        return f"Field({self.name!r}, {self.kind.name!r})"


def _check_fields(cls) -> None:
    names = [f.name for f in cls.FIELDS]
    if len(set(names)) != len(names):
        raise TypeError(f"{cls.__name__}: duplicate field names")
    schema = getattr(cls, "SCHEMA", 1)
    for f in cls.FIELDS:
        if not isinstance(f, Field):
            raise TypeError(f"{cls.__name__}: FIELDS holds {f!r}, not a Field")
        if not 1 <= f.since <= schema:
            raise TypeError(f"{cls.__name__}.{f.name}: since={f.since} outside 1..SCHEMA ({schema})")
        if f.since > 1 and f.default is MISSING:
            raise TypeError(f"{cls.__name__}.{f.name}: a field added in a later version needs a default")


def record(cls):
    """Class decorator: the frozen record class of cls, from its FIELDS."""
    _check_fields(cls)
    return build(cls, [(f.name, f.default) for f in cls.FIELDS])


def struct(cls):
    """Class decorator for a fixed-length item of a record field (e.g. Arg); no versions."""
    cls.SCHEMA = 1
    _check_fields(cls)
    return build(cls, [(f.name, f.default) for f in cls.FIELDS])


# -- generated functions -------------------------------------------------------


class _Gen:
    """Collects the globals and fresh variable names of one generated function."""

    def __init__(self):
        self.env = {"_bad": _bad}
        self.n = 0

    def var(self) -> str:
        self.n += 1
        return f"v{self.n}"

    def bind(self, obj) -> str:
        name = f"_g{len(self.env)}"
        self.env[name] = obj
        return name

    def compile(self, src: str, name: str):
        exec(compile(src, f"<schema {name}>", "exec"), self.env)  # noqa: S102 -- built from FIELDS only
        return self.env[name]


def _bad():
    raise DecodeError("a link field is not a list of 32-byte object ids")


def fields_in(cls, version: int) -> tuple:
    """The fields a record of `version` carries."""
    return tuple(f for f in cls.FIELDS if f.since <= version)


def wire_map(cls, r: str, gen) -> str:
    """Source of the canonical field map (keys sorted) of record expression r."""
    items = sorted(cls.FIELDS, key=lambda f: f.name)
    return "{" + ", ".join(f"{f.name!r}: {f.kind.wire(f'{r}.{f.name}', gen)}" for f in items) + "}"


def make_encoder(cls, pack):
    """`pack([TYPE, SCHEMA, canonical map])` for records of cls, as one generated function:
    codec.encode's bytes without its generic steps (the run's per-job hot path)."""
    gen = _Gen()
    p = gen.bind(pack)
    name = f"encode_{cls.TYPE}"
    src = f"def {name}(r):\n    return {p}([{cls.TYPE!r}, {cls.SCHEMA!r}, {wire_map(cls, 'r', gen)}])\n"
    return gen.compile(src, name)


def _make_wire(cls, version):
    gen = _Gen()
    return gen.compile(f"def wire(r):\n    return {wire_map(cls, 'r', gen)}\n", "wire")


def _link_source(cls, name: str, wire: bool, groups: bool, gen) -> str:
    leafy = groups and any(f.leaf_links for f in cls.FIELDS)
    lines = ["out = []", "leaves = []"] if groups else ["out = []"]
    for f in cls.FIELDS:
        if f.kind.link:
            if wire and f.since > 1:  # absent from records of older versions
                x = f"f.get({f.name!r}, {gen.bind(f.kind.to_wire(f.default_value()))})"
            elif wire:
                x = f"f[{f.name!r}]"
            else:
                x = f"r.{f.name}"
            lines += f.kind.link_lines(x, "leaves" if (groups and f.leaf_links) else "out", wire, gen)
    if wire:
        for target in ("out", "leaves") if leafy else ("out",):
            lines += [f"for v in {target}:", "    if type(v) is not bytes or len(v) != 32:", "        _bad()"]
        lines.append("return out, leaves")
    elif groups:
        lines.append("return tuple(out), tuple(leaves)")
    else:
        lines.append("return tuple(out)")
    arg = "f" if wire else "r"
    return f"def {name}({arg}):\n" + "".join(f"    {line}\n" for line in lines)


def _make_links(cls, version):
    gen = _Gen()
    return gen.compile(_link_source(cls, "links", False, False, gen), "links")


def _make_link_groups(cls, version):
    gen = _Gen()
    return gen.compile(_link_source(cls, "link_groups", False, True, gen), "link_groups")


def _make_wire_links(cls, version):
    gen = _Gen()
    return gen.compile(_link_source(cls, "wire_links", True, True, gen), "wire_links")


def _make_trusted(cls, version):
    gen = _Gen()
    present = fields_in(cls, version)
    args = []
    for f in cls.FIELDS:
        if f.since <= version:
            args.append(f.kind.trusted(f"f[{f.name!r}]", gen))
        else:
            args.append(f"{gen.bind(f.default_value)}()")
    make = gen.bind(cls)
    src = (f"def trusted(f):\n    if len(f) != {len(present)}:\n        _bad()\n"
           f"    return {make}({', '.join(args)})\n")
    return gen.compile(src, "trusted")


def _checked_fields(cls, version, gen) -> tuple:
    """Source lines reading and checking every field of a version-`version` map `f` (DecodeError
    naming the first bad one), and per field of cls the variable or default expression holding
    its python value."""
    present = fields_in(cls, version)
    names = frozenset(f.name for f in present)
    gen.env.update(_fail=fail, _KeyError=KeyError)
    unknown, lacks = gen.bind(_unknown(cls, names)), gen.bind(_lacks(cls))
    lines = [f"if len(f) != {len(present)}:", f"    {unknown}(f)", "try:"]
    values, checks = [], []
    for fld in cls.FIELDS:
        if fld.since > version:  # added after this record was written: its default
            values.append(f"{gen.bind(fld.default_value)}()")
            continue
        v = gen.var()
        lines.append(f"    {v} = f[{fld.name!r}]")
        checks += fld.kind.check_lines(v, fld.name, gen)
        values.append(v)
    return lines + ["except _KeyError as e:", f"    {lacks}(e)"] + checks, values


def _make_decoder(cls, version):
    gen = _Gen()
    lines, values = _checked_fields(cls, version, gen)
    lines.append(f"return {gen.bind(cls)}({', '.join(values)})")
    return gen.compile("def decode(f):\n" + "".join(f"    {line}\n" for line in lines), "decode")


def _make_checked_links(cls, version):
    gen = _Gen()
    lines, values = _checked_fields(cls, version, gen)
    lines.append("out = []")
    for fld, v in zip(cls.FIELDS, values):
        if fld.kind.link and fld.since <= version:  # a default links nowhere
            lines += fld.kind.link_lines(v, "out", False, gen)
    lines.append("return out")
    return gen.compile("def checked_links(f):\n" + "".join(f"    {line}\n" for line in lines), "checked_links")


def _unknown(cls, names):
    def unknown(fields):
        extra = set(fields) - names
        if extra:
            raise DecodeError(f"{cls.TYPE} record has unknown fields {sorted(extra, key=str)}")

    return unknown


def _lacks(cls):
    def lacks(e):
        raise DecodeError(f"{cls.TYPE} record lacks field {e.args[0]!r}") from None

    return lacks


_MAKERS = {
    "wire": _make_wire,
    "links": _make_links,
    "link_groups": _make_link_groups,
    "wire_links": _make_wire_links,
    "trusted": _make_trusted,
    "decode": _make_decoder,
    "checked_links": _make_checked_links,
}
_CACHE: dict = {}


def compiled(cls, purpose: str, version: int = 0):
    """The `purpose` function of record class cls (for records of `version`), built once:
    wire(record) -> canonical map of the current version; links(record) -> ids;
    link_groups(record) -> (ids to follow, leaf ids); wire_links(map) -> the same two lists
    from a decoded msgpack map (DecodeError if a link field is malformed); trusted(map) ->
    record, unchecked; decode(map) -> record, every field checked (DecodeError);
    checked_links(map) -> the record's links (a list), every field checked as decode does, no
    record built."""
    key = (cls, purpose, version)
    fn = _CACHE.get(key)
    if fn is None:
        fn = _CACHE[key] = _MAKERS[purpose](cls, version or cls.SCHEMA)
    return fn
