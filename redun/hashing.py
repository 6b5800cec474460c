"""Upstream redun 0.44.1's hash rules, reproduced exactly.

Every id upstream derives from content (value, task, args, eval, call, argument,
tag hashes) is SHA-512 hex cut to 40 characters over either a bencoded structure
or a tagged protocol-3 pickle. Matching these byte for byte is what lets our
provenance interoperate with upstream databases and exports, so this module is
pure functions checked against tests/data/upstream_reference.json.

Hook for engine objects: anything with a ``__redun_hash__()`` method (File, Dir,
Task, expressions, FileRef) supplies its own value hash to ``hash_value``.
"""

import hashlib
import inspect
import json
import pickle
import re
import types
from collections.abc import Iterable, Mapping
from typing import IO, Any, Optional, Sequence

from .errors import WorkflowError

HASH_LEN = 40
PICKLE_PROTOCOL = 3

_DEF_LINE = re.compile(r"^ *def ")


# -- primitives ----------------------------------------------------------------


_sha512 = hashlib.sha512


def _hex(h) -> str:
    """The first HASH_LEN hex digits of a sha512 (hexdigest() of all of it costs more)."""
    return h.digest()[:HASH_LEN // 2].hex()


def _digest(*chunks: bytes) -> str:
    h = hashlib.sha512()
    for chunk in chunks:
        h.update(chunk)
    return _hex(h)


def _bencode_into(x: Any, out: list) -> None:
    # Fast paths for the exact builtin types hashes are made of (same output as below).
    t = type(x)
    if t is str:
        raw = x.encode()
        out.append(b"%d:" % len(raw))
        out.append(raw)
        return
    if t is list or t is tuple:
        out.append(b"l")
        for item in x:
            _bencode_into(item, out)
        out.append(b"e")
        return
    # Order of checks matters: bool is an int, str/bytes and mappings are iterable.
    if isinstance(x, int) and not isinstance(x, bool):
        out.append(b"i%se" % str(x).encode())
    elif isinstance(x, (str, bytes)):
        raw = x.encode() if isinstance(x, str) else x
        out.append(b"%d:" % len(raw))
        out.append(raw)
    elif isinstance(x, Mapping):
        out.append(b"d")
        for key, value in sorted(x.items()):
            if not isinstance(key, (str, bytes)):
                raise TypeError(f"bencode: mapping key {key!r} is not str or bytes")
            _bencode_into(key, out)
            _bencode_into(value, out)
        out.append(b"e")
    elif isinstance(x, Iterable):
        out.append(b"l")
        for item in x:
            _bencode_into(item, out)
        out.append(b"e")
    else:
        raise TypeError(f"the passed value {x!r} of type {type(x).__name__} is not bencodable.")


def bencode(x: Any) -> bytes:
    """Upstream's bencode: int (not bool), str/bytes, mappings (sorted keys), iterables.

    None, float and bool raise TypeError, as upstream (callers stringify floats).
    """
    out: list = []
    _bencode_into(x, out)
    return b"".join(out)


def hash_bytes(b: bytes) -> str:
    """sha512(b) hex, first 40 characters."""
    return _digest(b)


def hash_struct(x: Any) -> str:
    """Hash of the bencoding of a structure."""
    return _digest(bencode(x))


_TAG_PREFIX: dict = {}


def hash_tag_bytes(tag: str, b: bytes) -> str:
    """Hash of bencode([tag]) followed by b (e.g. tag "Value" prefixes b"l5:Valuee")."""
    prefix = _TAG_PREFIX.get(tag)
    if prefix is None:
        prefix = _TAG_PREFIX[tag] = bencode([tag])
    h = _sha512(prefix)
    h.update(b)
    return _hex(h)


def hash_text(s: str) -> str:
    """Hash of the UTF-8 bytes of a string."""
    return _digest(s.encode("utf-8"))


def hash_stream(fileobj: IO[bytes], block_size: int = 1 << 16) -> str:
    """Hash of everything readable from a binary stream (read in blocks)."""
    h = hashlib.sha512()
    while True:
        block = fileobj.read(block_size)
        if not block:
            break
        h.update(block)
    return _hex(h)


# -- values --------------------------------------------------------------------


def pickle_dumps(obj: Any) -> bytes:
    """Protocol-3 pickle, the bytes upstream hashes and stores for plain values.

    Values decoded from storage may hold FileRefs; those are written as upstream's
    redun.file classes (see redun.objects.valuecodec.pickle_plain).
    """
    try:
        return pickle.dumps(obj, protocol=PICKLE_PROTOCOL)
    except pickle.PicklingError:
        from .objects.valuecodec import pickle_plain  # only reached for FileRef-holding values

        return pickle_plain(obj)


def _hash_function(func: types.FunctionType) -> str:
    if "<locals>" in func.__qualname__:
        raise WorkflowError(
            f"function {func.__qualname__} is used as a redun argument or result but is not "
            "defined at module level; define it globally."
        )
    fullname = f"{func.__module__}.{func.__name__}"
    return hash_struct(["Value.function", fullname.encode("utf8"), "source", get_task_source(func)])


# Plain types whose values users hash their own way (redun.value.ProxyValue subclasses
# with get_hash): type -> hasher. Empty unless a workflow defines such a proxy.
PROXY_HASHERS: dict = {}
_PROXY_LOOKUP: dict = {}  # type -> hasher or None, through the type's MRO


def register_proxy(raw_type: type, hasher) -> None:
    PROXY_HASHERS[raw_type] = hasher
    _PROXY_LOOKUP.clear()


def _proxy_hasher(t: type):
    try:
        return _PROXY_LOOKUP[t]
    except KeyError:
        pass
    hasher = None
    for sup in getattr(t, "__mro__", (t,)):
        hasher = PROXY_HASHERS.get(sup)
        if hasher is not None:
            break
    _PROXY_LOOKUP[t] = hasher
    return hasher


def hash_value(obj: Any) -> str:
    """Upstream value_hash of a live Python object.

    - values of a type a user's ProxyValue covers (PROXY_HASHERS): the proxy's get_hash;
    - objects with ``__redun_hash__()`` (File, Dir, Task, expressions, FileRef): that;
    - set (and subclasses): hash_tag_bytes("Value.set", pickle3(sorted(obj)));
    - plain global functions: hash_struct(["Value.function", b"mod.name", "source", src]);
    - anything else: hash_tag_bytes("Value", pickle3(obj)) — exact pickle bytes, so
      object sharing inside a container (pickle memo) changes the hash, as upstream.
    """
    if PROXY_HASHERS:
        hasher = _proxy_hasher(type(obj))
        if hasher is not None:
            return hasher(obj)
    hook = getattr(obj, "__redun_hash__", None)
    if hook is not None and not isinstance(obj, type):
        return hook()
    if isinstance(obj, set):
        return hash_tag_bytes("Value.set", pickle_dumps(sorted(obj)))
    if type(obj) is types.FunctionType:
        return _hash_function(obj)
    return hash_tag_bytes("Value", pickle_dumps(obj))


def hash_value_and_pickle(obj: Any) -> tuple:
    """(hash_value(obj), the protocol-3 pickle that hash was made of), or (hash, None) when
    obj is hashed by another rule: a caller that stores the pickle too need not make it twice."""
    if (
        (PROXY_HASHERS and _proxy_hasher(type(obj)) is not None)
        or (getattr(obj, "__redun_hash__", None) is not None and not isinstance(obj, type))
        or isinstance(obj, set)
        or type(obj) is types.FunctionType
    ):
        return hash_value(obj), None
    data = pickle_dumps(obj)
    return hash_tag_bytes("Value", data), data


# -- calls -----------------------------------------------------------------------


def hash_args(args: Sequence[str], kwargs: Mapping[str, str]) -> str:
    """args_hash from already-hashed positional and keyword argument values.

    kwargs must be the explicit kwargs merged with unsupplied signature defaults.
    """
    # Fast path (hot in the scheduler): the bencoding built as text. For ASCII text the
    # character counts are the byte counts, so the bytes are the same; `+` raises TypeError
    # for anything but text, which (like non-ASCII) takes the general path.
    try:
        text = "l13:TaskArgumentsl%sed%see" % (
            "".join([f"{len(h)}:" + h for h in args]),
            "".join([f"{len(k)}:" + k + f"{len(kwargs[k])}:" + kwargs[k] for k in sorted(kwargs)]),
        )
    except TypeError:
        text = None
    if text is not None and text.isascii():
        return _hex(_sha512(text.encode()))
    try:  # the bencoding written directly, same bytes
        parts = [b"l13:TaskArgumentsl"]
        for h in args:
            _bstr(h, parts)
        parts.append(b"ed")
        for k in sorted(kwargs):
            _bstr(k, parts)
            _bstr(kwargs[k], parts)
        parts.append(b"ee")
    except AttributeError:
        return hash_struct(["TaskArguments", list(args), dict(kwargs)])
    return _digest(b"".join(parts))


def _bstr(text: str, parts: list) -> None:
    raw = text.encode()
    parts.append(b"%d:" % len(raw))
    parts.append(raw)


def hash_eval(task_hash: str, args_hash: str) -> str:
    """eval_hash: the single-reduction cache key."""
    if type(task_hash) is str and type(args_hash) is str:
        text = f"l4:Eval{len(task_hash)}:{task_hash}{len(args_hash)}:{args_hash}e"
        if text.isascii():  # character counts are byte counts (see hash_args)
            return _hex(_sha512(text.encode()))
        parts = [b"l4:Eval"]
        _bstr(task_hash, parts)
        _bstr(args_hash, parts)
        parts.append(b"e")
        return _digest(b"".join(parts))
    return hash_struct(["Eval", task_hash, args_hash])


def hash_call_node(
    task_hash: str, args_hash: str, result_hash: str, child_call_hashes: Iterable[str]
) -> str:
    """call_hash; children are sorted (duplicates kept) so child order does not matter."""
    children = sorted(child_call_hashes)
    if type(task_hash) is str and type(args_hash) is str and type(result_hash) is str:
        try:
            text = (f"l8:CallNode{len(task_hash)}:{task_hash}{len(args_hash)}:{args_hash}"
                    f"{len(result_hash)}:{result_hash}l" + "".join([f"{len(c)}:" + c for c in children]) + "ee")
        except TypeError:  # a child hash that is not text
            text = None
        if text is not None and text.isascii():  # character counts are byte counts (see hash_args)
            return _hex(_sha512(text.encode()))
    if all(type(x) is str for x in (task_hash, args_hash, result_hash, *children)):
        parts = [b"l8:CallNode"]
        for x in (task_hash, args_hash, result_hash):
            _bstr(x, parts)
        parts.append(b"l")
        for c in children:
            _bstr(c, parts)
        parts.append(b"ee")
        return _digest(b"".join(parts))
    return hash_struct(["CallNode", task_hash, args_hash, result_hash, children])


def hash_arg(call_hash: str, position: Optional[int], key: Optional[str], value_hash: str) -> str:
    """arg_hash of one Argument row; a missing position or key hashes as "None"."""
    return hash_struct(["Argument", call_hash, str(position), str(key), value_hash])


def json_dumps(value: Any) -> str:
    """Upstream's normalised JSON text: sorted keys, no spaces (tag values, context)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def hash_tag(entity_id: str, key: str, value: Any, parents: Iterable[str] = ()) -> str:
    """tag_hash; parents are the tag hashes this tag supersedes (sorted here, as upstream)."""
    return hash_struct(["Tag", entity_id, key, json_dumps(value), sorted(parents)])


# -- tasks ---------------------------------------------------------------------


def get_task_source(func: Any) -> str:
    """inspect.getsource(func) minus the lines before the first ``^ *def `` line.

    Drops decorators; indentation and the trailing newline are kept. ``async def``
    does not match, so an async function keeps its decorators (as upstream).
    """
    source = inspect.getsource(func)
    lines = source.split("\n")
    for i, line in enumerate(lines):
        if _DEF_LINE.match(line):
            return "\n".join(lines[i:])
    return source


def hash_task(
    fullname: str,
    source: Optional[str] = None,
    version: Optional[str] = None,
    hash_includes: Iterable[Any] = (),
    options_override: Optional[Mapping[str, Any]] = None,
) -> str:
    """task_hash. fullname is "namespace.name" (or "name" with no namespace).

    With version None the source is hashed, else the version. hash_includes are raw
    values (value-hashed, then sorted); options_override is the raw call-time
    ``task.options(...)`` dict (value-hashed) and only counts when non-empty.
    A task with ``compat`` uses compat[0] verbatim: that is the caller's job.
    """
    if version is None:
        if source is None:
            raise WorkflowError(f"task {fullname}: no source and no version to hash")
        struct: list = ["Task", fullname, "source", source]
    else:
        struct = ["Task", fullname, "version", version]
    struct.extend(sorted(hash_value(x) for x in hash_includes))
    if options_override:
        struct.append(hash_value(options_override))
    return hash_struct(struct)
