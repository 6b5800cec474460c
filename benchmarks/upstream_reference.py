#!/usr/bin/env python3
"""
Generate tests/data/upstream_reference.json from *upstream* redun 0.44.1.

Run ONLY with the upstream venv (not our implementation):

    ~/upstream-redun/bin/python benchmarks/upstream_reference.py \
        [OUT_JSON] [SCRATCH_DIR]

Defaults: OUT_JSON = <repo>/tests/data/upstream_reference.json, SCRATCH_DIR = /tmp/upref.

Everything recorded is computed by upstream's own functions:
  - value hashes: redun.value.get_type_registry().get_hash(v)
      (== hash_tag_bytes("Value", pickle.dumps(v, protocol=3)) for plain values)
  - task hashes: Task.hash, source: redun.utils.get_func_source(task.func)
  - args/eval hashes: redun.task.hash_args_eval (after the scheduler's default-arg
    binding, redun.scheduler.set_arg_defaults) and cross-checked against a real
    in-memory Scheduler run (evaluation + call_node tables).
  - File hash: File(path).hash  (hash_struct(["File", "local", path, size, str(mtime)]))
  - bencode / hash_struct samples.
"""

import importlib
import json
import os
import pickle
import shutil
import sys
import textwrap

import redun
from redun import File, Scheduler, task
from redun.bcoding import bencode
from redun.hashing import (
    hash_arguments,
    hash_bytes,
    hash_call_node,
    hash_eval,
    hash_struct,
    hash_tag,
    hash_tag_bytes,
    hash_text,
)
from redun.scheduler import set_arg_defaults
from redun.task import hash_args_eval
from redun.utils import get_func_source
from redun.value import get_type_registry

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "tests", "data", "upstream_reference.json")
OUT = os.path.abspath(OUT)
SCRATCH = sys.argv[2] if len(sys.argv) > 2 else "/tmp/upref"

# make.py exactly as in the upstream docs' examples/compile walkthrough (task
# hashes must come out as
# compile=d2b031e4, link=08746030, make_prog=16aa763c, make=0d9dca7d).
with open(os.path.join(os.path.dirname(HERE), "examples", "compile", "make.py")) as _f:
    MAKE_PY = _f.read()

# Extra tasks covering version / namespace / defaults / decorator shapes.
REFTASKS_PY = '''from redun import task


@task(version="1")
def versioned(x):
    return x


@task(namespace="ns")
def namespaced(x):
    return x + 1


@task(namespace="ns", version="2")
def ns_versioned(x):
    return x + 2


@task()
def add(a, b=2):
    return a + b


@task(
    name="renamed_task",
)
def multi_line_decorator(x: int) -> int:
    # A comment inside the body.
    return x * 2


def make_nested():
    @task(namespace="nested")
    def inner(y):
        return y
    return inner


inner = make_nested()
'''

REFTASKS_MODNS_PY = '''from redun import task

redun_namespace = "modns"


@task()
def in_module_namespace(x):
    return x


@task(namespace="explicit")
def explicit_overrides_module(x):
    return x
'''

# Values: each entry is (name, python expression).  The expression is evaluated
# with `eval` in a namespace holding only builtins, so our tests can rebuild the
# exact same object (including object identity, which matters because pickle
# memoizes repeated objects by id()).
VALUES = [
    ("none", "None"),
    ("true", "True"),
    ("false", "False"),
    ("int_0", "0"),
    ("int_1", "1"),
    ("int_neg5", "-5"),
    ("int_2pow70", "2**70"),
    ("int_255", "255"),
    ("int_256", "256"),
    ("int_65536", "65536"),
    ("int_2pow31", "2**31"),
    ("float_1_5", "1.5"),
    ("float_0", "0.0"),
    ("str_empty", "''"),
    ("str_prog", "'prog'"),
    ("str_hello_accent", "'h\\u00e9llo'"),
    ("bytes", "b'bytes'"),
    ("list_empty", "[]"),
    ("list_1_2", "[1, 2]"),
    ("tuple_1_2", "(1, 2)"),
    ("tuple_empty", "()"),
    ("tuple_single", "(1,)"),
    ("dict_empty", "{}"),
    ("dict_a1_b12", "{'a': 1, 'b': [1, 2]}"),
    ("dict_x_tuple_aa", "{'x': ('a', 'a')}"),
    # Same str object twice: pickle emits the string once and a memo reference
    # (BINGET) the second time.
    ("list_same_str_obj_twice", "(lambda s: [s, s])(''.join(['ab', 'cd']))"),
    # Two equal but distinct str objects: pickle emits both in full.
    ("list_two_distinct_equal_strs", "[''.join(['ab', 'cd']), ''.join(['ab', 'cd'])]"),
    ("set_3_1_2", "set([3, 1, 2])"),
    ("frozenset_1_2", "frozenset([1, 2])"),
    ("list_containing_set", "[set([3, 1, 2])]"),
    ("nested_dict_lists_tuples",
     "{'k': [(1, 'a'), (2, 'b')], 'm': {'n': [(3.5, None), (True, b'z')]}, 'e': []}"),
    ("list_of_dicts", "[{'a': 1}, {'a': 1}]"),
    ("long_str_300", "'x' * 300"),
]

