"""`redun tag list / add / update / rm`: show and edit tags, as upstream.

    redun tag list [--values] [KEY[=VALUE] ...]
    redun tag add ID... KEY=VALUE...
    redun tag update ID... KEY=VALUE...
    redun tag rm ID... [--] KEY[=VALUE]...

IDs are record id prefixes (executions, jobs, call nodes, tasks, values), as `redun log`
takes them. Values are typed as on the command line of `redun run --tag` (redun/tags.py).
`tag list` with KEY[=VALUE] filters lists the tagged records (`redun log --all --tag ...`).
"""

import json
import sys

import click

from ..errors import UsageError

ENTITY_TYPES = {"execution": "Execution", "job": "Job", "call_node": "CallNode", "task": "Task", "value": "Value"}


@click.group("tag")
def tag_group():
    """Show and manipulate tags."""


@tag_group.command("list", context_settings={"ignore_unknown_options": True})
@click.option("--values", is_flag=True, help="Show tag values.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Output format (json: one object per line).")
@click.argument("filters", nargs=-1)
@click.pass_obj
def tag_list(obj, values, fmt, filters):
    """List and search tags: counts by key (and value), or the records with tags KEY[=VALUE]."""
    from .log_show import _tag_pairs, show_log

    pairs = _tag_pairs(filters, "tag list")
    if filters and not values:
        show_log(obj, want_all=True, fmt=fmt, tags=filters)
        return
    index = obj.open_repo().index
    rows = index.tag_counts(pairs, by_value=values)
    out = sys.stdout.write
    if fmt == "json":
        for row in rows:
            d = {"key": row[0], "entity_type": row[-2], "count": row[-1]}
            if values:
                d["value"] = json.loads(row[1])
            out(json.dumps(d, sort_keys=True) + "\n")
        return
    grouped: dict = {}
    for row in rows:
        grouped.setdefault(tuple(row[:-2]), []).append((row[-2], row[-1]))
    from ..tags import format_tag_key_value

    out("Tags:\n")
    for group in sorted(grouped, key=_sort_key):
        counts = ", ".join(f"{n} {etype}" for etype, n in grouped[group])
        if values:
            text = format_tag_key_value(group[0], json.loads(group[1]), max_length=sys.maxsize)
            out(f"  {text:30} ({counts})\n")
        else:
            out(f"  {group[0]:10} ({counts})\n")


def _sort_key(group: tuple):
    if len(group) == 1:
        return (group[0], "")
    return (group[0], group[1])


def _split(args: tuple, allow_dashdash: bool = False) -> tuple:
    """(entity ids, key=value texts) of a `tag add/update/rm` command line."""
    args = list(args)
    i = 0
    while i < len(args) and "=" not in args[i] and not (allow_dashdash and args[i] == "--"):
        i += 1
    ids, rest = args[:i], args[i:]
    if allow_dashdash and rest and rest[0] == "--":
        rest = rest[1:]
    if not ids:
        raise UsageError("Give the ids of the records to tag first, then key=value pairs.")
    return ids, rest


def _entity(prov, text: str) -> tuple:
    """(entity type, full upstream id) of the record an id prefix names."""
    from ..objects.ids import uuid_str
    from ..view.query import query_one

    v = query_one(prov, text)
    row = v._row
    if v.kind not in ENTITY_TYPES:
        raise UsageError(f"{text} is a {v.kind}, which cannot be tagged.")
    full = uuid_str(row["id"]) if v.kind in ("execution", "job") else row["hash"].hex()
    return ENTITY_TYPES[v.kind], full


def _pairs(texts: list, value_required: bool = True) -> list:
    from ..tags import parse_tag_key_value

    out = []
    for text in texts:
        try:
            out.append(parse_tag_key_value(text, value_required=value_required))
        except ValueError as e:
            raise UsageError(f"{text!r}: {e}") from None
    return out


def _edit(obj, verb: str, ids: list, pairs: list, **kwargs) -> None:
    from ..repo.tagedit import TagEditor
    from ..view.query import Provenance

    repo = obj.open_repo()
    prov = Provenance(repo)
    editor = TagEditor(repo)
    shown = " ".join(f"{k}={json.dumps(v)}" for k, v in pairs)
    lines = []
    for text in ids:
        entity_type, full = _entity(prov, text)
        if verb == "delete":
            editor.delete(full, pairs, kwargs.get("keys", ()))
        else:
            editor.record(entity_type, full, pairs, update=verb == "update", new=True)
        lines.append(f"{verb} tag {entity_type}:{full} {shown}")
    editor.commit()
    for line in lines:
        click.echo(line)


@tag_group.command("add", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, required=True)
@click.pass_obj
def tag_add(obj, args):
    """Add tags to records: redun tag add ID... KEY=VALUE..."""
    ids, rest = _split(args)
    _edit(obj, "add", ids, _pairs(rest))


@tag_group.command("update", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, required=True)
@click.pass_obj
def tag_update(obj, args):
    """Update tags: new values replace the current tags of the same keys."""
    ids, rest = _split(args)
    _edit(obj, "update", ids, _pairs(rest))


@tag_group.command("rm", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("args", nargs=-1, required=True)
@click.pass_obj
def tag_rm(obj, args):
    """Delete tags: redun tag rm ID... [--] KEY[=VALUE]... (KEY alone: any value)."""
    from ..tags import ANY_VALUE

    ids, rest = _split(args, allow_dashdash=True)
    pairs = _pairs(rest, value_required=False)
    keys = [k for k, v in pairs if v is ANY_VALUE]
    pairs = [(k, v) for k, v in pairs if v is not ANY_VALUE]
    _edit(obj, "delete", ids, pairs, keys=keys)
