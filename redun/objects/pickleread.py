"""A bounded pickle reader for bytes we do not trust (imports, previews, pulled values).

CPython's unpicklers trust their input with memory: `r<u32>` (LONG_BINPUT)
makes the C unpickler allocate a memo table of that many slots (a 9-byte
pickle asks for 32 GB), and both will hash arbitrarily deep tuples in C. This
reader is a small stack machine over the opcodes plain data can use
(protocols 0-5) that checks every bound before it allocates:

- lengths must fit in the bytes that are left (no read past the end);
- the memo is a dict, so an index costs one entry whatever its value;
- work is charged to a budget (bytes of objects built, plus hashing work for
  tuple/frozenset/big-int keys reused through the memo) fixed by the input's
  size, so a pickle cannot make more than a bounded multiple of itself;
- tuples and frozensets nest at most MAX_HASH_DEPTH levels (hashing one
  recurses in C without a depth check).

Globals are resolved by a `find_class(module, name)` callback (see
plainpickle), and only three calls exist: REDUCE of an allowed callable with
one iterable (set/frozenset), NEWOBJ of an allowed class with no arguments,
and BUILD (the instance's own __setstate__). Anything else raises NotPlain
(the pickle holds more than plain data); malformed bytes raise Malformed.

Sketch mode (`read_sketch`): every global but set/frozenset becomes a `Symbol`,
and calling or instantiating a Symbol (REDUCE, NEWOBJ) only records what it was
given in a `Built` (BUILD records the state): the shape of any pickle, e.g. a
failed job's exception and traceback, read without importing or running anything.
"""

import codecs
import struct
from typing import Any, Callable

MAX_HASH_DEPTH = 100


class NotPlain(Exception):
    """Well-formed as far as read, but not plain data (or beyond the budget)."""


class Malformed(Exception):
    """Not a valid pickle."""


_BIG_D = struct.Struct(">d")
_ATOMS = frozenset({type(None), bool, int, float, str, bytes})
_U32 = struct.Struct("<I")


def budget_for(size: int) -> int:
    """The default work budget for a pickle of `size` bytes (~ bytes of objects built)."""
    return 64 * size + (16 << 20)


def read_pickle(data, find_class: Callable[[str, str], Any], budget: int = 0) -> tuple:
    """(value, tree): the value a pickle holds, built without running any code but
    `find_class`'s results under the three calls above; `tree` is True when no
    container was referenced twice (memo GET, DUP) and no instance was built, so
    the value is a plain tree as large as what was charged. Raises NotPlain or Malformed."""
    data = bytes(data)
    reader = _Reader(data, find_class, budget or budget_for(len(data)))
    value = reader.run()
    return value, not reader.shared


class Symbol:
    """A global a sketched pickle names (module, name); nothing is imported."""

    __slots__ = ("module", "name")

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def __repr__(self) -> str:
        return f"{self.module}.{self.name}"


class Built:
    """What a sketched pickle builds from a Symbol: its arguments and, after BUILD, its state."""

    __slots__ = ("symbol", "args", "kwargs", "state")

    def __init__(self, symbol: Symbol, args: tuple, kwargs: dict):
        self.symbol, self.args, self.kwargs, self.state = symbol, args, kwargs, None

    def __repr__(self) -> str:
        return f"<{self.symbol!r} args={self.args!r} state={self.state!r}>"


def _sketch_class(module: str, name: str):
    if module in ("builtins", "__builtin__") and name in ("set", "frozenset"):
        return set if name == "set" else frozenset
    return Symbol(module, name)


def read_sketch(data, budget: int = 0) -> Any:
    """The value a pickle holds with its globals as Symbols and the objects it builds
    as Built records (see the module docstring). Raises NotPlain or Malformed."""
    return read_pickle(data, _sketch_class, budget)[0]


