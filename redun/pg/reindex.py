"""`redun db reindex` for a PostgreSQL repository: empty the index tables and write every
object's rows again, a page of objects per transaction (readers see a growing index)."""

from ..objects import compress
from .schema import INDEX_ORDER, write_rows
from .store import index_rows


def rebuild_pg_index(repo, progress=None):
    from ..objects.progress import progress_or_none

    progress = progress_or_none(progress)
    store, db = repo.store, repo.db
    db.transaction(lambda conn: conn.execute(f"TRUNCATE {', '.join(INDEX_ORDER)}"))
    progress.phase("indexing objects", total=store.count(), unit="objects")
    for page in store.iter_stored_pages(2000):
        pairs = []
        for oid, stored in page:
            try:
                pairs.append((oid, compress.decompress(stored, oid.hex())))
            except Exception:  # noqa: BLE001 - a damaged object gets no rows; fsck names it
                continue
        rows = index_rows(pairs)
        db.transaction(lambda conn, rows=rows: write_rows(conn, rows))
        progress.advance(len(page))
    return repo.index
