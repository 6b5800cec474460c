"""Make tests/data/api_reference.json with upstream redun 0.44.1 (run from the repository root):

    ~/upstream-redun/bin/python tests/data/make_api_reference.py > tests/data/api_reference.json

For each scenario of tests/data/api_workflows.py: the result (repr), every call node
(task name, args hash, value hash, call hash) and the Run/Cached lines per task of a
first and a second run on one in-memory scheduler. Then the hashes of a few values and
expressions. The module is loaded from the relative path tests/data/api_workflows.py (kept
relative in its code objects), so failed calls' tracebacks (part of their hashes) name the
same file in every checkout.
"""

import json
import logging
import re
import sys
from collections import Counter

import types  # noqa: E402

# compiled under its relative path (importlib would make the path absolute)
wf = sys.modules["api_workflows"] = types.ModuleType("api_workflows")
wf.__file__ = "tests/data/api_workflows.py"
with open(wf.__file__) as _f:
    exec(compile(_f.read(), wf.__file__, "exec"), wf.__dict__)  # noqa: S102

from redun.backends.db import CallNode  # noqa: E402
from redun.value import get_type_registry  # noqa: E402


class Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def counts(lines):
    out = Counter()
    for line in lines:
        m = re.match(r"(Run|Cached) +Job [0-9a-f]{8}:  ([\w.]+)\(", line)
        if m:
            out[f"{m.group(2)} {m.group(1)}"] += 1
    return dict(sorted(out.items()))


def main():
    handler = Lines()
    logging.getLogger("redun").addHandler(handler)
    out = {"scenarios": {}}
    for name, make in wf.SCENARIOS.items():
        scheduler = wf.scheduler()
        handler.lines = []
        result = scheduler.run(make())
        first = counts(handler.lines)
        handler.lines = []
        again = scheduler.run(make())
        second = counts(handler.lines)
        nodes = sorted([c.task_name, c.args_hash, c.value_hash, c.call_hash]
                       for c in scheduler.backend.session.query(CallNode))
        out["scenarios"][name] = {"result": repr(result), "again": repr(again), "first": first, "second": second,
                                  "call_nodes": nodes}
    h = get_type_registry().get_hash
    inc = wf.add.partial(1)
    out["hashes"] = {
        "task add": wf.add.hash,
        "task functools": {t.fullname: t.hash for t in [wf.map_, wf.seq, wf.const, wf.flatten, wf.flat_map,
                                                        wf.zip_, wf.eval_, wf.apply_func, wf.identity]},
        "partial add(1)": h(inc),
        "partial options": h(wf.add.partial(1).options(cache=False)),
        "expr add(1,2)": h(wf.add(1, 2)),
        "expr options": h(wf.add.options(cache=False)(1, 2)),
        "expr export_options": h(wf.add.export_options(executor="x")(1, 2)),
        "expr prov task": h(wf.unrecorded(1)),
        "expr eq": h(wf.add(1, 2) == 3),
        "expr div": h(wf.add(1, 2) / 2),
        "expr rsub": h(1 - wf.add(1, 2)),
        "expr and": h(wf.add(1, 2) & True),
        "expr getattr": h(wf.add(1, 2).real),
        "expr call": h(wf.add(1, 2).bit_length()),
        "expr catch": h(wf.catch(wf.divide(1, 0), ZeroDivisionError, wf.fallback.partial(value=-1))),
        "value Version": h(wf.Version(3)),
        "value Money": h(wf.Money(7)),
        "value class": h(ZeroDivisionError),
        "value function": h(wf.describe.func),
    }
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


main()
