"""Protocol-3 pickles in upstream's shape, built without importing the engine.

Values: redun.objects.valuecodec does the work (`native_from_pickle` keeps a
pickle as native only if re-pickling gives back the same bytes;
`pickle_plain` writes FileRefs as upstream's `redun.file` classes).

Tasks: upstream exports a task as a Value whose data is the pickled
`redun.task.Task` (state: name, namespace, version, hash, compat, script,
task_options, export_options). We pickle a small stand-in class with the
C pickler and rewrite its one GLOBAL opcode (`c<module>\\n<name>\\n`; protocol
3 writes a class once, then memo lookups) to `redun.task\\nTask`. If the
marker text also occurs inside the data, the pure-Python pickler writes the
upstream name directly instead.
"""

import io
import pickle
import struct

from ..objects import valuecodec as V

PROTOCOL = 3
_MODULE = __name__


class _UpstreamTask:
    """Stand-in for redun.task.Task while pickling."""

    __slots__ = ("_state",)
    marker = f"c{_MODULE}\n_UpstreamTask\n".encode()
    target = b"credun.task\nTask\n"

    def __init__(self, state: dict):
        self._state = state

    def __getstate__(self):
        return self._state


class _SlowPickler(pickle._Pickler):
    def save_global(self, obj, name=None):
        if obj is _UpstreamTask:
            self.write(obj.target)
            self.memoize(obj)
            return
        super().save_global(obj, name)


def task_pickle(name: str, namespace: str, task_hash: str) -> bytes:
    """The pickle upstream stores for a task with default version/compat/options."""
    task = _UpstreamTask({
        "name": name,
        "namespace": namespace,
        "version": None,
        "hash": task_hash,
        "compat": [],
        "script": False,
        "task_options": {},
        "export_options": set(),
    })
    data = pickle.dumps(task, protocol=PROTOCOL)
    if data.count(_UpstreamTask.marker) == 1:
        return data.replace(_UpstreamTask.marker, _UpstreamTask.target)
    buf = io.BytesIO()
    _SlowPickler(buf, protocol=PROTOCOL).dump(task)
    return buf.getvalue()


def native_from_pickle(data: bytes):
    """Native bytes for a plain upstream pickle whose bytes we can reproduce exactly, else None.

    Never CPython's unpicklers (the bytes come from an import file): `read_plain_tree`
    reads the common shapes, objects/pickleread.py's bounded reader the rest. Either
    way, re-pickling the decoded native value must give `data`; so a tree read here
    that does not re-pickle exactly cannot be what the bounded reader would read
    either (a pickle the pickler wrote reads back as what it pickled)."""
    value = read_plain_tree(data)
    if value is UNSURE:
        return V.native_from_pickle(data, exact=True)
    native = V.encode_native(value)
    if native is None:
        return None
    try:
        again = V.pickle_plain(V.decode_native(native))
    except Exception:
        return None
    return native if again == data else None


UNSURE = object()  # read_plain_tree: not one of the shapes it reads
_KEYS = frozenset({str, int, float, bool, type(None), bytes})  # dict keys whose hashing is O(size)
_SHARED_OK = frozenset({str, bytes, int, float, bool, type(None)})  # memo gets that share no container
_DOUBLE = struct.Struct(">d")


