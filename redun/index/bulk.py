"""Parallel bulk ingest for `redun db reindex` and the background indexer: a helper process ingests part of
the packs into its own sqlite file while the main process ingests the rest; the
main process then merges the helper's rows with INSERT ... SELECT (no Python per
row). Decoding is CPU-bound Python, so a second process is what uses the second
core (a thread would only take turns with the GIL).

    python -m redun.index.bulk PACKS_DIR OUT_FILE   (stdin: "<pack name> <pack id>" lines)

prints the number of records ingested. Any failure of the helper makes the main
process ingest those packs itself, so the result never depends on the helper.
"""

import os
import sys

from .rows import ORDER, copy_sql

MIN_PACKS = 16  # below this, one process is as fast (a reindex of many small packs)
MIN_BYTES = 32 << 20  # or this much in two packs or more (a background catch-up after a pull)


def worth_sharing(packs_dir: str, names: list, many_packs_only: bool) -> bool:
    """Whether ingesting these packs goes faster with a helper process."""
    if len(names) >= MIN_PACKS:
        return True
    if many_packs_only or len(names) < 2:
        return False
    return packs_bytes(packs_dir, names) >= MIN_BYTES


def packs_bytes(packs_dir: str, names: list) -> int:
    """Total size of these installed packs (those gone meanwhile count 0)."""
    total = 0
    for n in names:
        try:
            total += os.path.getsize(os.path.join(packs_dir, f"pack-{n}.pack"))
        except OSError:
            pass
    return total


def split(packs_dir: str, names: list) -> tuple:
    """(mine, theirs): two halves of similar byte size."""
    def size(n):
        try:
            return os.path.getsize(os.path.join(packs_dir, f"pack-{n}.pack"))
        except OSError:
            return 0

    halves, totals = ([], []), [0, 0]
    for n in sorted(names, key=size, reverse=True):
        side = 0 if totals[0] <= totals[1] else 1
        halves[side].append(n)
        totals[side] += size(n)
    return halves


def start(packs_dir: str, items: list, out_path: str):
    """Start a helper ingesting [(pack name, pack id), ...] into out_path."""
    import subprocess  # lazy: `redun log` start-up time

    proc = subprocess.Popen(
        [sys.executable, "-m", "redun.index.bulk", packs_dir, out_path],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    proc.stdin.write("".join(f"{n} {i}\n" for n, i in items).encode())
    proc.stdin.close()
    proc.stdin = None  # written and closed: communicate() must not touch it
    return proc


def finish(proc):
    """Records the helper ingested, or None if it failed."""
    out, _ = proc.communicate()  # both pipes drained together: no deadlock on a chatty failure
    if proc.returncode != 0:
        return None
    try:
        return int(out.split()[-1])
    except (ValueError, IndexError):
        return None


def merge(conn, path: str, names: list) -> None:
    """Copy the helper file's rows into conn's database and mark `names` ingested (the
    caller leaves out packs that disappeared meanwhile)."""
    conn.execute("ATTACH DATABASE ? AS helper", (path,))
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for table in ORDER:  # unqualified names are main's: it is searched before helper
                conn.execute(copy_sql(table, "helper"))
            conn.executemany("INSERT OR IGNORE INTO ingested_packs VALUES (?)", [(n,) for n in names])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.execute("DETACH DATABASE helper")


def main(argv: list) -> int:
    from ..objects.pack import PACK_MAGIC
    from .catchup import ingest_pack_file
    from .files import connect, remove_index_files
    from .index import BULK_BATCH, Index
    from .schema import statements

    packs_dir, out_path = argv
    items = [line.split() for line in sys.stdin.read().splitlines() if line.strip()]
    remove_index_files(out_path)
    conn = connect(out_path)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    for stmt in statements()[0]:
        conn.execute(stmt)
    conn.execute("INSERT INTO meta VALUES ('indexes_pending', '1')")  # bulk inserts, no key checks
    index = Index(None, conn, out_path)
    index.batch = BULK_BATCH
    count = 0
    for name, pack_id in items:
        index.buffer.pack = int(pack_id)
        try:
            count += ingest_pack_file(index, os.path.join(packs_dir, f"pack-{name}.pack"), len(PACK_MAGIC), None)[1]
        except FileNotFoundError:
            continue  # removed meanwhile; the main process's next catch-up settles it
    index.commit()
    conn.close()
    print(count)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
