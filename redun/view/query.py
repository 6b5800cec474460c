"""Read-only provenance views over the index and the object store.

`Provenance` loads records by oid (cached, verified by the store) and renders
value previews through redun.objects.valuecodec — never `pickle.loads`. The lazy
views `redun repl`'s `query()` returns live in redun/view/models.py.
"""

from typing import Optional

from ..errors import AmbiguousPrefixError, NotFoundError
from ..objects.ids import uuid_str
from .models import (  # noqa: F401 - re-exported: the repl's object API
    ArgumentView, CallNodeView, ExecutionView, FileView, JobView, TaskView, ValueView, exec_status, view,
)


SAVED_PREVIEWS = 20_000  # new previews kept for the index's display cache per command (memory bound)


class Provenance:
    """Records and previews for one open repo (one CLI command or repl session)."""

    def __init__(self, repo, index=None):
        self.repo = repo
        self.index = index if index is not None else repo.index
        self._records: dict = {}
        self._previews: dict = {}  # (oid, limit) -> text
        self._new_previews: dict = {}  # oid -> text (limit 200), saved to the index on close
        self._saved = 0  # previews saved so far (at most SAVED_PREVIEWS per command)
        self._hints_left = 32  # store reads that first look up their pack in the index
        self._cache_lookups_left = 64  # previews first looked up in the index's cache

    def get(self, oid: bytes, hint: Optional[str] = None):
        """The record oid names; hint: the pack the index says holds it, if known."""
        rec = self._records.get(oid)
        if rec is None:
            get_from = getattr(self.repo.store, "get_from", None)
            if get_from is not None and hint is not None:
                rec = get_from(oid, hint)
            elif get_from is not None and self._hints_left > 0:
                # the first reads of a command: ask the index which pack holds the record,
                # so the store opens that pack instead of searching hundreds
                self._hints_left -= 1
                rec = get_from(oid, self.index.pack_hint(oid))
            else:
                rec = self.repo.store.get(oid)
            self._records[oid] = rec
        return rec

    # -- values ---------------------------------------------------------------
    def preview(self, value_oid: bytes, limit: int = 200) -> str:
        """repr-like text of a stored value, without running stored code."""
        key = (value_oid, limit)
        text = self._previews.get(key)
        if text is None:
            if limit == 200 and self._cache_lookups_left > 0:
                # a few single lookups in the index's cache (big listings fetch theirs in bulk)
                self._cache_lookups_left -= 1
                text = self.index.previews([value_oid]).get(value_oid)
            if text is None:
                text = self._preview(value_oid, limit)
                if limit == 200 and self._saved + len(self._new_previews) < SAVED_PREVIEWS:
                    self._new_previews[value_oid] = text
            self._previews[key] = text
        return text

    def stored_preview(self, value_oid: bytes, hint: Optional[str] = None) -> str:
        """The one-line preview of a value the index has no cached text for, read from the
        store (hint: its pack); remembered for the index's cache (see end_page)."""
        text = self._previews.get((value_oid, 200))
        if text is not None:
            return text
        text = self._previews[(value_oid, 200)] = self._preview(value_oid, 200, hint)
        if self._saved + len(self._new_previews) < SAVED_PREVIEWS:
            self._new_previews[value_oid] = text
        return text

    def trim(self) -> None:
        """Forget the records and previews read so far: a listing of any length calls this
        every page, so its memory does not grow with the number of rows."""
        self._records.clear()
        self._previews.clear()

    def end_page(self) -> None:
        """A listing has shown a page: forget what it read, save the previews it computed
        into the index's cache, and let the OS take back the pack pages the store read."""
        self.trim()
        self.save_previews()
        release = getattr(self.repo.store, "release_pages", None)
        if release is not None:
            release()

    def known_preview(self, value_oid: bytes, text: str) -> None:
        self._previews[(value_oid, 200)] = text

    def close(self) -> None:
        """Save the previews computed in this session into the index's display cache."""
        self.save_previews()

    def save_previews(self) -> None:
        new, self._new_previews = self._new_previews, {}
        if new:
            self._saved += len(new)
            self.index.save_previews(new)

    def _preview(self, value_oid: bytes, limit: int, hint: Optional[str] = None) -> str:
        from ..objects.valuecodec import preview

        try:
            v = self.get(value_oid, hint)
        except NotFoundError:
            return f"<missing value {value_oid.hex()[:8]}>"
        if v.blobs:  # large payload: do not read megabytes for a one-line preview
            return f"<{v.type}>(hash={v.hash.hex()[:8]}, size={v.size})"
        return preview(v.type, v.format, v.data, limit=limit, hash=v.hash.hex())

    def value_object(self, value_oid: bytes):
        """The stored value as a Python object: native values and plain pickles only
        (safe_unpickle refuses anything that would run code)."""
        from ..objects.valuecodec import FORMAT_NATIVE, decode_native, safe_unpickle

        v = self.get(value_oid)
        data = self.payload(v)
        return decode_native(data) if v.format == FORMAT_NATIVE else safe_unpickle(data)

    def payload(self, value):
        """A Value record's serialized payload, its blobs read wherever the value store keeps them."""
        return self.repo.values.read(value)

    def arguments_text(self, call_oid: Optional[bytes]) -> str:
        """'a, b, k=v' as upstream shows a CallNode's arguments (positional, then keywords by name)."""
        if call_oid is None:
            return ""
        call = self.get(call_oid)
        pos = sorted((a for a in call.args if a.position is not None), key=lambda a: a.position)
        kw = sorted((a for a in call.args if a.position is None and a.key is not None), key=lambda a: a.key)
        parts = [self.preview(a.value) for a in pos]
        parts += [f"{a.key}={self.preview(a.value)}" for a in kw]
        return ", ".join(parts)

    def task_name(self, task_oid: bytes) -> str:
        row = self.index.task(task_oid)
        if row is not None:
            return row["fullname"]
        return self.get(task_oid).fullname

    # -- resolution -----------------------------------------------------------
    def resolve(self, text: str, kinds=None) -> list:
        from ..index.queries import KINDS

        return self.index.resolve(text, kinds or KINDS)

    def nth_execution(self, n: int) -> dict:
        """n-th newest execution (1 = newest)."""
        rows = self.index.executions(limit=1, offset=n - 1)
        if not rows:
            total = len(self.index.executions())
            if total == 0:
                raise NotFoundError("No executions recorded in this repository yet.")
            raise NotFoundError(f"Execution index too high: {n} (there are {total} executions).")
        return rows[0]

    def find_file(self, path: str):
        """(value row, job row, 'result'|'arg'|None) for a recorded file path, or None.

        Prefers a job that returned the file itself (in the newest execution that
        did, the innermost such job: the one that made it), then one that returned
        a value holding it; else the newest job that took it as an argument
        (directly, then inside another value)."""
        vals = self.index.values_with_path(path)
        if not vals:
            return None
        for direct in (True, False):
            best = None
            for val in vals:
                jobs = self.index.producers(val["oid"], direct=direct)
                if not jobs:
                    continue
                newest = jobs[0]
                same = [j for j in jobs if j["execution_id"] == newest["execution_id"]]
                pick = min(same, key=lambda j: j["end_time"] or 0)
                if best is None or (newest["end_time"] or 0) > (best[2] or 0):
                    best = (val, pick, newest["end_time"])
            if best:
                return best[0], best[1], "result"
        for direct in (True, False):
            best = None
            for val in vals:
                jobs = self.index.consumers(val["oid"], direct=direct)
                if jobs and (best is None or jobs[0]["start_time"] > best[1]["start_time"]):
                    best = (val, jobs[0])
            if best:
                return best[0], best[1], "arg"
        return vals[0], None, None


