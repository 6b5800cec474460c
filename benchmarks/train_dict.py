#!/usr/bin/env python3
"""Train the zstd dictionary for small records (how redun/objects/dict-1.zdict was made).

The training corpus is deliberately *not* the benchmark workflow: random task
names, namespaces, sources, value types and tags, so the dictionary learns the
record structure (field names, msgpack framing, common type names) rather than
the bench's strings. A shipped dictionary is never changed (old objects need
it); a better one would ship as dict-2 with its own number.

    python3 benchmarks/train_dict.py OUT.zdict     # writes a new candidate
"""

import json
import os
import random
import sys
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import msgpack  # noqa: E402
import zstandard  # noqa: E402

from redun.objects.codec import encode, encode_with_id  # noqa: E402
from redun.objects.records import Arg, Blob, CallNode, Execution, Job, Tag, Task, Value  # noqa: E402

DICT_SIZE = 16384
WORDS = ("align reads sample bam fastq count merge split filter sort index call variants plot report "
         "load clean train model predict score fetch upload batch chunk compile link run test build "
         "parse format download map reduce gather scatter summarize normalize").split()
TYPES = ("builtins.int", "builtins.str", "builtins.dict", "builtins.list", "builtins.tuple", "builtins.float",
         "builtins.bool", "builtins.NoneType", "builtins.bytes", "redun.File", "redun.Dir", "builtins.set",
         "pandas.core.frame.DataFrame", "numpy.ndarray", "myproject.types.Result")


def _name(r):
    return "_".join(r.choice(WORDS) for _ in range(r.randint(1, 3)))


def _h(r, n):
    return r.randbytes(n)


def _value(r):
    kind = r.randrange(6)
    path = None
    if kind == 0:
        data = msgpack.packb(r.randint(-10**6, 10**9))
    elif kind == 1:
        data = msgpack.packb(_name(r) + str(r.randint(0, 9999)))
    elif kind == 2:
        data = msgpack.packb({_name(r): r.randint(0, 10**6) for _ in range(r.randint(1, 5))})
    elif kind == 3:
        path = f"/data/{_name(r)}/{_name(r)}_{r.randint(0, 999)}.{r.choice(['txt', 'bam', 'csv', 'json'])}"
        data = msgpack.packb(["File", "local", path, r.randint(0, 10**9), f"{r.random() * 1e9:.3f}"])
    elif kind == 4:
        data = b"\x80\x03" + r.randbytes(r.randint(10, 200)) + b"q\x00."
    else:
        data = msgpack.packb([r.random() for _ in range(r.randint(1, 8))])
    fmt = "pickle" if kind == 4 else "native"
    return Value(_h(r, 20), r.choice(TYPES), fmt, data, (), len(data), (), path)


def corpus(n=20000, seed=7):
    r = random.Random(seed)
    out = []
    oids = [r.randbytes(32) for _ in range(64)]
    for _ in range(n):
        k = r.randrange(10)
        if k == 0:
            name = _name(r)
            src = f"def {name}({', '.join(_name(r) for _ in range(r.randint(0, 4)))}):\n" + "".join(
                f"    {_name(r)} = {_name(r)}({_name(r)})\n" for _ in range(r.randint(1, 12))
            )
            rec = Task(_h(r, 20), r.choice(["", _name(r), "bench", "workflow"]), name, src)
        elif k in (1, 2, 3):
            rec = _value(r)
        elif k in (4, 5):
            args = tuple(Arg(i if r.random() < .7 else None, None if r.random() < .7 else _name(r), _h(r, 20),
                             r.choice(oids), tuple(_h(r, 20) for _ in range(r.randrange(2))))
                         for i in range(r.randint(0, 5)))
            rec = CallNode(_h(r, 20), _h(r, 20), r.choice(oids), f"{_name(r)}.{_name(r)}", _h(r, 20), args,
                           _h(r, 20), r.choice(oids), tuple(r.choice(oids) for _ in range(r.choice([0, 0, 1, 3, 20]))),
                           r.randint(1.6e15, 1.9e15))
        elif k in (6, 7, 8):
            t0 = r.randint(1.6e15, 1.9e15)
            failed = r.random() < 0.1
            rec = Job(uuid.UUID(int=r.getrandbits(128), version=4).bytes, r.randbytes(16),
                      None if r.random() < 0.05 else r.randbytes(16), _h(r, 20), r.choice(oids),
                      None if failed else _h(r, 20), None if failed else r.choice(oids), _h(r, 20),
                      None if failed else r.choice(oids), t0, t0 + r.randint(0, 10**8), r.random() < 0.3,
                      "FAILED" if failed else r.choice(["DONE", "CACHED"]),
                      tuple(r.choice(oids) for _ in range(r.choice([0, 0, 0, 2, 10]))),
                      {} if r.random() < 0.8 else {_name(r): json.dumps(_name(r))})
        else:
            if r.random() < 0.5:
                t0 = r.randint(1.6e15, 1.9e15)
                rec = Execution(r.randbytes(16), json.dumps(["redun", "run", f"{_name(r)}.py", _name(r)]),
                                r.choice(oids), t0, t0 + r.randint(0, 10**9),
                                {"redun.version": '"0.44.1"', "user": json.dumps(_name(r))})
            else:
                rec = Tag(_h(r, 20), r.choice(["Job", "Value", "Task", "CallNode"]), r.randbytes(20).hex(),
                          _name(r), json.dumps(_name(r)), ())
        out.append(encode(rec))
    return out


def main(argv):
    out = argv[1] if len(argv) > 1 else "dict-candidate.zdict"
    samples = corpus()
    d = zstandard.train_dictionary(DICT_SIZE, samples, level=3, dict_id=0x52440001)
    with open(out, "wb") as f:
        f.write(d.as_bytes())
    print(f"wrote {out}: {len(d.as_bytes())} bytes, dict id {d.dict_id():#x}, from {len(samples)} samples")


if __name__ == "__main__":
    main(sys.argv)
