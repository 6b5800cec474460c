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

    def __init__(self, name: str, record: str, columns: tuple, each: str = None, conflict: str = None):
        self.name, self.record, self.each, self.conflict = name, record, each, conflict
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

    def insert_unless_key(self, key: str) -> str:
        """INSERT that checks the key column itself (a table whose key index is not unique)."""
        n, k = len(self.columns), self.column_names.index(key) + 1
        params = ",".join(f"?{i}" for i in range(1, n + 1))
        return (f"INSERT INTO {self.name} ({', '.join(self.column_names)}) SELECT {params} "
                f"WHERE NOT EXISTS (SELECT 1 FROM {self.name} WHERE {key}=?{k})")


def _json_text(tags):
    return json.dumps(tags, sort_keys=True) if tags else None


class _Builder:
    def __init__(self, cls, wire: bool):
        self.cls, self.wire = cls, wire
        self.fields = {f.name: f for f in cls.FIELDS}
        self.env = {}

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
            return f"int({x})"
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

    def source(self, tables: tuple):
        mine = [t for t in tables if t.record == self.cls.TYPE]
        if not mine:
            return None
        lines, appends = [], []
        for i, t in enumerate(mine):
            row = f"({', '.join(self.column(src, t) for _, src in t.columns)},)"
            if t.each:
                lines.append(f"t{i} = [{row} for a in {self.field(t.each)}]")
                appends.append(f"rows[{t.name!r}].extend(t{i})")
            else:
                lines.append(f"t{i} = {row}")
                appends.append(f"rows[{t.name!r}].append(t{i})")
        arg = "f" if self.wire else "r"
        return f"def add(rows, oid, {arg}, pack):\n" + "".join(f"    {x}\n" for x in lines + appends)


def make_adder(tables: tuple, cls, wire: bool):
    """add(rows, oid, record or map, pack) appending cls's rows to the lists in `rows` (by
    table name), or None for a type the index has no rows for. wire: read a decoded msgpack
    map instead of a record (every row is built before any is appended)."""
    b = _Builder(cls, wire)
    src = b.source(tables)
    if src is None:
        return None
    exec(compile(src, f"<rows of {cls.TYPE}>", "exec"), b.env)  # noqa: S102 -- built from TABLES only
    return b.env["add"]
