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