def query_one(prov: Provenance, text: str):
    """The single record `text` names (prefix, task name, '-', '~N'); raises
    NotFoundError or AmbiguousPrefixError."""
    if text == "-" or (text.startswith("~") and text[1:].isdigit()):
        n = 1 if text == "-" else int(text[1:])
        if n < 1:
            raise NotFoundError("~N counts from 1 (~1 is the newest execution).")
        return ExecutionView(prov, prov.nth_execution(n))
    hits = collapse(prov.resolve(text))
    if not hits:
        raise NotFoundError(f"No execution, job, call node, task or value matches '{text}'.")
    if len(hits) > 1:
        raise AmbiguousPrefixError(text, [describe(k, r) for k, r in hits], what="record")
    kind, row = hits[0]
    return view(prov, kind, row)


def collapse(hits: list) -> list:
    """Drop a Value hit whose hash equals a Task hit's (upstream stores tasks as values too)."""
    task_hashes = {r["hash"] for k, r in hits if k == "task"}
    return [(k, r) for k, r in hits if not (k == "value" and r["hash"] in task_hashes)]


def describe(kind: str, row: dict) -> str:
    if kind == "execution":
        return f"Execution {uuid_str(row['id'])}"
    if kind == "job":
        return f"Job {uuid_str(row['id'])}"
    if kind == "call_node":
        return f"CallNode {row['hash'].hex()} {row['task_name']}"
    if kind == "task":
        return f"Task {row['hash'].hex()} {row['fullname']}"
    return f"Value {row['hash'].hex()} {row['type']}"
