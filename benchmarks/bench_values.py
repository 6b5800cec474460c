"""Per-value costs of the native value codec and upstream-compatible hashing.

Prints median microseconds per operation for a few representative values:
encode_native, decode_native, preview, hash_value (tagged SHA-512 over the
protocol-3 pickle), and plain pickle.dumps/loads for comparison. With
~/upstream-redun (see _paths.py) present it also times upstream redun's own
TypeRegistry.get_hash and serialize on the same values and prints ratios.

    python3 benchmarks/bench_values.py [--repeat N]
"""

import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from _paths import UPSTREAM_PY  # noqa: E402
from redun.hashing import hash_value  # noqa: E402
from redun.objects.valuecodec import (  # noqa: E402
    FileRef,
    decode_native,
    encode_native,
    pickle_plain,
    preview,
)


# name -> Python expression (evaluated here and, for the upstream ratio, in upstream's venv)
VALUES = {
    "small_dict": '{"j": 1, "square": 1, "tag": "leaf-1-s0"}',
    "int": "12345",
    "str_40": '"x" * 40',
    "list_100_ints": "list(range(100))",
    "list_100_small_dicts": '[{"j": j, "square": j * j, "tag": f"leaf-{j}-s0"} for j in range(100)]',
}


def median_us(fn, repeat: int, inner: int) -> float:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - t0) / inner * 1e6)
    return statistics.median(samples)


def inner_for(value) -> int:
    return 200 if len(pickle.dumps(value, 3)) > 1000 else 2000


def ours(repeat: int) -> dict:
    results = {}
    for name, expr in VALUES.items():
        v = eval(expr)
        n = inner_for(v)
        data = encode_native(v)
        pk = pickle.dumps(v, 3)
        results[name] = {
            "encode_native": median_us(lambda: encode_native(v), repeat, n),
            "decode_native": median_us(lambda: decode_native(data), repeat, n),
            "preview": median_us(lambda: preview("t", "native", data), repeat, n),
            "hash_value": median_us(lambda: hash_value(v), repeat, n),
            "pickle.dumps": median_us(lambda: pickle.dumps(v, 3), repeat, n),
            "pickle.loads": median_us(lambda: pickle.loads(pk), repeat, n),
            "native_bytes": len(data),
            "pickle_bytes": len(pk),
        }
    refs = [FileRef("redun.File", f"out/{i}.txt", "%040x" % i) for i in range(10)]
    data = encode_native(refs)
    results["list_10_files"] = {
        "encode_native": median_us(lambda: encode_native(refs), repeat, 500),
        "decode_native": median_us(lambda: decode_native(data), repeat, 500),
        "hash_value": median_us(lambda: hash_value(refs), repeat, 500),
        "pickle_plain": median_us(lambda: pickle_plain(refs), repeat, 500),
        "native_bytes": len(data),
    }
    return results


UPSTREAM_SCRIPT = r"""
import json, statistics, sys, time, pickle
from redun.value import get_type_registry
reg = get_type_registry()
values, repeat = json.loads(sys.argv[1]), int(sys.argv[2])
def median_us(fn, inner):
    s = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        s.append((time.perf_counter() - t0) / inner * 1e6)
    return statistics.median(s)
out = {}
for name, expr in values.items():
    v = eval(expr)
    n = 200 if len(pickle.dumps(v, 3)) > 1000 else 2000
    out[name] = {"get_hash": median_us(lambda: reg.get_hash(v), n),
                 "serialize": median_us(lambda: reg.get_value(v).serialize(), n)}
print(json.dumps(out))
"""


def upstream(repeat: int):
    if not os.path.exists(UPSTREAM_PY):
        return None
    try:
        out = subprocess.run([UPSTREAM_PY, "-c", UPSTREAM_SCRIPT, json.dumps(VALUES), str(repeat)],
                             capture_output=True, text=True, check=True, cwd="/tmp", timeout=300)
    except (subprocess.SubprocessError, OSError) as e:
        print(f"(upstream timing skipped: {e})", file=sys.stderr)
        return None
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    ours_r = ours(args.repeat)
    up = upstream(args.repeat)
    print("median µs per operation (shared, noisy machine)")
    cols = ["encode_native", "decode_native", "preview", "hash_value", "pickle.dumps", "pickle.loads"]
    print(f"{'value':24}" + "".join(f"{c:>15}" for c in cols) + f"{'native B':>10}{'pickle B':>10}")
    for name, r in ours_r.items():
        row = "".join(f"{r[c]:15.2f}" if c in r else f"{'-':>15}" for c in cols)
        print(f"{name:24}{row}{r['native_bytes']:10}{r.get('pickle_bytes', '-'):>10}")
    if "pickle_plain" in ours_r["list_10_files"]:
        print(f"list_10_files pickle_plain (pure-Python pickler path): "
              f"{ours_r['list_10_files']['pickle_plain']:.2f} µs")
    if up:
        print("\nvs upstream redun 0.44.1 (same values)")
        print(f"{'value':24}{'upstream get_hash':>18}{'ours hash_value':>16}{'ratio':>8}"
              f"{'upstream serialize':>20}{'ours encode':>12}{'ratio':>8}")
        for name, u in up.items():
            r = ours_r[name]
            print(f"{name:24}{u['get_hash']:18.2f}{r['hash_value']:16.2f}"
                  f"{u['get_hash'] / r['hash_value']:8.2f}x{u['serialize']:19.2f}"
                  f"{r['encode_native']:12.2f}{u['serialize'] / r['encode_native']:8.2f}x")


if __name__ == "__main__":
    main()