class _Reader:
    """State of one read: the bytes, a position, the current stack frame (items since
    the last MARK; as CPython, a MARK starts a new frame), the frames below it, the memo."""

    def __init__(self, data: bytes, find_class, budget: int):
        self.data = data
        self.pos = 0
        self.stack: list = []
        self.frames: list = []
        self.memo: dict = {}  # a dict: an index costs one entry whatever its value
        self.find_class = find_class
        self.left = budget
        self.shape: dict = {}  # id -> (depth, hash weight, obj) of tuples, frozensets, big ints
        self.shared = False  # a container was referenced twice, or an instance built

    def run(self) -> Any:
        try:
            return self._run()
        except (NotPlain, Malformed):
            raise
        except RecursionError:
            raise NotPlain("pickle nests too deeply") from None
        except MemoryError:
            raise NotPlain("pickle too large to read") from None
        except Exception as e:  # past the end, bad types on the stack, unhashable keys...
            raise Malformed(f"{type(e).__name__}: {e}") from None

    def _run(self) -> Any:
        """The hot loop: the opcodes plain data uses most, on local state; the others go
        through _op (state passed through self around the call)."""
        data, end, memo = self.data, len(self.data), self.memo
        u32 = _U32.unpack_from
        pos = 0
        stack = self.stack
        while True:
            op = data[pos]  # IndexError past the end: Malformed
            pos += 1
            if op == 0x71:  # q BINPUT
                memo[data[pos]] = stack[-1]
                pos += 1
            elif op == 0x4B:  # K BININT1
                stack.append(data[pos])
                pos += 1
            elif op == 0x58 or op == 0x8C:  # X BINUNICODE, SHORT_BINUNICODE
                if op == 0x58:
                    n = u32(data, pos)[0]
                    pos += 4
                else:
                    n = data[pos]
                    pos += 1
                if pos + n > end:
                    raise Malformed(f"string of {n} bytes at offset {pos} runs past the end")
                self.left -= n + 64
                stack.append(str(data[pos : pos + n], "utf-8", "surrogatepass"))
                pos += n
            elif op == 0x68:  # h BINGET
                stack.append(self._get(data[pos]))
                pos += 1
            elif op == 0x28:  # ( MARK
                self.frames.append(stack)
                stack = []
                self.left -= 8
            elif op == 0x5D:  # ] EMPTY_LIST
                stack.append([])
                self.left -= 64
            elif op == 0x7D:  # } EMPTY_DICT
                stack.append({})
                self.left -= 64
            elif op == 0x65:  # e APPENDS
                items, stack = stack, self._frame_below_mark()
                self._list(stack[-1]).extend(items)
                self.left -= 8 * len(items)
            elif op == 0x75:  # u SETITEMS
                items, stack = stack, self._frame_below_mark()
                self._setitems(stack[-1], items)
            elif op == 0x2E:  # . STOP
                if len(stack) != 1 or self.frames:
                    raise Malformed("STOP with a stack that does not hold exactly one value")
                return stack[0]
            else:
                self.pos, self.stack = pos, stack
                self._op(op)
                pos, stack = self.pos, self.stack
            if self.left < 0:
                raise NotPlain("pickle builds far more than its size (refused as a memory bomb)")

    def _op(self, op: int) -> None:  # noqa: C901 - one opcode per branch reads best
        """Every other opcode, on self.pos / self.stack / self.frames / self.memo."""
        stack, charge, take = self.stack, self.charge, self.take
        if op == 0x61:  # a APPEND
            x = stack.pop()
            self._list(stack[-1]).append(x)
            charge(8)
        elif op == 0x73:  # s SETITEM
            v = stack.pop()
            k = stack.pop()
            self._setitems(stack[-1], [k, v])
        elif op == 0x4E:  # N NONE
            stack.append(None)
        elif op == 0x88:  # NEWTRUE
            stack.append(True)
        elif op == 0x89:  # NEWFALSE
            stack.append(False)
        elif op == 0x4D:  # M BININT2
            stack.append(struct.unpack("<H", take(2))[0])
        elif op == 0x4A:  # J BININT
            charge(32)
            stack.append(struct.unpack("<i", take(4))[0])
        elif op == 0x47:  # G BINFLOAT
            charge(24)
            stack.append(_BIG_D.unpack(take(8))[0])
        elif op == 0x94:  # MEMOIZE
            self.memo[len(self.memo)] = stack[-1]
        elif op == 0x72:  # r LONG_BINPUT
            self.memo[_U32.unpack(take(4))[0]] = stack[-1]
        elif op == 0x6A:  # j LONG_BINGET
            charge(8)
            stack.append(self._get(_U32.unpack(take(4))[0]))
        elif op == 0x29:  # ) EMPTY_TUPLE
            stack.append(())
        elif op in (0x85, 0x86, 0x87):  # TUPLE1/2/3
            n = op - 0x84
            if len(stack) < n:
                raise Malformed("tuple opcode on a short stack")
            t = tuple(stack[-n:])
            del stack[-n:]
            charge(48 + 8 * n)
            stack.append(self.register(t))
        elif op in (0x74, 0x6C, 0x64):  # t TUPLE, l LIST, d DICT (items since MARK)
            items = self.stack
            self.stack = self._frame_below_mark()
            charge(64 + 8 * len(items))
            if op == 0x74:
                self.stack.append(self.register(tuple(items)))
            elif op == 0x6C:
                self.stack.append(items)
            else:
                self.stack.append({})
                self._setitems(self.stack[-1], items)
        elif op == 0x8F:  # EMPTY_SET
            charge(216)
            stack.append(set())
        elif op in (0x90, 0x91):  # ADDITEMS, FROZENSET
            items = self.stack
            self.stack = self._frame_below_mark()
            self.hashed(items)
            charge(216 + 16 * len(items))
            if op == 0x91:
                self.stack.append(self.register(frozenset(items)))
            elif type(self.stack[-1]) is set:
                self.stack[-1].update(items)
            else:
                raise Malformed("ADDITEMS on something not a set")
        elif op in (0x43, 0x42, 0x8E, 0x8D, 0x96):  # SHORT_BINBYTES, BINBYTES, BINBYTES8,
            # BINUNICODE8, BYTEARRAY8
            width = {0x43: 1, 0x42: 4}.get(op, 8)
            n = int.from_bytes(take(width), "little")
            charge(n + 64)
            b = take(n)
            stack.append(b if op in (0x43, 0x42, 0x8E) else bytearray(b) if op == 0x96
                         else str(b, "utf-8", "surrogatepass"))
        elif op in (0x8A, 0x8B):  # LONG1, LONG4
            n = take(1)[0] if op == 0x8A else struct.unpack("<i", take(4))[0]
            if n < 0:
                raise Malformed("LONG4 with a negative length")
            stack.append(self.big_int(int.from_bytes(take(n), "little", signed=True), n))
        elif op == 0x80:  # PROTO
            if take(1)[0] > 5:
                raise Malformed("unsupported pickle protocol")
        elif op == 0x95:  # FRAME: a hint for buffering; its length must fit
            if struct.unpack("<Q", take(8))[0] > len(self.data) - self.pos:
                raise Malformed("FRAME longer than the pickle")
        elif op == 0x30:  # 0 POP (of an empty frame: drops the MARK, as CPython)
            if stack:
                stack.pop()
            else:
                self.stack = self._frame_below_mark()
        elif op == 0x31:  # 1 POP_MARK
            self.stack = self._frame_below_mark()
        elif op == 0x32:  # 2 DUP
            stack.append(self._shared(stack[-1]))
        elif op in (0x63, 0x93):  # c GLOBAL, STACK_GLOBAL
            if op == 0x63:
                module = self.line().decode("utf-8")
                name = self.line().decode("utf-8")
            else:
                name = stack.pop()
                module = stack.pop()
                if type(module) is not str or type(name) is not str:
                    raise Malformed("STACK_GLOBAL needs two strings")
            stack.append(self.find_class(module, name))
        elif op == 0x52:  # R REDUCE: only set(list) / frozenset(list)
            args = stack.pop()
            func = stack.pop()
            if type(func) is Symbol and type(args) is tuple:  # sketch mode: record the call
                charge(64)
                self.shared = True
                stack.append(Built(func, args, {}))
                return
            if (func is not set and func is not frozenset) or type(args) is not tuple or len(args) > 1:
                raise NotPlain("pickle calls something other than set() or frozenset()")
            if args and type(args[0]) not in (list, tuple):
                raise NotPlain("pickle builds a set from something other than a list")
            items = list(args[0]) if args else []
            self.hashed(items)
            charge(216 + 16 * len(items))
            stack.append(set(items) if func is set else self.register(frozenset(items)))
        elif op in (0x81, 0x92):  # NEWOBJ, NEWOBJ_EX: only allowed classes, no arguments
            kwargs = stack.pop() if op == 0x92 else {}
            args = stack.pop()
            cls = stack.pop()
            if type(cls) is Symbol and type(args) is tuple and type(kwargs) is dict:  # sketch mode
                charge(64)
                self.shared = True
                stack.append(Built(cls, args, kwargs))
                return
            if (type(args) is not tuple or args or type(kwargs) is not dict or kwargs
                    or not (isinstance(cls, type) and getattr(cls, "plain_newobj", False))):
                raise NotPlain(f"pickle builds an instance of {cls!r:.60}")
            charge(64)
            self.shared = True
            stack.append(cls.__new__(cls))
        elif op == 0x62:  # b BUILD: only instances made by NEWOBJ above
            state = stack.pop()
            inst = stack[-1]
            if type(inst) is Built:  # sketch mode: keep the state as given
                inst.state = state
                return
            if not getattr(type(inst), "plain_newobj", False):
                raise NotPlain("pickle sets the state of something that is not a plain file")
            inst.__setstate__(state)
        elif op in (0x49, 0x4C, 0x46, 0x53, 0x56):  # INT, LONG, FLOAT, STRING, UNICODE (protocol 0)
            stack.append(self._text_atom(op, self.line()))
        elif op in (0x54, 0x55):  # BINSTRING, SHORT_BINSTRING (python 2 str, read as ASCII)
            n = take(1)[0] if op == 0x55 else struct.unpack("<i", take(4))[0]
            charge(max(n, 0) + 64)
            stack.append(take(n).decode("ascii"))
        elif op in (0x70, 0x67):  # p PUT, g GET (protocol 0: decimal indexes)
            idx = int(self.line())
            if op == 0x67:
                charge(8)
                stack.append(self._get(idx))
            elif idx < 0:
                raise Malformed("negative memo index")
            else:
                self.memo[idx] = stack[-1]
        elif op in (0x50, 0x51):
            raise NotPlain("pickle uses persistent ids")
        elif op in (0x82, 0x83, 0x84):
            raise NotPlain("pickle uses the copyreg extension registry")
        elif op in (0x69, 0x6F, 0x97, 0x98):
            raise NotPlain("pickle builds objects (INST/OBJ) or uses out-of-band buffers")
        else:
            raise Malformed(f"unknown opcode 0x{op:02x} at offset {self.pos - 1}")

    # -- helpers -------------------------------------------------------------
    def take(self, n: int) -> bytes:
        if n < 0 or n > len(self.data) - self.pos:
            raise Malformed(f"length {n} at offset {self.pos} runs past the end of the pickle")
        p = self.pos
        self.pos = p + n
        return self.data[p : p + n]

    def line(self) -> bytes:
        end = self.data.find(b"\n", self.pos)
        if end < 0:
            raise Malformed("text argument without a newline")
        s = self.data[self.pos : end]
        self.pos = end + 1
        return s

    def charge(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise NotPlain("pickle builds far more than its size (refused as a memory bomb)")

    def weigh(self, obj) -> tuple:
        """(nesting depth, hashing cost) of an item; tuples, frozensets and ints only
        are ever registered (their hashes are not cached, or recurse)."""
        t = type(obj)
        if t is tuple or t is frozenset or t is int:
            s = self.shape.get(id(obj))
            if s is not None:
                return s[0], s[1]
        return 0, 1

    def hashed(self, items) -> None:
        """Charge the hashing of items used as set members or dict keys."""
        cost = 0
        for x in items:
            cost += self.weigh(x)[1]
        self.charge(cost)

    def register(self, obj) -> Any:
        """Record the depth and hash weight of a new tuple or frozenset (kept alive here,
        so its id is not reused by another object while we read)."""
        depth, weight = 0, 1
        for x in obj:
            d, w = self.weigh(x)
            weight += w
            if d > depth:
                depth = d
        if depth >= MAX_HASH_DEPTH:
            raise NotPlain(f"pickle nests tuples or frozensets more than {MAX_HASH_DEPTH} levels deep")
        self.shape[id(obj)] = (depth + 1, weight, obj)
        return obj

    def big_int(self, value: int, nbytes: int) -> int:
        self.charge(nbytes + 32)
        if nbytes > 16:
            self.shape[id(value)] = (0, 1 + nbytes // 8, value)
        return value

    def _setitems(self, d, items: list) -> None:
        if type(d) is not dict:
            raise Malformed("SETITEM on something not a dict")
        if len(items) % 2:
            raise Malformed("SETITEMS with an odd number of items")
        self.hashed(items[0::2])
        self.charge(16 * len(items))
        for i in range(0, len(items), 2):
            d[items[i]] = items[i + 1]

    def _text_atom(self, op: int, arg: bytes):
        self.charge(len(arg) + 64)
        if op == 0x49:  # INT: "00"/"01" are protocol 0's False/True
            if arg == b"00":
                return False
            if arg == b"01":
                return True
            return self.big_int(int(arg, 0), len(arg) // 2)
        if op == 0x4C:
            return self.big_int(int(arg[:-1] if arg.endswith(b"L") else arg, 0), len(arg) // 2)
        if op == 0x46:
            return float(arg)
        if op == 0x56:
            return str(arg, "raw-unicode-escape")
        if len(arg) < 2 or arg[0] != arg[-1] or arg[0] not in b"\"'":
            raise Malformed("STRING argument is not quoted")
        return codecs.escape_decode(arg[1:-1])[0].decode("ascii")

    def _get(self, idx: int):
        try:
            return self._shared(self.memo[idx])
        except KeyError:
            raise Malformed(f"memo index {idx} was never set") from None

    def _shared(self, obj):
        if type(obj) not in _ATOMS:
            self.shared = True
        return obj

    def _frame_below_mark(self) -> list:
        """The stack frame below the last MARK (the items above it are the caller's)."""
        if not self.frames:
            raise Malformed("opcode needs a MARK")
        return self.frames.pop()

    @staticmethod
    def _list(obj) -> list:
        if type(obj) is not list:
            raise Malformed("APPEND on something not a list")
        return obj
