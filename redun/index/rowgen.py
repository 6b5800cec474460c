"""The vocabulary of the index's table description (rows.TABLES) and the row builders
generated from it: for one record class, one function that appends that record's rows to
a RowBuffer's lists, reading either a record object or the msgpack map of its bytes.

A column's source is a field name (its value, stored as its kind says: a text map as
JSON, a boolean as 0/1), OID (the record's object id), PACK (pack_ids.id of the pack
being ingested), Computed(fn, fields...) or Projected(field, subfields, fn) (fn of the
listed subfields of each item of a struct-list field). A table with `each=field` holds one
row per item of that list field; its columns may use ITEM (the item) or Item(subfield).
"""

import json

from msgpack import unpackb as _unpackb


class _Special:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


OID = _Special("OID")
PACK = _Special("PACK")
ITEM = _Special("ITEM")


class Item:
    """A subfield of the current item of the `each` field (a struct list)."""

    def __init__(self, sub: str):
        self.sub = sub


class Computed:
    """fn(*values of fields), e.g. a task's full name."""

    def __init__(self, fn, *fields: str):
        self.fn, self.fields = fn, fields


class Projected:
    """fn([(subfields of item) for item in field]) of a struct-list field, e.g. packed arguments."""

    def __init__(self, field: str, subs: tuple, fn):
        self.field, self.subs, self.fn = field, subs, fn


class Table:
    """One table's rows: which record type fills it and where each column comes from."""

    def __init__(self, name: str, record: str, columns: tuple, each: str = None, conflict: str = None,
                 distinct: bool = False):
        """distinct: with `each`, a record's equal rows are written once (so that a bulk load's
        only duplicates are those of records ingested twice)."""
        self.name, self.record, self.each, self.conflict = name, record, each, conflict
        self.distinct = distinct
        self.columns = tuple((c, c) if isinstance(c, str) else c for c in columns)
        self.column_names = tuple(c for c, _ in self.columns)

    def fields(self) -> set:
        """The record fields this table's rows are made from."""
        out = {self.each} if self.each else set()
        for _, src in self.columns:
            if isinstance(src, str):
                out.add(src)
            elif isinstance(src, Computed):
                out.update(src.fields)
            elif isinstance(src, Projected):
                out.add(src.field)
        return out

    def insert(self, values: str) -> str:
        """INSERT of this table's columns from `values` (a VALUES list or a SELECT)."""
        verb = "INSERT" if self.conflict else "INSERT OR IGNORE"
        return f"{verb} INTO {self.name} ({', '.join(self.column_names)}) {values}{self.conflict or ''}"


def _json_text(tags):
    return json.dumps(tags, sort_keys=True) if tags else None