BENCODE_SAMPLES = [
    ("int_0", 0),
    ("int_neg5", -5),
    ("int_big", 2**70),
    ("str_empty", ""),
    ("str_accent", "h\u00e9llo"),
    ("bytes", b"bytes"),
    ("list", ["a", 1, ["b"]]),
    ("dict_unsorted_keys", {"b": 1, "a": [1, 2]}),
    ("task_struct", ["Task", "ns.x", "version", "1"]),
    ("none_in_list_is_error_probe", None),
]


def hexpickle(v):
    return pickle.dumps(v, protocol=3).hex()


def main():
    marker = os.path.join(SCRATCH, ".upstream_reference_scratch")
    if os.path.exists(SCRATCH) and os.listdir(SCRATCH):
        if not os.path.exists(marker):
            sys.exit(f"refusing to wipe non-empty {SCRATCH} (no {marker}); pick an empty scratch dir")
        shutil.rmtree(SCRATCH)
    os.makedirs(SCRATCH, exist_ok=True)
    open(marker, "w").close()
    os.chdir(SCRATCH)
    sys.path.insert(0, SCRATCH)
    registry = get_type_registry()

    out = {
        "generator": "benchmarks/upstream_reference.py",
        "redun_version": redun.__version__,
        "python_version": sys.version.split()[0],
        "pickle_protocol": 3,
        "notes": [
            "value_hash == hash_tag_bytes('Value', pickle.dumps(v, protocol=3)) for plain values;"
            " hash_tag_bytes(tag, b) = sha512(bencode([tag]) + b).hexdigest()[:40].",
            "Rebuild values with eval(expr, {'__builtins__': builtins}); identity matters for pickle memo.",
            "task_hash (no version) = hash_struct(['Task', fullname, 'source', source]);"
            " with version = hash_struct(['Task', fullname, 'version', version]).",
            "Top-level builtins.set is special: hash_tag_bytes('Value.set', pickle3(sorted(v)));"
            " sets nested inside other containers are hashed via the container's plain pickle.",
            "args_hash/eval_hash in 'calls' are after the scheduler binds default args into kwargs.",
        ],
    }

    # ---- values ----
    values = []
    for name, expr in VALUES:
        v = eval(expr, {"__builtins__": __builtins__})
        data = pickle.dumps(v, protocol=3)
        h = registry.get_hash(v)
        if h == hash_tag_bytes("Value", data):
            rule = "hash_tag_bytes('Value', pickle3(v))"
        elif type(v) is set and h == hash_tag_bytes("Value.set", pickle.dumps(sorted(v), protocol=3)):
            rule = "hash_tag_bytes('Value.set', pickle3(sorted(v)))"
        else:
            raise AssertionError(name)
        values.append(
            {
                "name": name,
                "expr": expr,
                "repr": repr(v),
                "type": type(v).__name__,
                "pickle3_hex": data.hex(),
                "value_hash": h,
                "hash_rule": rule,
                "type_name": registry.get_type_name(type(v)) if hasattr(registry, "get_type_name") else None,
            }
        )
    out["values"] = values

    # ---- hashing primitives ----
    prims = {
        "hash_text": {"input": "prog", "hash": hash_text("prog")},
        "hash_bytes": {"input_hex": b"bytes".hex(), "hash": hash_bytes(b"bytes")},
        "hash_tag_bytes": {"tag": "Value", "input_hex": b"abc".hex(), "hash": hash_tag_bytes("Value", b"abc")},
        "hash_call_node": {
            "task_hash": "a" * 40, "args_hash": "b" * 40, "result_hash": "c" * 40,
            "child_call_hashes": ["f" * 40, "e" * 40],
            "hash": hash_call_node("a" * 40, "b" * 40, "c" * 40, ["f" * 40, "e" * 40]),
        },
        "hash_call_node_no_children": {
            "task_hash": "a" * 40, "args_hash": "b" * 40, "result_hash": "c" * 40,
            "child_call_hashes": [],
            "hash": hash_call_node("a" * 40, "b" * 40, "c" * 40, []),
        },
        "hash_tag": {
            "entity_id": "d" * 40, "key": "env", "value": "prod", "parents": [],
            "hash": hash_tag("d" * 40, "env", "prod", []),
        },
    }
    bsamples = []
    for name, s in BENCODE_SAMPLES:
        try:
            b = bencode(s)
            bsamples.append({"name": name, "repr": repr(s), "bencode_hex": b.hex(), "hash_struct": hash_struct(s)})
        except Exception as e:  # record errors too
            bsamples.append({"name": name, "repr": repr(s), "error": f"{type(e).__name__}: {e}"})
    prims["bencode"] = bsamples
    out["primitives"] = prims

    # ---- tasks ----
    for fname, text in [("make.py", MAKE_PY), ("reftasks.py", REFTASKS_PY), ("reftasks_modns.py", REFTASKS_MODNS_PY)]:
        with open(os.path.join(SCRATCH, fname), "w") as f:
            f.write(text)
    make = importlib.import_module("make")
    reftasks = importlib.import_module("reftasks")
    modns = importlib.import_module("reftasks_modns")
    out["modules"] = {"make.py": MAKE_PY, "reftasks.py": REFTASKS_PY, "reftasks_modns.py": REFTASKS_MODNS_PY}

    tasks = []
    for modfile, mod, names in [
        ("make.py", make, ["compile", "link", "make_prog", "make"]),
        ("reftasks.py", reftasks, ["versioned", "namespaced", "ns_versioned", "add", "multi_line_decorator", "inner"]),
        ("reftasks_modns.py", modns, ["in_module_namespace", "explicit_overrides_module"]),
    ]:
        for attr in names:
            t = getattr(mod, attr)
            src = get_func_source(t.func)
            if t.version is None:
                struct = ["Task", t.fullname, "source", src]
            else:
                struct = ["Task", t.fullname, "version", t.version]
            assert hash_struct(struct) == t.hash, attr
            tasks.append(
                {
                    "module": modfile,
                    "attr": attr,
                    "name": t.name,
                    "namespace": t.namespace,
                    "fullname": t.fullname,
                    "version": t.version,
                    "source": src,
                    "hash_struct": struct,
                    "task_hash": t.hash,
                    "value_hash": registry.get_hash(t),
                    "pickle3_hex": hexpickle(t),
                }
            )
    expected = {"compile": "d2b031e4", "link": "08746030", "make_prog": "16aa763c", "make": "0d9dca7d"}
    for t in tasks:
        if t["module"] == "make.py":
            assert t["task_hash"].startswith(expected[t["name"]]), (t["name"], t["task_hash"])

    # Task options override changes the hash.
    add = reftasks.add
    add_nocache = add.options(cache=False)
    tasks.append(
        {
            "module": "reftasks.py",
            "attr": "add.options(cache=False)",
            "name": add_nocache.name,
            "namespace": add_nocache.namespace,
            "fullname": add_nocache.fullname,
            "version": add_nocache.version,
            "source": get_func_source(add.func),
            # Quirk: Task.__init__ computes the hash from the *raw* override dict
            # ({'cache': False}) before _validate() rewrites it in place to
            # {'cache_scope': CacheScope.CSE}. So the stored hash is over {'cache': False}.
            "task_options_override_at_hash_time": {"cache": False},
            "task_options_override_after_init": repr(add_nocache._task_options_override),
            "task_options_override_value_hash": registry.get_hash({"cache": False}),
            "hash_struct": ["Task", add_nocache.fullname, "source", get_func_source(add.func),
                            registry.get_hash({"cache": False})],
            "recalc_hash_after_init": add_nocache._calc_hash(),
            "task_hash": add_nocache.hash,
        }
    )
    assert hash_struct(tasks[-1]["hash_struct"]) == add_nocache.hash
    out["tasks"] = tasks

    # ---- calls: args_hash / eval_hash ----
    call_specs = [
        ("add(1)", (1,), {}),
        ("add(a=1)", (), {"a": 1}),
        ("add(1, b=3)", (1,), {"b": 3}),
        ("add(1, 2)", (1, 2), {}),
        ("add(1, b=2)", (1,), {"b": 2}),
        ("add('x', 'y')", ("x", "y"), {}),
    ]
    calls = []
    for label, args, kwargs in call_specs:
        bargs, bkwargs = set_arg_defaults(add, args, kwargs)
        eval_hash, args_hash = hash_args_eval(registry, add, bargs, bkwargs)
        raw_eval_hash, raw_args_hash = hash_eval(registry, add.hash, list(args), kwargs)
        # Real scheduler run (in-memory sqlite) for cross-checking.
        scheduler = Scheduler()
        result = scheduler.run(add(*args, **kwargs))
        from redun.backends.db import CallNode as DBCallNode, Evaluation

        session = scheduler.backend.session
        evals = [(e.eval_hash, e.args_hash, e.value_hash) for e in session.query(Evaluation).all()]
        cns = [(c.call_hash, c.args_hash, c.value_hash) for c in session.query(DBCallNode).all()]
        assert len(evals) == 1 and len(cns) == 1, (evals, cns)
        calls.append(
            {
                "task": "reftasks.add",
                "call": label,
                "args": list(args),
                "kwargs": kwargs,
                "bound_args": list(bargs),
                "bound_kwargs": bkwargs,
                "positional_arg_hashes": [registry.get_hash(a) for a in bargs],
                "kwarg_hashes": {k: registry.get_hash(v) for k, v in bkwargs.items()},
                "args_hash": args_hash,
                "eval_hash": eval_hash,
                "args_hash_without_defaults": raw_args_hash,
                "eval_hash_without_defaults": raw_eval_hash,
                "result": result,
                "result_value_hash": registry.get_hash(result),
                "scheduler_eval_hash": evals[0][0],
                "scheduler_args_hash": evals[0][1],
                "scheduler_call_hash": cns[0][0],
                "scheduler_agrees": evals[0][0] == eval_hash and evals[0][1] == args_hash,
                "call_hash_formula": "hash_call_node(task_hash, args_hash, result_value_hash, [])",
                "call_hash_recomputed": hash_call_node(add.hash, args_hash, registry.get_hash(result), []),
            }
        )
        assert calls[-1]["scheduler_agrees"], calls[-1]
        assert calls[-1]["call_hash_recomputed"] == cns[0][0], calls[-1]
    out["calls"] = calls
    assert hash_arguments  # (imported for documentation)

    # ---- File ----
    files = []
    fpath = "data.txt"
    with open(fpath, "w") as f:
        f.write("hello redun\n")
    os.utime(fpath, (1700000000.5, 1700000000.5))
    for path in [fpath, os.path.join(SCRATCH, fpath), "missing_file.txt"]:
        exists = os.path.exists(path)
        st = os.stat(path) if exists else None
        size = st.st_size if st else -1
        mtime = st.st_mtime if st else -1
        fobj = File(path)
        h = fobj.hash
        assert h == hash_struct(["File", "local", path, size, str(mtime)])
        files.append(
            {
                "path": path,
                "exists": exists,
                "content": "hello redun\n" if exists else None,
                "size": size,
                "mtime": mtime,
                "str_mtime": str(mtime),
                "hash_struct": ["File", "local", path, size, str(mtime)],
                "hash": h,
                "value_hash": registry.get_hash(fobj),
                "pickle3_hex": hexpickle(fobj),
                "getstate": fobj.__getstate__(),
                "list_of_file_value_hash": registry.get_hash([fobj]),
                "list_of_file_pickle3_hex": hexpickle([fobj]),
            }
        )
    out["files"] = files

    with open(OUT, "w") as f:
        json.dump(out, f, indent=1, sort_keys=False, default=repr)
        f.write("\n")
    print(f"wrote {OUT}: {len(values)} values, {len(tasks)} tasks, {len(calls)} calls, {len(files)} files")


if __name__ == "__main__":
    main()
