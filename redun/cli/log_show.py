"""The body of `redun log`, free of click.

`redun log [ID]` is the command people run most (often in shell loops), so the
console entry point (redun/entry.py) calls `show_log` directly for that plain
form without importing click; `redun log` with options goes through click
(redun/cli/log.py), which calls the same function.
"""

import os
import sys

from ..errors import AmbiguousPrefixError, NotFoundError, UsageError

KIND_FLAGS = (("exec", "execution"), ("job", "job"), ("call_node", "call_node"), ("task", "task"),
              ("value", "value"))
EXEC_STATUSES = ("RUNNING", "FAILED", "DONE")
JOB_STATUSES = ("RUNNING", "FAILED", "CACHED", "DONE")


def _csv(value, allowed, name):
    if not value:
        return None
    items = [v.strip().upper() for v in value.split(",") if v.strip()]
    bad = [v for v in items if v not in allowed]
    if bad:
        raise UsageError(f"{name}: unknown status {', '.join(bad)} (choose from {', '.join(allowed)}).")
    return items


def _tag_pairs(texts, what: str) -> list:
    """[(key, normalised JSON text or None for any value)] from key=value / key filters."""
    if not texts:
        return []
    from ..hashing import json_dumps
    from ..tags import ANY_VALUE, parse_tag_key_value

    out = []
    for text in texts:
        try:
            key, value = parse_tag_key_value(text, value_required=False)
        except ValueError as e:
            raise UsageError(f"{what} {text!r}: {e}") from None
        out.append((key, None if value is ANY_VALUE else json_dumps(value)))
    return out


def _hashes(texts, what: str) -> list:
    from ..objects.ids import is_hex

    out = []
    for text in texts:
        for part in text.split(","):
            part = part.strip().lower()
            if not (len(part) == 40 and is_hex(part)):
                raise UsageError(f"{what} takes full value hashes (40 hex digits), not {part!r}.")
            out.append(bytes.fromhex(part))
    return out


def show_log(obj, ids=(), want_exec=False, want_job=False, want_call_node=False, want_task=False, want_value=False,
             want_file=False, want_all=False, count=False, detail=False, fmt="text", dot=False, all_matches=False,
             exec_status=None, job_status=None, task_name=(), task_hash=None, value_type=None, file_path=None,
             exec_id=None, tags=(), exec_tags=(), results=(), args=()) -> None:
    """Print what `redun log` prints for these arguments (see its --help); `obj` is a CliContext."""
    for text in ids:
        if text.startswith("-") and text != "-":
            raise UsageError(f"Unknown filter: {text}")
    from ..view.query import Provenance
    from ..view.render_text import TextRenderer

    repo = obj.open_repo()
    write = sys.stdout.write

    def out(line: str) -> None:
        write(line + "\n")

    filters = dict(exec_status=_csv(exec_status, EXEC_STATUSES, "--exec-status"),
                   job_status=_csv(job_status, JOB_STATUSES, "--job-status"), task_name=task_name,
                   task_hash=task_hash, value_type=value_type, file_path=file_path, exec_id=exec_id,
                   tags=_tag_pairs(tags, "--tag"), exec_tags=_tag_pairs(exec_tags, "--exec-tag"),
                   results=_hashes(results, "--result"), args=_hashes(args, "--arg"))
    flags = (want_exec, want_job, want_call_node, want_task, want_value, want_file, want_all, dot)
    if getattr(repo, "indexes_on_write", False):
        pass  # PostgreSQL: its index is written with the records, nothing to catch up
    elif not ids and not any(flags) and not any(filters.values()):
        # a plain listing of executions: a big backlog of packs (a pull) is indexed in the background
        from ..repo.background_index import listing_index

        index = listing_index(repo)
        if index.deferred:
            sys.stderr.write(
                f"redun: indexing {index.deferred / 1e6:.0f} MB of new packs in the background; "
                "this list is complete, queries of jobs and values wait for it.\n")
    else:
        from .progress import progress_on_stderr

        with progress_on_stderr("redun log") as progress:  # a catch-up after a pull takes a while
            repo.open_index(progress=progress)
    prov = Provenance(repo)
    if fmt == "json":
        from ..view.render_json import JsonRenderer

        renderer = JsonRenderer(prov, out)
    else:
        renderer = TextRenderer(prov, out)

    if dot:
        from ..view.query import query_one
        from ..view.render_dot import render_dot

        target = query_one(prov, ids[0] if ids else "-")
        if target.kind != "execution":
            raise UsageError(f"--dot needs an execution; '{ids[0]}' is a {target.kind.replace('_', ' ')}.")
        render_dot(prov, target._row, out)
        return

    if ids:
        try:
            _show_id(prov, renderer, ids[0], fmt, all_matches)
        finally:
            prov.close()
        return

    wanted = {"exec": want_exec, "job": want_job, "call_node": want_call_node, "task": want_task,
              "value": want_value}
    kinds = [k for flag, k in KIND_FLAGS if want_all or wanted[flag]]
    if want_file and not want_all:
        kinds.append("file")
    if not kinds and (filters["results"] or filters["args"]):
        kinds = ["job"]  # they filter jobs (upstream lists executions, unfiltered, instead)
    if not kinds:
        if fmt == "text":
            out("Recent executions:")
            out("")
        kinds = ["execution"]
        detail_list = False
    else:
        detail_list = detail
    from .log_lists import list_kind

    try:
        for kind in kinds:
            list_kind(prov, renderer, kind, filters, count=count, detail=detail_list, fmt=fmt, out=out)
    finally:
        prov.close()


