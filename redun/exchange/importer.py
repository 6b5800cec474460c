"""Import driver: upstream JSON lines -> our records, all or nothing.

Modules: spill.py (phase 1), builder.py (phases 2 and 3: RecordBuilder, with
repolookup.py and packqueue.py), this one (the phases in order, the commit).

1. Spill: each line is parsed and validated (lines.py) and kept, keyed by
   its upstream id, with the references it makes (spillstore.py): in memory
   while the input is small, else in a temporary sqlite file under
   `<repo>/tmp/`, so memory stays flat whatever the input.
2. Check: jobs whose parent job or execution is in neither the input nor
   the repository.
3. Write: records are built depth-first, children first (a record links only
   to records that exist), all through one PackWriter; a reference to an id
   in neither the input nor the repository (dangling), or a task_hash naming
   a non-task, is an error naming the line and the field. The only thing
   kept in memory is a map upstream key -> object id (~100 bytes per record).
   Execution records are held back and added last, then the pack is
   committed and only then are refs `execs/<uuid>` set (CAS from nothing).
A malformed line stops the import at once; problems found later are all
collected and reported (lowest line first) and then the writer is aborted:
nothing becomes visible. With keep_going, bad lines and every record that
depends on them are skipped and reported, and the rest is committed.
"""

import os
import uuid
from typing import Iterable, Optional

from ..index.scratch import open_scratch
from ..objects.fileio import hold_lock
from ..objects import codec, compress
from ..objects.ids import object_id
from ..objects.records import TagSet
from ..objects.progress import Progress, progress_or_none
from .builder import RecordBuilder
from .gcpause import paused_gc
from .packqueue import PackQueue
from .spill import ImportSummary, discard_stale_spills, tmp_db_path


def import_lines(repo, stream: Iterable, keep_going: bool = False,
                 progress: Optional[Progress] = None, source: Optional[str] = "stdin") -> ImportSummary:
    """Import upstream JSON lines (an iterable of bytes or str lines) into repo.

    source: where the lines come from, kept as the origin of the new pack, so that
    `redun run` never unpickles its values (repo/trust.py); None trusts them as if
    produced here (`redun import --trust`).

    Raises LineError (a RecordImportError) on the first problem unless
    keep_going; then problems are collected in summary.errors and the valid
    records are committed. Records already present are counted, not rewritten.
    `progress` is told the lines read, then the records written."""
    with paused_gc():
        return _import(repo, stream, keep_going, progress_or_none(progress), source)


def _import(repo, stream: Iterable, keep_going: bool, progress: Progress, source: Optional[str]) -> ImportSummary:
    imp = RecordBuilder(repo, keep_going, progress)
    discard_stale_spills(repo)  # left by killed imports
    spill_file: list = []  # [path, lock fd] once the input outgrows memory

    def open_db():
        path = tmp_db_path(repo)
        spill_file.extend((path, hold_lock(path + ".lock")))  # says this spill is live, until we return or die
        return open_scratch(path)

    spilled = writer = None
    try:
        progress.phase("reading lines", unit="lines")
        spilled = imp.spill(stream, open_db)
        imp.check(spilled)
        imp.fold_tags(spilled)
        repo.store.recover()
        imp.open_index()
        origin = None if source is None else {"via": "import", "from": source}
        writer = repo.store.pack_writer(all_or_nothing=True, origin=origin)  # a killed import: nothing visible
        imp.queue = PackQueue(repo.store, writer)
        progress.phase("writing records", unit="records")
        held: list = []
        # Upstream writes parents first (BFS): scanning backwards meets children
        # first, so most records are built straight from the scan.
        folded, oids, failed, loads = imp.folded_tags, imp.oids, imp.failed, spilled.load
        for n, (key, kind, line, body) in enumerate(spilled.scan(backwards=spilled.first_kind() == "Execution")):
            if key in folded or key in oids or key in failed:
                continue
            o = loads(body)
            deps = imp.link_deps(spilled, kind, key, o)
            for d in deps:
                if d not in oids:
                    imp.resolve(spilled, writer, key, held, (kind, line, o), (o, deps))
                    break
            else:  # the common case when scanning children first: build it now
                imp.emit(spilled, writer, key, kind, line, o, deps, held)
            if n % 1000 == 0:
                imp.progress.update(len(oids))
        imp.progress.update(len(oids))
        imp.raise_errors()
        _finish(repo, imp, writer, held)
        writer = None
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        if spilled is not None:
            spilled.close()
        if spill_file:
            path, lock = spill_file
            for suffix in ("", "-journal", "-wal", "-shm", ".lock"):
                try:
                    os.unlink(path + suffix)
                except FileNotFoundError:
                    pass
            os.close(lock)
    return imp.summary


def _tagset(imp: RecordBuilder, writer) -> Optional[bytes]:
    """The imported Tag records (tags on jobs, values, call nodes, tasks, deletes), kept (gc)
    and moved (push/pull) by one TagSet named tags/import-<uuid>; None if there are none."""
    tag_oids = tuple(oid for key, oid in imp.oids.items() if key.startswith("t:") and key not in imp.folded_tags)
    if not tag_oids:
        return None
    data = codec.encode(TagSet(tag_oids, ()))
    oid = object_id(data)
    if not imp.queue.present(oid):
        writer.add_stored(oid, compress.compress(data))
    return oid


def _finish(repo, imp: RecordBuilder, writer, held: list) -> None:
    """Add the held Execution records, commit the pack, then set refs."""
    s = imp.summary
    tag_counts = {}
    for tkey, ekey in imp.folded_tags.items():
        tag_counts[ekey] = tag_counts.get(ekey, 0) + 1
    imp.queue.flush()  # everything before the executions that link to it
    refs = []
    for key, oid, data in held:
        n = 1 + tag_counts.get(key, 0)
        current = repo.refs.get(f"execs/{key[2:]}")
        if current is not None:
            s.present += n  # the repository already has this execution (kept as is)
            continue
        if imp.queue.present(oid):
            s.present += n
        else:
            s.imported += n
            writer.add_stored(oid, compress.compress(data))
            if imp.rows is not None:
                imp.rows.add(oid, codec.decode(data))
        refs.append((key[2:], oid))
    for tkey, ekey in imp.folded_tags.items():
        if ekey not in imp.oids:  # its execution failed: the tag failed with it
            s.failed += 1
    tagset = _tagset(imp, writer)
    name = writer.commit()
    index = imp.lookup.index
    if index is not None:
        if imp.rows is not None:
            index.write_rows(imp.rows)
            if name:
                index.note_pack(name)
        else:
            index.catch_up()
    if tagset is not None and not any(oid == tagset for _, oid in repo.refs.list("tags/import-")):
        repo.refs.set(f"tags/import-{uuid.uuid4()}", tagset, expected=None)
    # CAS from nothing; a conflict means another import of the same execution set it meanwhile
    conflicts = repo.refs.set_many({f"execs/{eid}": (None, oid) for eid, oid in refs})
    s.executions += len(refs) - len(conflicts)
