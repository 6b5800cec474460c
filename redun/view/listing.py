"""Typed lines of `redun log`'s listings (--value, --file, ...), built a page at a time.

The builders read one page of rows from the index (keyset pages, redun/index/
listing_queries.py), add what a line shows (a value's preview from the index's
cache, or computed from the store for that page only; current tags in one query
per page) and yield the page as plain objects a renderer only formats. After a
page is consumed, Provenance.end_page drops what it read, so a listing holds at
most one page however long it is.
"""

from typing import Iterator


class ValueLine:
    """`Value <hash> <type> <preview> <tags>`."""

    __slots__ = ("oid", "hash", "type", "preview", "tags")

    def __init__(self, oid: bytes, hash: bytes, type: str, preview: str, tags: tuple):
        self.oid = oid
        self.hash = hash
        self.type = type
        self.preview = preview
        self.tags = tags  # ((key, JSON text), ...) current tags, by key then value

    def __repr__(self):
        return f"ValueLine({self.hash.hex()[:8]}, {self.type}, {self.preview!r})"


class FileLine:
    """`File <hash> <path>`."""

    __slots__ = ("hash", "path")

    def __init__(self, hash: bytes, path: str):
        self.hash = hash
        self.path = path


class JobLine:
    """`Job <id> [<status>] <start>:  <task>(<args>) <tags>`."""

    __slots__ = ("id", "status", "start_time", "task_name", "args", "tags")

    def __init__(self, id: bytes, status: str, start_time: int, task_name: str, args: str, tags: tuple):
        self.id = id
        self.status = status
        self.start_time = start_time  # microseconds since the epoch
        self.task_name = task_name
        self.args = args  # 'a, b, k=v' previews, as upstream shows a call's arguments
        self.tags = tags


class CallNodeLine:
    """`CallNode <hash> <task> <tags>`."""

    __slots__ = ("hash", "task_name", "tags")

    def __init__(self, hash: bytes, task_name: str, tags: tuple):
        self.hash = hash
        self.task_name = task_name
        self.tags = tags


def _tags_by_hash(index, rows: list) -> dict:
    return index.current_tags_of(r["hash"].hex() for r in rows)


def value_pages(prov, where: str = "", params=()) -> Iterator[list]:
    """Pages of ValueLine for the values matching `where` (SQL over vals), in index order."""
    index = prov.index
    for rows in index.value_pages(where, params):
        tags = _tags_by_hash(index, rows)
        lines = []
        for r in rows:
            text = r["preview"]
            if text is None:
                text = prov.stored_preview(r["oid"], r["pack"])
            lines.append(ValueLine(r["oid"], r["hash"], r["type"], text, tuple(tags.get(r["hash"].hex(), ()))))
        yield lines
        prov.end_page()


def job_pages(prov, where: str = "", params=()) -> Iterator[list]:
    """Pages of JobLine, newest first: task names and call arguments from the index, the
    arguments' previews from its cache (or the store, once per value per page)."""
    from ..objects.ids import uuid_str

    index = prov.index
    for rows in index.job_pages(where, params):
        oids = {a[2] for r in rows for a in (r.get("args") or ())}
        cache = index.value_cache(list(oids)) if oids else {}
        tags = index.current_tags_of(uuid_str(r["id"]) for r in rows)
        lines = []
        for r in rows:
            name = r.get("task_name") or prov.task_name(r["task_oid"])
            lines.append(JobLine(r["id"], r["status"], r["start_time"], name, _args_text(prov, r, cache),
                                 tuple(tags.get(uuid_str(r["id"]), ()))))
        yield lines
        prov.end_page()


def _args_text(prov, row: dict, cache: dict) -> str:
    """'a, b, k=v' for a job's call: positional by position, then keywords by name."""
    if row["call_node"] is None:
        return ""
    args = row.get("args")
    if args is None:  # the call node is not in the index (or the index gives no arguments)
        return prov.arguments_text(row["call_node"])

    def text(oid):
        text, pack = cache.get(oid, (None, None))
        return text if text is not None else prov.stored_preview(oid, pack)

    pos = sorted((p, v) for p, k, v in args if p is not None)
    kw = sorted((k, v) for p, k, v in args if p is None and k is not None)
    return ", ".join([text(v) for _, v in pos] + [f"{k}={text(v)}" for k, v in kw])


def call_node_pages(prov, where: str = "", params=()) -> Iterator[list]:
    """Pages of CallNodeLine, oldest first."""
    index = prov.index
    for rows in index.call_node_pages(where, params):
        tags = _tags_by_hash(index, rows)
        yield [CallNodeLine(r["hash"], r["task_name"], tuple(tags.get(r["hash"].hex(), ()))) for r in rows]
        prov.end_page()


def file_pages(prov, where: str = "", params=()) -> Iterator[list]:
    """Pages of FileLine, one per recorded path, by path."""
    for rows in prov.index.file_pages(where, params):
        yield [FileLine(r["hash"], r["path"]) for r in rows]


def row_pages(prov, pages: Iterator[list]) -> Iterator[list]:
    """Pages of index rows as they are (`--format json` converts each row's record), with
    the store's reads dropped after each page."""
    for rows in pages:
        yield rows
        prov.end_page()