def _show_id(prov, renderer, text: str, fmt: str, all_matches: bool) -> None:
    from ..view.query import collapse, describe, query_one

    if text == "-" or (text.startswith("~") and text[1:].isdigit()):
        ex = query_one(prov, text)._row
        _detail(renderer, "execution", ex, fmt)
        return
    if os.path.exists(text) or ":" in text:
        found = _find_file(prov, text)
        if found is not None:
            val, job, kind = found
            if fmt == "json":
                renderer.value(val)
            else:
                renderer.file_block(val, job, kind)
            return
    hits = collapse(prov.resolve(text))
    if not hits:
        raise NotFoundError(
            f"No execution, job, call node, task, value or file matches '{text}'. "
            "Ids are lowercase hex prefixes (or a task name); see `redun log --all`."
        )
    if len(hits) > 1 and not all_matches:
        err = AmbiguousPrefixError(text, [describe(k, r) for k, r in hits], what="record")
        err.args = (str(err).replace("Use a longer prefix.", "Use a longer prefix, or --all-matches to show them all."),)
        raise err
    for i, (kind, row) in enumerate(hits):
        if i and fmt == "text":
            renderer.line()
        _detail(renderer, kind, row, fmt)


def _find_file(prov, text: str):
    """A recorded file by the path as typed, else as the same file spelled another way: without
    ./ or ../ detours, relative to the current directory or to the project (the directory
    holding .redun, where runs usually start), or absolute."""
    found = prov.find_file(text)
    if found is not None or "://" in text:
        return found
    absolute = os.path.abspath(text)
    project = os.path.dirname(os.path.abspath(prov.repo.root))
    for path in dict.fromkeys([os.path.normpath(text), os.path.relpath(absolute), os.path.relpath(absolute, project),
                               absolute]):
        if path != text:
            found = prov.find_file(path)
            if found is not None:
                return found
    return None


def _detail(renderer, kind: str, row: dict, fmt: str) -> None:
    if fmt == "json":
        renderer.record(kind, row)
    elif kind == "execution":
        renderer.exec_detail(row)
    elif kind == "job":
        renderer.job_detail(row)
    elif kind == "call_node":
        renderer.call_node_block(row)
    elif kind == "task":
        renderer.task_block(row)
    else:
        renderer.value_block(row)
