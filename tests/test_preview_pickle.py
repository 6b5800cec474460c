"""objects/previewpickle.py: pickled values shown as upstream's `redun log` shows them, from a
bounded sketch of the bytes (objects/pickleread.py), never by running or importing their code."""

import enum
import pickle
import struct

import pytest

from redun.objects.previewpickle import preview_repr, preview_unpickle
from redun.objects.valuecodec import preview


class Color(enum.Enum):
    RED = 1
    GREEN = 2


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y


def test_classes_become_inert_stand_ins():
    assert preview_repr(pickle.dumps(Color.GREEN)) == "Color(2)"
    assert preview_repr(pickle.dumps(Point(1, [2, 3]))) == "Point(x=1, y=[2, 3])"
    # an exception as CPython pickles it (written out: tblib, once imported, changes how exceptions pickle)
    exc = b"\x80\x02cbuiltins\nValueError\nX\x07\x00\x00\x00too bigK\x03\x86R}b."
    assert preview_repr(exc) == "ValueError('too big', 3)"
    assert preview_repr(pickle.dumps({1, 2})) == "{1, 2}"
    assert preview_repr(pickle.dumps(complex(1, 2))) == "(1+2j)"


def test_shared_and_cyclic_parts_stay_so():
    shared = [1]
    value = preview_unpickle(pickle.dumps([shared, shared]))
    assert value[0] is value[1]
    loop: list = []
    loop.append(loop)
    again = preview_unpickle(pickle.dumps(loop))
    assert again[0] is again


@pytest.mark.parametrize("data", [
    b"\x80\x05\x96" + struct.pack("<Q", 1 << 40) + b"x.",  # BYTEARRAY8 claiming a terabyte
    b"\x80\x02r\xff\xff\xff\x7fN.",  # LONG_BINPUT at index 2**31-1 (CPython sizes its memo by it)
])
def test_hostile_bytes_give_the_placeholder_without_allocating(data):
    assert preview("builtins.object", "pickle", data) == f"<builtins.object>(size={len(data)})"


def test_a_call_of_a_builtin_is_recorded_not_made():
    data = b"\x80\x02cbuiltins\nbytearray\nJ\x00\x00\x00\x40\x85R."  # bytearray(2**30)
    assert preview("builtins.object", "pickle", data) == "bytearray(1073741824)"  # a stand-in: nothing allocated


def test_previews_know_every_operator_the_expressions_print():
    """objects/ cannot import the engine's expression module, so the preview keeps its own
    operator table; it must print every built-in lazy operator as the live expression does."""
    import redun.expression as live
    from redun.objects import previewpickle

    builtin = {name for _, name, _, _ in live._OPERATORS}
    assert {k: v for k, v in previewpickle._SYMBOLS.items() if k in builtin} == \
        {k: v for k, v in live._SYMBOLS.items() if k in builtin}
    assert builtin <= set(previewpickle._SYMBOLS)
    assert previewpickle._REVERSED >= {n for n in live._REVERSED if n in builtin}