def read_plain_tree(data: bytes):  # noqa: C901 - one opcode per branch reads best
    """The value of a protocol-3 pickle of a plain tree (None, bools, ints, floats, str,
    bytes, lists, tuples, dicts with atom keys) in the opcodes CPython's pickler writes
    for it, or UNSURE for anything else: other opcodes, globals, a container fetched
    from the memo twice, a tuple as a key, a malformed or truncated pickle.

    Bounded like the reader it stands in for: no recursion, memo indexes are dict
    keys, every length is checked against the bytes left, only atoms are hashed, and
    memo fetches of strings are charged to a budget of the input's size."""
    end = len(data)
    if end < 4 or data[0] != 0x80 or data[1] != 3:
        return UNSURE
    stack: list = []
    marks: list = []  # stack heights at each MARK
    memo: dict = {}
    budget = 64 * end + (1 << 20)
    pos = 2
    try:
        while True:
            op = data[pos]
            pos += 1
            if op == 0x71:  # q BINPUT
                memo[data[pos]] = stack[-1]
                pos += 1
            elif op == 0x58:  # X BINUNICODE
                if pos + 4 > end:
                    return UNSURE
                n = int.from_bytes(data[pos:pos + 4], "little")
                pos += 4
                if pos + n > end:
                    return UNSURE
                stack.append(str(data[pos:pos + n], "utf-8", "surrogatepass"))
                pos += n
            elif op == 0x4B:  # K BININT1
                stack.append(data[pos])
                pos += 1
            elif op == 0x4D:  # M BININT2
                if pos + 2 > end:
                    return UNSURE
                stack.append(data[pos] | data[pos + 1] << 8)
                pos += 2
            elif op == 0x4A:  # J BININT
                if pos + 4 > end:
                    return UNSURE
                stack.append(int.from_bytes(data[pos:pos + 4], "little", signed=True))
                pos += 4
            elif op == 0x68 or op == 0x6A:  # h BINGET, j LONG_BINGET
                if op == 0x68:
                    x = memo[data[pos]]
                    pos += 1
                else:
                    if pos + 4 > end:
                        return UNSURE
                    x = memo[int.from_bytes(data[pos:pos + 4], "little")]
                    pos += 4
                t = type(x)
                if t not in _SHARED_OK:
                    return UNSURE  # a shared container: the bounded reader decides
                if t is str or t is bytes:
                    budget -= len(x) + 8
                    if budget < 0:
                        return UNSURE
                stack.append(x)
            elif op == 0x7D:  # } EMPTY_DICT
                stack.append({})
            elif op == 0x5D:  # ] EMPTY_LIST
                stack.append([])
            elif op == 0x28:  # ( MARK
                marks.append(len(stack))
            elif op == 0x75 or op == 0x65:  # u SETITEMS, e APPENDS
                k = marks.pop()
                if k < 1 or (marks and marks[-1] > k - 1):
                    return UNSURE
                target, items = stack[k - 1], stack[k:]
                del stack[k:]
                if op == 0x65:
                    if type(target) is not list:
                        return UNSURE
                    target.extend(items)
                else:
                    if type(target) is not dict or len(items) % 2:
                        return UNSURE
                    for i in range(0, len(items), 2):
                        if type(items[i]) not in _KEYS:
                            return UNSURE
                        target[items[i]] = items[i + 1]
            elif op == 0x61 or op == 0x73:  # a APPEND, s SETITEM: the current frame holds them
                n = 2 if op == 0x61 else 3
                if len(stack) - (marks[-1] if marks else 0) < n:
                    return UNSURE
                target = stack[-n]
                if op == 0x61:
                    if type(target) is not list:
                        return UNSURE
                    target.append(stack.pop())
                else:
                    key, value = stack[-2], stack[-1]
                    if type(target) is not dict or type(key) not in _KEYS:
                        return UNSURE
                    del stack[-2:]
                    target[key] = value
            elif op == 0x4E:  # N NONE
                stack.append(None)
            elif op == 0x88 or op == 0x89:  # NEWTRUE, NEWFALSE
                stack.append(op == 0x88)
            elif op == 0x47:  # G BINFLOAT
                if pos + 8 > end:
                    return UNSURE
                stack.append(_DOUBLE.unpack_from(data, pos)[0])
                pos += 8
            elif op == 0x29:  # ) EMPTY_TUPLE
                stack.append(())
            elif 0x85 <= op <= 0x87 or op == 0x74:  # TUPLE1-3, t TUPLE (items since MARK)
                if op == 0x74:
                    k = marks.pop()
                else:
                    k = len(stack) - (op - 0x84)
                    if k < (marks[-1] if marks else 0):
                        return UNSURE
                t = tuple(stack[k:])
                del stack[k:]
                stack.append(t)
            elif op == 0x43 or op == 0x42:  # C SHORT_BINBYTES, B BINBYTES
                w = 1 if op == 0x43 else 4
                if pos + w > end:
                    return UNSURE
                n = int.from_bytes(data[pos:pos + w], "little")
                pos += w
                if pos + n > end:
                    return UNSURE
                stack.append(data[pos:pos + n])
                pos += n
            elif op == 0x8A:  # LONG1
                n = data[pos]
                pos += 1
                if pos + n > end:
                    return UNSURE
                stack.append(int.from_bytes(data[pos:pos + n], "little", signed=True))
                pos += n
            elif op == 0x72:  # r LONG_BINPUT
                if pos + 4 > end:
                    return UNSURE
                memo[int.from_bytes(data[pos:pos + 4], "little")] = stack[-1]
                pos += 4
            elif op == 0x2E:  # . STOP
                if pos == end and len(stack) == 1 and not marks:
                    return stack[0]
                return UNSURE
            else:
                return UNSURE
    except (IndexError, KeyError, UnicodeDecodeError):  # past the end, an empty stack, an unset memo index
        return UNSURE


def pickle_from_native(native: bytes) -> bytes:
    """Upstream pickle bytes of a native value."""
    return V.pickle_plain(V.decode_native(native))