class _Builder:
    """Source lines that build one record's rows, for record classes in turn (one env)."""

    def __init__(self, wire: bool):
        self.wire = wire
        self.env = {}

    def use(self, cls) -> None:
        self.cls = cls
        self.fields = {f.name: f for f in cls.FIELDS}

    def bind(self, obj) -> str:
        name = f"_g{len(self.env)}"
        self.env[name] = obj
        return name

    def field(self, name: str) -> str:
        """Source of a field's value: an attribute, or a map entry (absent in older versions)."""
        f = self.fields[name]
        if not self.wire:
            return f"r.{name}"
        if f.since > 1:
            return f"f.get({name!r}, {self.bind(f.kind.to_wire(f.default_value()))})"
        return f"f[{name!r}]"

    def stored(self, name: str) -> str:
        x, kind = self.field(name), self.fields[name].kind.name
        if kind == "strmap":
            return f"{self.bind(_json_text)}({x})"
        if kind == "bool":
            return f"(1 if {x} is True else 0)"
        return x

    def sub(self, list_field: str, sub: str, item: str) -> str:
        if not self.wire:
            return f"{item}.{sub}"
        names = [f.name for f in self.fields[list_field].kind.fields]
        return f"{item}[{names.index(sub)}]"

    def column(self, src, table: Table) -> str:
        if src is OID:
            return "oid"
        if src is PACK:
            return "pack"
        if src is ITEM:
            return "a"
        if isinstance(src, Item):
            return self.sub(table.each, src.sub, "a")
        if isinstance(src, Computed):
            return f"{self.bind(src.fn)}({', '.join(self.stored(n) for n in src.fields)})"
        if isinstance(src, Projected):
            items = ", ".join(self.sub(src.field, s, "p") for s in src.subs)
            return f"{self.bind(src.fn)}([({items},) for p in {self.field(src.field)}])"
        return self.stored(src)

    def lines(self, tables: tuple):
        """Statements appending the current class's rows to `rows` (lists by table name), every
        row built before any is appended; None if the index has no rows for it."""
        mine = [t for t in tables if t.record == self.cls.TYPE]
        if not mine:
            return None
        built, appends = [], []
        for i, t in enumerate(mine):
            row = f"({', '.join(self.column(src, t) for _, src in t.columns)},)"
            if t.each:  # often empty: skip the comprehension's call then
                rows = f"list(dict.fromkeys([{row} for a in e{i}]))" if t.distinct else f"[{row} for a in e{i}]"
                built += [f"e{i} = {self.field(t.each)}", f"t{i} = {rows} if e{i} else e{i}"]
                appends += [f"if t{i}:", f"    rows[{t.name!r}].extend(t{i})"]
            else:
                built.append(f"t{i} = {row}")
                appends.append(f"rows[{t.name!r}].append(t{i})")
        return built + appends

    def compile(self, head: str, lines: list, what: str):
        src = head + "".join(f"    {x}\n" for x in lines)
        exec(compile(src, f"<rows: {what}>", "exec"), self.env)  # noqa: S102 -- built from TABLES only
        return self.env[head[4 : head.index("(")]]


def make_adder(tables: tuple, cls, wire: bool):
    """add(rows, oid, record or map, pack) appending cls's rows to the lists in `rows` (by
    table name), or None for a type the index has no rows for. wire: read a decoded msgpack
    map instead of a record."""
    b = _Builder(wire)
    b.use(cls)
    lines = b.lines(tables)
    if lines is None:
        return None
    return b.compile(f"def add(rows, oid, {'f' if wire else 'r'}, pack):\n", lines, cls.TYPE)


def make_buffer_add(tables: tuple, classes: tuple, other):
    """RowBuffer.add(self, oid, record) for these classes: one if-chain on the record's type,
    rows built inline (a run's hot path: no call per record); a type without rows is not
    counted; any other class goes to other(self, oid, record)."""
    b = _Builder(False)
    out = ["t = type(r)"]
    for i, cls in enumerate(classes):
        b.use(cls)
        body = b.lines(tables)
        out.append(f"{'elif' if i else 'if'} t is {b.bind(cls)}:")
        if body is None:
            out.append("    return")
        else:
            out += ["    rows = self.rows", "    pack = self.pack"] + [f"    {x}" for x in body]
            out.append("    self.count += 1")
    out += ["else:", f"    {b.bind(other)}(self, oid, r)"]
    return b.compile("def add(self, oid, r):\n", out, "RowBuffer.add")


def make_buffer_add_canonical(tables: tuple, classes: tuple, errors: tuple, other):
    """RowBuffer.add_canonical(self, oid, canonical) reading the msgpack map of these classes'
    records unchecked; anything else, or any of `errors` on the way, goes to other(self, oid,
    canonical) (the strict decoder)."""
    b = _Builder(True)
    b.env.update(_unpackb=_unpackb, _errors=errors)
    out = ["try:", "    tag, schema, f = _unpackb(canonical, raw=False)"]
    for i, cls in enumerate(classes):
        b.use(cls)
        body = b.lines(tables)
        out.append(f"    {'elif' if i else 'if'} tag == {cls.TYPE!r}:")
        bad = "schema != 1" if cls.SCHEMA == 1 else f"not 1 <= schema <= {cls.SCHEMA}"
        out += [f"        if {bad}:", "            raise ValueError"]
        if body is not None:
            out += ["        rows = self.rows", "        pack = self.pack"] + [f"        {x}" for x in body]
            out.append("        self.count += 1")
        out.append("        return")
    out += ["except _errors:", "    pass", f"{b.bind(other)}(self, oid, canonical)"]
    return b.compile("def add_canonical(self, oid, canonical):\n", out, "RowBuffer.add_canonical")
